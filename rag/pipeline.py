"""The single path the CLI, the app and the evaluation use:
build_index() turns letter files into an index; ask() turns a question into an Answer."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from pathlib import Path

from rag import admission, versions, writer
from rag.answer import composer, cross_encoder, query_encoder
from rag.answer.extractive import Judged, abstain, compose, pieces, read
from rag.answer.follow_up import resolve_follow_up
from rag.answer.reader import load_model
from rag.embedding.embedders import Embedder, load_embedder
from rag.errors import CorpusError, IndexError_
from rag.ingest import chunking, corpus
from rag.language import language
from rag.retrieval.hybrid import retrieve, with_sentences
from rag.settings import AnswerSettings, LimitsSettings, Settings
from rag.store.index import MANIFEST, Index
from rag.types import Answer, Hit, IngestReport, Letter, Passage

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
            reasons = (
                "; ".join(why for _, why in (*report.refused, *report.skipped)) or f"no letter files ({corpus.KINDS})"
            )
            raise IndexError_(f"Could not build an index from {settings.corpus_dir}: {reasons}")
        return warm(index, settings.answer)
    return warm(open_index(settings), settings.answer)


def build_index(
    settings: Settings,
    paths: Sequence[Path],
    rebuild: bool = False,
    on_progress: OnProgress | None = None,
    index: Index | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> tuple[Index, IngestReport]:
    """Add letter files (and folders of them) to the index, committing every
    `settings.ingest.batch_letters` letters: an interrupted ingest continues where it
    stopped when run again. Files are parsed batch by batch as the ingest reaches them, so
    memory holds one batch of letters however many files there are. Embeds with
    `settings.ingest.threads` threads.

    Bad files are refused with their reason and the good ones still added; what was
    stored before is never lost. The index is read and saved under the writer lock, so a
    concurrent writer's letters stay in; `on_wait` hears if another writer holds it. A rebuild
    goes to a folder beside the index and replaces it only when complete. A given `index` is
    used as it is (its caller holds the lock, or it is private)."""
    files, skipped = corpus.scan(paths)
    batches = Batches(files, settings)
    if index is not None:
        report = _add_batches(settings, index, batches, on_progress, save=bool(rebuild))
        return index, _with_refused(report, batches.refused, skipped)
    with writer.exclusive(settings.index_dir, settings.limits.writer_wait_s, on_wait):
        embedder = load_embedder(dataclasses.replace(settings.embedding, threads=settings.ingest.threads))
        if rebuild and not settings.store:
            index, report = _rebuild(settings, batches, embedder, on_progress)
        else:
            index = open_index(settings, create=True, embedder=embedder)
            if rebuild:
                for letter_id in list(index.letters):  # a Milvus store: start over in place
                    index.remove(letter_id)
            report = _add_batches(settings, index, batches, on_progress, save=bool(rebuild))
        if rebuild and index.letters:
            versions.drop_all(settings.index_dir)  # a rebuild is a compaction: no earlier versions kept
    return index, _with_refused(report, batches.refused, skipped)


class Batches:
    """The letters of these files, parsed one batch (`settings.ingest.batch_letters` files) at
    a time as they are iterated; `refused` collects the files that could not be read, and a
    second file with an id already read is refused as in read_letters()."""

    def __init__(self, files: Sequence[Path], settings: Settings, dutch: bool = False) -> None:
        self.files, self.size = list(files), max(1, settings.ingest.batch_letters)
        self.limits, self.dutch = settings.limits, dutch
        self.refused: list[tuple[str, str]] = []
        self.read = 0  # files parsed so far
        self._seen: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[list[Letter]]:
        for start in range(0, len(self.files), self.size):
            letters, refused = read_letters(self.files[start : start + self.size], self.dutch, self.limits, self._seen)
            self.refused += refused
            self.read = min(start + self.size, len(self.files))
            yield letters


def _with_refused(
    report: IngestReport, refused: Sequence[tuple[str, str]], skipped: Sequence[tuple[str, str]] = ()
) -> IngestReport:
    return dataclasses.replace(report, refused=tuple(refused) + report.refused, skipped=tuple(skipped))


def _rebuild(
    settings: Settings, batches: Batches, embedder: Embedder, on_progress: OnProgress | None
) -> tuple[Index, IngestReport]:
    """Build a new index beside the old one, then swap the folders (uploads move along).
    The caller holds the writer lock, which lives beside the folder and so outlasts the swap."""
    target = settings.index_dir
    staging = target.with_name(target.name + ".rebuild")
    fresh = Index(staging, embedder, settings.chunking)
    report = _add_batches(dataclasses.replace(settings, index_dir=staging), fresh, batches, on_progress, save=True)
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
    return Index.load(target, embedder, settings.chunking), report


def add_letters(
    settings: Settings,
    index: Index,
    letters: Sequence[Letter],
    on_progress: OnProgress | None = None,
    save: bool = False,
    replace: bool = True,
    dutch: bool = False,
) -> IngestReport:
    """Embed the new and changed letters into the index, committing them in batches (and also
    when `save`, as long as it holds something); unchanged letters cost nothing. Call it under
    the writer lock. A letter whose content another letter already has, or that would take
    more embedding than the limit, is refused; one that replaces a letter with different
    content is replaced (its previous version kept, see rag.versions) only if `replace`, else
    it is reported as pending."""
    batch = max(1, settings.ingest.batch_letters)
    chunks = [list(letters[start : start + batch]) for start in range(0, len(letters), batch)]
    return _add_batches(settings, index, chunks, on_progress, save, replace, dutch, expected=len(letters))


def _add_batches(
    settings: Settings,
    index: Index,
    batches: Iterable[list[Letter]],
    on_progress: OnProgress | None = None,
    save: bool = False,
    replace: bool = True,
    dutch: bool = False,
    expected: int | None = None,
) -> IngestReport:
    """add_letters() over letters that come in batches (parsed as they are reached): each
    batch is planned, embedded and committed before the next one is read."""
    owners: dict[str, str] = {}  # content keys taken by this ingest (plan() asks the store about the rest)
    expected = len(batches) if expected is None and isinstance(batches, Sized) else expected
    progress = _Progress(on_progress)
    parts: list[IngestReport] = []
    read = 0
    for letters in batches:
        read = getattr(batches, "read", read + len(letters))  # files (or letters) taken so far
        plan = admission.plan(index, letters, settings, dutch, owners)
        replaced = [(l.id, plan.counts[l.id], len(plan.pieces[l.id])) for l in plan.todo if l.id in index.letters]
        if not replace:
            plan.todo = [l for l in plan.todo if l.id not in index.letters]
        progress.expect(len(plan.todo), max((expected or 0) - read, 0))
        for letter in plan.todo:
            if letter.id in index.letters:
                versions.keep(index.directory, index.letters[letter.id])
            pieces = plan.pieces[letter.id]
            index.add(letter, pieces, progress.step(letter, pieces))
        if plan.todo:
            writer.commit(index)
        done_ids = {l.id for l in plan.todo}
        parts.append(
            IngestReport(
                added=tuple(l.id for l in plan.todo if l.id not in {r[0] for r in replaced}),
                updated=tuple(r[0] for r in replaced if r[0] in done_ids),
                unchanged=tuple(plan.unchanged),
                refused=tuple(plan.refused),
                replaced=tuple(r for r in replaced if r[0] in done_ids),
                pending=tuple(r for r in replaced if r[0] not in done_ids),
            )
        )
    report = _joined(parts)
    if report.added or report.updated:
        compact = getattr(index.store, "compact", None)
        if compact and getattr(index.store, "segment_count", lambda: 0)() > settings.ingest.compact_segments:
            compact()
    elif save and index.letters:  # never store an index that holds nothing
        writer.commit(index)
    return report


def _joined(reports: Sequence[IngestReport]) -> IngestReport:
    """One report for the batches' reports, in their order."""
    fields = ("added", "updated", "unchanged", "refused", "replaced", "pending")
    return IngestReport(**{f: tuple(x for r in reports for x in getattr(r, f)) for f in fields})


class _Progress:
    """Progress in passages: each embedded text of a letter counts as its share of the letter's
    passages; the total is counted as letters are chunked (estimated for the rest, from the
    letters still expected: those found unchanged or refused are taken off)."""

    def __init__(self, on_progress: OnProgress | None) -> None:
        self.on_progress, self.letters, self.chunked, self.passages = on_progress, 0, 0, 0
        self.done = 0.0

    def expect(self, now: int, later: int) -> None:
        """The batch about to be embedded has `now` letters to do; `later` files are still unread."""
        self.letters = self.chunked + now + later

    def step(self, letter: Letter, parts: Sequence[Passage]) -> Callable[[int], None] | None:
        """The embedder's progress callback for this letter's texts."""
        if self.on_progress is None:
            return None
        self.chunked += 1
        self.passages += len(parts)
        texts = len(parts) + sum(len(chunking.sentence_units(p)) for p in parts)
        share = len(parts) / max(texts, 1)
        total = round(self.passages / self.chunked * max(self.letters, self.chunked))
        callback = self.on_progress

        def advance(n: int) -> None:
            self.done += n * share
            callback(letter.id, min(round(self.done), total), total)

        return advance


def read_letters(
    paths: Sequence[Path],
    dutch: bool = False,
    limits: LimitsSettings | None = None,
    seen: dict[str, str] | None = None,
) -> tuple[list[Letter], list[tuple[str, str]]]:
    """Parse every letter file under paths: the letters, and (file, reason) for each refused
    one; the reasons in Dutch if `dutch` (for the app). `seen` (letter id -> file) carries the
    ids read before, so that batches read one after another refuse a repeated id too."""
    letters: list[Letter] = []
    refused: list[tuple[str, str]] = []
    seen = {} if seen is None else seen
    for path in corpus.letter_files(paths):
        try:
            letter = corpus.read_letter(path, limits)
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


def remove_letter(
    settings: Settings, letter_id: str, index: Index | None = None, on_wait: Callable[[str], None] | None = None
) -> Index:
    """Remove a letter's passages from the index and commit it; its last version is kept
    (rag restore brings it back). A given `index` is used as it is (its caller holds the lock)."""
    if index is not None:
        _remove(index, letter_id)
        return index
    with writer.exclusive(settings.index_dir, settings.limits.writer_wait_s, on_wait):
        index = open_index(settings)
        _remove(index, letter_id)
    return index


def _remove(index: Index, letter_id: str) -> None:
    if letter_id in index.letters:
        versions.keep(index.directory, index.letters[letter_id])
    index.remove(letter_id)
    writer.commit(index)


def restore_letter(
    settings: Settings, letter_id: str, on_wait: Callable[[str], None] | None = None
) -> tuple[Index, IngestReport]:
    """Put the last kept version of a replaced or removed letter back (re-embedding it)."""
    with writer.exclusive(settings.index_dir, settings.limits.writer_wait_s, on_wait):
        index = open_index(settings, create=True)
        kept = versions.latest(settings.index_dir, letter_id)
        report = add_letters(settings, index, [kept.letter])
        versions.forget(kept)
    return index, report


def warm(index: Index, answer: AnswerSettings | None = None) -> Index:
    """Count what the index holds and load the reader's models: now when the reader answers every
    question, in a background thread when it answers only those not in Dutch (composer_foreign),
    so that the app opens at once and such a question waits only if it comes within seconds."""
    answer = answer or AnswerSettings()
    index.derived("held", lambda: (len(index.letters), len(index.passages)))  # what it held when loaded
    if answer.composer == "reader":
        _load_reader(answer)
    elif "reader" in (answer.composer_foreign, answer.rules_fallback):
        threading.Thread(target=_load_reader, args=(answer,), name="load-reader", daemon=True).start()
    return index


def _load_reader(answer: AnswerSettings) -> None:
    if load_model(answer.reader).uses_tuned:
        query_encoder.shared()
    if answer.cross_encoder and cross_encoder.shipped():
        cross_encoder.shared()


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
    admission.check_question(question, settings.limits)
    resolved = resolve_follow_up(question, history[-1].question if history else None)
    settings = dataclasses.replace(settings, answer=for_question(resolved, settings.answer))
    judged = find(resolved, index, settings, timings)
    clock = time.perf_counter()

    def extract() -> Answer:
        if settings.answer.composer == "rules":
            ruled = composer.compose(resolved, judged.hits, settings.answer)
            if not (ruled.abstained and settings.answer.rules_fallback == "reader" and judged.hits):
                return ruled
            second = second_opinion(settings.answer)  # the reader, before the letters are said to be silent
            read_again = judge_hits(resolved, judged.hits, index, second, timings)
            answer = compose(resolved, read_again, second)
            if answer.abstained:
                return ruled
            overruled = tuple(f"overruled by the reader: {n}" for n in ruled.notes)
            return dataclasses.replace(answer, notes=overruled + answer.notes)
        refused = composer.refusal(resolved, judged.hits, settings.answer) if settings.answer.rules_abstention else None
        return abstain(resolved, judged.hits, refused) if refused else compose(resolved, judged, settings.answer)

    if settings.answer.mode == "llm":
        from rag.answer import llm  # LangChain chat models are an optional extra

        answer = yield from llm.answer_stream(resolved, judged, settings.answer, index.embed_query, extract)
    else:
        answer = extract()
        yield from pieces(answer.text)
    timings["answer"] = (time.perf_counter() - clock) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    notes = answer.notes + ((f"follow-up read as: {resolved}",) if resolved != question else ())
    yield dataclasses.replace(answer, timings_ms={**answer.timings_ms, **timings}, notes=notes)


def for_question(question: str, answer: AnswerSettings) -> AnswerSettings:
    """The answer settings for this question: a question not in Dutch goes to
    `composer_foreign`; the reader then answers from one passage, keeps retrieval's order and
    abstains also where the rules would."""
    if answer.composer_foreign in ("", "off") or language(question) == "nl":
        return answer
    if answer.composer_foreign == "reader":
        return dataclasses.replace(
            answer, composer="reader", one_passage=True, reader_reranks=False, rules_abstention=True
        )
    return dataclasses.replace(answer, composer=answer.composer_foreign)


def second_opinion(answer: AnswerSettings) -> AnswerSettings:
    """The reader's settings when the rules would abstain (AnswerSettings.rules_fallback): it
    answers from one passage, in retrieval's order, only when it is sure (fallback_abstain_at)."""
    return dataclasses.replace(
        answer, composer="reader", one_passage=True, reader_reranks=False, abstain_at=answer.fallback_abstain_at
    )


def find(question: str, index: Index, settings: Settings, timings: dict[str, float] | None = None) -> Judged:
    """Retrieve passages for the question and let the reader judge and re-rank their sentences."""
    timings = {} if timings is None else timings
    hits = retrieve(question, index, settings.retrieval, timings)
    return judge_hits(question, hits, index, settings.answer, timings)


def judge_hits(
    question: str, hits: Sequence[Hit], index: Index, answer: AnswerSettings, timings: dict[str, float]
) -> Judged:
    """Let the reader judge and re-rank the sentences of retrieved hits (the rules: as they are)."""
    clock = time.perf_counter()
    vector = index.embed_query(question)  # remembered from retrieval
    if hits and not hits[0].sentences:  # a lexical-only retrieval did not read the sentences
        hits = with_sentences(hits, vector, index)
    if answer.composer == "rules" and not answer.reader_weight:
        return Judged(tuple(hits), 0.0, 1.0, 1.0, "rules")  # the rules read retrieval's order and cosines
    reader = load_model(answer.reader)
    tuned = query_encoder.shared().encode(question) if reader.uses_tuned else None
    cross = cross_encoder.shared() if answer.cross_encoder and cross_encoder.shipped() else None
    judged = read(question, vector, hits, answer, reader, tuned, cross)
    if answer.composer == "rules" or not answer.reader_reranks:  # keep retrieval's order
        order = {h.passage.id: i for i, h in enumerate(hits)}
        judged = dataclasses.replace(judged, hits=tuple(sorted(judged.hits, key=lambda h: order[h.passage.id])))
    timings["read"] = (time.perf_counter() - clock) * 1000
    return judged
