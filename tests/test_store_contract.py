"""One contract for every Store backend: the FAISS + SQLite store and Milvus (milvus-lite,
a real embedded Milvus in a .db file). Real letters, real vectors from the packaged model."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from places import ROOT

from rag.errors import IndexError_
from rag.store.base import Store, Where
from rag.store.index import open_store

BACKENDS = ["faiss", "milvus"]


def uri_for(backend: str, place: Path) -> str:
    return str(place / "store.db") if backend == "milvus" else ""


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens the backend's store at one place; every store opened is closed afterwards."""
    opened: list[Store] = []

    def open_() -> Store:
        for store in opened:  # milvus-lite allows one client per file
            store.close()
        opened.clear()
        opened.append(open_store(uri_for(request.param, tmp_path), tmp_path / "folder", 384))
        return opened[-1]

    open_.backend = request.param  # type: ignore[attr-defined]
    open_.place = tmp_path  # type: ignore[attr-defined]
    yield open_
    for store in opened:
        store.close()


def filled(opener: Callable[[], Store], entries: dict, ids: tuple[str, ...]) -> Store:
    store = opener()
    for lid in ids:
        store.add(*entries[lid])
    store.set_meta({"format_version": 3})
    store.commit()
    return store


ALL = ("navo-top-madrid-2022", "navo-top-vilnius-2023", "kopie")


def test_added_letters_come_back_after_reopening(opener, entries, embedder) -> None:  # type: ignore[no-untyped-def]
    filled(opener, entries, ALL)
    store = opener()
    letter, passages, _, units, unit_vectors = entries["navo-top-vilnius-2023"]
    assert store.letter_ids() == sorted(ALL) and store.meta() == {"format_version": 3}
    assert store.counts() == (sum(len(entries[i][1]) for i in ALL), sum(len(entries[i][3]) for i in ALL))
    assert store.letter(letter.id) == letter and store.letter("onbekend") is None
    key = store.key(passages[3].id)
    assert store.passages([key]) == [passages[3]]
    stored = store.passage_sentences(key)
    mine = [j for j, u in enumerate(units) if u.passage == 3]
    assert [(s, e) for s, e, _ in stored] == [(units[j].start, units[j].end) for j in mine]
    assert np.allclose(np.stack([v for _, _, v in stored]), unit_vectors[mine], atol=2e-3)
    ids = [passages[3].id, passages[0].id, "onbekend"]  # in one go: the same units, absent ids left out
    together = store.sentences_by_id(ids)
    assert set(together) == set(ids[:2])
    for pid in ids[:2]:
        one = store.passage_sentences(store.key(pid))
        assert [(s, e) for s, e, _ in together[pid]] == [(s, e) for s, e, _ in one] and one
        assert np.allclose(np.stack([v for _, _, v in together[pid]]), np.stack([v for _, _, v in one]))
    assert store.letter_summaries([letter.id])[letter.id]["passages"] == len(passages)


def test_dense_and_sentence_search_find_the_paragraph_with_exact_cosines(opener, entries, embedder) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ALL)
    query = embedder.embed_queries(["Hoeveel pantserhouwitsers leveren Duitsland en Nederland extra?"])[0]
    hits = store.dense_search(query, 5)
    top = store.passages([hits[0][0]])[0]
    assert top and "pantserhouwitsers" in top.text and len(hits) == 5
    _, passages, vectors, _, _ = entries[top.letter_id]
    assert hits[0][1] == pytest.approx(float(vectors[[p.id for p in passages].index(top.id)] @ query), abs=2e-3)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    best = store.sentence_search(query, 5)
    assert len({key for key, _, _ in best}) == 5  # one hit per passage, by its best sentence
    key, score, (start, end) = best[0]
    passage = store.passages([key])[0]
    assert passage and passage.start <= start < end <= passage.end + 2000
    assert score == pytest.approx(max(float(v @ query) for _, _, v in store.passage_sentences(key)), abs=2e-3)


def test_lexical_search_matches_dutch_stems(opener, entries) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ALL)
    hits = store.lexical_search("pantserhouwitser", 3)  # singular; the letter says "pantserhouwitsers"
    assert hits and all(s > 0 for _, s in hits)
    assert all("pantserhouwitser" in (p.text if p else "") for p in store.passages([k for k, _ in hits]))
    assert store.lexical_search("de het een", 3) == []  # stop words only


def test_filters_apply_inside_every_search(opener, entries, embedder) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ALL)
    query = embedder.embed_queries(["Wat is er besloten over de steun aan Oekraïne?"])[0]
    wheres = {
        "navo-top-vilnius-2023": Where(letters=("navo-top-vilnius-2023",)),
        "kopie": Where(date_from=dt.date(2024, 1, 1)),
        "kopie ": Where(dossier="21501-20"),
    }
    for wanted, where in wheres.items():
        for keys in (
            [k for k, _ in store.dense_search(query, 20, where)],
            [k for k, _, _ in store.sentence_search(query, 20, where)],
            [k for k, _ in store.lexical_search("Oekraïne steun", 20, where)],
        ):
            assert keys and {p.letter_id for p in store.passages(keys) if p} == {wanted.strip()}
    assert store.dense_search(query, 5, Where(date_to=dt.date(2000, 1, 1))) == []


def test_a_removed_letter_is_gone_from_every_search_and_stays_gone(opener, entries, embedder) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ALL)
    store.remove("navo-top-madrid-2022")
    store.commit()
    with pytest.raises(IndexError_, match="onbekend"):
        store.remove("onbekend")
    store = opener()
    query = embedder.embed_queries(["pantserhouwitsers"])[0]
    keys = [k for k, _ in store.dense_search(query, 200)] + [
        k for k, _ in store.lexical_search("pantserhouwitsers", 50)
    ]
    keys += [k for k, _, _ in store.sentence_search(query, 200)]
    assert {p.letter_id for p in store.passages(keys) if p} <= {"navo-top-vilnius-2023", "kopie"}
    assert store.letter_ids() == ["kopie", "navo-top-vilnius-2023"]
    with pytest.raises(KeyError):
        store.key("navo-top-madrid-2022#1")


def test_adding_a_letter_again_replaces_it(opener, entries) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ("navo-top-vilnius-2023",))
    letter, passages, pv, units, uv = entries["navo-top-vilnius-2023"]
    store.add(
        dataclasses.replace(letter, title="Nieuwe titel", sha256="y"),
        passages[:2],
        pv[:2],
        [u for u in units if u.passage < 2],
        uv[: sum(u.passage < 2 for u in units)],
    )
    store.commit()
    store = opener()
    assert store.counts()[0] == 2 and store.letter(letter.id).title == "Nieuwe titel"  # type: ignore[union-attr]


def test_what_is_not_committed_is_not_stored(opener, entries) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ("navo-top-vilnius-2023",))
    store.add(*entries["navo-top-madrid-2022"])
    store.rollback()
    store.add(*entries["kopie"])  # dropped when the store is closed without a commit
    store = opener()
    assert store.letter_ids() == ["navo-top-vilnius-2023"]


CHILD = """
import os, pickle, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from rag.store.index import open_store
entries = pickle.loads(Path({data!r}).read_bytes())
store = open_store({uri!r}, Path({folder!r}), 384)
store.add(*entries[0])
store.set_meta({{"format_version": 3}})
store.commit()
store.add(*entries[1])
type(store)._publish = lambda self: os._exit(9)  # the process dies at the commit point
store.commit()
"""


def test_a_crash_during_commit_leaves_the_previous_state_and_a_working_store(opener, entries) -> None:  # type: ignore[no-untyped-def]
    import pickle

    # in another process: milvus-lite keeps a .db file locked until the process that opened it ends
    data = opener.place / "entries.pkl"
    data.write_bytes(pickle.dumps([entries["navo-top-vilnius-2023"], entries["navo-top-madrid-2022"]]))
    uri, folder = uri_for(opener.backend, opener.place), str(opener.place / "folder")
    script = CHILD.format(root=str(ROOT), data=str(data), uri=uri, folder=folder)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 9, done.stderr
    store = opener()
    vilnius = entries["navo-top-vilnius-2023"]
    assert store.letter_ids() == ["navo-top-vilnius-2023"] and store.counts() == (len(vilnius[1]), len(vilnius[3]))
    store.add(*entries["kopie"])
    store.commit()
    store = opener()
    assert store.letter_ids() == ["kopie", "navo-top-vilnius-2023"]
    assert store.counts()[0] == len(vilnius[1]) + len(entries["kopie"][1])
    assert store.lexical_search("pantserhouwitsers", 5)  # kopie's passages, not the crashed Madrid's
    assert {
        p.letter_id for p in store.passages([k for k, _ in store.lexical_search("pantserhouwitsers", 50)]) if p
    } == {"kopie"}


def test_a_stored_letter_is_found_by_its_content_without_reading_the_others(opener, entries) -> None:  # type: ignore[no-untyped-def]
    store = filled(opener, entries, ALL)
    madrid, vilnius = entries["navo-top-madrid-2022"][0], entries["navo-top-vilnius-2023"][0]
    owners = store.content_owners([madrid.content_key, vilnius.content_key, "0" * 64])
    assert set(owners) == {madrid.content_key, vilnius.content_key}
    assert owners[madrid.content_key] in {"navo-top-madrid-2022", "kopie"}  # both say it
    assert owners[vilnius.content_key] == "navo-top-vilnius-2023"
    store.remove("navo-top-madrid-2022")
    store.commit()
    assert opener().content_owners([madrid.content_key]) == {madrid.content_key: "kopie"}
