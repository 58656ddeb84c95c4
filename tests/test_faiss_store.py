"""The FAISS + SQLite store past its exact tail: ANN segments written at commit, filters and
deletion marks inside the IVF search, compaction, a commit that never rewrites old segments."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.store import vectors
from rag.store.base import Where
from rag.store.faiss_sqlite import FaissSqliteStore


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of 40 vectors and no exact shortcut for filters: every search goes through IVF."""
    monkeypatch.setattr(vectors, "TAIL_MAX", 40)
    monkeypatch.setattr(vectors, "EXACT_LIMIT", 0)


def copies(entries, n: int):  # type: ignore[no-untyped-def]
    """n copies of the Madrid letter under other ids (distinct rows with the same vectors)."""
    letter, _, pv, units, uv = entries["navo-top-madrid-2022"]
    out = []
    for i in range(n):
        copy = dataclasses.replace(letter, id=f"madrid-{i}", sha256=str(i))
        out.append(
            (
                copy,
                [dataclasses.replace(p, letter_id=copy.id) for p in entries["navo-top-madrid-2022"][1]],
                pv,
                units,
                uv,
            )
        )
    return out


def test_ann_segments_give_exact_results_and_skip_removed_and_filtered_keys(
    tmp_path: Path, entries, embedder, small_segments
) -> None:  # type: ignore[no-untyped-def]
    store = FaissSqliteStore(tmp_path, 384)
    for e in [entries["navo-top-vilnius-2023"], *copies(entries, 3)]:  # 30 + 3 x 33 passages
        store.add(*e)
        store.commit()
    assert store.segment_count() >= 4  # each commit turned its tail into a segment
    names = sorted(p.name for p in tmp_path.glob("*.faiss"))
    store.add(*entries["kopie"])
    store.commit()
    assert set(names) <= {p.name for p in tmp_path.glob("*.faiss")}  # old segments untouched
    query = embedder.embed_queries(["Hoeveel pantserhouwitsers leveren Duitsland en Nederland extra?"])[0]
    rows = store._passages.rows.get(np.arange(store._passages.count))
    exact = np.argsort(-(rows @ query), kind="stable")[:5]
    assert [k for k, _ in store.dense_search(query, 5)][:1] == exact[:1].tolist()
    assert sorted(s for _, s in store.dense_search(query, 5)) == pytest.approx(sorted((rows @ query)[exact]), abs=2e-3)
    only = Where(letters=("madrid-1",))
    assert {p.letter_id for p in store.passages([k for k, _ in store.dense_search(query, 10, only)])} == {"madrid-1"}
    assert list(tmp_path.glob("bm25-*"))  # BM25 of the segments' passages, saved beside them
    words = store.passages([k for k, _ in store.lexical_search("pantserhouwitsers", 10)])
    assert len(words) == 4 and all("pantserhouwitsers" in p.text for p in words)  # the 4 copies of Madrid
    assert {
        p.letter_id for p in store.passages([k for k, _ in store.lexical_search("pantserhouwitsers", 10, only)])
    } == {"madrid-1"}
    assert {p.letter_id for p in store.passages([k for k, _, _ in store.sentence_search(query, 10, only)])} == {
        "madrid-1"
    }
    store.remove("madrid-0")
    store.commit()
    store = FaissSqliteStore(tmp_path, 384)  # reopened: segments from disk, deletion marks from SQLite
    found = store.passages([k for k, _ in store.dense_search(query, 60)])
    assert found and None not in found and "madrid-0" not in {p.letter_id for p in found}
    lexical = store.passages([k for k, _ in store.lexical_search("pantserhouwitsers", 10)])
    assert None not in lexical and {p.letter_id for p in lexical} == {"madrid-1", "madrid-2", "kopie"}
    before = [k for k, _ in store.dense_search(query, 10)]
    store.compact()
    assert store.segment_count() == 2 and len(list(tmp_path.glob("*.faiss"))) == 2
    assert len(list(tmp_path.glob("bm25-*"))) == 1
    assert [k for k, _ in store.dense_search(query, 10)] == before
    store.close()


def test_a_store_made_before_the_content_column_finds_duplicates_and_fills_it_once(tmp_path: Path, entries) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    store = FaissSqliteStore(tmp_path, 384)
    store.add(*entries["navo-top-madrid-2022"])
    store.commit()
    store.close()
    db = sqlite3.connect(tmp_path / "store.sqlite")  # as the store was before letters.content
    db.execute("DROP INDEX letters_content")
    db.execute("ALTER TABLE letters DROP COLUMN content")
    db.commit()
    db.close()
    madrid = entries["navo-top-madrid-2022"][0]
    old = FaissSqliteStore(tmp_path, 384)
    assert old.content_owners([madrid.content_key]) == {madrid.content_key: "navo-top-madrid-2022"}
    old.add(*entries["navo-top-vilnius-2023"])  # the first write transaction fills the column
    old.commit()
    db = sqlite3.connect(tmp_path / "store.sqlite")
    assert db.execute("SELECT count(*) FROM letters WHERE content IS NULL").fetchone() == (0,)
    assert db.execute("SELECT content FROM letters WHERE id = ?", (madrid.id,)).fetchone() == (madrid.content_key,)


def test_an_ivf_whose_lists_a_graph_finds_finds_the_exact_neighbours_when_it_visits_every_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vectors, "GRAPH_LISTS", 1)  # the graph over centroids that 1 M passages get
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64))
    points = centres[rng.integers(0, 50, 20_000)] + 0.5 * rng.normal(size=(20_000, 64))
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    index = vectors._ivf(64, len(points))
    assert isinstance(vectors.faiss.downcast_index(index.quantizer), vectors.faiss.IndexHNSW)
    index.train(points)
    index.add_with_ids(points, np.arange(len(points), dtype=np.int64))
    monkeypatch.setattr(vectors, "NPROBE", index.nlist)
    queries = points[:50] + 0.3 * rng.normal(size=(50, 64)).astype(np.float32)
    found = 0
    for query in queries:
        exact = set(np.argsort(-(points @ query))[:10].tolist())
        found += len(exact & {key for _, key in vectors._search(index, query.reshape(1, -1), 10, None, 1.0)})
    assert found / (10 * len(queries)) >= 0.99  # only the 8-bit codes' rounding may differ


def test_large_segments_answer_through_their_memory_map_then_from_memory_with_the_same_results(
    tmp_path: Path, entries, embedder, small_segments, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    store = FaissSqliteStore(tmp_path, 384)
    for e in [entries["navo-top-vilnius-2023"], *copies(entries, 2)]:
        store.add(*e)
        store.commit()
    query = embedder.embed_queries(["Welk land levert extra pantserhouwitsers?"])[0]
    expected = (store.dense_search(query, 10), store.sentence_search(query, 10))
    store.close()

    monkeypatch.setattr(vectors, "MAP_FROM", 0)  # every segment counts as large
    loaded = threading.Event()
    read = vectors.faiss.read_index

    def slow_read(path: str, flags: int = 0):  # type: ignore[no-untyped-def]
        if not flags:  # the background thread's read into memory waits until the test lets it go
            loaded.wait(30)
        return read(path, flags)

    monkeypatch.setattr(vectors.faiss, "read_index", slow_read)
    store = FaissSqliteStore(tmp_path, 384)
    assert store._passages._mapped and not store.in_memory(0)  # opened mapped: answers before the read
    assert (store.dense_search(query, 10), store.sentence_search(query, 10)) == expected
    mapped = dict(store._sentences._ann)
    loaded.set()
    assert store.in_memory(30)
    assert all(store._sentences._ann[name] is not index for name, index in mapped.items())  # swapped in
    assert (store.dense_search(query, 10), store.sentence_search(query, 10)) == expected
    store.add(*entries["kopie"])  # a commit keeps the segments already in memory
    store.commit()
    assert not store._passages._mapped and not store._sentences._mapped
    store.close()
