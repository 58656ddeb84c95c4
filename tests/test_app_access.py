"""Who may write through the app, tested on the running app as an attacker would call it:
gradio_client, and raw `queue/join` requests naming an event by its fn_index. Also: a
replacement waits for a confirmation, an upload is marked as one, and a letter added by
`rag ingest` while the app runs is seen without restarting it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from places import ROOT

TOKEN = "geheim-schrijftoken-42"
MADRID = "navo-top-madrid-2022"
FAKE = "VERSLAG NAVO-TOP MADRID\n\nDe militaire steun aan Oekraïne bedraagt HACKED miljard euro.\n"


def manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def apps(built_index_dir: Path, tmp_path_factory: pytest.TempPathFactory, serve_app) -> Iterator[dict]:  # type: ignore[no-untyped-def]
    """Two apps listening on every interface: one without writers (read-only), one with a token."""
    home = tmp_path_factory.mktemp("access")
    out = {}
    with contextlib_exit() as stack:
        for name, env in (("open", {}), ("token", {"RAG_APP_WRITE_TOKEN": TOKEN})):
            index_dir = home / name
            shutil.copytree(built_index_dir, index_dir)
            log = home / f"{name}.log"
            url = stack.enter_context(
                serve_app([str(ROOT / "app.py"), "--host", "0.0.0.0"], log, RAG_INDEX=str(index_dir), **env)
            )
            out[name] = {"url": url, "index": index_dir, "log": log}
        yield out


def contextlib_exit():  # type: ignore[no-untyped-def]
    import contextlib

    return contextlib.ExitStack()


def raw_call(url: str, elem_id: str, data: list, trigger: str = "click") -> dict:
    """POST gradio_api/queue/join for the event of the component `elem_id`, by its fn_index,
    as a script would (after the page's own load event, which fills the letter lists of the
    session); the final message of the event stream."""
    config = json.load(urllib.request.urlopen(url + "config", timeout=10))
    component = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    event = next(
        d["id"] for d in config["dependencies"] if any(t[0] == component and t[1] == trigger for t in d["targets"])
    )
    load = next(d["id"] for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"]))
    session = uuid.uuid4().hex
    _join(url, session, load, [], None)
    return _join(url, session, event, data, component)


def _join(url: str, session: str, fn_index: int, data: list, trigger: int | None) -> dict:
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": trigger})
    request = urllib.request.Request(url + "gradio_api/queue/join", body.encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    with urllib.request.urlopen(url + f"gradio_api/queue/data?session_hash={session}", timeout=60) as stream:
        for line in stream:
            if line.startswith(b"data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("no process_completed message")


def test_an_app_on_the_network_without_writers_is_read_only_and_says_so(apps) -> None:  # type: ignore[no-untyped-def]
    app = apps["open"]
    assert "Alleen-lezen" in app["log"].read_text()
    before = manifest(app["index"])
    result = raw_call(app["url"], "remove", [MADRID, None])  # the hidden remove, called by its fn_index
    assert result["success"] is False and "alleen-lezen" in json.dumps(result["output"]).lower()
    with pytest.raises(Exception, match="alleen-lezen"):
        Client(app["url"], verbose=False).predict(
            [handle_file(str(ROOT / "tests/data/script-letter.txt"))], api_name="/upload"
        )
    assert manifest(app["index"])["corpus_hash"] == before["corpus_hash"]


def test_writes_need_the_token_on_every_endpoint(apps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = apps["token"]
    before = manifest(app["index"])["corpus_hash"]
    for token in (None, "", "fout"):
        result = raw_call(app["url"], "remove", [MADRID, token])
        assert result["success"] is False and "schrijftoken" in json.dumps(result["output"])
    client = Client(app["url"], verbose=False)
    letter = tmp_path / "oefening.txt"
    letter.write_text("OEFENING KEMPEN\n\nBij de oefening Kempen oefenden 321 militairen.\n", encoding="utf-8")
    with pytest.raises(Exception, match="schrijftoken"):
        client.predict([handle_file(str(letter))], "fout", api_name="/upload")
    assert manifest(app["index"])["corpus_hash"] == before
    result, *_ = client.predict([handle_file(str(letter))], TOKEN, api_name="/upload")
    assert "Toegevoegd: <b>oefening</b>" in result
    answer = client.predict("Hoeveel militairen oefenden bij de oefening Kempen?", api_name="/ask")
    cited = answer["citations"][0]
    assert cited["letter_id"] == "oefening" and cited["origin"]["kind"] == "upload" and cited["origin"]["by"] == "token"
    assert answer["passages"][0]["origin"]["at"]


def test_replacing_a_letter_waits_for_a_confirmation_and_keeps_the_old_version(apps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = apps["token"]
    fake = tmp_path / f"{MADRID}.txt"
    fake.write_text(FAKE, encoding="utf-8")
    sha = manifest(app["index"])["letters"][MADRID]["sha256"]
    client = Client(app["url"], verbose=False)
    result, *_ = client.predict([handle_file(str(fake))], TOKEN, api_name="/upload")
    assert "Bestaat al: <b>navo-top-madrid-2022</b>" in result and "Nog niet vervangen" in result
    assert manifest(app["index"])["letters"][MADRID]["sha256"] == sha
    result, *_ = client.predict([handle_file(str(fake))], TOKEN, api_name="/replace")
    assert "Vervangen: <b>navo-top-madrid-2022</b>" in result and "passages vervangen door 1" in result
    assert manifest(app["index"])["letters"][MADRID]["passages"] == 1
    # the official-only filter keeps the upload out; restoring brings the official letter back
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "rag.cli"]
    restore = subprocess.run(
        [*cli, "restore", MADRID, "--index", str(app["index"])], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert restore.returncode == 0 and f"replaced: {MADRID} (1 passages before" in restore.stdout, restore.stderr
    assert manifest(app["index"])["letters"][MADRID]["sha256"] == sha


def test_a_letter_added_by_the_cli_is_seen_by_the_running_app(apps, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = apps["open"]
    client = Client(app["url"], verbose=False)
    count = len(manifest(app["index"])["letters"])
    letter = tmp_path / "oefening-veluwe-2024.txt"
    letter.write_text("OEFENING VELUWE\n\nBij de oefening Veluwe landden 77 helikopters op de hei.\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(letter), "--quiet", "--index", str(app["index"])],
        env=env, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    deadline = time.time() + 30
    while f"{count + 1} brieven" not in client.predict(api_name="/status"):
        assert time.time() < deadline, "the app did not pick up the new commit"
        time.sleep(0.5)
    answer = client.predict("Hoeveel helikopters landden bij de oefening Veluwe?", api_name="/ask")
    assert answer["citations"][0]["letter_id"] == "oefening-veluwe-2024"
