"""The index: a Store (where passages and vectors live) with the embedder and chunking it
was built with, the question-vector cache, and things derived from its contents.

The index folder holds manifest.json (format, store, embedder, chunking, counts; written
after each commit, atomically) and, for the default store, the store's files (see
faiss_sqlite.py). `RAG_STORE` (or the manifest) names another store: a Milvus URI
(`milvus://host:19530`, `http://...`) or a milvus-lite `.db` file.
An index folder in the previous format (data-<n>/ with JSONL) is upgraded on load
without embedding anything again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.embedding.embedders import Embedder, Progress
from rag.errors import IndexError_
from rag.ingest.chunking import sentence_units
from rag.settings import ChunkingSettings
from rag.store.base import Store, Unit
from rag.types import Letter, Passage

FORMAT_VERSION = 3
T = TypeVar("T")
MANIFEST = "manifest.json"


def open_store(uri: str, folder: Path, dim: int) -> Store:
    """The store a URI names: "" (the FAISS + SQLite store in `folder`), a Milvus URI or a .db file."""
    if not uri or uri == "faiss":
        from rag.store.faiss_sqlite import FaissSqliteStore

        return FaissSqliteStore(folder, dim)
    if uri.startswith(("milvus://", "http://", "https://", "tcp://")) or uri.endswith(".db"):
        from rag.store.milvus import MilvusStore

        return MilvusStore(uri, dim)
    raise IndexError_(f"RAG_STORE={uri!r} is not a store: leave it empty, or give milvus://host:19530 or a .db file.")


class Index:
    """Passages with their vectors and words, letters by id; backed by a Store."""

    def __init__(
        self, directory: Path, embedder: Embedder, chunking: ChunkingSettings, store: str | Store = ""
    ) -> None:
        self.directory = Path(directory)
        self.embedder = embedder
        self.chunking = chunking
        self.store_uri = store if isinstance(store, str) else getattr(store, "uri", "")
        self.store: Store = open_store(store, self.directory, embedder.dim) if isinstance(store, str) else store
        self.letters = Letters(self.store)
        self.passages = Passages(self.store)
        self._derived: dict[str, Any] = {}  # computed from the contents, dropped on change
        self._queries: dict[str, np.ndarray] = {}
        self._cache_lock = threading.RLock()  # questions run in parallel threads (the app)

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """Something computed from the index's contents once (e.g. the letters' vocabulary),
        kept until the next add or remove."""
        with self._cache_lock:
            if key in self._derived:
                return self._derived[key]
        value = build()  # outside the lock: a slow build (an eval baseline) must not hold up questions
        with self._cache_lock:
            return self._derived.setdefault(key, value)

    def embed_query(self, text: str) -> np.ndarray:
        """The question's vector; remembered, since retrieval and the answer both need it."""
        with self._cache_lock:
            vector = self._queries.get(text)
        if vector is None:
            vector = self.embedder.embed_queries([text])[0]
            with self._cache_lock:
                if len(self._queries) >= 256:
                    self._queries.pop(next(iter(self._queries)), None)
                self._queries[text] = vector
        return vector

    def forget_queries(self) -> None:
        """Drop remembered question vectors (so a timing includes embedding the question)."""
        with self._cache_lock:
            self._queries.clear()

    def sentences_by_id(self, passage_ids: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        """The store's passage_sentences() of each of these passages by id, in one go (absent ids left out)."""
        return self.store.sentences_by_id(passage_ids)

    def letter_hashes(self) -> dict[str, str]:
        """sha256 of every stored letter by id (what decides whether a file changed)."""
        return {lid: s["sha256"] for lid, s in self.store.letter_summaries().items()}

    # --- changing -------------------------------------------------------------------

    def add(self, letter: Letter, passages: Sequence[Passage], progress: Progress | None = None) -> bool:
        """Embed a letter's passages and sentence units and stage them (replacing an older
        version of the letter); False if the stored letter is unchanged."""
        stored = self.store.letter_summaries([letter.id]).get(letter.id)
        if stored is not None and stored["sha256"] == letter.sha256:
            return False
        units = [Unit(i, s, e) for i, p in enumerate(passages) for s, e in sentence_units(p)]
        texts = [p.indexed_text for p in passages] + [letter.text[u.start : u.end] for u in units]
        vectors = self.embedder.embed_passages(texts, progress)
        self.stage(letter, passages, vectors[: len(passages)], units, vectors[len(passages) :])
        return True

    def stage(
        self,
        letter: Letter,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        units: Sequence[Unit],
        unit_vectors: np.ndarray,
    ) -> None:
        """Stage a letter whose vectors are already computed (visible to this index at once)."""
        self.store.add(letter, passages, vectors, units, unit_vectors)
        self._changed()

    def remove(self, letter_id: str) -> None:
        """Remove a letter and its passages; IndexError_ if the index does not hold it."""
        known = self.store.letter_ids()
        if letter_id not in known:
            shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") or "none"
            raise IndexError_(f"No letter '{letter_id}' in the index at {self.directory} (letters: {shown}).")
        self.store.remove(letter_id)
        self._changed()

    def _changed(self) -> None:
        with self._cache_lock:
            self._derived = {}

    # --- disk -----------------------------------------------------------------------

    def manifest(self) -> dict:
        """What the index holds and was built with (the manifest.json, with every letter)."""
        passages, sentences = self.store.counts()
        letters = self.store.letter_summaries()
        corpus = hashlib.sha256("".join(f"{k}:{v['sha256']}" for k, v in sorted(letters.items())).encode())
        return {
            **self._built_with(),
            "letters": letters,
            "corpus_hash": corpus.hexdigest(),
            "passages": passages,
            "sentences": sentences,
        }

    def _built_with(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "store": self.store_uri or "faiss-sqlite",
            "embedder": {"id": self.embedder.id, "dim": self.embedder.dim},
            "chunking": asdict(self.chunking),
        }

    def save(self) -> None:
        """Commit the staged changes (atomic), then rewrite the small manifest.json."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store.set_meta(self._built_with())
        self.store.commit()
        manifest = {**self.manifest(), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write_json(self.directory / MANIFEST, manifest)

    commit = save

    def close(self) -> None:
        """Drop staged changes and release the store."""
        self.store.close()

    @classmethod
    def load(cls, directory: Path, embedder: Embedder, chunking: ChunkingSettings, store: str = "") -> Index:
        """Load an index; refuse one built with another embedder or chunking, saying how to rebuild.
        An index of the previous format is upgraded (its vectors are kept)."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest.get("format_version") == 2:
            _check_compatible(directory, manifest, embedder, chunking)
            from rag.store.upgrade import upgrade

            upgrade(directory, embedder, chunking)
            manifest = read_manifest(directory)
        uri = manifest.get("store", "")
        uri = "" if uri == "faiss-sqlite" else uri
        if store and store != uri:
            raise IndexError_(
                f"The index at {directory} lives in store {uri or 'faiss-sqlite'}, not {store}. "
                f"Unset RAG_STORE, or rebuild it there: RAG_STORE={store} rag ingest --rebuild --index {directory}"
            )
        _check_compatible(directory, manifest, embedder, chunking)
        index = cls(directory, embedder, chunking, uri)
        _check_compatible(directory, {**manifest, **index.store.meta()}, embedder, chunking)
        return index


class Letters(Mapping[str, Letter]):
    """The stored letters by id, read on demand."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, letter_id: str) -> Letter:
        found = self._store.letter(letter_id)
        if found is None:
            raise KeyError(letter_id)
        return found

    def __contains__(self, letter_id: object) -> bool:
        return isinstance(letter_id, str) and self._store.letter(letter_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._store.letter_ids())

    def __len__(self) -> int:
        return len(self._store.letter_ids())


class Passages:
    """The stored passages: iterate them in reading order, or take one by key (`passages[key]`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, key: int) -> Passage:
        (found,) = self._store.passages([int(key)])
        if found is None:
            raise KeyError(key)
        return found

    def many(self, keys: Sequence[int]) -> list[Passage | None]:
        """The passages with these keys in one read (None where a key is gone)."""
        return self._store.passages(keys)

    def __iter__(self) -> Iterator[Passage]:
        return (p for _, p in self._store.iter_passages())

    def __len__(self) -> int:
        return self._store.counts()[0]


def read_manifest(directory: Path) -> dict:
    """The manifest of the index at directory; IndexError_ if there is none."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IndexError_(f"No index at {directory}. Build it first: rag ingest corpus/ --index {directory}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise IndexError_(f"{path} is damaged ({err}). Rebuild: rag ingest --rebuild --index {directory}") from None


def _check_compatible(directory: Path, manifest: Mapping, embedder: Embedder, chunking: ChunkingSettings) -> None:
    rebuild = f"Rebuild it with the current settings: rag ingest --rebuild --index {directory}"
    if manifest.get("format_version") not in (2, FORMAT_VERSION):
        raise IndexError_(
            f"The index at {directory} has format {manifest.get('format_version')}, not {FORMAT_VERSION}. {rebuild}"
        )
    built = manifest.get("embedder", {})
    if built.get("id") != embedder.id or built.get("dim") != embedder.dim:
        raise IndexError_(
            f"The index at {directory} was built with embedder {built.get('id')} ({built.get('dim')} dims), "
            f"but the settings use {embedder.id} ({embedder.dim} dims). {rebuild}, "
            f"or set RAG_EMBEDDING_MODEL to the model it was built with."
        )
    if manifest.get("chunking") != asdict(chunking):
        raise IndexError_(
            f"The index at {directory} was built with chunking {manifest.get('chunking')}, "
            f"but the settings ask for {asdict(chunking)}. {rebuild}"
        )


def _write_json(path: Path, value: dict) -> None:
    """Write a JSON file atomically: a temporary file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
