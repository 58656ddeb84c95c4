"""The reader's training data (data/reader/, and a third batch in data/reader-batch3/): synthetic
passages in the style of Kamerbrieven, on other subjects than the corpus letters, and questions
about them as people ask them.

Each question names its passage, the sentence(s) that answer it (none: unanswerable), the
sentence that restates it without answering (the trap), and two claims: one its answer
supports and one it does not (for the verifier). Candidates for a question are what a reader
meets at run time: the sentences of its own passage, of the other passage on the same
subject (its group) and of a few passages on other subjects.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data" / "reader"  # batches 1 and 2 (writers w1-w8)
BATCH3_DIR = ROOT / "data" / "reader-batch3"  # batch 3 (w9-w11): reports of meetings
ALL = (DATA_DIR, BATCH3_DIR)  # every folder of training data (what load() reads by default)


@dataclass(frozen=True, slots=True)
class TrainPassage:
    id: str
    group: str
    topic: str
    title: str
    section: str
    sentences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrainQuestion:
    id: str
    passage: str
    question: str
    lang: str
    type: str
    style: str
    answer: tuple[int, ...]  # indices into the passage's sentences; () when unanswerable
    restating: int | None
    claim: str
    false_claim: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence a reader may be shown for a question, and whether it answers it."""

    passage: str
    index: int  # into the passage's sentences
    answers: bool
    rank: int  # 1: the question's own passage; 2: its group sibling; 3...: other subjects


def load(*folders: Path) -> tuple[dict[str, TrainPassage], list[TrainQuestion]]:
    """Every passage and question under the folders (default: ALL), read in the order of their
    file names (passages-*.jsonl, questions-*.jsonl) whichever folder holds them, so that one
    folder holding all the files reads the same as several holding them apart. An id that two
    rows share is an error: one would silently replace the other."""
    folders = folders or ALL
    passages: dict[str, TrainPassage] = {}
    for path in files(folders, "passages"):
        for row in _rows(path):
            if row["id"] in passages:
                raise ValueError(f"{path}: passage id {row['id']} is used twice; give each passage its own id.")
            passages[row["id"]] = TrainPassage(
                row["id"], row["group"], row["topic"], row["title"], row["section"], tuple(row["sentences"])
            )
    questions = [
        TrainQuestion(
            row["id"],
            row["passage"],
            row["question"],
            row["lang"],
            row["type"],
            row["style"],
            tuple(row["answer"]),
            row.get("restating"),
            row.get("claim", ""),
            row.get("false_claim", ""),
        )
        for path in files(folders, "questions")
        for row in _rows(path)
        if row["passage"] in passages
    ]
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise ValueError(f"question id {q.id} is used twice in {', '.join(names(folders))}; give each its own id.")
        seen.add(q.id)
    return passages, questions


def files(folders: Sequence[Path], kind: str = "*") -> list[Path]:
    """The data files of the folders ("passages-*.jsonl" for kind "passages", "questions-*.jsonl"
    for "questions", both for "*"), sorted by file name. A folder that is missing or holds no
    data files, or a file name in two folders, is an error (a typo must not train on less)."""
    if not folders:
        raise ValueError("No training data folder was given: name one, e.g. data/reader.")
    found: dict[str, Path] = {}
    for folder in folders:
        here = sorted(folder.glob("passages-*.jsonl")) + sorted(folder.glob("questions-*.jsonl"))
        if not folder.is_dir() or not here:
            raise FileNotFoundError(
                f"{folder}: no training data here (passages-*.jsonl, questions-*.jsonl); check --data."
            )
        for path in here:
            if path.name in found:
                raise ValueError(f"{path.name} is in both {found[path.name].parent} and {folder}; keep one.")
            found[path.name] = path
    wanted = ("passages", "questions") if kind == "*" else (kind,)
    return sorted((p for p in found.values() if p.name.split("-", 1)[0] in wanted), key=lambda p: p.name)


def digest(folders: Sequence[Path]) -> str:
    """sha256 over the folders' data files in file-name order: which data a model was trained
    (or calibrated) on."""
    h = hashlib.sha256()
    for path in files(folders):
        h.update(path.read_bytes())
    return h.hexdigest()


def names(folders: Sequence[Path]) -> list[str]:
    """The folders as paths from the repository's root ("data/reader"), for a model's metadata;
    a folder outside the repository by its absolute path."""
    resolved = [f.resolve() for f in folders]
    return [str(f.relative_to(ROOT)) if f.is_relative_to(ROOT) else str(f) for f in resolved]


def provenance(folders: Sequence[Path]) -> dict[str, object]:
    """What a model's JSON records of the data it was trained (or calibrated) on."""
    return {"data": names(folders), "data_sha256": digest(folders)}


def add_data_argument(parser: argparse.ArgumentParser, default: Sequence[Path] = ALL, what: str = "training") -> None:
    """A training script's --data: the folders it reads (default: what its shipped model read)."""
    parser.add_argument("--data", type=Path, nargs="+", default=list(default), help=f"{what} data folders")


def split(questions: Sequence[TrainQuestion], passages: dict[str, TrainPassage], validation: float = 0.2):  # type: ignore[no-untyped-def]
    """(train, validation) by subject group, so a group's two passages never straddle the split;
    the same split every time (a hash of the group id)."""

    def held(q: TrainQuestion) -> bool:
        group = passages[q.passage].group
        return int(hashlib.sha256(group.encode()).hexdigest(), 16) % 1000 < validation * 1000

    return [q for q in questions if not held(q)], [q for q in questions if held(q)]


def candidates(q: TrainQuestion, passages: dict[str, TrainPassage], others: int = 2, seed: int = 0) -> list[Candidate]:
    """The sentences a reader is shown for q: its passage, its group sibling(s) and `others`
    passages on other subjects (the same ones every time for a seed)."""
    own = passages[q.passage]
    siblings = [p for p in passages.values() if p.group == own.group and p.id != own.id]
    rng = random.Random(f"{seed}:{q.id}")
    pool = [p for p in passages.values() if p.group != own.group]
    strangers = rng.sample(pool, min(others, len(pool)))
    found = [Candidate(own.id, i, i in q.answer, 1) for i in range(len(own.sentences))]
    for rank, p in enumerate([*siblings, *strangers], start=2):
        found.extend(Candidate(p.id, i, False, rank) for i in range(len(p.sentences)))
    return found


def all_texts(passages: dict[str, TrainPassage]) -> Iterable[str]:
    """Every sentence of the training passages."""
    for p in passages.values():
        yield from p.sentences


def _rows(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
