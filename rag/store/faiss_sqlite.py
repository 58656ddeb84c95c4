"""The embedded default Store: FAISS for vectors, SQLite for everything else, in one folder.

    store.sqlite          letters, passages, sentence spans, deletion marks, segments, FTS5
    passages.f16 / sentences.f16   vectors by key (float16, append-only, memory-mapped)
    passages.i32 / sentences.i32   the letter number of each passage key, the passage key of
                                   each sentence key (append-only; filters are masks over them)
    passages-*.faiss / sentences-*.faiss   ANN segments (IVF, 8-bit scalar quantisation)
    bm25-*/               bm25s indexes over the passage segments' words (FTS5 covers the tail)

A change appends rows to the .f16/.i32 files and stages SQLite rows; commit() writes any
new ANN segment and then commits the SQLite transaction, which records the new row counts
and segments: that is the one atomic step. A crash before it leaves rows past the
recorded counts (ignored and overwritten) and segment files no row names (deleted by the
next writer). A removal deletes the letter's rows and marks its keys deleted; the ANN
segments skip them inside the search until compact() rebuilds them without.
One writer at a time: an exclusive lock on `.lock` from the first change to the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from rag.errors import IndexError_
from rag.store import bm25, tables
from rag.store.base import Span, Unit, Where
from rag.store.lexical import stems
from rag.store.vectors import Rows, Segment, Vectors
from rag.types import Letter, Passage

DB = "store.sqlite"


class Column:
    """A numpy array that grows at the end in amortised constant time."""

    def __init__(self, values: np.ndarray, dtype: type) -> None:
        self._data = np.array(values, dtype=dtype)
        self.n = len(self._data)

    def extend(self, values: np.ndarray) -> None:
        if self.n + len(values) > len(self._data):
            grown = np.zeros(max(2 * len(self._data), self.n + len(values), 1024), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : self.n + len(values)] = values
        self.n += len(values)

    @property
    def array(self) -> np.ndarray:
        return self._data[: self.n]


class FaissSqliteStore:
    """Letters, passages and sentence units in a folder; see the module docstring."""

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder, self.dim = Path(folder), dim
        self.folder.mkdir(parents=True, exist_ok=True)
        self._db = tables.connect(self.folder / DB)
        self._lock_file: object | None = None
        self._generation = 0
        self._load()

    # --- state ----------------------------------------------------------------------

    def _load(self) -> None:
        meta = tables.get_meta(self._db)
        p_count, s_count = int(meta.get("passage_count", 0)), int(meta.get("sentence_count", 0))
        self._generation = int(meta.get("generation", 0))
        before = getattr(self, "_passages", None), getattr(self, "_sentences", None)
        segments = tables.segments(self._db, "passages"), tables.segments(self._db, "sentences")
        self._passages = Vectors(self.folder, "passages", self.dim, p_count, segments[0], before[0])
        self._sentences = Vectors(self.folder, "sentences", self.dim, s_count, segments[1], before[1])
        self._bm25 = bm25.Bm25Segments(self.folder, tables.segments(self._db, "bm25"))
        self._letter_of = Rows(self.folder / "passages.i32", 1, p_count, np.int32)
        self._owner_of = Rows(self.folder / "sentences.i32", 1, s_count, np.int32)
        self._owners_col = Column(self._owner_of.view()[:, 0], np.int64)
        self._letters_col = Column(self._letter_of.view()[:, 0], np.int64)
        self._alive_col = Column(np.ones(p_count, dtype=bool), bool)
        self._alive[[k for k in tables.deleted(self._db) if k < p_count]] = False
        self._meta = meta
        self._days = tables.letter_days(self._db)  # date ordinal by letter number (0: undated)
        self._masks: tuple[Where | None, dict] | None = None
        self.letter.cache_clear()

    def _writing(self) -> None:
        """Before the first change: take the writer lock, start a transaction, and catch up
        with what another writer committed since we loaded."""
        if self._lock_file is not None:
            return
        handle = open(self.folder / ".lock", "a")  # noqa: SIM115 - held until commit or rollback
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._lock_file = handle
        self._db.execute("BEGIN IMMEDIATE")
        tables.fill_content(self._db)  # a store made before letters.content: filled once, in this transaction
        if tables.get_meta(self._db).get("generation", 0) != self._generation:
            self._load()  # another writer committed since: catch up (unchanged: keep what is loaded)
        named = {s.name for v in (self._passages, self._sentences) for s in v.segments}
        named |= {s.name for s in self._bm25.segments}
        for orphan in [*self.folder.glob("*.faiss"), *self.folder.glob("bm25-*")]:  # of a commit that crashed
            if orphan.name not in named:
                bm25.remove(self.folder, orphan.name) if orphan.is_dir() else orphan.unlink(missing_ok=True)

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)  # type: ignore[call-overload]
            self._lock_file.close()  # type: ignore[attr-defined]
            self._lock_file = None

    # --- changing -------------------------------------------------------------------

    def add(
        self,
        letter: Letter,
        passages: Sequence[Passage],
        passage_vectors: np.ndarray,
        units: Sequence[Unit],
        unit_vectors: np.ndarray,
    ) -> None:
        """Stage a letter with its vectors (replacing a stored letter of the same id)."""
        self._writing()
        if tables.letter(self._db, letter.id) is not None:
            self.remove(letter.id)
        num = tables.put_letter(self._db, letter)
        if num >= len(self._days):
            self._days = np.concatenate([self._days, np.zeros(max(num + 1 - len(self._days), 1024), np.int32)])
        self._days[num] = letter.date.toordinal() if letter.date else 0
        first, s_first = self._passages.count, self._sentences.count
        tables.put_passages(self._db, num, first, passages)
        tables.put_sentences(self._db, [(s_first + j, first + u.passage, u.start, u.end) for j, u in enumerate(units)])
        self._passages.append(passage_vectors)
        self._sentences.append(unit_vectors)
        owners = np.array([first + u.passage for u in units], dtype=np.int32).reshape(-1, 1)
        self._letter_of.append(np.full((len(passages), 1), num, np.int32), first)
        self._owner_of.append(owners, s_first)
        self._letter_of.count, self._owner_of.count = self._passages.count, self._sentences.count
        self._letters_col.extend(np.full(len(passages), num))
        self._owners_col.extend(owners[:, 0])
        self._alive_col.extend(np.ones(len(passages), bool))
        self._masks = None
        self.letter.cache_clear()

    def remove(self, letter_id: str) -> None:
        """Stage the removal of a letter; IndexError_ if it is not stored."""
        self._writing()
        keys = tables.drop_letter(self._db, letter_id)
        if keys is None:
            raise IndexError_(f"No letter '{letter_id}' in the index at {self.folder}.")
        self._alive[keys] = False
        self._masks = None
        self.letter.cache_clear()

    def commit(self) -> None:
        """Write new ANN segments, then commit the transaction that names them (atomic)."""
        if self._lock_file is None:
            return
        try:
            self._generation += 1
            for kind, vectors in (("passages", self._passages), ("sentences", self._sentences)):
                segment = vectors.new_segment(self._alive_of(kind), self._generation)
                if segment is not None:
                    self._record(kind, segment)
                    vectors.use([*vectors.segments, segment])
                if segment is not None and kind == "passages":  # BM25 follows the passage segments
                    words = self._bm25.build(self._db, segment.lo, segment.hi, self._generation)
                    self._record("bm25", words)
                    self._bm25.use([*self._bm25.segments, words])
            tables.set_meta(self._db, self._counts_meta())
            for rows in self._files():
                rows.sync()  # the rows are on disk before the commit names them
            self._publish()
        except BaseException:
            self.rollback()
            raise
        self._release()

    def _files(self) -> list[Rows]:
        return [self._passages.rows, self._sentences.rows, self._letter_of, self._owner_of]

    @property
    def _alive(self) -> np.ndarray:
        return self._alive_col.array

    @property
    def _owners(self) -> np.ndarray:
        return self._owners_col.array

    @property
    def _letters_of(self) -> np.ndarray:
        return self._letters_col.array

    def _publish(self) -> None:
        """The commit point: before it nothing of this change is visible, after it all."""
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        """Drop staged changes: SQLite rolls back, rows past the committed counts are forgotten."""
        if self._lock_file is None:
            return
        with contextlib.suppress(Exception):
            self._db.execute("ROLLBACK")
        for rows in self._files():
            rows.forget()
        self._load()
        self._release()

    def compact(self) -> None:
        """Rebuild the ANN segments as one per kind without deleted keys (rewrites the vectors index)."""
        self._writing()
        try:
            self._generation += 1
            old = [s.name for v in (self._passages, self._sentences) for s in v.segments]
            old_words = [s.name for s in self._bm25.segments]
            self._db.execute("DELETE FROM segments")
            for kind, vectors in (("passages", self._passages), ("sentences", self._sentences)):
                segment = vectors.merged(self._alive_of(kind), self._generation)
                segments = [] if segment is None else [segment]
                for s in segments:
                    self._record(kind, s)
                vectors.use(segments)
            words = (
                [self._bm25.build(self._db, 0, self._passages.count, self._generation)] if self._passages.count else []
            )
            for s in words:
                self._record("bm25", s)
            self._bm25.use(words)
            tables.set_meta(self._db, self._counts_meta())
            for rows in self._files():
                rows.sync()
            self._publish()
        except BaseException:
            self.rollback()
            raise
        self._release()
        for name in old:
            (self.folder / name).unlink(missing_ok=True)
        for name in old_words:
            bm25.remove(self.folder, name)

    def _record(self, kind: str, segment: Segment) -> None:
        self._db.execute("INSERT INTO segments VALUES (?, ?, ?, ?)", (kind, segment.name, segment.lo, segment.hi))

    def _counts_meta(self) -> dict:
        return {
            "passage_count": self._passages.count,
            "sentence_count": self._sentences.count,
            "generation": self._generation,
        }

    def _alive_of(self, kind: str) -> np.ndarray:
        return self._alive if kind == "passages" else self._alive[self._owners]

    # --- searching ------------------------------------------------------------------

    def _mask(self, where: Where | None, sentences: bool = False) -> np.ndarray | None:
        """The passage keys (or sentence keys) a search may return (alive, within the filter);
        None: all of them. Made once per Where object: the three searches of one question
        pass the same one (a change to the store forgets it)."""
        if self._masks is not None and self._masks[0] is where:
            cached = self._masks[1]
        else:
            cached = {}
            self._masks = (where, cached)
        if "passages" not in cached:
            cached["passages"] = self._passage_mask(where)
        if sentences and "sentences" not in cached:
            mask = cached["passages"]
            cached["sentences"] = None if mask is None else np.take(mask, self._owners)
        return cached["sentences" if sentences else "passages"]

    def _passage_mask(self, where: Where | None) -> np.ndarray | None:
        if not where:
            return None if self._alive.all() else self._alive
        days = self._days
        allowed = days > 0 if (where.date_from or where.date_to) else np.ones(len(days), dtype=bool)
        if where.date_from:  # a date range over the letters' dates in memory, not a query per question
            allowed &= days >= where.date_from.toordinal()
        if where.date_to:
            allowed &= days <= where.date_to.toordinal()
        if where.letters or where.dossier:
            chosen = np.zeros(len(days), dtype=bool)
            chosen[tables.letter_numbers(self._db, Where(where.letters, dossier=where.dossier))] = True
            allowed &= chosen
        return np.take(allowed, self._letters_of) & self._alive

    def dense_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """(key, cosine) of the k passages nearest to the vector, within the filter."""
        return self._passages.search(vector, k, self._mask(where))

    def sentence_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float, Span]]:
        """(key, cosine, span) of the k passages by their best sentence unit."""
        allowed = self._mask(where, sentences=True)
        wanted, best = 4 * k, {}
        while k > 0:
            found = self._sentences.search(vector, wanted, allowed)
            best = {}
            for key, score in found:
                best.setdefault(int(self._owners[key]), (key, score))
            if len(best) >= k or len(found) < wanted:
                break
            wanted *= 4
        ranked = sorted(best.items(), key=lambda item: -item[1][1])[:k]
        spans = self._spans([key for _, (key, _) in ranked])
        return [(owner, score, spans[key]) for owner, (key, score) in ranked]

    def _spans(self, keys: Sequence[int]) -> dict[int, Span]:
        sql = f"SELECT key, start, end FROM sentences WHERE key IN ({','.join('?' * len(keys))})"
        return {k: (s, e) for k, s, e in self._db.execute(sql, list(keys))} if keys else {}

    def lexical_search(self, query: str, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """(key, BM25) of the k best passages over Dutch-stemmed words: bm25s over the segments,
        FTS5 over the tail after them (see bm25.py)."""
        words = sorted(set(stems(query)))
        if not words or k <= 0:
            return []
        mask = self._mask(where)
        lo = self._bm25.segments[-1].hi if self._bm25.segments else 0
        if where:  # the tail is small: take all its matches and filter them here
            tail = [(s, key) for key, s in tables.lexical(self._db, words, None, lo) if key < len(mask) and mask[key]]  # type: ignore[arg-type]
        else:
            tail = [(s, key) for key, s in tables.lexical(self._db, words, k, lo)]
        found = sorted(self._bm25.search(words, k, mask) + tail, key=lambda sk: (-sk[0], sk[1]))[:k]
        return [(key, score) for score, key in found]

    # --- reading --------------------------------------------------------------------

    def passages(self, keys: Sequence[int]) -> list[Passage | None]:
        found = tables.passages(self._db, keys)
        return [found.get(k) for k in keys]

    def key(self, passage_id: str) -> int:
        row = self._db.execute("SELECT key FROM passages WHERE pid = ?", (passage_id,)).fetchone()
        if row is None:
            raise KeyError(passage_id)
        return int(row[0])

    def passage_sentences(self, key: int) -> list[tuple[int, int, np.ndarray]]:
        rows = self._db.execute(
            "SELECT key, start, end FROM sentences WHERE passage = ? ORDER BY key", (key,)
        ).fetchall()
        vectors = self._sentences.rows.get([r[0] for r in rows]) if rows else []
        return [(s, e, vectors[i]) for i, (_, s, e) in enumerate(rows)]

    def sentences_by_id(self, passage_ids: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        out = {}
        for pid in passage_ids:  # SQLite answers each by its index in microseconds
            with contextlib.suppress(KeyError):
                out[pid] = self.passage_sentences(self.key(pid))
        return out

    def letter_ids(self) -> list[str]:
        return [i for (i,) in self._db.execute("SELECT id FROM letters ORDER BY id")]

    @functools.lru_cache(maxsize=512)  # noqa: B019 - cleared on every change; the store lives as long as its cache
    def letter(self, letter_id: str) -> Letter | None:
        return tables.letter(self._db, letter_id)

    def letter_summaries(self, ids: Sequence[str] | None = None) -> dict[str, dict]:
        return tables.summaries(self._db, ids)

    def content_owners(self, keys: Sequence[str]) -> dict[str, str]:
        return tables.content_owners(self._db, keys)

    def iter_passages(self) -> Iterator[tuple[int, Passage]]:
        return tables.iter_passages(self._db)

    def counts(self) -> tuple[int, int]:
        (p,) = self._db.execute("SELECT count(*) FROM passages").fetchone()
        (s,) = self._db.execute("SELECT count(*) FROM sentences").fetchone()
        return int(p), int(s)

    def iter_sentence_vectors(self) -> Iterator[tuple[str, int, int, np.ndarray]]:
        sql = "SELECT s.key, s.start, s.end, l.id FROM sentences s JOIN passages p ON p.key = s.passage JOIN letters l ON l.num = p.letter ORDER BY s.key"
        for key, start, end, letter_id in self._db.execute(sql):
            yield letter_id, start, end, self._sentences.rows.get([key])[0]

    def meta(self) -> Mapping[str, object]:
        return dict(self._meta.get("built_with", {}))

    def set_meta(self, meta: Mapping[str, object]) -> None:
        self._writing()
        tables.set_meta(self._db, {"built_with": dict(meta)})
        self._meta["built_with"] = dict(meta)

    def segment_count(self) -> int:
        """ANN segments in use (compact() makes it one per kind)."""
        return len(self._passages.segments) + len(self._sentences.segments)

    def in_memory(self, timeout: float | None = None) -> bool:
        """Wait (at most `timeout` s) until the large ANN segments, opened memory-mapped so that
        the store answers at once, have been read into memory; True when they have."""
        return all([self._passages.in_memory(timeout), self._sentences.in_memory(timeout)])

    def close(self) -> None:
        if self._db is None:
            return
        self.rollback()
        self._passages.stop_loading()
        self._sentences.stop_loading()
        self._db.close()
        self._db = None  # type: ignore[assignment]
