"""Upgrade an index folder of format 2 (data-<n>/ with vectors.faiss, sentences.faiss and
JSONL tables) to the FAISS + SQLite store in place, keeping its vectors (nothing is
embedded again). The new manifest is written last: a crash before it leaves the old
index as it was, and the next load upgrades again from the start."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import faiss
import numpy as np

from rag import records
from rag.embedding.embedders import Embedder
from rag.errors import IndexError_
from rag.settings import ChunkingSettings
from rag.store.base import Unit

NEW_FILES = ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "*.f16", "*.i32", "*.faiss")


def upgrade(directory: Path, embedder: Embedder, chunking: ChunkingSettings) -> None:
    """Rewrite the format-2 index at directory as a format-3 store; IndexError_ if unreadable."""
    from rag.store.index import Index, read_manifest

    manifest = read_manifest(directory)
    for pattern in NEW_FILES:  # what a crashed upgrade left
        for path in directory.glob(pattern):
            path.unlink()
    data = directory / str(manifest.get("data", ""))
    try:
        vectors = faiss.read_index(str(data / "vectors.faiss"))
        sentence_vectors = faiss.read_index(str(data / "sentences.faiss"))
        units = [tuple(json.loads(line)["sentence"]) for line in _lines(data / "sentences.jsonl")]
        passages = [records.passage_from(json.loads(line)) for line in _lines(data / "passages.jsonl")]
        letters = [records.letter_from(json.loads(line)) for line in _lines(data / "letters.jsonl")]
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise IndexError_(
            f"The index at {directory} has the old format 2 and cannot be upgraded ({err}). "
            f"Rebuild it: rag ingest --rebuild --index {directory}"
        ) from None
    index = Index(directory, embedder, chunking)
    p_all = vectors.reconstruct_n(0, vectors.ntotal) if vectors.ntotal else np.zeros((0, embedder.dim), np.float32)
    s_all = (
        sentence_vectors.reconstruct_n(0, sentence_vectors.ntotal) if units else np.zeros((0, embedder.dim), np.float32)
    )
    for letter in letters:
        own = [i for i, p in enumerate(passages) if p.letter_id == letter.id]
        local = {pos: n for n, pos in enumerate(own)}
        rows = [j for j, (pos, _, _) in enumerate(units) if pos in local]
        stage = [Unit(local[units[j][0]], units[j][1], units[j][2]) for j in rows]
        index.stage(letter, [passages[i] for i in own], p_all[own], stage, s_all[rows])
    index.save()  # the new manifest replaces the old one: the upgrade's commit point
    index.close()
    shutil.rmtree(data, ignore_errors=True)


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line for line in handle if line.strip()]
