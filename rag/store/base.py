"""The Store protocol: what retrieval and ingest need from wherever passages are kept.

A store holds letters, their passages (each with a vector) and the sentence units of
each passage (each with a span in the letter and a vector). Passages are addressed by
a `key`: an int the store assigns, stable until the letter is removed. Searches take a
`Where` (letters, date range, dossier) that the backend applies inside the search.
Changes (add, remove) become visible to other processes at `commit()`, atomically.

Backends: faiss_sqlite.py (the embedded default), milvus.py (milvus-lite or a cluster).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from rag.types import Letter, Passage

# (start, end) of a sentence unit in its letter's text
Span = tuple[int, int]


@dataclass(frozen=True)
class Where:
    """A filter on passages: only these letters, only letters dated in [date_from, date_to],
    only this dossier (the kamerstuk's dossier number). Empty fields do not filter."""

    letters: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    dossier: str | None = None

    def __bool__(self) -> bool:
        return bool(self.letters or self.date_from or self.date_to or self.dossier)

    def accepts(self, letter_id: str, date: dt.date | None, dossier: str | None) -> bool:
        """Whether a passage of this letter passes the filter (undated letters fail a date range)."""
        if self.letters and letter_id not in self.letters:
            return False
        if self.dossier and dossier != self.dossier:
            return False
        if (self.date_from or self.date_to) and date is None:
            return False
        if self.date_from and date and date < self.date_from:
            return False
        return not (self.date_to and date and date > self.date_to)


def dossier_of(letter: Letter) -> str | None:
    """The letter's dossier: its `dossier` field where the letter has one, else the part of
    its kamerstuk before the number ("21501-20, nr. 1799" -> "21501-20")."""
    explicit = getattr(letter, "dossier", None)
    if explicit:
        return str(explicit)
    if not letter.kamerstuk:
        return None
    return letter.kamerstuk.split("nr")[0].strip(" ,.") or None


@dataclass(frozen=True)
class Unit:
    """A sentence unit to store: its passage (index into the letter's passages) and span."""

    passage: int
    start: int
    end: int


class Store(Protocol):
    """Letters, passages and sentence units with vectors; searched by vector and by words."""

    dim: int

    def add(
        self,
        letter: Letter,
        passages: Sequence[Passage],
        passage_vectors: np.ndarray,
        units: Sequence[Unit],
        unit_vectors: np.ndarray,
    ) -> None:
        """Stage a letter (replacing a stored letter with the same id); visible after commit()."""
        ...

    def remove(self, letter_id: str) -> None:
        """Stage the removal of a letter and its passages; IndexError_ if the store lacks it."""
        ...

    def commit(self) -> None:
        """Make the staged changes durable and visible, all or nothing (under an exclusive lock)."""
        ...

    def rollback(self) -> None:
        """Drop the staged changes."""
        ...

    def dense_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """(key, cosine) of the k passages nearest to the vector, within the filter."""
        ...

    def sentence_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float, Span]]:
        """(key, cosine, span) of the k passages whose best sentence unit is nearest to the vector."""
        ...

    def lexical_search(self, query: str, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """(key, score) of the k best passages by BM25 over Dutch-stemmed words (score > 0)."""
        ...

    def passages(self, keys: Sequence[int]) -> list[Passage | None]:
        """The passages with these keys, in the same order (None for a key no longer stored)."""
        ...

    def key(self, passage_id: str) -> int:
        """The key of the passage with this id; KeyError if there is none."""
        ...

    def passage_sentences(self, key: int) -> list[tuple[int, int, np.ndarray]]:
        """(start, end, vector) of each sentence unit of the passage, in the order stored."""
        ...

    def sentences_by_id(self, passage_ids: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """passage_sentences() of each of these passages by id (absent ids left out), read in as
        few queries as the backend allows: what retrieval fetches for its hits."""
        ...

    def letter_ids(self) -> list[str]:
        """The ids of the stored letters, sorted."""
        ...

    def letter(self, letter_id: str) -> Letter | None:
        """The stored letter with this id, or None."""
        ...

    def letter_summaries(self, ids: Sequence[str] | None = None) -> dict[str, dict]:
        """Per letter id (all, or these): sha256, source, title and the number of passages."""
        ...

    def content_owners(self, keys: Sequence[str]) -> dict[str, str]:
        """Per content key (Letter.content_key) of these, the id of a stored letter that says it;
        reads only the letters that match, however many are stored."""
        ...

    def iter_passages(self) -> Iterator[tuple[int, Passage]]:
        """(key, passage) of every stored passage, letter by letter in reading order."""
        ...

    def counts(self) -> tuple[int, int]:
        """(passages, sentence units) stored."""
        ...

    def iter_sentence_vectors(self) -> Iterator[tuple[str, int, int, np.ndarray]]:
        """(letter id, start, end, vector) of every stored sentence unit."""
        ...

    def meta(self) -> Mapping[str, object]:
        """What the store was built with (format, embedder, chunking), as written by set_meta()."""
        ...

    def set_meta(self, meta: Mapping[str, object]) -> None:
        """Record what the store is built with (staged until commit)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...
