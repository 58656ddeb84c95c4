"""The index on disk: FAISS vectors + the passage table + the letters, and manifest.json.

Layout of the index folder:
    manifest.json      format, embedder id and dimension, chunking, letters, corpus hash,
                       and the name of the data folder below; written last, atomically
    data-<n>/          vectors.faiss (a vector per passage), sentences.faiss (a vector per
                       sentence and footnote) with sentences.jsonl, passages.jsonl, letters.jsonl
A write goes to a new data folder and then swaps manifest.json with os.replace, so a
crash at any moment leaves the previous index loadable. Older data folders are removed
after the swap. A lock file keeps two writers (CLI and app) apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import faiss
import numpy as np

from rag import records
from rag.embedding.embedders import Embedder, Progress
from rag.errors import IndexError_
from rag.ingest.chunking import sentence_units
from rag.settings import ChunkingSettings
from rag.store.lexical import LexicalIndex
from rag.types import Letter, Passage

FORMAT_VERSION = 2
T = TypeVar("T")
MANIFEST = "manifest.json"


class Index:
    """Passages with their vectors and a lexical index; letters by id for the letter view."""

    def __init__(self, directory: Path, embedder: Embedder, chunking: ChunkingSettings) -> None:
        self.directory = Path(directory)
        self.embedder = embedder
        self.chunking = chunking
        self.letters: dict[str, Letter] = {}
        self.passages: list[Passage] = []
        self._vectors: faiss.Index = faiss.IndexFlatIP(embedder.dim)
        self._sentences: faiss.Index = faiss.IndexFlatIP(embedder.dim)
        self.sentences: list[tuple[int, int, int]] = []  # (passage position, start, end) per sentence vector
        self._lexical: LexicalIndex | None = None  # built on first use, dropped on change
        self._derived: dict[str, Any] = {}  # other things computed from the contents, dropped on change
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

    @property
    def lexical(self) -> LexicalIndex:
        with self._cache_lock:
            if self._lexical is None:
                self._lexical = LexicalIndex([p.indexed_text for p in self.passages])
            return self._lexical

    # --- changing -------------------------------------------------------------------

    def add(self, letter: Letter, passages: Sequence[Passage], progress: Progress | None = None) -> bool:
        """Add (or replace) a letter; embeds only its passages. False if it is unchanged."""
        old = self.letters.get(letter.id)
        if old is not None and old.sha256 == letter.sha256:
            return False
        if old is not None:
            self.remove(letter.id)
        units = [(pos, s, e) for pos, p in enumerate(passages, len(self.passages)) for s, e in sentence_units(p)]
        texts = [p.indexed_text for p in passages] + [letter.text[s:e] for _, s, e in units]
        vectors = self.embedder.embed_passages(texts, progress)
        self._vectors.add(vectors[: len(passages)])
        self._sentences.add(vectors[len(passages) :])
        self.sentences.extend(units)
        self.passages.extend(passages)
        self.letters[letter.id] = letter
        self._lexical = None
        self._derived = {}
        return True

    def remove(self, letter_id: str) -> None:
        """Remove a letter and its passages; IndexError_ if the index does not hold it."""
        if letter_id not in self.letters:
            known = ", ".join(sorted(self.letters)) or "none"
            raise IndexError_(f"No letter '{letter_id}' in the index at {self.directory} (letters: {known}).")
        keep = [i for i, p in enumerate(self.passages) if p.letter_id != letter_id]
        moved = {old: new for new, old in enumerate(keep)}
        kept = [j for j, (owner, _, _) in enumerate(self.sentences) if owner in moved]
        self._vectors = _flat(_all_vectors(self._vectors, self.embedder.dim)[keep], self.embedder.dim)
        self._sentences = _flat(_all_vectors(self._sentences, self.embedder.dim)[kept], self.embedder.dim)
        self.sentences = [(moved[o], s, e) for o, s, e in (self.sentences[j] for j in kept)]
        self.passages = [self.passages[i] for i in keep]
        del self.letters[letter_id]
        self._lexical = None
        self._derived = {}

    # --- searching ------------------------------------------------------------------

    def dense_search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(position, cosine) of the k passages nearest to the vector, within `allowed` (0/1 mask)."""
        if not self.passages or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            ids = np.flatnonzero(allowed).astype(np.int64)
            if not len(ids):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(ids))  # type: ignore[call-arg]
        scores, positions = self._vectors.search(query, min(k, len(self.passages)), params=params)
        return [(int(i), float(s)) for i, s in zip(positions[0], scores[0], strict=True) if i >= 0]

    def sentence_search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float, tuple[int, int]]]:
        """(position, cosine, sentence span) of the k passages holding the sentences (or footnotes)
        nearest to the vector: each passage scored by its best sentence."""
        if not self.sentences or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        scores, found = self._sentences.search(query, len(self.sentences))
        best: dict[int, tuple[float, tuple[int, int]]] = {}
        for j, score in zip(found[0], scores[0], strict=True):
            owner, start, end = self.sentences[j]
            if owner not in best and (allowed is None or allowed[owner]):
                best[owner] = (float(score), (start, end))
                if len(best) == k:
                    break
        return [(pos, score, span) for pos, (score, span) in best.items()]

    def passage_sentences(self, position: int) -> list[tuple[int, int, np.ndarray]]:
        """(start, end, vector) of each sentence (and footnote sentence) of the passage at
        `position`, in the order they were embedded: what the reader scores."""
        with self._cache_lock:
            rows = self._derived.get("_by_passage")
            if rows is None:
                rows = {}
                for j, (owner, _, _) in enumerate(self.sentences):
                    rows.setdefault(owner, []).append(j)
                self._derived["_by_passage"] = rows
        found = rows.get(position, [])
        return [(self.sentences[j][1], self.sentences[j][2], self._sentences.reconstruct(j)) for j in found]  # type: ignore[misc]

    def position(self, passage_id: str) -> int:
        """Where the passage with this id stands in the passage table (KeyError if absent)."""
        with self._cache_lock:
            ids = self._derived.get("_positions")
            if ids is None:
                ids = {p.id: i for i, p in enumerate(self.passages)}
                self._derived["_positions"] = ids
        return ids[passage_id]

    def mask(self, keep: Callable[[Passage], bool]) -> np.ndarray:
        """A 0/1 mask over the passage table of the passages `keep` accepts."""
        return np.fromiter((keep(p) for p in self.passages), dtype=bool, count=len(self.passages))

    # --- disk -----------------------------------------------------------------------

    def manifest(self) -> dict:
        letters = {
            lid: {"sha256": l.sha256, "source": l.source, "title": l.title, "passages": self._count(lid)}
            for lid, l in sorted(self.letters.items())
        }
        corpus = hashlib.sha256("".join(f"{k}:{v['sha256']}" for k, v in letters.items()).encode())
        return {
            "format_version": FORMAT_VERSION,
            "embedder": {"id": self.embedder.id, "dim": self.embedder.dim},
            "chunking": asdict(self.chunking),
            "letters": letters,
            "corpus_hash": corpus.hexdigest(),
            "passages": len(self.passages),
            "sentences": len(self.sentences),
        }

    def save(self) -> None:
        """Write a new data folder, then swap the manifest to it (atomic)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.directory):
            data = self.directory / f"data-{time.time_ns()}"
            data.mkdir()
            for name, vectors in (("vectors.faiss", self._vectors), ("sentences.faiss", self._sentences)):
                faiss.write_index(vectors, str(data / name))
                _fsync(data / name)
            _write_lines(data / "sentences.jsonl", ({"sentence": list(u)} for u in self.sentences))
            _write_lines(data / "passages.jsonl", (records.passage(p) for p in self.passages))
            _write_lines(data / "letters.jsonl", (records.letter(l) for l in self.letters.values()))
            manifest = {**self.manifest(), "data": data.name, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            tmp = self.directory / (MANIFEST + ".tmp")
            tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            _fsync(tmp)
            _fsync(data)  # the new folder's entries are on disk before the manifest names it
            os.replace(tmp, self.directory / MANIFEST)
            _fsync(self.directory)  # ... and the swap is on disk before the old data goes
            for old in self.directory.glob("data-*"):
                if old.name != data.name:
                    shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, embedder: Embedder, chunking: ChunkingSettings) -> Index:
        """Load an index; refuse one built with another embedder or chunking, saying how to rebuild."""
        directory = Path(directory)
        with _locked(directory, shared=True):  # a writer may not delete the data we read
            manifest = read_manifest(directory)
            _check_compatible(directory, manifest, embedder, chunking)
            index = cls._read(directory, manifest, embedder, chunking)
        _ = index.lexical  # build it now, not on the first question
        return index

    @classmethod
    def _read(cls, directory: Path, manifest: dict, embedder: Embedder, chunking: ChunkingSettings) -> Index:
        index = cls(directory, embedder, chunking)
        try:
            data = directory / manifest["data"]
            index._vectors = faiss.read_index(str(data / "vectors.faiss"))
            index._sentences = faiss.read_index(str(data / "sentences.faiss"))
            index.sentences = [tuple(r["sentence"]) for r in _read_lines(data / "sentences.jsonl")]  # type: ignore[misc]
            index.passages = [records.passage_from(r) for r in _read_lines(data / "passages.jsonl")]
            letters = [records.letter_from(r) for r in _read_lines(data / "letters.jsonl")]
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            raise IndexError_(
                f"The index at {directory} is damaged ({err}). Rebuild it: rag ingest --rebuild"
            ) from None
        index.letters = {l.id: l for l in letters}
        if index._vectors.ntotal != len(index.passages) or index._sentences.ntotal != len(index.sentences):
            raise IndexError_(
                f"The index at {directory} is damaged (vectors and passages differ). Rebuild it: rag ingest --rebuild"
            )
        return index

    def _count(self, letter_id: str) -> int:
        return sum(1 for p in self.passages if p.letter_id == letter_id)


def _all_vectors(vectors: faiss.Index, dim: int) -> np.ndarray:
    if not vectors.ntotal:
        return np.zeros((0, dim), dtype=np.float32)
    return vectors.reconstruct_n(0, vectors.ntotal)


def _flat(vectors: np.ndarray, dim: int) -> faiss.Index:
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    return index


def read_manifest(directory: Path) -> dict:
    """The manifest of the index at directory; IndexError_ if there is none."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IndexError_(f"No index at {directory}. Build it first: rag ingest corpus/ --index {directory}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise IndexError_(f"{path} is damaged ({err}). Rebuild: rag ingest --rebuild --index {directory}") from None


def _check_compatible(directory: Path, manifest: dict, embedder: Embedder, chunking: ChunkingSettings) -> None:
    rebuild = f"Rebuild it with the current settings: rag ingest --rebuild --index {directory}"
    if manifest.get("format_version") != FORMAT_VERSION:
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


@contextlib.contextmanager
def _locked(directory: Path, shared: bool = False) -> Iterator[None]:
    """Writers exclusive, readers shared; no lock where the folder cannot hold a lock file."""
    try:
        handle = open(directory / ".lock", "a")  # noqa: SIM115
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_lines(path: Path, rows: Iterator[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    _fsync(path)


def _read_lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
