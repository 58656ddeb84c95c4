"""The Milvus store on milvus-lite: an index file a crash cut short is built again from the
stored rows, so the store opens with everything it had committed."""

from __future__ import annotations

from pathlib import Path

from rag.store.index import open_store


def test_a_cut_short_index_file_is_rebuilt_from_the_rows(tmp_path: Path, entries) -> None:  # type: ignore[no-untyped-def]
    db, folder = tmp_path / "m.db", tmp_path / "folder"
    store = open_store(str(db), folder, 384)
    store.add(*entries["navo-top-vilnius-2023"])
    store.set_meta({"format_version": 3})
    store.commit()
    counts = store.counts()
    del store
    cut = sorted(db.rglob("*.idx"))
    assert cut  # milvus-lite keeps an index file per segment
    for path in cut:
        path.write_bytes(b"")  # what a crash in the middle of writing them leaves
    store = open_store(str(db), folder, 384)
    assert store.letter_ids() == ["navo-top-vilnius-2023"] and store.counts() == counts
    assert store.lexical_search("Zweden", 3)
