"""Dutch words for BM25: lower-cased tokens of two or more word characters, Dutch stop
words removed (bm25s' list), each stemmed with the Snowball Dutch stemmer (PyStemmer).

Both backends index the stemmed text this module makes (FTS5 and Milvus' BM25 field),
so they agree with each other and with what `bm25s.tokenize(..., stopwords="nl")` did."""

from __future__ import annotations

import re
import threading

import Stemmer
from bm25s.stopwords import STOPWORDS_DUTCH

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s' (and scikit-learn's) token pattern
_STOP = frozenset(STOPWORDS_DUTCH)
_local = threading.local()  # a PyStemmer Stemmer is not safe to share between threads


def stems(text: str) -> list[str]:
    """The stemmed, stop-word-free tokens of a text, in order."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("dutch")
    return stemmer.stemWords([t for t in _TOKEN.findall(text.lower()) if t not in _STOP])


def stemmed(text: str) -> str:
    """stems() joined by spaces: what goes into a full-text index."""
    return " ".join(stems(text))
