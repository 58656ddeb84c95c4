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
            known = [w for w in words if w in retriever.vocab_dict]
            if not known:
                continue
            scores = retriever.get_scores(known)
            if allowed is not None:
                inside = keys < len(allowed)
                scores = np.where(inside & allowed[np.minimum(keys, len(allowed) - 1)], scores, 0.0)
            top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
            found += [(float(scores[i]), int(keys[i])) for i in top if scores[i] > 0]
        return found


def _load(path: Path) -> tuple[bm25s.BM25, np.ndarray]:
    return bm25s.BM25.load(str(path), mmap=True), np.load(path / "keys.npy")


def remove(folder: Path, name: str) -> None:
    shutil.rmtree(folder / name, ignore_errors=True)
