"""The evaluation harness: gold location, the span rule, clear errors, a full run with a report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from places import ROOT

from rag import pipeline
from rag.errors import EvalError
from rag.evaluation.evaluate import Gold, covers, load_questions, locate, run_eval, used_settings
from rag.settings import Settings
from rag.types import Answer

LETTERS = {"brief": "De NAVO-\nbondgenoten spraken over de samen-\nwerking. Tweede zin over iets anders."}


def test_a_quote_is_located_ignoring_case_white_space_and_hyphens() -> None:
    text = LETTERS["brief"]
    (span,) = locate(text, "navo bondgenoten spraken over de samenwerking")
    assert text[span[0] : span[1]] == "NAVO-\nbondgenoten spraken over de samen-\nwerking"
    assert locate(text, "niet in de brief") == ()


def test_the_span_rule_needs_half_of_the_quote() -> None:
    gold = Gold("brief", "q", ((100, 200),))
    assert covers(("brief", ((150, 400),)), gold)  # exactly half
    assert not covers(("brief", ((151, 400),)), gold)
    assert covers(("brief", ((0, 10), (90, 160))), gold)  # a footnote span counts too
    assert not covers(("ander", ((0, 1000),)), gold)


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps(
    {
        "id": "q1",
        "question": "?",
        "answer": "",
        "type": "factoid",
        "lang": "nl",
        "gold": [{"letter": "brief", "quote": "spraken over de samenwerking"}],
    }
)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "set.jsonl:2: not valid JSON"),
        (json.dumps({"id": "q2", "question": "?", "type": "factoid"}), "set.jsonl:2: missing field(s) gold"),
        (GOOD.replace('"brief"', '"onbekend"'), "set.jsonl:2: unknown letter 'onbekend'"),
        (GOOD.replace("samenwerking", "samenzwering"), "set.jsonl:2: gold quote not found"),
        (GOOD.replace("factoid", "raadsel"), "set.jsonl:2: unknown type 'raadsel'"),
    ],
)
def test_a_bad_line_is_a_clear_error_naming_the_line(tmp_path: Path, bad: str, message: str) -> None:
    with pytest.raises(EvalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_questions(write(tmp_path, GOOD, bad), LETTERS)


def test_a_run_with_baselines_writes_the_report(tmp_path: Path, index) -> None:  # type: ignore[no-untyped-def]
    lines = (ROOT / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    picked = [l for l in lines if '"type": "unanswerable"' in l][:1] + [l for l in lines if '"factoid"' in l][:3]
    path = write(tmp_path, *picked)
    seen: list[tuple[int, int]] = []
    asked: list[str] = []

    def answer_with(question: str) -> Answer:  # what a benchmark passes to keep more of each answer
        asked.append(question)
        return pipeline.ask(question, index, Settings())

    run = run_eval(
        path, index, Settings(), tmp_path / "report", lambda d, t: seen.append((d, t)), answer_with=answer_with
    )
    assert asked == [json.loads(l)["question"] for l in picked]
    assert seen[-1][0] == seen[-1][1] == 4 * 5  # 4 questions x (4 systems + answers)
    assert set(run.metrics["systems"]) == {"hybrid (ours)", "bm25", "dense", "langchain default"}
    ours = run.metrics["systems"]["hybrid (ours)"]["overall"]
    assert ours["n"] == 3 and 0.0 <= ours["mrr"] <= 1.0
    assert [r["id"] for r in run.rows] == [json.loads(l)["id"] for l in picked]
    assert run.report_path and "| hybrid (ours) |" in run.report_path.read_text(encoding="utf-8")
    assert {p.name for p in run.plots} >= {"recall_at_k.png", "mrr_by_type.png", "latency.png"}
    assert all(p.stat().st_size > 1000 for p in run.plots)
    # each row carries its own answer scores, and their means are the overall answer metrics
    per_row = [r["answer_scores"] for r in run.rows]
    assert set(per_row[0]) == {"abstention_correct"}  # the unanswerable one is scored on abstaining only
    overall = run.metrics["answers"]["overall"]
    for name in ("answer_support", "citation_precision", "abstention_correct"):
        values = [s[name] for s in per_row if name in s]
        assert overall[name] == pytest.approx(sum(values) / len(values))
    # the run records what answered: every answer setting and the retrieval's weights and steps
    used = run.metrics["settings"]
    assert used["answer"]["reader_follow"] == Settings().answer.reader_follow
    assert used["answer"]["named_only"] is True and used["retrieval"]["named_first"] is True
    assert used["retrieval"]["lexical_weight_foreign"] == Settings().retrieval.lexical_weight_foreign
    assert set(used["retrieval"]) == {f.name for f in dataclasses.fields(Settings().retrieval)}  # every field
    since = Settings(retrieval=dataclasses.replace(Settings().retrieval, date_from=dt.date(2023, 1, 1)))
    assert json.loads(json.dumps(used_settings(since)))["retrieval"]["date_from"] == "2023-01-01"  # JSON holds it
