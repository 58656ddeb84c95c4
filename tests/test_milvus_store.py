"""The Milvus store on milvus-lite: an index file a crash cut short is built again from the
stored rows, so the store opens with everything it had committed; the app works on it
unchanged (builds, answers, adds an upload)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from places import CORPUS, ROOT

from rag.store.index import MANIFEST, open_store

QUESTION = "Hoeveel pantserhouwitsers leveren Duitsland en Nederland extra?"


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


def test_the_app_answers_and_adds_an_upload_on_a_milvus_lite_store(tmp_path: Path, serve_app) -> None:  # type: ignore[no-untyped-def]
    # the app unchanged on the other backend: RAG_STORE names a milvus-lite file; the app
    # builds the index from corpus/ there, answers from it and adds an uploaded letter to it
    from gradio_client import Client, handle_file

    index_dir, db = tmp_path / "index", tmp_path / "x.db"
    env = {"RAG_INDEX": str(index_dir), "RAG_CORPUS": str(CORPUS), "RAG_STORE": str(db)}
    letter = tmp_path / "oefening-zuiderzee-2024.txt"
    body = "\n\n".join(
        f"Tijdens dag {i} van de oefening Zuiderzee oefenden {100 + i} militairen met het beveiligen van "
        "havens, dijken en sluizen langs het IJsselmeer."
        for i in range(1, 7)
    )
    letter.write_text(f"VERSLAG VAN DE OEFENING ZUIDERZEE VAN 8 MEI 2024\n\n{body}\n", encoding="utf-8")
    with serve_app([str(ROOT / "app.py")], tmp_path / "app.log", **env) as url:
        client = Client(url, verbose=False)
        deadline = time.time() + 300
        while not client.predict(api_name="/status").startswith("Index:"):
            assert time.time() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(1)
        answer = client.predict(QUESTION, api_name="/ask")
        assert answer["citations"] and answer["citations"][0]["letter_id"] == "navo-top-madrid-2022"
        assert "pantserhouwitsers" in answer["passages"][0]["text"]
        result, *_ = client.predict([handle_file(str(letter))], api_name="/upload")
        assert "Toegevoegd: <b>oefening-zuiderzee-2024</b>" in result
        about = client.predict("Hoeveel militairen oefenden op dag 6 van de oefening Zuiderzee?", api_name="/ask")
        assert about["citations"][0]["letter_id"] == "oefening-zuiderzee-2024"
        assert "106 militairen" in about["passages"][0]["text"]
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["store"] == str(db) and db.exists() and not (index_dir / "store.sqlite").exists()
    assert set(manifest["letters"]) == {"navo-top-madrid-2022", "navo-top-vilnius-2023", "oefening-zuiderzee-2024"}
