"""Shared fixtures: the real packaged embedder, loaded once, and a real index of the
two letters in corpus/, built once per test session (embedding takes ~30 s on 2 cores).

The app tests and the browser tests share `app_server`: the real app, started once per
session on an empty index folder, so that it builds the index from corpus/ itself."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from places import CORPUS, DATA, ROOT  # noqa: E402,F401  (re-exported for fixtures)

from rag import pipeline  # noqa: E402
from rag.embedding.embedders import Embedder, load_embedder  # noqa: E402
from rag.ingest import chunking, corpus  # noqa: E402
from rag.settings import ChunkingSettings, EmbeddingSettings, Settings  # noqa: E402
from rag.store.base import Unit  # noqa: E402
from rag.store.index import Index  # noqa: E402
from rag.types import Letter  # noqa: E402


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


@pytest.fixture(scope="session")
def letters() -> dict[str, Letter]:
    """The letters of corpus/, parsed (no embedding)."""
    return {l.id: l for l in map(corpus.read_letter, sorted(CORPUS.glob("*.txt")))}


Entry = tuple[Letter, list, np.ndarray, list, np.ndarray]


def entry(letter: Letter, embedder: Embedder) -> Entry:
    """A letter with its passages, sentence units and their vectors: what Store.add takes."""
    passages = chunking.passages(letter, ChunkingSettings())
    units = [Unit(i, s, e) for i, p in enumerate(passages) for s, e in chunking.sentence_units(p)]
    vectors = embedder.embed_passages(
        [p.indexed_text for p in passages] + [letter.text[u.start : u.end] for u in units]
    )
    return letter, passages, vectors[: len(passages)], units, vectors[len(passages) :]


@pytest.fixture(scope="session")
def entries(letters: dict[str, Letter], embedder: Embedder) -> dict[str, Entry]:
    """The two corpus letters embedded, and a third: Madrid again under another id, date and dossier."""
    found = {lid: entry(letter, embedder) for lid, letter in letters.items()}
    madrid = letters["navo-top-madrid-2022"]
    copy = dataclasses.replace(madrid, id="kopie", date=dt.date(2024, 5, 1), kamerstuk="21501-20, nr. 9", sha256="x")
    _, _, pv, units, uv = found[madrid.id]
    found["kopie"] = (copy, chunking.passages(copy, ChunkingSettings()), pv, units, uv)
    return found


@dataclass
class AppServer:
    url: str
    index_dir: Path
    first_status: str  # what the app said right after it started
    log: Path


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """`python app.py` on a free port with RAG_INDEX pointing at an empty folder; ready once built."""
    from gradio_client import Client

    home = tmp_path_factory.mktemp("app")
    index_dir, log = home / "index", home / "app.log"
    with serve([str(ROOT / "app.py")], log, RAG_INDEX=str(index_dir), RAG_CORPUS=str(CORPUS)) as url:
        client = Client(url, verbose=False)
        first = client.predict(api_name="/status")
        _wait_until(lambda: client.predict(api_name="/status").startswith("Index:"), 240, log)
        yield AppServer(url, index_dir, first, log)


@contextlib.contextmanager
def serve(argv: list[str], log: Path, **env: str) -> Iterator[str]:
    """Run `python ARGV --port <free port>` from the project folder; its URL once it answers HTTP."""
    port = _free_port()
    environ = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", **env)
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv, "--port", str(port)], cwd=ROOT, env=environ, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="session")
def serve_app():  # type: ignore[no-untyped-def]
    """serve(argv, log, **env) for tests that start an app of their own."""
    return serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the app exited:\n" + log.read_text())
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the app did not answer in time:\n" + log.read_text())


def _wait_until(ready, timeout: float, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        time.sleep(1)
    raise RuntimeError("the index was not built in time:\n" + log.read_text())
