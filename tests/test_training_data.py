"""The reader's training data: well formed, and never drawn from the corpus letters or the
evaluation sets (no shared 8-word sequence), so that what is measured on them stays honest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.answer.reader import MODEL_DIR
from rag.training import data
from tests.places import CORPUS, ROOT

N = 8
FOLDERS = {"reader": data.DATA_DIR, "reader-batch3": data.BATCH3_DIR}


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + N]) for i in range(len(words) - N + 1)}


@pytest.mark.parametrize("folder", FOLDERS.values(), ids=FOLDERS.keys())
def test_no_training_text_shares_eight_words_with_a_letter_or_an_eval_set(folder):
    passages, questions = data.load(folder)
    assert passages and questions
    protected: set[tuple[str, ...]] = set()
    for letter in CORPUS.glob("*.txt"):
        protected |= shingles(" ".join(letter.read_text(encoding="utf-8").split()))
    for eval_set in (ROOT / "evals").glob("*.jsonl"):
        for line in eval_set.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            protected |= shingles(row["question"]) | {s for g in row["gold"] for s in shingles(g["quote"])}
    assert len(protected) > 5000  # the letters were really read
    training = [s for p in passages.values() for s in p.sentences] + [q.question for q in questions]
    shared = [t for t in training if shingles(t) & protected]
    assert shared == []


@pytest.mark.parametrize("folder", FOLDERS.values(), ids=FOLDERS.keys())
def test_training_data_is_well_formed(folder):
    passages, questions = data.load(folder)
    assert passages and questions
    groups = {p.group for p in passages.values()}
    assert all(sum(p.group == g for p in passages.values()) == 2 for g in groups)
    for q in questions:
        sentences = passages[q.passage].sentences
        assert all(0 <= i < len(sentences) for i in q.answer), q.id
        assert (not q.answer) == (q.type == "unanswerable"), q.id
        assert q.restating is None or q.restating not in q.answer, q.id
        assert q.type == "unanswerable" or (q.claim and q.false_claim), q.id
    assert sum(q.lang == "en" for q in questions) / len(questions) >= 0.25
    assert sum(not q.answer for q in questions) / len(questions) >= 0.12


def test_the_training_data_is_large_enough():
    passages, questions = data.load()
    assert len(passages) >= 300 and len(questions) >= 2000


def test_the_split_keeps_a_subject_on_one_side():
    passages, questions = data.load()
    train, validation = data.split(questions, passages)
    assert {passages[q.passage].group for q in train}.isdisjoint({passages[q.passage].group for q in validation})
    assert 0.1 < len(validation) / len(questions) < 0.3


@pytest.mark.parametrize("model", ["query_encoder", "reader", "verifier", "cross_encoder"])
def test_each_shipped_model_names_the_data_it_was_trained_on(model: str) -> None:
    """The folders a model's JSON names still hold the data it records (their sha256), so data
    edited after a model was trained fails here; the reader and verifier also record how many
    training questions that data's split gives."""
    meta = json.loads((MODEL_DIR / f"{model}.json").read_text(encoding="utf-8"))
    trained = meta["trained_on"]
    folders = [ROOT / name for name in trained["data"]]
    assert folders and all(f in data.ALL for f in folders), trained["data"]
    assert trained["data_sha256"] == data.digest(folders)
    passages, questions = data.load(*folders)
    assert trained["passages"] == len(passages)
    if model in ("reader", "verifier"):
        assert trained["questions"] == len(data.split(questions, passages)[0])
    if model == "cross_encoder":  # calibrated afterwards, with the feature reader, on the validation split
        calibrated = [ROOT / name for name in meta["calibrated_on"]["data"]]
        assert calibrated and all(f in data.ALL for f in calibrated)
        assert meta["calibrated_on"]["data_sha256"] == data.digest(calibrated)


def test_a_missing_or_doubled_data_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no training data here"):
        data.load(tmp_path / "reader-batch")  # a typo must not train on less
    with pytest.raises(ValueError, match="is in both"):
        data.load(data.DATA_DIR, data.DATA_DIR)
    (tmp_path / "passages-x.jsonl").write_text(
        (data.DATA_DIR / "passages-w1.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="used twice"):
        data.load(data.DATA_DIR, tmp_path)
