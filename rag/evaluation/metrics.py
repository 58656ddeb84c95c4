"""Retrieval and answer metrics over evaluated questions. Pure functions, hand-checkable:
a known ranking gives a known MRR and nDCG (see tests/test_metrics.py)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.types import Answer, Passage

if TYPE_CHECKING:
    from rag.evaluation.evaluate import Question, SystemRun

CUTOFFS = (1, 3, 5, 10)


def first_hit_rank(covered: Sequence[set[int]]) -> int | None:
    """1-based rank of the first unit that covers any gold item."""
    return next((rank for rank, hits in enumerate(covered, start=1) if hits), None)


def recall_at(covered: Sequence[set[int]], k: int) -> float:
    """1 if any of the first k units covers a gold item."""
    return float(any(covered[:k]))


def full_recall_at(covered: Sequence[set[int]], k: int, n_gold: int) -> float:
    """1 if the first k units together cover every gold item."""
    return float(len(set().union(*covered[:k])) == n_gold) if n_gold else 0.0


def reciprocal_rank(covered: Sequence[set[int]], k: int = 10) -> float:
    rank = first_hit_rank(covered[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at(covered: Sequence[set[int]], k: int, n_gold: int) -> float:
    """nDCG with gain 1 for a unit that covers a gold item not covered higher up; the ideal
    ranking puts one unit per gold item first."""
    seen: set[int] = set()
    dcg = 0.0
    for rank, hits in enumerate(covered[:k], start=1):
        if hits - seen:
            dcg += 1.0 / math.log2(rank + 1)
        seen |= hits
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_gold, k) + 1))
    return dcg / ideal if ideal else 0.0


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1."""
    pred, ref = tokens(prediction), tokens(reference)
    common = sum(min(pred.count(t), ref.count(t)) for t in set(pred) & set(ref))
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def supports(answer: str, quote: str) -> bool:
    """The answer contains the gold quote, or at least 80% of its words in order of appearance."""
    a, q = " ".join(tokens(answer)), tokens(quote)
    if " ".join(q) in a:
        return True
    words = set(tokens(answer))
    return bool(q) and sum(t in words for t in q) / len(q) >= 0.8


def percentile(values: Sequence[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else 0.0


# --- putting them together ---------------------------------------------------------------


def covered_by(run: SystemRun, q: Question) -> list[set[int]]:
    """For each ranked unit of the run, the indices of the gold items it covers."""
    from rag.evaluation.evaluate import covers

    return [{i for i, g in enumerate(q.gold) if covers(unit, run.gold(g))} for unit in run.ranked[q.id]]


def retrieval_scores(run: SystemRun, q: Question) -> dict[str, float]:
    covered = covered_by(run, q)
    scores = {f"recall@{k}": recall_at(covered, k) for k in CUTOFFS}
    scores["mrr"] = reciprocal_rank(covered, 10)
    scores["ndcg@10"] = ndcg_at(covered, 10, len(q.gold))
    if q.type in ("list", "multi"):
        scores["full_recall@10"] = full_recall_at(covered, 10, len(q.gold))
    return scores


def answer_scores(q: Question, answer: Answer, cite_gold: Callable[[Passage], set[int]]) -> dict[str, float]:
    """Citation precision/recall, abstention, support and token F1 for one answer."""
    scores: dict[str, float] = {"abstention_correct": float(answer.abstained == (not q.gold))}
    if not q.gold:
        return scores
    scores["false_abstention"] = float(answer.abstained)
    cited = [cite_gold(c.passage) for c in answer.citations]
    if cited:
        scores["citation_precision"] = sum(bool(c) for c in cited) / len(cited)
    if q.type in ("list", "multi"):
        scores["citation_recall"] = len(set().union(*cited)) / len(q.gold) if cited else 0.0
    scores["answer_support"] = float(not answer.abstained and any(supports(answer.text, g.quote) for g in q.gold))
    scores["token_f1"] = token_f1(answer.text, q.answer) if q.answer else 0.0
    return scores


def score_answers(questions: Sequence[Question], run: SystemRun, answers: dict) -> dict[str, dict[str, float]]:
    """Each answered question's answer scores, its citations judged against `run` (ours)."""
    return {q.id: answer_scores(q, answers[q.id][0], cite_gold(run, q)) for q in questions if q.id in answers}


def summarise(
    questions: Sequence[Question], runs: Sequence[SystemRun], answers: dict, scored: dict[str, dict[str, float]], k: int
) -> dict:
    """Means overall, by type and by language, per system; answer metrics for ours (`scored`:
    score_answers()); latencies."""
    systems = {}
    answerable = [q for q in questions if q.gold]
    for run in runs:
        per_q = {q.id: retrieval_scores(run, q) for q in answerable}
        systems[run.name] = {
            "overall": _means(per_q.values()),
            "by_type": {t: _means(per_q[q.id] for q in answerable if q.type == t) for t in _types(answerable)},
            "by_lang": {l: _means(per_q[q.id] for q in answerable if q.lang == l) for l in _langs(answerable)},
            "latency_ms": {"p50": percentile(run.latency_ms, 50), "p95": percentile(run.latency_ms, 95)},
        }
    result: dict = {"questions": len(questions), "answerable": len(answerable), "k": k, "systems": systems}
    if answers:
        latencies = [ms for _, ms in answers.values()]
        result["answers"] = {
            "overall": _means(scored.values()),
            "by_type": {t: _means(scored[q.id] for q in questions if q.type == t) for t in _types(questions)},
            "unanswerable_abstained": _mean([scored[q.id]["abstention_correct"] for q in questions if not q.gold]),
            "by_wording": {
                w: _means(scored[q.id] for q in questions if q.wording == w)
                for w in sorted({q.wording for q in questions if q.wording})
            },
            "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        }
    return result


def rows(
    questions: Sequence[Question], runs: Sequence[SystemRun], answers: dict, scored: dict[str, dict[str, float]]
) -> list[dict]:
    """One row per question: what our pipeline answered, its answer scores (answer_scores),
    how long the answer took end to end, and where each system found the evidence."""
    out = []
    for q in questions:
        answer = answers[q.id][0] if q.id in answers else None
        ranks = {run.name: first_hit_rank(covered_by(run, q)) if q.gold else None for run in runs}
        ours = ranks[runs[0].name]
        out.append(
            {
                "id": q.id,
                "question": q.question,
                "type": q.type,
                "lang": q.lang,
                "answer": answer.text if answer else "",
                "abstained": answer.abstained if answer else None,
                "cited": [c.passage.id for c in answer.citations] if answer else [],
                "hit": (ours is not None) if q.gold else bool(answer and answer.abstained),
                "first_hit_rank": ours,
                "ranks": ranks,
                "answer_scores": scored.get(q.id, {}),
                "latency_ms": round(answers[q.id][1], 1) if q.id in answers else None,  # end to end, this answer
            }
        )
    return out


def cite_gold(run: SystemRun, q: Question) -> Callable[[Passage], set[int]]:
    from rag.evaluation.evaluate import covers

    def gold_of(passage: Passage) -> set[int]:
        return {i for i, g in enumerate(q.gold) if covers((passage.letter_id, passage.spans), run.gold(g))}

    return gold_of


def _means(scores: Iterable[dict[str, float]]) -> dict[str, float]:
    rows_ = list(scores)
    keys = sorted({k for r in rows_ for k in r})
    return {k: _mean([r[k] for r in rows_ if k in r]) for k in keys} | {"n": len(rows_)}


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def _types(questions: Sequence[Question]) -> list[str]:
    return sorted({q.type for q in questions})


def _langs(questions: Sequence[Question]) -> list[str]:
    return sorted({q.lang for q in questions})
