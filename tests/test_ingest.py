"""Ingest at scale: committed in batches, resumable after kill -9, progress in passages;
the CLI on the Milvus store; an index of the previous format upgraded without embedding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from places import CORPUS, ROOT

from rag import pipeline, records
from rag.embedding.embedders import Embedder
from rag.errors import IndexError_
from rag.settings import ChunkingSettings, IngestSettings, Settings
from rag.store.index import MANIFEST, Index

PLACES = ["Utrecht", "Zwolle", "Groningen", "Leiden", "Delft", "Arnhem", "Breda", "Assen", "Emmen", "Venlo"]


def write_letters(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        place = PLACES[i % len(PLACES)]
        text = (
            f"Brief nummer {i} over {place}\n\n"
            f"Het kabinet opent in {place} een loket voor vraag {i}.\n\n"
            f"De gemeente {place} betaalt {i * 7} procent van de kosten.\n"
        )
        (folder / f"brief-{i:03d}.txt").write_text(text, encoding="utf-8")
        ids.append(f"brief-{i:03d}")
    return ids


def rag(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.Popen([sys.executable, "-m", "rag.cli", *args], env=environ, cwd=ROOT, text=True, **kwargs)


def test_a_kill_during_a_large_ingest_leaves_an_index_that_loads_and_resumes(
    tmp_path: Path, embedder: Embedder
) -> None:
    ids = write_letters(tmp_path / "letters", 30)
    index_dir = tmp_path / "index"
    env = {"RAG_INGEST_BATCH_LETTERS": "3", "RAG_INGEST_THREADS": "1"}
    proc = rag(
        "ingest", str(tmp_path / "letters"), "--index", str(index_dir), "--quiet", env=env, stdout=subprocess.PIPE
    )
    deadline = time.time() + 240
    while not (index_dir / MANIFEST).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    index = Index.load(index_dir, embedder, ChunkingSettings())
    committed = len(index.letters)
    assert 0 < committed < 30 and committed % 3 == 0  # whole batches, nothing half-stored
    index.close()
    again = rag(
        "ingest", str(tmp_path / "letters"), "--index", str(index_dir), "--quiet", env=env, stdout=subprocess.PIPE
    )
    out, _ = again.communicate(timeout=600)
    lines = out.splitlines()
    assert again.returncode == 0
    assert sum(line.startswith("unchanged: ") for line in lines) == committed  # never starts over
    assert sum(line.startswith("added: ") for line in lines) == 30 - committed
    index = Index.load(index_dir, embedder, ChunkingSettings())
    assert sorted(index.letters) == ids
    assert len({p.id for p in index.passages}) == len(index.passages) == 60


def test_progress_counts_passages_up_to_the_total(tmp_path: Path, embedder: Embedder) -> None:
    write_letters(tmp_path / "letters", 4)
    settings = Settings(index_dir=tmp_path / "index", ingest=IngestSettings(batch_letters=2))
    seen: list[tuple[int, int]] = []
    index = Index(settings.index_dir, embedder, settings.chunking)
    pipeline.build_index(settings, [tmp_path / "letters"], index=index, on_progress=lambda _, d, t: seen.append((d, t)))
    assert seen[-1] == (8, 8) and all(d <= t for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_folder_is_read_batch_by_batch_as_the_ingest_reaches_it(tmp_path: Path, embedder: Embedder) -> None:
    # memory holds one batch of letters, not the whole folder: a file is parsed only when its
    # batch comes, so a letter changed while an earlier batch is embedded goes in as changed
    folder = tmp_path / "letters"
    write_letters(folder, 4)
    settings = Settings(index_dir=tmp_path / "index", ingest=IngestSettings(batch_letters=2))
    embedding: list[str] = []

    def on_progress(letter_id: str, done: int, total: int) -> None:
        if not embedding:
            (folder / "brief-003.txt").write_text(
                "Brief nummer 3 over Rotterdam\n\nHet kabinet opent in Rotterdam een haven voor vraag 3.\n",
                encoding="utf-8",
            )
        embedding.append(letter_id)

    index = Index(settings.index_dir, embedder, settings.chunking)
    _, report = pipeline.build_index(settings, [folder], index=index, on_progress=on_progress)
    assert embedding[0] == "brief-000" and report.added == ("brief-000", "brief-001", "brief-002", "brief-003")
    assert "Rotterdam" in index.letters["brief-003"].text and "Leiden" not in index.letters["brief-003"].text
    assert len(index.letters) == 4 and len(index.passages) == 7


def test_the_cli_works_unchanged_on_the_milvus_store(tmp_path: Path) -> None:
    env = {"RAG_STORE": str(tmp_path / "milvus.db"), "RAG_INDEX": str(tmp_path / "index")}
    run = lambda *a: rag(*a, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE).communicate(timeout=600)  # noqa: E731
    run("ingest", str(CORPUS), "--quiet")
    out, err = run("ask", "Hoeveel pantserhouwitsers leveren Duitsland en Nederland extra?", "--json")
    answer = json.loads(out)
    assert answer["passages"][0]["letter_id"] == "navo-top-madrid-2022", err
    assert "pantserhouwitsers" in answer["passages"][0]["text"]
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text())
    assert manifest["store"].endswith("milvus.db") and set(manifest["letters"]) == {
        "navo-top-madrid-2022",
        "navo-top-vilnius-2023",
    }
    out, _ = run("remove", "navo-top-madrid-2022")
    assert out.strip().startswith("removed: navo-top-madrid-2022")
    out, _ = run("passages", "--json")
    assert {json.loads(line)["letter_id"] for line in out.splitlines()} == {"navo-top-vilnius-2023"}


class NoEmbedding:
    """An embedder for loading only: embedding a passage fails the test."""

    def __init__(self, inner: Embedder) -> None:
        self.id, self.dim, self.inner = inner.id, inner.dim, inner

    def embed_queries(self, texts):  # type: ignore[no-untyped-def]
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts, progress=None):  # type: ignore[no-untyped-def]
        raise AssertionError("the upgrade embedded something")


def write_format_2(directory: Path, index: Index) -> None:
    """The index folder the previous version wrote: data-<n>/ with FAISS files and JSONL."""
    data = directory / "data-1"
    data.mkdir(parents=True)
    keyed = list(index.store.iter_passages())
    passages, sentences, p_vectors, s_vectors = [], [], [], []
    for position, (key, passage) in enumerate(keyed):
        passages.append(records.passage(passage))
        p_vectors.append(index.store._passages.rows.get([key])[0])  # type: ignore[attr-defined]
        for start, end, vector in index.store.passage_sentences(key):
            sentences.append({"sentence": [position, start, end]})
            s_vectors.append(vector)
    for name, vectors in (("vectors.faiss", p_vectors), ("sentences.faiss", s_vectors)):
        flat = faiss.IndexFlatIP(index.embedder.dim)
        flat.add(np.stack(vectors))
        faiss.write_index(flat, str(data / name))
    for name, rows in (
        ("passages", passages),
        ("sentences", sentences),
        ("letters", [records.letter(l) for l in index.letters.values()]),
    ):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    manifest = {**index.manifest(), "format_version": 2, "data": "data-1"}
    (directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_an_index_of_the_previous_format_is_upgraded_without_embedding(tmp_path: Path, index: Index, embedder) -> None:  # type: ignore[no-untyped-def]
    write_format_2(tmp_path / "old", index)
    upgraded = Index.load(tmp_path / "old", NoEmbedding(embedder), ChunkingSettings())
    assert [p.id for p in upgraded.passages] == [p.id for p in index.passages]
    vector = embedder.embed_queries(["Welk land kondigde aan het Europese F-16 trainingscentrum te kunnen hosten?"])[0]
    ids = lambda ix: [ix.passages[k].id for k, _ in ix.store.dense_search(vector, 5)]  # noqa: E731
    assert ids(upgraded) == ids(index)
    assert json.loads((tmp_path / "old" / MANIFEST).read_text())["format_version"] == 3
    assert not (tmp_path / "old" / "data-1").exists()


def test_an_unreadable_old_index_is_refused_with_the_rebuild_command(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "old"
    folder.mkdir()
    manifest = {
        "format_version": 2,
        "data": "data-1",
        "embedder": {"id": embedder.id, "dim": 384},
        "chunking": {"max_chars": 1500},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexError_, match="cannot be upgraded.*rag ingest --rebuild"):
        Index.load(folder, embedder, ChunkingSettings())
    assert json.loads((folder / MANIFEST).read_text())["format_version"] == 2  # left as it was
