"""Question -> ranked passages. Each step is a plain function over list[Hit]:
dense() (whole passages), sentences() (each passage by its best sentence or footnote) and
lexical() (BM25) fetch candidates; rrf() fuses them; named.mark() marks the hits of the letters a
question names and named.named_first() puts those of the one it names first; retrieve() runs
the path.

Why three rankings: a paragraph's vector blurs a fact stated in one of its sentences;
the sentence ranking finds it, the passage ranking keeps the context, and BM25 catches
exact names and numbers. BM25 matches the letters' Dutch stems, so for a question in another
language it matches only names, numbers and English words quoted in a letter: its weight there is
`lexical_weight_foreign`. The fusion and its weights were chosen by measurement over whole
development sets (benchmarks/fusion_grid.py), not per question."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from rag.language import language
from rag.retrieval.named import mark, named_first
from rag.settings import RetrievalSettings
from rag.store.base import Span, Where
from rag.store.index import Index
from rag.types import Evidence, Hit, Passage


def retrieve(
    question: str, index: Index, settings: RetrievalSettings, timings: dict[str, float] | None = None
) -> list[Hit]:
    """The best `settings.k` passages for the question, within the settings' filters."""
    timings = {} if timings is None else timings
    allowed, n = where(settings, index), settings.candidates
    clock = time.perf_counter()
    vector = None if settings.fusion == "lexical" else index.embed_query(question)
    timings["embed"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    store = index.store
    # the rankings as (key, score, evidence): passages are read only for the fused top k
    dense_found = [] if vector is None else [(key, s, None) for key, s in store.dense_search(vector, n, allowed)]
    sentence_found = [] if vector is None else store.sentence_search(vector, n, allowed)
    timings["dense"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    lexical_found = (
        [] if settings.fusion == "dense" else [(key, s, None) for key, s in store.lexical_search(question, n, allowed)]
    )
    timings["lexical"] = (time.perf_counter() - clock) * 1000
    clock = time.perf_counter()
    if settings.fusion == "dense":
        hits = _hits(index, [(key, s, {"dense": s}, None) for key, s, _ in dense_found[: settings.k]])
    elif settings.fusion == "lexical":
        hits = _hits(index, [(key, s, {"lexical": s}, None) for key, s, _ in lexical_found[: settings.k]])
    else:
        weights = (settings.dense_weight, settings.sentence_weight, lexical_weight(question, settings))
        rankings: dict[str, Sequence[tuple[int, float, Span | None]]] = {
            "dense": dense_found,
            "sentence": sentence_found,
            "lexical": lexical_found,
        }
        hits = fuse(rankings, index, settings.k, settings.rrf_k, weights)
    hits = mark(question, hits)
    if settings.fusion == "rrf" and settings.named_first:
        hits = named_first(hits)
    if vector is not None:
        hits = with_sentences(hits, vector, index)
    timings["fuse"] = (time.perf_counter() - clock) * 1000
    return hits


def lexical_weight(question: str, settings: RetrievalSettings) -> float:
    """BM25's weight in the fusion: `lexical_weight` for a Dutch question, the letters' language,
    `lexical_weight_foreign` for one in another language."""
    return settings.lexical_weight if language(question) == "nl" else settings.lexical_weight_foreign


def fuse(
    rankings: Mapping[str, Sequence[tuple[int, float, Span | None]]],
    index: Index,
    top: int,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[Hit]:
    """rrf() over rankings of store keys (name -> [(key, score, evidence)]), reading only the
    passages of the best `top`: the same hits, scores and order as rrf() over Hits cut to `top`
    (ties broken by passage id, so the passages tied at the cut are read too)."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    fused: dict[int, float] = {}
    scores: dict[int, dict[str, float]] = {}
    evidence: dict[int, Span] = {}
    for weight, (name, ranking) in zip(weights, rankings.items(), strict=True):
        for rank, (key, score, span) in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
            scores.setdefault(key, {})[name] = score
            if span and key not in evidence:
                evidence[key] = span
    order = sorted(fused, key=lambda key: -fused[key])
    while True:
        cut = fused[order[top - 1]] if len(order) >= top else -math.inf
        wanted = [key for key in order if fused[key] >= cut]
        found = dict(zip(wanted, index.store.passages(wanted), strict=True))
        gone = [key for key, p in found.items() if p is None]  # removed by another writer since the search
        if not gone:
            break
        order = [key for key in order if key not in gone]
    wanted.sort(key=lambda key: (-fused[key], found[key].id))  # type: ignore[union-attr]
    return [
        Hit(found[key], fused[key], {**scores[key], "rrf": fused[key]}, evidence.get(key))  # type: ignore[arg-type]
        for key in wanted[:top]
    ]


def dense(vector: np.ndarray, index: Index, k: int, allowed: Where | None = None) -> list[Hit]:
    """Nearest passages to the question's vector by cosine similarity."""
    found = index.store.dense_search(vector, k, allowed)
    return _hits(index, [(key, s, {"dense": s}, None) for key, s in found])


def sentences(vector: np.ndarray, index: Index, k: int, allowed: Where | None = None) -> list[Hit]:
    """Passages ranked by their sentence (or footnote) nearest to the question's vector."""
    found = index.store.sentence_search(vector, k, allowed)
    return _hits(index, [(key, s, {"sentence": s}, span) for key, s, span in found])


def lexical(question: str, index: Index, k: int, allowed: Where | None = None) -> list[Hit]:
    """Best passages by BM25 (Dutch stemming and stop words)."""
    found = index.store.lexical_search(question, k, allowed)
    return _hits(index, [(key, s, {"lexical": s}, None) for key, s in found])


def _hits(index: Index, found: Sequence[tuple[int, float, dict[str, float], tuple[int, int] | None]]) -> list[Hit]:
    """Hits for (key, score, scores, evidence), reading the passages in one go; a passage
    removed since the search (by another writer) is left out."""
    passages = index.store.passages([key for key, _, _, _ in found])
    return [Hit(p, s, scores, span) for p, (_, s, scores, span) in zip(passages, found, strict=True) if p is not None]


def with_sentences(hits: Sequence[Hit], vector: np.ndarray, index: Index) -> list[Hit]:
    """The hits with their passages' sentences: span, stored vector and cosine to the question
    (what the reader judges, so it needs neither the embedder nor the text again)."""
    query = np.asarray(vector, dtype=np.float32)
    out = []
    by_id = index.sentences_by_id([hit.passage.id for hit in hits])
    for hit in hits:
        units = by_id.get(hit.passage.id, [])
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


def where(settings: RetrievalSettings, index: Index | None = None) -> Where | None:
    """The filter the settings ask for, or None for all passages: letters, date range and dossier
    go to the store as they are; the letter-level filters (dossiers, vergaderjaren, no uploads)
    become the set of letters that pass them, read from the letters table. A letter in several
    dossiers passes a filter on any of them."""
    letters = settings.letters
    if index is not None and (settings.dossiers or settings.vergaderjaren or settings.exclude_uploads):
        wanted = set(settings.dossiers)
        passing = []
        for lid in index.letters:
            if settings.letters and lid not in settings.letters:
                continue
            letter = index.letters[lid]
            if wanted and not {letter.dossier, *letter.also} & wanted:
                continue
            if settings.vergaderjaren and letter.vergaderjaar not in settings.vergaderjaren:
                continue
            if settings.exclude_uploads and letter.origin.upload:
                continue
            passing.append(lid)
        letters = tuple(passing) or (NO_LETTER,)
    found = Where(letters, settings.date_from, settings.date_to, settings.dossier or None)
    return found if found else None


NO_LETTER = "\x00"  # a letter id no letter has: the filter lets nothing through
