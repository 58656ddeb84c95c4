"""BM25 over passages with Dutch stemming (Snowball via PyStemmer) and Dutch stop words
(bm25s' list). Built from the passage table when an index loads: it is small and fast
to build, and can never disagree with the vectors."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer

_STEMMER = "dutch"
_STOPWORDS = "nl"


class LexicalIndex:
    """Positions in the passage table scored by BM25."""

    def __init__(self, texts: Sequence[str]) -> None:
        self._stemmer = Stemmer.Stemmer(_STEMMER)
        self._size = len(texts)
        self._bm25 = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(list(texts), stopwords=_STOPWORDS, stemmer=self._stemmer, show_progress=False)
            self._bm25.index(tokens, show_progress=False)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(position, score) of the best k passages with a positive score; `allowed` is a 0/1 mask."""
        if not self._size or k <= 0:
            return []
        tokens = bm25s.tokenize([query], stopwords=_STOPWORDS, stemmer=self._stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        mask = None if allowed is None else allowed.astype(np.float32)
        docs, scores = self._bm25.retrieve(
            tokens, k=min(k, self._size), show_progress=False, n_threads=1, weight_mask=mask
        )
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
