"""The single path the CLI, the app and the evaluation use:
build_index() turns letter files into an index; ask() turns a question into an Answer."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rag.answer.extractive import compose, pieces, resolve_follow_up
from rag.answer.words import vocabulary
from rag.embedding.embedders import CachedEmbedder, Embedder, load_embedder
from rag.errors import CorpusError, IndexError_
from rag.ingest import chunking, corpus
from rag.retrieval.hybrid import retrieve
from rag.settings import Settings
from rag.store.index import MANIFEST, Index
from rag.types import Answer, IngestReport, Letter, Passage

# (letter id, passages embedded so far, passages to embed in all) while ingesting
OnProgress = Callable[[str, int, int], None]


def open_index(settings: Settings, create: bool = False, embedder: Embedder | None = None) -> Index:
    """Load the index at settings.index_dir (with its embedder); an empty one if create."""
    embedder = embedder or load_embedder(settings.embedding)
    if create and not (settings.index_dir / MANIFEST).exists():
        return Index(settings.index_dir, embedder, settings.chunking, settings.store)
    return Index.load(settings.index_dir, embedder, settings.chunking, settings.store)


def ensure_index(settings: Settings, on_progress: OnProgress | None = None) -> Index:
    """The index for answering questions (its lazy parts built), from settings.corpus_dir first
    if there is none yet."""
    if not (settings.index_dir / MANIFEST).exists():
        index, report = build_index(
            settings, [settings.corpus_dir], on_progress=on_progress, index=open_index(settings, create=True)
        )
        if not index.letters:
            reasons = "; ".join(f"{f}: {why}" for f, why in report.refused) or "no .txt or .pdf files"
            raise IndexError_(f"Could not build an index from {settings.corpus_dir}: {reasons}")
        return warm(index)
    return warm(open_index(settings))


def build_index(
    settings: Settings,
    paths: Sequence[Path],
    rebuild: bool = False,
    on_progress: OnProgress | None = None,
    index: Index | None = None,
) -> tuple[Index, IngestReport]:
    """Add letter files (and folders of them) to the index, committing every
    `settings.ingest.batch_letters` letters: an interrupted ingest continues where it
    stopped when run again. Embeds with `settings.ingest.threads` threads.

    Bad files are refused with their reason and the good ones still added; what was
    stored before is never lost. A rebuild goes to a folder beside the index and replaces
    it only when complete (run it again after a crash and it continues there).
    """
    letters, refused = read_letters(paths)
    if index is None:
        embedder = load_embedder(dataclasses.replace(settings.embedding, threads=settings.ingest.threads))
        if rebuild and not settings.store:
            return _rebuild(settings, letters, refused, embedder, on_progress)
        index = open_index(settings, create=True, embedder=embedder)
        if rebuild:
            for letter_id in list(index.letters):  # a Milvus store: start over in place
                index.remove(letter_id)
    report = add_letters(settings, index, letters, on_progress, save=bool(rebuild))
    return index, dataclasses.replace(report, refused=tuple(refused))


def _rebuild(
    settings: Settings, letters: list[Letter], refused: list, embedder: Embedder, on_progress: OnProgress | None
) -> tuple[Index, IngestReport]:
    """Build a new index beside the old one, then swap the folders (uploads move along)."""
    target = settings.index_dir
    staging = target.with_name(target.name + ".rebuild")
    fresh = Index(staging, embedder, settings.chunking)
    report = add_letters(dataclasses.replace(settings, index_dir=staging), fresh, letters, on_progress, save=True)
    fresh.close()
    if (target / "uploads").is_dir():
        shutil.move(str(target / "uploads"), str(staging / "uploads"))
    if target.exists():
        old = target.with_name(f"{target.name}.old-{time.time_ns()}")
        os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
    index = Index.load(target, embedder, settings.chunking)
    return index, dataclasses.replace(report, refused=tuple(refused))


def add_letters(
    settings: Settings,
    index: Index,
    letters: Sequence[Letter],
    on_progress: OnProgress | None = None,
    save: bool = False,
) -> IngestReport:
    """Embed the new and changed letters into the index, committing them in batches (and
    also when `save`, as long as it holds something); unchanged letters cost nothing."""
    stored = index.letter_hashes()
    todo = [l for l in letters if stored.get(l.id) != l.sha256]
    updated = tuple(l.id for l in todo if l.id in stored)
    added = tuple(l.id for l in todo if l.id not in stored)
    unchanged = tuple(l.id for l in letters if stored.get(l.id) == l.sha256)
    progress = _Progress(on_progress, todo)
    batch = max(1, settings.ingest.batch_letters)
    for start in range(0, len(todo), batch):
        for letter in todo[start : start + batch]:
            parts = chunking.passages(letter, settings.chunking)
            index.add(letter, parts, progress.step(letter, parts))
        index.save()
    if todo:
        compact = getattr(index.store, "compact", None)
        if compact and getattr(index.store, "segment_count", lambda: 0)() > settings.ingest.compact_segments:
            compact()
    elif save and index.letters:  # never store an index that holds nothing
        index.save()
    return IngestReport(added, updated, unchanged)


class _Progress:
    """Progress in passages: each embedded text of a letter counts as its share of the letter's
    passages; the total is counted as letters are chunked (estimated for the rest)."""

    def __init__(self, on_progress: OnProgress | None, todo: Sequence[Letter]) -> None:
        self.on_progress, self.letters, self.chunked, self.passages = on_progress, len(todo), 0, 0
        self.done = 0.0

    def step(self, letter: Letter, parts: Sequence[Passage]) -> Callable[[int], None] | None:
        """The embedder's progress callback for this letter's texts."""
        if self.on_progress is None:
            return None
        self.chunked += 1
        self.passages += len(parts)
        texts = len(parts) + sum(len(chunking.sentence_units(p)) for p in parts)
        share = len(parts) / max(texts, 1)
        total = round(self.passages / self.chunked * self.letters)
        callback = self.on_progress

        def advance(n: int) -> None:
            self.done += n * share
            callback(letter.id, min(round(self.done), total), total)

        return advance


def read_letters(paths: Sequence[Path], dutch: bool = False) -> tuple[list[Letter], list[tuple[str, str]]]:
    """Parse every letter file under paths: the letters, and (file, reason) for each refused
    one; the reasons in Dutch if `dutch` (for the app)."""
    letters: list[Letter] = []
    refused: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in corpus.letter_files(paths):
        try:
            letter = corpus.read_letter(path)
        except CorpusError as err:
            refused.append((str(path), err.nl if dutch else str(err)))
            continue
        if letter.id in seen:
            refused.append(
                (
                    str(path),
                    f"{path}: een brief met id '{letter.id}' is al gelezen uit {seen[letter.id]}; hernoem er een."
                    if dutch
                    else f"{path}: a letter with id '{letter.id}' is already read from {seen[letter.id]}; rename one.",
                )
            )
            continue
        seen[letter.id] = str(path)
        letters.append(letter)
    return letters, refused


def remove_letter(settings: Settings, letter_id: str, index: Index | None = None) -> Index:
    """Remove a letter's passages from the index and save it."""
    index = index or open_index(settings)
    index.remove(letter_id)
    index.save()
    return index


def answer_context(index: Index) -> tuple[set[str], CachedEmbedder]:
    """What composing an answer needs from the index, computed once per index state: the
    letters' vocabulary and an embedder that knows the stored sentence vectors."""
    known = index.derived("vocabulary", lambda: vocabulary(letter.text for letter in index.letters.values()))
    embedder = index.derived(
        "sentences", lambda: CachedEmbedder(index.embedder, index.sentence_vectors(), index.embed_query)
    )
    return known, embedder


def warm(index: Index) -> Index:
    """Build the index's lazy parts now (vocabulary, sentence vectors), not in a question."""
    answer_context(index)
    return index


def ask(question: str, index: Index, settings: Settings, history: Sequence[Answer] = ()) -> Answer:
    """Retrieve passages for the question and compose a cited answer.

    `history` holds the earlier answers of the conversation (oldest first), so that a
    follow-up such as "En in Madrid?" can be read against the previous question."""
    answer: Answer | None = None
    for piece in ask_stream(question, index, settings, history):
        if isinstance(piece, Answer):
            answer = piece
    assert answer is not None
    return answer


def ask_stream(
    question: str, index: Index, settings: Settings, history: Sequence[Answer] = ()
) -> Iterator[str | Answer]:
    """Like ask(), but yields the answer text in pieces as it is produced (sentence by
    sentence when extractive, token by token from an LLM), then the Answer.

    A follow-up ("En in Madrid?") is read against the previous question first; the
    Answer's `question` is then the question as understood, and a note says so."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    resolved = resolve_follow_up(question, history[-1].question if history else None)
    hits = retrieve(resolved, index, settings.retrieval, timings)
    clock = time.perf_counter()
    known, embedder = answer_context(index)
    if settings.answer.mode == "llm":
        from rag.answer import llm  # LangChain chat models are an optional extra

        answer = yield from llm.answer_stream(resolved, hits, settings.answer, embedder, known)
    else:
        answer = compose(resolved, hits, settings.answer, embedder, known)
        yield from pieces(answer.text)
    timings["answer"] = (time.perf_counter() - clock) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    notes = answer.notes + ((f"follow-up read as: {resolved}",) if resolved != question else ())
    yield dataclasses.replace(answer, timings_ms={**answer.timings_ms, **timings}, notes=notes)
