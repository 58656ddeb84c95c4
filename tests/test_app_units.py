"""The app's write endpoints and error messages as functions on the server (no browser):
the role check, Dutch messages without server paths, and no temporary folders left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

import app
from rag import pipeline
from rag.app import live
from rag.app.access import Access, AccessDenied, is_loopback
from rag.evaluation.evaluate import load_questions
from rag.settings import AppSettings, Settings
from rag.store.index import Index


@pytest.fixture
def on_index(monkeypatch, index: Index):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "LIVE", SimpleNamespace(index=index, settings=Settings()), raising=False)
    return index


def test_the_write_role_follows_the_settings_and_the_address() -> None:
    assert Access.from_settings(AppSettings(), "127.0.0.1").writer(None, None) == "lokaal"
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    network = Access.from_settings(AppSettings(), "0.0.0.0")
    assert not network.writable and "Alleen-lezen" in network.describe()
    with pytest.raises(AccessDenied, match="read-only"):
        network.writer("anything", "someone")
    token = Access.from_settings(AppSettings(write_token="t0ken"), "0.0.0.0")
    assert token.writer("t0ken", None) == "token"
    with pytest.raises(AccessDenied):
        token.writer("t0ke", None)
    users = Access.from_settings(AppSettings(users=("alice:pw",)), "0.0.0.0")
    assert users.writer(None, "alice") == "alice"
    with pytest.raises(AccessDenied):
        users.writer(None, "mallory")
    with pytest.raises(AccessDenied):
        Access.from_settings(AppSettings(read_only=True, write_token="t"), "127.0.0.1").writer("t", None)


def test_every_write_function_checks_the_role_itself(monkeypatch, on_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "ACCESS", Access(loopback=False))
    evals = tmp_path / "eval.jsonl"
    evals.write_text("{}\n", encoding="utf-8")
    for call in (
        lambda: app.upload([str(evals)]),
        lambda: app.confirm_replace([str(evals)]),
        lambda: app.remove("navo-top-madrid-2022"),
        lambda: app.run_eval(None, str(evals)),
    ):
        with pytest.raises(gr.Error, match="alleen-lezen"):
            call()


def test_eval_errors_in_the_app_are_dutch_without_paths_and_leave_no_folder(
    monkeypatch, on_index, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "ACCESS", Access())
    bad = tmp_path / "kapot.jsonl"
    bad.write_text('{"id": "x", "question": "?", "type": "factoid"}\n', encoding="utf-8")
    before = set(Path(tempfile.gettempdir()).glob(f"rag-eval-{os.getpid()}-*"))
    with pytest.raises(gr.Error) as caught:
        app.run_eval(None, str(bad))
    message = caught.value.message
    assert "kapot.jsonl:1: ontbrekend(e) veld(en) gold" in message and str(tmp_path) not in message
    assert set(Path(tempfile.gettempdir()).glob(f"rag-eval-{os.getpid()}-*")) == before
    with pytest.raises(gr.Error, match="Kies een evaluatieset"):
        app.run_eval("/etc/passwd", None)  # only the listed sets may be picked


def test_an_index_error_in_the_app_has_no_server_path(tmp_path: Path) -> None:
    err = pipeline.IndexError_(f"No index at {tmp_path}/idx.", nl=f"Geen index in {tmp_path}/idx.")
    assert live.dutch(err) == "Geen index in idx."


def test_an_eval_file_with_a_bom_is_read(letters) -> None:  # type: ignore[no-untyped-def]
    dev = (Path(__file__).resolve().parents[1] / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[0]
    path = Path(tempfile.mkdtemp()) / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + dev.encode() + b"\n")
    assert len(load_questions(path, {k: l.text for k, l in letters.items()})) == 1


def test_staging_folders_of_a_killed_app_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = Path(tempfile.mkdtemp(prefix=f"rag-upload-{dead.pid}-"))
    (left / "brief.txt").write_text("x", encoding="utf-8")
    mine = Path(tempfile.mkdtemp(prefix=f"rag-upload-{os.getpid()}-"))
    live.sweep_temp()
    assert not left.exists() and mine.exists()  # a live process keeps its own
    mine.rmdir()
