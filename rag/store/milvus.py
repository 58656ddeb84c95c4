"""The Milvus Store (pymilvus): milvus-lite with a `.db` file, or a Milvus server or
cluster by URI (`milvus://host:19530`, `http://host:19530`); the same code for both.

Four collections (prefix `rag_`): passages (vector, BM25 over our own Dutch stems, the
passage record, letter/date/dossier for filters), sentences (vector, passage key, span),
letters (the letter record in pieces: VARCHAR holds at most 64 KB) and meta (one JSON row).

Milvus has no transactions, so commits are made atomic with a visibility rule: every row
carries the `batch` it was added in, and searches see only `batch <= committed` minus
letters in `tombstones`. commit() flushes the new rows and then upserts the meta row with
the next `committed` (the one atomic step); rows of a batch that never committed are
deleted by the next writer, and tombstoned letters are deleted after the commit.
milvus-lite serves one process per file and serialises writes; a cluster takes many
readers, but writers must still take turns (the lock here is a local file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient

from rag import records
from rag.errors import IndexError_
from rag.store.base import Span, Unit, Where, dossier_of
from rag.store.lexical import stemmed
from rag.store.milvus_schema import ensure_collections
from rag.types import Letter, Passage

PIECE = 16_000  # characters of a letter record per row (VARCHAR max is 65,535 bytes)
EF = 128  # HNSW search breadth


class MilvusStore:
    """Letters, passages and sentence units in Milvus; see the module docstring."""

    def __init__(self, uri: str, dim: int, prefix: str = "rag") -> None:
        self._lite = uri.endswith(".db")
        address = str(Path(uri).resolve()) if self._lite else uri.replace("milvus://", "http://", 1)
        self.uri, self.dim, self._prefix = address if self._lite else uri, dim, prefix
        if self._lite:
            Path(address).parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger("pymilvus").setLevel(logging.ERROR)  # milvus-lite warns on every query iterator
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # ... and its in-process server logs why
        self._db = MilvusClient(address)
        self._lock_path = Path(address + ".lock") if self._lite else Path.home() / ".rag-milvus.lock"
        ensure_collections(self._db, self._name, dim)
        self._meta = self._read_meta()
        self._lock: object | None = None
        self._pending: list[str] = []
        self._rows: dict[str, list[dict]] = {"passages": [], "sentences": [], "letters": []}

    # --- schema ---------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"{self._prefix}_{kind}"

    # --- meta and visibility --------------------------------------------------------

    def _read_meta(self) -> dict:
        rows = self._db.query(self._name("meta"), filter='id == "meta"', output_fields=["value"])
        base = {"committed": 0, "next_passage": 0, "next_sentence": 0, "tombstones": [], "built_with": {}}
        return {**base, **json.loads(rows[0]["value"])} if rows else base

    def _write_meta(self, meta: dict) -> None:
        row = {"id": "meta", "letter": "", "n": 0, "batch": 0, "value": json.dumps(meta), "dummy": [0.0, 0.0]}
        self._db.upsert(self._name("meta"), [row])
        self._db.flush(self._name("meta"))

    def _visible(self, where: Where | None = None) -> str:
        """The filter expression of what a search may see: committed, not tombstoned, within `where`."""
        parts = [f"batch <= {self._meta['committed']}"]
        parts += [f"not (letter == {json.dumps(lid)} and batch <= {b})" for lid, b in self._meta["tombstones"]]
        if where:
            if where.letters:
                parts.append(f"letter in {json.dumps(list(where.letters))}")
            if where.dossier:
                parts.append(f"dossier == {json.dumps(where.dossier)}")
            if where.date_from or where.date_to:
                parts.append("date > 0")
            if where.date_from:
                parts.append(f"date >= {where.date_from.toordinal()}")
            if where.date_to:
                parts.append(f"date <= {where.date_to.toordinal()}")
        return " and ".join(f"({p})" for p in parts)

    # --- changing -------------------------------------------------------------------

    def _writing(self) -> None:
        """Before the first change: take the writer lock, catch up, and clear left-overs of a crash."""
        if self._lock is not None:
            return
        handle = open(self._lock_path, "a")  # noqa: SIM115 - held until commit or rollback
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._lock = handle
        self._meta = self._read_meta()
        self._staged = self._meta["committed"] + 1
        for kind in ("passages", "sentences", "letters"):
            self._db.delete(self._name(kind), filter=f"batch >= {self._staged}")
        self._purge()

    def _purge(self) -> None:
        """Delete the rows of tombstoned letters, then forget the tombstones."""
        if not self._meta["tombstones"]:
            return
        for lid, batch in self._meta["tombstones"]:
            for kind in ("passages", "sentences", "letters"):
                self._db.delete(self._name(kind), filter=f"letter == {json.dumps(lid)} and batch <= {batch}")
        self._meta["tombstones"] = []
        self._write_meta(self._meta)

    def add(
        self,
        letter: Letter,
        passages: Sequence[Passage],
        passage_vectors: np.ndarray,
        units: Sequence[Unit],
        unit_vectors: np.ndarray,
    ) -> None:
        """Stage a letter (replacing a stored letter of the same id); visible after commit()."""
        self._writing()
        if self.letter(letter.id) is not None and letter.id not in self._pending:
            self._pending.append(letter.id)
        first, s_first = self._meta["next_passage"], self._meta["next_sentence"]
        common = {
            "letter": letter.id,
            "date": letter.date.toordinal() if letter.date else 0,
            "dossier": dossier_of(letter) or "",
            "batch": self._staged,
        }
        rows = [
            {
                **common,
                "key": first + i,
                "pid": p.id,
                "record": json.dumps(records.passage(p), ensure_ascii=False),
                "stems": stemmed(p.indexed_text) or "-",
                "vector": v.tolist(),
            }
            for i, (p, v) in enumerate(zip(passages, passage_vectors, strict=True))
        ]
        sentences = [
            {
                **common,
                "key": s_first + j,
                "passage": first + u.passage,
                "start": u.start,
                "end": u.end,
                "vector": v.tolist(),
            }
            for j, (u, v) in enumerate(zip(units, unit_vectors, strict=True))
        ]
        self._rows["passages"] += rows  # inserted in large batches at commit (or sooner, if many)
        self._rows["sentences"] += sentences
        self._rows["letters"] += self._letter_rows(letter, len(passages))
        if len(self._rows["sentences"]) >= 20_000:
            self._insert()
        self._meta["next_passage"], self._meta["next_sentence"] = first + len(rows), s_first + len(sentences)

    def _letter_rows(self, letter: Letter, passages: int) -> list[dict]:
        record = json.dumps(records.letter(letter), ensure_ascii=False)
        pieces = [record[i : i + PIECE] for i in range(0, len(record), PIECE)]
        summary = json.dumps(
            {
                "sha256": letter.sha256,
                "source": letter.source,
                "title": letter.title,
                "passages": passages,
                "content": letter.content_key,
            }
        )
        rows = [{"n": 0, "value": summary}] + [{"n": i, "value": p} for i, p in enumerate(pieces, start=1)]
        return [
            {
                **r,
                "id": f"{letter.id}:{self._staged}:{r['n']}",
                "letter": letter.id,
                "batch": self._staged,
                "dummy": [0.0, 0.0],
            }
            for r in rows
        ]

    def remove(self, letter_id: str) -> None:
        """Stage the removal of a letter; IndexError_ if it is not stored."""
        if self.letter(letter_id) is None:
            raise IndexError_(f"No letter '{letter_id}' in the Milvus store at {self.uri}.")
        self._writing()
        if letter_id not in self._pending:
            self._pending.append(letter_id)

    def commit(self) -> None:
        """Flush the staged rows, then publish them with the meta row (atomic); purge removed letters."""
        if self._lock is None:
            return
        try:
            self._insert()
            for kind in ("passages", "sentences", "letters"):
                self._db.flush(self._name(kind))
            committed = self._meta["committed"]
            self._meta["tombstones"] = [[lid, committed] for lid in self._pending]
            self._meta["committed"] = self._staged
            self._publish()
            self._purge()
        except BaseException:
            self.rollback()
            raise
        self._pending = []
        self._release()

    def _insert(self) -> None:
        for kind, rows in self._rows.items():
            for start in range(0, len(rows), 2000):
                self._db.insert(self._name(kind), rows[start : start + 2000])
        self._rows = {kind: [] for kind in self._rows}

    def _publish(self) -> None:
        """The commit point: the meta row names the new batch (and the letters it removes)."""
        self._write_meta(self._meta)

    def rollback(self) -> None:
        """Drop staged changes (their rows stay invisible and the next writer deletes them)."""
        self._pending = []
        self._rows = {kind: [] for kind in self._rows}
        self._meta = self._read_meta()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)  # type: ignore[call-overload]
            self._lock.close()  # type: ignore[attr-defined]
            self._lock = None

    # --- searching ------------------------------------------------------------------

    def _search(self, kind: str, data: list, field: str, k: int, where: Where | None, **extra: object) -> list[dict]:
        if k <= 0:
            return []
        metric = {"metric_type": "BM25"} if field == "sparse" else {"metric_type": "IP", "params": {"ef": max(EF, k)}}
        found = self._db.search(
            self._name(kind),
            data,
            anns_field=field,
            limit=min(k, 16_384),
            filter=self._visible(where),
            search_params=metric,
            **extra,
        )
        return list(found[0]) if found else []

    def dense_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        found = self._search("passages", [np.asarray(vector, np.float32).tolist()], "vector", k, where)
        return [(int(h["key"]), float(h["distance"])) for h in found]

    def sentence_search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float, Span]]:
        found = self._search(
            "sentences",
            [np.asarray(vector, np.float32).tolist()],
            "vector",
            k,
            where,
            group_by_field="passage",
            output_fields=["passage", "start", "end"],
        )
        return [
            (int(h["entity"]["passage"]), float(h["distance"]), (h["entity"]["start"], h["entity"]["end"]))
            for h in found
        ]

    def lexical_search(self, query: str, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        words = stemmed(query)
        if not words:
            return []
        found = self._search("passages", [words], "sparse", k, where)
        # milvus-lite reports BM25 as a negative distance; the order is best first either way
        return [(int(h["key"]), abs(float(h["distance"]))) for h in found if h["distance"]]

    # --- reading --------------------------------------------------------------------

    def _query(self, kind: str, condition: str, fields: list[str]) -> list[dict]:
        return self._db.query(self._name(kind), filter=f"({condition}) and {self._visible()}", output_fields=fields)

    def _iterate(self, kind: str, fields: list[str], condition: str = "key >= 0") -> Iterator[dict]:
        if kind in ("passages", "sentences"):  # integer keys: page through them in order
            end = self._meta["next_passage" if kind == "passages" else "next_sentence"]
            for lo in range(0, end, 5000):
                rows = self._query(kind, f"{condition} and key >= {lo} and key < {lo + 5000}", fields)
                yield from sorted(rows, key=lambda r: r["key"])
            return
        iterator = self._db.query_iterator(
            self._name(kind), batch_size=1000, filter=f"({condition}) and {self._visible()}", output_fields=fields
        )
        with contextlib.closing(_Closing(iterator)):
            while batch := iterator.next():
                yield from batch

    def passages(self, keys: Sequence[int]) -> list[Passage | None]:
        if not keys:
            return []
        rows = self._query("passages", f"key in {[int(k) for k in keys]}", ["key", "record"])
        found = {int(r["key"]): records.passage_from(json.loads(r["record"])) for r in rows}
        return [found.get(int(k)) for k in keys]

    def key(self, passage_id: str) -> int:
        rows = self._query("passages", f"pid == {json.dumps(passage_id)}", ["key"])
        if not rows:
            raise KeyError(passage_id)
        return int(rows[0]["key"])

    def passage_sentences(self, key: int) -> list[tuple[int, int, np.ndarray]]:
        return _units(self._query("sentences", f"passage == {int(key)}", ["key", "start", "end", "vector"]))

    def sentences_by_id(self, passage_ids: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        # two queries for all hits: each milvus-lite query costs ~0.35 s at 300 k rows (a scan)
        if not passage_ids:
            return {}
        keys = {
            int(r["key"]): r["pid"]
            for r in self._query("passages", f"pid in {json.dumps(list(passage_ids))}", ["key", "pid"])
        }
        if not keys:
            return {}
        by_passage: dict[int, list[dict]] = {key: [] for key in keys}
        for row in self._query("sentences", f"passage in {sorted(keys)}", ["key", "passage", "start", "end", "vector"]):
            by_passage[int(row["passage"])].append(row)
        return {keys[key]: _units(rows) for key, rows in by_passage.items()}

    def letter_summaries(self, ids: Sequence[str] | None = None) -> dict[str, dict]:
        condition = "n == 0" if ids is None else f"n == 0 and letter in {json.dumps(list(ids))}"
        rows = (
            self._query("letters", condition, ["letter", "value"])
            if ids is not None
            else list(self._iterate("letters", ["letter", "value"], "n == 0"))
        )
        return {r["letter"]: json.loads(r["value"]) for r in sorted(rows, key=lambda r: r["letter"])}

    def content_owners(self, keys: Sequence[str]) -> dict[str, str]:
        """From the letters' summary rows (small; a letter stored before summaries held its
        content key is read whole). Milvus has no index on a JSON string, so this reads every
        summary row: one row per letter, not the letters themselves."""
        wanted, found = set(keys), {}
        for letter_id, summary in self.letter_summaries().items():
            key = summary.get("content")
            if key is None:
                stored = self.letter(letter_id)
                key = stored.content_key if stored else None
            if key in wanted:
                found.setdefault(key, letter_id)
        return found

    def letter_ids(self) -> list[str]:
        return list(self.letter_summaries())

    def letter(self, letter_id: str) -> Letter | None:
        rows = self._query("letters", f"letter == {json.dumps(letter_id)} and n > 0", ["n", "value"])
        if not rows:
            return None
        return records.letter_from(json.loads("".join(r["value"] for r in sorted(rows, key=lambda r: r["n"]))))

    def iter_passages(self) -> Iterator[tuple[int, Passage]]:
        rows = self._iterate("passages", ["key", "record"])
        return ((int(r["key"]), records.passage_from(json.loads(r["record"]))) for r in rows)

    def counts(self) -> tuple[int, int]:
        return tuple(
            int(self._query(kind, "key >= 0", ["count(*)"])[0]["count(*)"]) for kind in ("passages", "sentences")
        )  # type: ignore[return-value]

    def iter_sentence_vectors(self) -> Iterator[tuple[str, int, int, np.ndarray]]:
        for r in self._iterate("sentences", ["key", "letter", "start", "end", "vector"]):
            yield r["letter"], int(r["start"]), int(r["end"]), np.asarray(r["vector"], np.float32)

    def meta(self) -> Mapping[str, object]:
        return dict(self._meta.get("built_with", {}))

    def set_meta(self, meta: Mapping[str, object]) -> None:
        self._writing()
        self._meta["built_with"] = dict(meta)

    def close(self) -> None:
        if self._db is None:
            return
        self.rollback()
        self._db.close()
        self._db = None  # type: ignore[assignment]


def _units(rows: list[dict]) -> list[tuple[int, int, np.ndarray]]:
    """(start, end, vector) of sentence rows, in key order (the order they were stored)."""
    return [
        (int(r["start"]), int(r["end"]), np.asarray(r["vector"], np.float32))
        for r in sorted(rows, key=lambda r: r["key"])
    ]


class _Closing:
    def __init__(self, iterator) -> None:  # type: ignore[no-untyped-def]
        self._iterator = iterator

    def close(self) -> None:
        self._iterator.close()
