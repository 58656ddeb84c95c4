"""The `rag` command: its JSON is a public interface, its errors are one clear line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.cli import main

PASSAGE_FIELDS = {
    "passage_id",
    "letter_id",
    "letter_title",
    "letter_date",
    "section",
    "paragraph",
    "part",
    "text",
    "start",
    "end",
    "footnotes",
    "page",
    "citation",
    "url",
    "references",
    "origin",  # where the letter came from: corpus or upload (by whom, when), identifier verified or not
}
ORIGIN_FIELDS = {"kind", "by", "at", "identifier", "identifier_verified"}
ASK_FIELDS = {"question", "answer", "abstained", "mode", "citations", "passages", "timings_ms", "notes"}
CITATION_FIELDS = {
    *("n", "passage_id", "letter_id", "letter_title", "section", "paragraph", "quote", "spans", "citation", "url"),
    "origin",
}
# a retrieved passage in `rag ask --json`: the passage record less `part`, with its rank and scores
HIT_FIELDS = (PASSAGE_FIELDS - {"part"}) | {"rank", "score", "scores", "sentences", "named"}
EVAL_FIELDS = {"file", "questions", "answerable", "k", "systems", "answers", "rows", "settings"}
ROW_FIELDS = {
    *("id", "question", "type", "lang", "answer", "abstained", "cited", "hit", "first_hit_rank", "ranks"),
    "answer_scores",
    "latency_ms",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_passages_json_has_one_object_per_passage(capsys, built_index_dir: Path, index) -> None:
    code, out, _ = run(capsys, "passages", "--json", "--index", str(built_index_dir))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == len(index.passages)
    assert all(set(r) == PASSAGE_FIELDS for r in rows)  # exactly the documented fields
    assert all(set(r["origin"]) == ORIGIN_FIELDS and r["origin"]["kind"] == "corpus" for r in rows)
    footnoted = next(r for r in rows if r["footnotes"])
    assert {"number", "text", "start", "end"} <= set(footnoted["footnotes"][0])


def test_ask_json_gives_the_documented_shape(capsys, built_index_dir: Path) -> None:
    question = "Hoeveel heeft Nederland bijgedragen aan het UCAP-fonds?"
    code, out, _ = run(capsys, "ask", question, "--json", "--k", "3", "--index", str(built_index_dir))
    answer = json.loads(out)
    assert code == 0 and set(answer) == ASK_FIELDS
    assert answer["citations"] and all(set(c) == CITATION_FIELDS for c in answer["citations"])
    assert all(set(p) == HIT_FIELDS for p in answer["passages"])
    assert len(answer["passages"]) == 3 and [p["rank"] for p in answer["passages"]] == [1, 2, 3]
    assert "total" in answer["timings_ms"]
    cited = {c["passage_id"] for c in answer["citations"]}
    assert cited <= {p["passage_id"] for p in answer["passages"]}
    assert any("EUR 100 miljoen" in p["text"] for p in answer["passages"])


def test_ask_reads_one_question_per_line_from_stdin(capsys, built_index_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Wie organiseert de NAVO-Top in 2025?\n\nWat is de eNRF?\n"))
    code, out, _ = run(capsys, "ask", "-", "--json", "--index", str(built_index_dir))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [l["question"] for l in lines] == ["Wie organiseert de NAVO-Top in 2025?", "Wat is de eNRF?"]


def test_ingest_reports_added_and_refused_files(capsys, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "brief.txt").write_text("Titel\n\nEen alinea over de NAVO-Top.\n", encoding="utf-8")
    (tmp_path / "in" / "leeg.txt").write_bytes(b"")
    code, out, _ = run(capsys, "ingest", str(tmp_path / "in"), "--quiet", "--index", str(tmp_path / "idx"))
    assert code == 1
    assert "added: brief" in out and "refused:" in out and "leeg.txt" in out and "empty" in out
    code, out, _ = run(capsys, "remove", "brief", "--index", str(tmp_path / "idx"))
    assert code == 0 and "removed: brief" in out


def test_ingest_names_every_file_of_a_folder_it_did_not_take(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "brief.txt").write_text("Titel\n\nEen alinea over de NAVO-Top.\n", encoding="utf-8")
    (folder / "brief.json").write_text('{"date": "2023-07-12"}', encoding="utf-8")  # its sidecar: taken
    (folder / "notities.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "foto.png").write_bytes(b"\x89PNG")
    (folder / "los.json").write_text("{}", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0")
    code, out, _ = run(capsys, "ingest", str(folder), "--quiet", "--index", str(tmp_path / "idx"))
    assert code == 0 and "added: brief" in out
    skipped = [line for line in out.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 4
    assert any("notities.doc" in s and "unknown file type '.doc'" in s for s in skipped)
    assert any("foto.png" in s and "unknown file type" in s for s in skipped)
    assert any("los.json" in s and "sidecar without a letter" in s for s in skipped)
    assert any(".DS_Store" in s and "hidden" in s for s in skipped)
    assert "brief.json" not in out


def test_passages_and_letters_filter_and_order_by_dossier_year_and_date(capsys, tmp_path: Path) -> None:
    from places import DATA

    idx = str(tmp_path / "idx")
    code, out, _ = run(capsys, "ingest", str(DATA / "kst"), "--quiet", "--index", idx)
    assert code == 0 and "added: kst-36200-V-12" in out and "added: kst-28676-420" in out
    code, out, _ = run(capsys, "letters", "--json", "--sort", "dossier", "--index", idx)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["kst-28676-420", "kst-36200-V-12"]  # 28 676 before 36 200 V
    assert rows[1]["citation"] == "Kamerstukken II 2022/23, 36 200 V, nr. 12"
    code, out, _ = run(capsys, "letters", "--sort", "date", "--vergaderjaar", "2022/23", "--index", idx)
    assert [line.split("\t")[0] for line in out.splitlines()] == ["kst-36200-V-12"]
    code, out, _ = run(capsys, "passages", "--json", "--dossier", "28 676", "--index", idx)
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and {r["letter_id"] for r in rows} == {"kst-28676-420"}
    assert any(ref["identifier"] == "kst-28676-401" for r in rows for ref in r["references"])
    code, out, _ = run(capsys, "passages", "--json", "--from", "2022-07-01", "--index", idx)
    assert {json.loads(line)["letter_id"] for line in out.splitlines()} == {"kst-36200-V-12"}
    question = "Hoeveel militairen namen deel aan de oefening Poolster?"
    code, out, _ = run(capsys, "ask", question, "--json", "--dossier", "28676", "--index", idx)
    assert code == 0 and {p["letter_id"] for p in json.loads(out)["passages"]} == {"kst-28676-420"}
    code, out, _ = run(capsys, "ask", question, "--json", "--index", idx)
    answer = json.loads(out)
    top = answer["passages"][0]
    assert top["letter_id"] == "kst-36200-V-12" and "2.340 militairen" in top["text"]
    assert top["citation"] == f"Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea {top['paragraph']}"
    assert top["url"] == "https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html"


def test_a_user_mistake_is_one_line_on_stderr_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rag.cli", "passages", "--index", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("rag: No index at") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_eval_json_gives_the_documented_shape(capsys, built_index_dir: Path, tmp_path: Path) -> None:
    dev = (Path(__file__).resolve().parent.parent / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    picked = tmp_path / "two.jsonl"
    picked.write_text("\n".join([dev[0], next(l for l in dev if '"unanswerable"' in l)]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "eval", str(picked), "--json", "-", "--no-baselines", "--index", str(built_index_dir))
    result = json.loads(out)
    assert code == 0 and set(result) == EVAL_FIELDS
    assert list(result["systems"]) == ["hybrid (ours)"] and result["questions"] == 2 and result["answerable"] == 1
    assert set(result["answers"]) == {"overall", "by_type", "unanswerable_abstained", "latency_ms", "by_wording"}
    assert all(set(r) == ROW_FIELDS for r in result["rows"])
    answerable, unanswerable = result["rows"]
    assert {"citation_precision", "answer_support", "token_f1"} <= set(answerable["answer_scores"])
    assert set(unanswerable["answer_scores"]) == {"abstention_correct"}
    assert all(r["latency_ms"] > 0 for r in result["rows"])
