"""The running app through its Gradio API (gradio_client), as another program would use it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio_client import Client, handle_file

import app
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Hoeveel heeft Nederland tot nu toe bijgedragen aan het UCAP-fonds van de NAVO?"


def manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


def test_first_start_builds_the_index_from_the_corpus(app_server) -> None:  # type: ignore[no-untyped-def]
    assert "wordt gebouwd" in app_server.first_status, app_server.first_status
    letters = manifest(app_server.index_dir)["letters"]
    assert {"navo-top-madrid-2022", "navo-top-vilnius-2023"} <= set(letters)


def test_ask_api_returns_the_same_json_as_the_cli(app_server) -> None:  # type: ignore[no-untyped-def]
    api = Client(app_server.url, verbose=False).predict(QUESTION, api_name="/ask")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", QUESTION, "--json", "--index", str(app_server.index_dir)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = json.loads(cli.stdout)
    assert api.pop("timings_ms").keys() == expected.pop("timings_ms").keys()
    assert api == expected
    assert api["citations"] and api["citations"][0]["letter_id"] == "navo-top-vilnius-2023"


def test_bad_uploads_are_refused_and_the_index_is_untouched(app_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = manifest(app_server.index_dir)
    broken = tmp_path / "kapot.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    wrong = tmp_path / "notulen.docx"
    wrong.write_bytes(b"PK\x03\x04 word document")
    result, *_ = Client(app_server.url, verbose=False).predict(
        [handle_file(str(broken)), handle_file(str(wrong))], api_name="/upload"
    )
    assert result.count('class="refused"') == 2
    assert "kapot.pdf" in result and "geen leesbare PDF" in result  # the app gives reasons in Dutch
    assert "notulen.docx" in result and "geen leesbaar Word-document" in result
    assert str(tmp_path) not in result  # names, not server paths
    assert manifest(app_server.index_dir)["corpus_hash"] == before["corpus_hash"]


def test_a_question_during_an_upload_still_gets_an_answer(app_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    letter = tmp_path / "oefening-zuiderzee-2024.txt"
    body = "\n\n".join(
        f"Tijdens dag {i} van de oefening Zuiderzee oefenden {100 + i} militairen met het beveiligen van "
        f"havens, dijken en sluizen langs het IJsselmeer, samen met de brandweer en de politie."
        for i in range(1, 37)
    )
    letter.write_text(f"VERSLAG VAN DE OEFENING ZUIDERZEE VAN 8 MEI 2024\n\n{body}\n", encoding="utf-8")
    client = Client(app_server.url, verbose=False)
    job = client.submit([handle_file(str(letter))], api_name="/upload")
    deadline = time.time() + 30
    while "Bezig met toevoegen van oefening-zuiderzee-2024" not in client.predict(api_name="/status"):
        assert time.time() < deadline, "the upload did not start embedding"
        time.sleep(0.2)
    answer = client.predict(QUESTION, api_name="/ask")
    assert not job.done(), "the question should not have waited for the upload"
    assert answer["citations"][0]["letter_id"] == "navo-top-vilnius-2023"
    result, *_ = job.result(timeout=120)
    assert "Toegevoegd: <b>oefening-zuiderzee-2024</b>" in result
    about = client.predict("Hoeveel militairen oefenden op dag 36 van de oefening Zuiderzee?", api_name="/ask")
    assert about["citations"][0]["letter_id"] == "oefening-zuiderzee-2024"
    assert "oefening-zuiderzee-2024" in manifest(app_server.index_dir)["letters"]


def test_rag_serve_starts_the_app_on_an_existing_index(app_server, serve_app) -> None:  # type: ignore[no-untyped-def]
    started = time.time()
    argv = ["-m", "rag.cli", "serve", "--host", "127.0.0.1", "--index", str(app_server.index_dir)]
    with serve_app(argv, app_server.log.with_name("serve.log")) as url:
        status = Client(url, verbose=False).predict(api_name="/status")
    assert status.startswith("Index:") and time.time() - started < 30  # opens in seconds on a built index


def test_filters_become_retrieval_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "LIVE", SimpleNamespace(settings=Settings()), raising=False)
    settings = app._settings(["navo-top-madrid-2022"], "2022-06-01", " ", 3, "extractief")
    assert settings.retrieval.letters == ("navo-top-madrid-2022",) and settings.retrieval.k == 3
    assert settings.retrieval.date_from == dt.date(2022, 6, 1) and settings.retrieval.date_to is None
    assert settings.answer.mode == "extractive" and app._settings([], "", "", 5, "LLM").answer.mode == "llm"
    with pytest.raises(gr.Error, match="JJJJ-MM-DD"):
        app._settings([], "1 juli 2023", "", 5, "extractief")
