"""BM25 for the FAISS backend at scale: bm25s indexes over the stemmed passage text of the
ANN segments' key ranges (saved once, loaded memory-mapped, never rebuilt on load), and
SQLite FTS5 for the keys after the last segment (the recent tail, small and incremental).

FTS5 has to score every passage that holds a query word, which grows with the corpus;
bm25s keeps each word's scores precomputed, so a query costs a few array additions per
word. Each segment scores with its own IDF (Lucene's formula; FTS5 uses the whole table's):
the rankings agree closely, not exactly, and compaction makes one segment again."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import bm25s
import numpy as np

from rag.store.vectors import Segment


class Bm25Segments:
    """The bm25s part: one saved index per segment, each with the keys of its documents."""

    def __init__(self, folder: Path, segments: list[Segment]) -> None:
        self.folder, self.segments = folder, list(segments)
        self._loaded = [_load(folder / s.name) for s in self.segments]

    def build(self, db: sqlite3.Connection, lo: int, hi: int, generation: int) -> Segment:
        """Index the stemmed text of the passages with keys in [lo, hi) (those still stored)."""
        rows = db.execute("SELECT rowid, stems FROM fts WHERE rowid >= ? AND rowid < ? ORDER BY rowid", (lo, hi))
        keys, texts = [], []
        for key, stems in rows:
            keys.append(key)
            texts.append(stems.split() or ["-"])
        segment = Segment(f"bm25-{lo}-{hi}-{generation}", lo, hi)
        retriever = bm25s.BM25()  # Lucene's BM25, k1 = 1.2, b = 0.75
        retriever.index(texts, show_progress=False)
        retriever.save(str(self.folder / segment.name))
        np.save(self.folder / segment.name / "keys.npy", np.asarray(keys, dtype=np.int64))
        return segment

    def use(self, segments: list[Segment]) -> None:
        self.segments = list(segments)
        self._loaded = [_load(self.folder / s.name) for s in self.segments]

    def search(self, words: list[str], k: int, allowed: np.ndarray | None) -> list[tuple[float, int]]:
        """(score, key) of the best k passages of the segments, among `allowed` keys (bool array)."""
        found: list[tuple[float, int]] = []
        for retriever, keys in self._loaded:
            scores = _scores(retriever, words)
            if scores is None:
                continue
            docs = np.flatnonzero(scores)  # the passages holding a query word (BM25 > 0 there)
            if allowed is not None:  # the filter on those only, not on every passage
                inside = docs[keys[docs] < len(allowed)]
                docs = inside[allowed[keys[inside]]]
            if len(docs) > k:
                docs = docs[np.argpartition(-scores[docs], k - 1)[:k]]
            found += [(float(scores[i]), int(keys[i])) for i in docs]
        return found


def _scores(retriever: bm25s.BM25, words: list[str]) -> np.ndarray | None:
    """The BM25 score of every document of the segment for these words (None: no word is
    known): bm25s' get_scores(), summed word by word in float32 as it does, without its
    general path (a ufunc.at per word and checks made for any query)."""
    ids = [retriever.vocab_dict[w] for w in words if w in retriever.vocab_dict]
    if not ids:
        return None
    matrix = retriever.scores
    data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
    scores = np.zeros(matrix["num_docs"], dtype=np.float32)
    for token in ids:
        start, end = int(indptr[token]), int(indptr[token + 1])
        scores[indices[start:end]] += data[start:end]  # a word lists each document once
    if getattr(retriever, "nonoccurrence_array", None) is not None:  # BM25L / BM25+ (not Lucene's)
        scores += retriever.nonoccurrence_array[ids].sum()
    return scores


def _load(path: Path) -> tuple[bm25s.BM25, np.ndarray]:
    return bm25s.BM25.load(str(path), mmap=True), np.load(path / "keys.npy")


def remove(folder: Path, name: str) -> None:
    shutil.rmtree(folder / name, ignore_errors=True)
