"""Shared fixtures: the real packaged embedder, loaded once, and a real index of the
two letters in corpus/, built once per test session (embedding takes ~30 s on 2 cores)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag import pipeline  # noqa: E402
from rag.embedding import Embedder, load_embedder  # noqa: E402
from rag.settings import EmbeddingSettings, Settings  # noqa: E402
from rag.store import Index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(EmbeddingSettings())


@pytest.fixture(scope="session")
def built_index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index of corpus/ on disk; copy it (index_copy) before changing it."""
    directory = tmp_path_factory.mktemp("index")
    settings = Settings(index_dir=directory, corpus_dir=CORPUS)
    index = Index(directory, embedder, settings.chunking)
    pipeline.build_index(settings, [CORPUS], index=index)
    return directory


@pytest.fixture(scope="session")
def index(built_index_dir: Path, embedder: Embedder) -> Index:
    """The loaded index of corpus/ (read-only: tests must not change it)."""
    return Index.load(built_index_dir, embedder, Settings().chunking)


@pytest.fixture
def index_copy(built_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the built index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(built_index_dir, target)
    return target
