"""Question -> ranked passages. Each step is a plain function over list[Hit]:
dense() (whole passages), sentences() (each passage by its best sentence or footnote) and
lexical() (BM25) fetch candidates; rrf() fuses them; retrieve() runs the path.

Why three rankings: a paragraph's vector blurs a fact stated in one of its sentences;
the sentence ranking finds it, the passage ranking keeps the context, and BM25 catches
exact names and numbers. The fusion and its weights were chosen by measurement over
whole evaluation sets (benchmarks/fusion_grid.py), not per question."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from rag.settings import RetrievalSettings
from rag.store.index import Index
from rag.types import Evidence, Hit, Passage


def retrieve(
    question: str, index: Index, settings: RetrievalSettings, timings: dict[str, float] | None = None
) -> list[Hit]:
    """The best `settings.k` passages for the question, within the settings' filters."""
    timings = {} if timings is None else timings
    allowed = filter_mask(index, settings)
    clock = time.perf_counter()
    vector = None if settings.fusion == "lexical" else index.embed_query(question)
    timings["embed"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    dense_hits = [] if vector is None else dense(vector, index, settings.candidates, allowed)
    sentence_hits = [] if vector is None else sentences(vector, index, settings.candidates, allowed)
    timings["dense"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    lexical_hits = [] if settings.fusion == "dense" else lexical(question, index, settings.candidates, allowed)
    timings["lexical"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    if settings.fusion == "dense":
        hits = dense_hits
    elif settings.fusion == "lexical":
        hits = lexical_hits
    else:
        weights = (settings.dense_weight, settings.sentence_weight, settings.lexical_weight)
        hits = rrf([dense_hits, sentence_hits, lexical_hits], k=settings.rrf_k, weights=weights)
    hits = hits[: settings.k]
    if vector is not None:
        hits = with_sentences(hits, vector, index)
    timings["fuse"] = (time.perf_counter() - clock) * 1000
    return hits


def dense(vector: np.ndarray, index: Index, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
    """Nearest passages to the question's vector by cosine similarity."""
    found = index.dense_search(vector, k, allowed)
    return [Hit(index.passages[i], s, {"dense": s}) for i, s in found]


def sentences(vector: np.ndarray, index: Index, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
    """Passages ranked by their sentence (or footnote) nearest to the question's vector."""
    found = index.sentence_search(vector, k, allowed)
    return [Hit(index.passages[i], s, {"sentence": s}, evidence=span) for i, s, span in found]


def lexical(question: str, index: Index, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
    """Best passages by BM25 (Dutch stemming and stop words)."""
    found = index.lexical.search(question, k, allowed)
    return [Hit(index.passages[i], s, {"lexical": s}) for i, s in found]


def with_sentences(hits: Sequence[Hit], vector: np.ndarray, index: Index) -> list[Hit]:
    """The hits with their passages' sentences: span, stored vector and cosine to the question
    (what the reader judges, so it needs neither the embedder nor the text again)."""
    query = np.asarray(vector, dtype=np.float32)
    out = []
    for hit in hits:
        units = index.passage_sentences(index.position(hit.passage.id))
        found = tuple(Evidence(s, e, float(v @ query), vector=v) for s, e, v in units)
        out.append(dataclasses.replace(hit, sentences=found))
    return out


def rrf(rankings: Sequence[Sequence[Hit]], k: int = 60, weights: Sequence[float] | None = None) -> list[Hit]:
    """Reciprocal rank fusion: score = sum of weight / (k + rank) over the rankings."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    fused: dict[str, float] = {}
    passages: dict[str, Passage] = {}
    scores: dict[str, dict[str, float]] = {}
    evidence: dict[str, tuple[int, int]] = {}
    for weight, ranking in zip(weights, rankings, strict=True):
        for rank, hit in enumerate(ranking, start=1):
            pid = hit.passage.id
            fused[pid] = fused.get(pid, 0.0) + weight / (k + rank)
            passages[pid] = hit.passage
            scores.setdefault(pid, {}).update(hit.scores)
            if hit.evidence and pid not in evidence:
                evidence[pid] = hit.evidence
    order = sorted(fused, key=lambda pid: (-fused[pid], pid))
    return [Hit(passages[p], fused[p], {**scores[p], "rrf": fused[p]}, evidence.get(p)) for p in order]


def filter_mask(index: Index, settings: RetrievalSettings) -> np.ndarray | None:
    """A mask of the passages the filters allow (letters, dossiers, vergaderjaren, date range, no
    uploads), or None for all. A letter in several dossiers passes a filter on any of them."""
    if not (
        settings.letters
        or settings.dossiers
        or settings.vergaderjaren
        or settings.date_from
        or settings.date_to
        or settings.exclude_uploads
    ):
        return None
    dossiers = {lid for lid, l in index.letters.items() if {l.dossier, *l.also} & set(settings.dossiers)}
    years = {lid for lid, l in index.letters.items() if l.vergaderjaar in settings.vergaderjaren}

    def keep(p: Passage) -> bool:
        if settings.letters and p.letter_id not in settings.letters:
            return False
        if settings.dossiers and p.letter_id not in dossiers:
            return False
        if settings.vergaderjaren and p.letter_id not in years:
            return False
        if settings.exclude_uploads and p.origin.upload:
            return False
        if (settings.date_from or settings.date_to) and p.letter_date is None:
            return False
        if settings.date_from and p.letter_date and p.letter_date < settings.date_from:
            return False
        return not (settings.date_to and p.letter_date and p.letter_date > settings.date_to)

    return index.mask(keep)
