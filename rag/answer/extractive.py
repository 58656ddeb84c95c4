"""Hits -> an answer with citations, composed from the letters' own sentences (no LLM).

read(): the reader (reader.py) judges every sentence of the top `AnswerSettings.depth`
passages: the probability that none of them answers, and for each the probability that it
does; the cross-encoder (cross_encoder.py), when shipped, re-reads the few best and has the
last word. The passages are then re-ranked by their best sentence.
compose(): above the calibrated threshold the answer says that the letters do not answer (in
the question's language) and `abstained` is set; the hits are still given. Otherwise the best
sentences, until they hold `keep_mass` of the support, and the `AnswerSettings.reader_follow`
sentences after the best one in its paragraph become the answer, in the order of the hits and
the letter, each ending in `[n]` where n is its passage's rank. An English
question gets the Dutch sentences marked as quotes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.cross_encoder import CrossEncoder
from rag.answer.reader import FeatureReader, Unit
from rag.language import language
from rag.retrieval.named import named_only
from rag.settings import AnswerSettings
from rag.types import CITATION, Answer, Citation, Evidence, Hit, Passage

NO_ANSWER_NL = "De brieven bevatten hierover geen informatie."
NO_ANSWER_EN = "The letters contain no information about this."


@dataclass(frozen=True, slots=True)
class Chosen:
    """A sentence that goes into the answer: its passage's rank (the [n]) and its evidence."""

    rank: int
    hit: Hit
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Judged:
    """The hits after reading: re-ranked, their sentences' support set; P(no answer), and the
    threshold and keep ratio calibrated for the stage that judged last."""

    hits: tuple[Hit, ...]
    no_answer: float
    abstain_at: float
    keep_mass: float
    by: str  # which model judged last


def read(
    question: str,
    q: np.ndarray,
    hits: Sequence[Hit],
    settings: AnswerSettings,
    reader: FeatureReader,
    tuned: np.ndarray | None = None,
    cross: CrossEncoder | None = None,
) -> Judged:
    """Judge the sentences of the top passages (reader, then cross-encoder) and re-rank them."""
    judged, no_answer = judge(question, q, hits, settings.depth, reader, tuned)
    abstain_at, keep_mass, by = reader.abstain_at, reader.keep_mass, reader.name
    if cross is not None:
        judged, no_answer = reread(question, judged, settings.depth, cross)
        abstain_at, keep_mass, by = cross.abstain_at, cross.keep_mass, "cross-encoder"
    if settings.abstain_at >= 0:
        abstain_at = settings.abstain_at
    return Judged(rerank(judged, settings.depth), no_answer, abstain_at, keep_mass, by)


def compose(question: str, judged: Judged, settings: AnswerSettings) -> Answer:
    """Answer from the judged sentences, or abstain."""
    hits = judged.hits
    if not any(h.sentences for h in hits[: settings.depth]):
        return abstain(question, hits, "no passage was retrieved")
    if judged.no_answer >= judged.abstain_at:
        return abstain(question, hits, f"{judged.by}: P(no answer) {judged.no_answer:.2f} >= {judged.abstain_at:.2f}")
    top = hits[: settings.depth]
    if settings.named_only:  # a question about one letter is answered from it
        top = named_only(top)
    if settings.one_passage:  # the passage holding the most support answers alone: one citation to check
        top = (max(top, key=lambda h: sum(e.support or 0.0 for e in h.sentences)),)
    chosen = select(
        top, judged.keep_mass, settings.max_sentences, ranks={h.passage.id: n for n, h in enumerate(hits, 1)}
    )
    chosen = follow(chosen, settings.reader_follow)
    english = language(question) == "en"
    note = f"{judged.by}: P(no answer) {judged.no_answer:.2f}"
    return Answer(question, render(chosen, quoted=english), False, citations(chosen), hits, notes=(note,))


def reread(question: str, hits: Sequence[Hit], depth: int, cross: CrossEncoder) -> tuple[tuple[Hit, ...], float]:
    """The cross-encoder's support for the reader's best few sentences (the others: 0), and
    its P(no answer)."""
    found = [(g, i, e) for g, h in enumerate(hits[:depth]) for i, e in enumerate(h.sentences) if e.support is not None]
    found.sort(key=lambda x: -(x[2].support or 0.0))
    best = found[: cross.candidates]
    if not best:
        return tuple(hits), 1.0
    no_answer, support = cross.score(question, [hits[g].passage.text_at(e.start, e.end) for g, _, e in best])
    new = {(g, i): float(s) for (g, i, _), s in zip(best, support, strict=True)}
    return _with_support(hits, depth, lambda g, i: new.get((g, i), 0.0)), no_answer


def rerank(hits: Sequence[Hit], depth: int) -> tuple[Hit, ...]:
    """The first `depth` hits ordered by their best sentence's support (ties keep retrieval's
    order), then the rest as retrieval ranked them."""
    top = sorted(
        enumerate(hits[:depth]), key=lambda x: (-max((e.support or 0.0 for e in x[1].sentences), default=0.0), x[0])
    )
    return tuple(h for _, h in top) + tuple(hits[depth:])


def _with_support(hits: Sequence[Hit], depth: int, support) -> tuple[Hit, ...]:  # type: ignore[no-untyped-def]
    """The hits with support(g, i) on sentence i of hit g (for the first `depth` hits)."""
    return tuple(
        dataclasses.replace(
            hit, sentences=tuple(dataclasses.replace(e, support=support(g, i)) for i, e in enumerate(hit.sentences))
        )
        if g < depth
        else hit
        for g, hit in enumerate(hits)
    )


def judge(
    question: str,
    q: np.ndarray,
    hits: Sequence[Hit],
    depth: int,
    reader: FeatureReader,
    tuned: np.ndarray | None = None,
) -> tuple[tuple[Hit, ...], float]:
    """The hits with the reader's support on the sentences of the first `depth`, and
    P(none of them answers)."""
    units, where = [], []
    for g, hit in enumerate(hits[:depth]):
        for i, e in enumerate(hit.sentences):
            if e.vector is None:
                continue
            footnote = not (hit.passage.start <= e.start < hit.passage.end)
            text = hit.passage.text_at(e.start, e.end)
            units.append(Unit(text, e.vector, g, i, len(hit.sentences), g + 1, footnote))
            where.append((g, i))
    if not units:
        return tuple(hits), 1.0
    reading = reader.read(question, q, units, tuned)
    support: dict[tuple[int, int], float] = dict(zip(where, reading.support.tolist(), strict=True))
    return _with_support(hits, depth, lambda g, i: support.get((g, i))), reading.no_answer


def select(
    hits: Sequence[Hit], keep_mass: float, max_sentences: int, ranks: dict[str, int] | None = None
) -> list[Chosen]:
    """The best sentences until they hold `keep_mass` of the support (at most max_sentences),
    in the order of the hits and the letter: one sentence when the reader is sure, more when
    its support is spread."""
    ranks = ranks or {h.passage.id: n for n, h in enumerate(hits, start=1)}
    found = [Chosen(ranks[hit.passage.id], hit, e) for hit in hits for e in hit.sentences if e.support is not None]
    found.sort(key=lambda c: -(c.evidence.support or 0.0))
    total = sum(c.evidence.support or 0.0 for c in found) or 1.0
    chosen: list[Chosen] = []
    held = 0.0
    for c in found[:max_sentences]:
        chosen.append(c)
        held += (c.evidence.support or 0.0) / total
        if held >= keep_mass:
            break
    return sorted(chosen, key=lambda c: (c.rank, c.evidence.start))


def follow(chosen: Sequence[Chosen], count: int) -> list[Chosen]:
    """Add the `count` sentences that follow the best chosen one in its paragraph (following()),
    as composer.follow does for the rules: the sentence most like the question often only
    introduces the answer, and the next one gives it."""
    if not chosen or count <= 0:
        return list(chosen)
    best = max(chosen, key=lambda c: c.evidence.support or 0.0)
    starts = following(best.hit.passage, best.evidence.start, (e.start for e in best.hit.sentences), count)
    have = {(c.hit.passage.id, c.evidence.start) for c in chosen}
    new = [
        Chosen(best.rank, best.hit, e)
        for e in best.hit.sentences
        if e.start in starts and (best.hit.passage.id, e.start) not in have
    ]
    return sorted([*chosen, *new], key=lambda c: (c.rank, c.evidence.start))


def following(passage: Passage, start: int, starts: Iterable[int], count: int) -> set[int]:
    """Of these sentence starts in the passage, the first `count` after `start` in its own text:
    never a footnote, and none when `start` is itself in a footnote (they lie past its end)."""
    if count <= 0:
        return set()
    return set(sorted(s for s in starts if start < s < passage.end)[:count])


def render(chosen: Sequence[Chosen], quoted: bool = False) -> str:
    """The answer text: each sentence followed by the number of its passage."""
    parts = []
    for c in chosen:
        text = c.hit.passage.text_at(c.evidence.start, c.evidence.end)
        parts.append(f"“{text}” [{c.rank}]" if quoted else f"{text} [{c.rank}]")
    return " ".join(parts)


def citations(chosen: Sequence[Chosen]) -> tuple[Citation, ...]:
    """One citation per cited passage, with the spans of its cited sentences."""
    by_rank: dict[int, list[Chosen]] = {}
    for c in chosen:
        by_rank.setdefault(c.rank, []).append(c)
    return tuple(
        Citation(rank, group[0].hit.passage, tuple((c.evidence.start, c.evidence.end) for c in group))
        for rank, group in sorted(by_rank.items())
    )


def abstain(question: str, hits: Sequence[Hit], reason: str) -> Answer:
    """The letters do not answer: say so in the question's language, keep the hits."""
    text = NO_ANSWER_EN if language(question) == "en" else NO_ANSWER_NL
    return Answer(question, text, True, (), tuple(hits), notes=(f"abstained: {reason}",))


def cited_numbers(text: str) -> list[int]:
    """Every [n] in an answer text, in order."""
    return [int(n) for n in CITATION.findall(text)]


def pieces(text: str) -> Iterator[str]:
    """An answer text cut after each citation: what the extractive path streams."""
    for found in re.finditer(r".*?(?:\[\d+\](?=\s|$)|$)\s*", text, re.DOTALL):
        if found.group():
            yield found.group()
