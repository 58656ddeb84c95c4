"""The index on disk: round trip, incremental add and remove, refusal of a mismatch, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from places import CORPUS

from rag import pipeline
from rag.embedding.embedders import Embedder
from rag.errors import IndexError_
from rag.settings import ChunkingSettings, Settings
from rag.store.index import MANIFEST, Index

QUESTION = "Welk land kondigde aan het Europese F-16 trainingscentrum te kunnen hosten?"


class CountingEmbedder:
    """The real embedder, counting the passages it is asked to embed."""

    def __init__(self, inner: Embedder, id: str | None = None) -> None:
        self.inner, self.id, self.dim, self.embedded = inner, id or inner.id, inner.dim, 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str], progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        self.embedded += len(texts)
        return self.inner.embed_passages(texts, progress)


def settings_for(directory: Path) -> Settings:
    return Settings(index_dir=directory, corpus_dir=CORPUS)


def test_the_round_trip_keeps_passages_vectors_and_answers(index: Index, built_index_dir: Path, embedder) -> None:
    again = Index.load(built_index_dir, embedder, ChunkingSettings())
    assert [p.id for p in again.passages] == [p.id for p in index.passages]
    vector = embedder.embed_queries([QUESTION])[0]
    assert again.store.dense_search(vector, 3) == index.store.dense_search(vector, 3)
    top = index.passages[index.store.dense_search(vector, 1)[0][0]]
    assert top.letter_id == "navo-top-vilnius-2023" and "Roemenië" in top.text
    manifest = json.loads((built_index_dir / MANIFEST).read_text())
    assert manifest["embedder"] == {"id": embedder.id, "dim": 384}
    assert set(manifest["letters"]) == {"navo-top-madrid-2022", "navo-top-vilnius-2023"}
    assert manifest["passages"] == len(index.passages)


def test_adding_a_letter_embeds_only_that_letter_and_unchanged_letters_are_skipped(
    tmp_path: Path, index_copy: Path, embedder: Embedder
) -> None:
    counting = CountingEmbedder(embedder)
    index = Index.load(index_copy, counting, ChunkingSettings())
    before = len(index.passages)
    new = tmp_path / "nieuwe-brief.txt"
    new.write_text("Nieuwe brief\n\nDe NAVO opent een kantoor in Reykjavik.\n\nTweede alinea.\n", encoding="utf-8")
    _, report = pipeline.build_index(settings_for(index_copy), [CORPUS, new], index=index)
    assert report.added == ("nieuwe-brief",)
    assert set(report.unchanged) == {"navo-top-madrid-2022", "navo-top-vilnius-2023"}
    # its two passages and their two sentences; nothing of the letters already stored
    assert counting.embedded == 4 and len(index.passages) == before + 2
    _, report = pipeline.build_index(settings_for(index_copy), [new], index=index)
    assert report.unchanged == ("nieuwe-brief",) and counting.embedded == 4
    loaded = Index.load(index_copy, embedder, ChunkingSettings())
    hits = loaded.store.dense_search(embedder.embed_queries(["kantoor in IJsland"])[0], 1)
    assert loaded.passages[hits[0][0]].letter_id == "nieuwe-brief"


def test_removing_a_letter_removes_its_passages(index_copy: Path, embedder: Embedder) -> None:
    pipeline.remove_letter(settings_for(index_copy), "navo-top-madrid-2022")
    index = Index.load(index_copy, embedder, ChunkingSettings())
    assert set(index.letters) == {"navo-top-vilnius-2023"}
    assert {p.letter_id for p in index.passages} == {"navo-top-vilnius-2023"}
    hits = index.store.dense_search(embedder.embed_queries(["pantserhouwitsers"])[0], 50)
    assert all(index.passages[i].letter_id == "navo-top-vilnius-2023" for i, _ in hits)
    with pytest.raises(IndexError_, match="No letter 'onbekend'"):
        pipeline.remove_letter(settings_for(index_copy), "onbekend")


def test_an_index_built_with_another_embedder_or_chunking_is_refused(built_index_dir: Path, embedder) -> None:
    with pytest.raises(IndexError_, match="rag ingest --rebuild"):
        Index.load(built_index_dir, CountingEmbedder(embedder, id="st:other-model"), ChunkingSettings())
    with pytest.raises(IndexError_, match="chunking"):
        Index.load(built_index_dir, embedder, ChunkingSettings(max_chars=200))
    with pytest.raises(IndexError_, match="No index at"):
        Index.load(built_index_dir / "nowhere", embedder, ChunkingSettings())


def test_a_crash_while_saving_leaves_the_previous_index_loadable(
    index_copy: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = Index.load(index_copy, embedder, ChunkingSettings())
    before = [p.id for p in index.passages]
    index.remove("navo-top-madrid-2022")

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("rag.store.faiss_sqlite.FaissSqliteStore._publish", crash)
    with pytest.raises(OSError):
        index.save()
    monkeypatch.undo()
    index.close()
    again = Index.load(index_copy, embedder, ChunkingSettings())
    assert [p.id for p in again.passages] == before


def test_a_refused_file_leaves_the_stored_index_as_it_was(index_copy: Path, tmp_path: Path, embedder) -> None:
    bad = tmp_path / "kapot.pdf"
    bad.write_bytes(b"%PDF-1.4 broken")
    manifest = (index_copy / MANIFEST).read_text()
    _, report = pipeline.build_index(settings_for(index_copy), [bad])
    assert report.refused and "kapot.pdf" in report.refused[0][1] and not report.added
    assert json.loads((index_copy / MANIFEST).read_text())["letters"] == json.loads(manifest)["letters"]


def test_a_long_paragraph_is_split_keeping_offsets_and_number(tmp_path: Path, embedder: Embedder) -> None:
    sentences = " ".join(f"Dit is zin {i} over de versterking van de oostflank van de NAVO." for i in range(60))
    path = tmp_path / "lang.txt"
    path.write_text(f"Lange brief\n\n{sentences}\n\nKort.\n", encoding="utf-8")
    settings = dataclasses.replace(settings_for(tmp_path / "idx"), chunking=ChunkingSettings(max_chars=500))
    index, _ = pipeline.build_index(settings, [path], rebuild=True)
    letter = index.letters["lang"]
    parts = [p for p in index.passages if p.paragraph == 1]
    assert len(parts) > 3 and all(len(p.text) <= 500 for p in parts)
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert all(letter.text[p.start : p.end] == p.text for p in index.passages)
    assert " ".join(p.text for p in parts) == letter.paragraphs[0].text
    shutil.rmtree(tmp_path / "idx")
