"""Evaluation sets (evals/README.md format) -> retrieval and answer metrics, for our
pipeline and its baselines in the same run, on the same questions.

Gold quotes are located in the letter text ignoring case, white space and hyphens; a
retrieved passage is a hit for a gold item when its spans (its text and its footnotes)
cover at least half of the quote's span.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import EvalError
from rag.evaluation import metrics
from rag.settings import Settings
from rag.store.index import Index
from rag.types import Answer

TYPES = ("factoid", "list", "reason", "paraphrase", "crosslingual", "footnote", "multi", "unanswerable")
_IGNORED = re.compile(r"[\s\-\u2010\u2011\u2013\u00ad]+")
Span = tuple[int, int]


@dataclass(frozen=True)
class Gold:
    letter: str
    quote: str
    spans: tuple[Span, ...]  # every place the quote stands in the letter


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    gold: tuple[Gold, ...]
    type: str
    lang: str
    line: int
    wording: str = ""  # "own" or "letter" where the set says (how far the question uses the letters' words)


@dataclass
class SystemRun:
    """One system's ranked units per question: (letter id, spans) for each retrieved unit.
    `texts` are the texts its spans refer to when they are not the letters' clean texts
    (the LangChain baseline splits the raw files): gold quotes are located there too."""

    name: str
    texts: dict[str, str] | None = None
    ranked: dict[str, list[tuple[str, tuple[Span, ...]]]] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    _located: dict[tuple[str, str], Gold] = field(default_factory=dict)

    def gold(self, g: Gold) -> Gold:
        """The gold item with its spans in this system's texts."""
        if self.texts is None:
            return g
        if (g.letter, g.quote) not in self._located:
            spans = locate(self.texts.get(g.letter, ""), g.quote)
            self._located[(g.letter, g.quote)] = Gold(g.letter, g.quote, spans)
        return self._located[(g.letter, g.quote)]


@dataclass
class EvalRun:
    """What `rag eval` and the app's evaluation tab show."""

    summary_markdown: str
    rows: list[dict]
    metrics: dict
    report_path: Path | None = None
    plots: list[Path] = field(default_factory=list)


def load_questions(path: Path, letters: dict[str, str]) -> list[Question]:
    """Read an eval file; EvalError naming the line for malformed lines, unknown letters, lost quotes."""
    if not Path(path).is_file():
        raise EvalError(f"{path}: no such evaluation file.", nl=f"{Path(path).name}: evaluatiebestand niet gevonden.")
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a BOM (Windows editors) is fine
    except UnicodeDecodeError as err:
        raise EvalError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}). Save it as UTF-8.",
            nl=f"{Path(path).name}: geen UTF-8-tekst (bij byte {err.start}). Sla het op als UTF-8.",
        ) from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            q = _question(path, number, raw, letters)
            if q.id in seen:
                raise EvalError(
                    f"{path}:{number}: id '{q.id}' was already used on line {seen[q.id]}; ids must be unique.",
                    nl=f"{Path(path).name}:{number}: id '{q.id}' staat al op regel {seen[q.id]}; ids moeten uniek zijn.",
                )
            seen[q.id] = number
            questions.append(q)
    if not questions:
        raise EvalError(f"{path}: no questions in the file.", nl=f"{Path(path).name}: het bestand bevat geen vragen.")
    return questions


def _question(path: Path, number: int, raw: str, letters: dict[str, str]) -> Question:
    where, hier = f"{path}:{number}", f"{Path(path).name}:{number}"
    try:
        row = json.loads(raw)
    except ValueError as err:
        raise EvalError(
            f"{where}: not valid JSON ({err}). Each line must be one JSON object.",
            nl=f"{hier}: geen geldige JSON ({err}). Elke regel moet één JSON-object zijn.",
        ) from None
    missing = [k for k in ("id", "question", "gold", "type") if k not in row] if isinstance(row, dict) else ["all"]
    if missing:
        raise EvalError(
            f"{where}: missing field(s) {', '.join(missing)} (see evals/README.md).",
            nl=f"{hier}: ontbrekend(e) veld(en) {', '.join(missing)} (zie evals/README.md).",
        )
    if row["type"] not in TYPES:
        raise EvalError(
            f"{where}: unknown type '{row['type']}'; use one of {', '.join(TYPES)}.",
            nl=f"{hier}: onbekend type '{row['type']}'; gebruik een van {', '.join(TYPES)}.",
        )
    if not isinstance(row["gold"], list) or not isinstance(row["question"], str):
        raise EvalError(
            f"{where}: 'question' must be a string and 'gold' a list (see evals/README.md).",
            nl=f"{hier}: 'question' moet tekst zijn en 'gold' een lijst (zie evals/README.md).",
        )
    gold = []
    for item in row["gold"]:
        if not isinstance(item, dict) or not isinstance(item.get("quote"), str):
            raise EvalError(
                f"{where}: each gold item needs a 'letter' and a 'quote' string.",
                nl=f"{hier}: elk gold-item heeft een 'letter' en een 'quote' (tekst) nodig.",
            )
        letter = item.get("letter")
        if letter not in letters:
            known = ", ".join(sorted(letters))
            raise EvalError(
                f"{where}: unknown letter '{letter}' in gold (the index holds: {known}).",
                nl=f"{hier}: onbekende brief '{letter}' in gold (de index bevat: {known}).",
            )
        spans = locate(letters[letter], item.get("quote", ""))
        if not spans:
            raise EvalError(
                f"{where}: gold quote not found in letter '{letter}': {item.get('quote')!r}",
                nl=f"{hier}: gold-citaat niet gevonden in brief '{letter}': {item.get('quote')!r}",
            )
        gold.append(Gold(letter, item["quote"], spans))
    wording = row.get("wording", "")
    return Question(
        row["id"],
        row["question"],
        row.get("answer", ""),
        tuple(gold),
        row["type"],
        row.get("lang", "nl"),
        number,
        wording if isinstance(wording, str) else "",
    )


def locate(text: str, quote: str) -> tuple[Span, ...]:
    """Every span of text that equals the quote when case, white space and hyphens are ignored."""
    needle = _IGNORED.sub("", quote.lower())
    if not needle:
        return ()
    kept = [(i, c) for i, c in enumerate(text.lower()) if not _IGNORED.fullmatch(c)]
    haystack = "".join(c for _, c in kept)
    spans = []
    at = haystack.find(needle)
    while at >= 0:
        spans.append((kept[at][0], kept[at + len(needle) - 1][0] + 1))
        at = haystack.find(needle, at + 1)
    return tuple(spans)


def covers(unit: tuple[str, tuple[Span, ...]], gold: Gold) -> bool:
    """The span rule: the unit covers at least half of (some occurrence of) the gold quote."""
    letter, spans = unit
    if letter != gold.letter:
        return False
    for start, end in gold.spans:
        overlap = sum(max(0, min(end, e) - max(start, s)) for s, e in spans)
        if overlap * 2 >= end - start:
            return True
    return False


def run_eval(
    path: Path,
    index: Index,
    settings: Settings,
    report_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    baselines: bool = True,
    answer_with: Callable[[str], Answer] | None = None,
) -> EvalRun:
    """Evaluate our pipeline (retrieval and answers) and, with baselines, BM25 only, dense only
    and LangChain's default recipe, on the same questions; write the report if report_dir.
    `answer_with` answers a question instead of pipeline.ask (a benchmark that also keeps what
    the LLM streamed); each answer's time is measured around it."""
    from rag.evaluation import baselines as base
    from rag.evaluation import report

    questions = load_questions(path, {lid: l.text for lid, l in index.letters.items()})
    depth = max(10, settings.retrieval.k)
    systems = [base.ours(index, settings, depth)]
    if baselines:
        systems += [base.bm25_only(index, settings, depth), base.dense_only(index, settings, depth)]
        systems += [base.langchain_default(index, settings.embedding, depth)]
    steps = len(questions) * (len(systems) + 1)
    done = 0
    answers: dict[str, tuple[Answer, float]] = {}
    runs = []
    for system in systems:
        run = SystemRun(system.name, system.texts)
        index.forget_queries()  # each system pays for embedding the question in its latency
        for q in questions:
            clock = time.perf_counter()
            run.ranked[q.id] = system.search(q.question)
            run.latency_ms.append((time.perf_counter() - clock) * 1000)
            done += 1
            if on_progress:
                on_progress(done, steps)
        runs.append(run)
    index.forget_queries()
    for q in questions:
        clock = time.perf_counter()
        answer = answer_with(q.question) if answer_with else base.answer(q.question, index, settings)
        answers[q.id] = (answer, (time.perf_counter() - clock) * 1000)
        done += 1
        if on_progress:
            on_progress(done, steps)
    scored = metrics.score_answers(questions, runs[0], answers)
    result = metrics.summarise(questions, runs, answers, scored, settings.retrieval.k)
    result["settings"] = used_settings(settings)
    rows = metrics.rows(questions, runs, answers, scored)
    evaluated = EvalRun(report.markdown_tables(result), rows, result)
    if report_dir is not None:
        return dataclasses.replace(evaluated, **report.write(Path(report_dir), Path(path), result, rows))
    return evaluated


def used_settings(settings: Settings) -> dict:
    """What produced the answers: the answer and retrieval settings and the reader models."""
    from rag.answer import cross_encoder
    from rag.answer.reader import load_model

    reader = load_model(settings.answer.reader)
    models = {"reader": reader.name, "query_encoder": reader.uses_tuned}
    models["cross_encoder"] = settings.answer.cross_encoder and cross_encoder.shipped()
    answer = {k: v for k, v in dataclasses.asdict(settings.answer).items() if not k.startswith("llm_")}
    retrieval = {k: _plain(v) for k, v in dataclasses.asdict(settings.retrieval).items()}
    return {"answer": answer, "retrieval": retrieval, **models}


def _plain(value: object) -> object:
    """A settings value as JSON holds it: a date as its ISO form, a tuple as a list."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return list(value) if isinstance(value, tuple) else value


def systems_names(run: EvalRun) -> Sequence[str]:
    return list(run.metrics["systems"])
