"""Calibrate the extractive answer's abstention threshold on an eval file.

For every question: retrieve, score the sentences once, then for each threshold count
abstention accuracy (unanswerable questions that abstain) and false abstention
(answerable ones that abstain). At the current threshold it also prints, per question and
in total, the answer metrics of `rag eval` (rag.evaluation.metrics: answer support, citation
precision) for the answer ask() gives.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/calibrate_abstention.py \
        --index /tmp/idx evals/dev.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from rag import pipeline
from rag.answer import extractive as answer
from rag.evaluation import baselines
from rag.answer import evidence
from rag.evaluation import metrics
from rag.answer import questions
from rag.evaluation.evaluate import SystemRun, load_questions
from rag.retrieval.hybrid import retrieve
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_file", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.from_env(), index_dir=args.index)
    index = pipeline.open_index(settings)
    known, embedder = pipeline.answer_context(index)  # what ask() uses: stored sentence vectors
    ours = SystemRun("ours")
    rows = []
    for q in load_questions(args.eval_file, {lid: letter.text for lid, letter in index.letters.items()}):
        hits = retrieve(q.question, index, settings.retrieval)
        scored = evidence.score(q.question, evidence.candidates(hits, answer.DEPTH), embedder, answer.WEIGHTS)
        dutch = questions.language(q.question) == "nl"
        unknown = questions.unknown_names(q.question, known, dutch)
        best = answer.support(q.question, scored, with_overlap=dutch)
        started = time.perf_counter()
        given = baselines.answer(q.question, index, settings)
        ms = (time.perf_counter() - started) * 1000
        scores = metrics.answer_scores(q, given, metrics.cite_gold(ours, q))
        rows.append((q, best, unknown, dutch, given, scores, ms))
    sweep(rows)
    report(rows, settings.answer.min_support)


def sweep(rows: list) -> None:
    """Abstention accuracy and false abstention rate per threshold of `min_support`, over the
    Dutch questions (English ones are judged on cosine alone, by `min_similarity_en`)."""
    dutch = [r for r in rows if r[3]]
    unanswerable = [r for r in dutch if not r[0].gold]
    answerable = [r for r in dutch if r[0].gold]
    print(f"Dutch questions: {len(answerable)} answerable, {len(unanswerable)} unanswerable")
    print("threshold  abstention_acc  false_abstention")
    for step in range(0, 31):
        t = 0.80 + step * 0.01
        acc = sum(bool(r[2]) or r[1] < t for r in unanswerable) / max(1, len(unanswerable))
        false = sum(bool(r[2]) or r[1] < t for r in answerable) / max(1, len(answerable))
        print(f"{t:9.3f}  {acc:14.2f}  {false:16.3f}")


def report(rows: list, threshold: float) -> None:
    """Per question at the current threshold, then the means of rag.evaluation.metrics."""
    for q, best, unknown, _dutch, given, scores, ms in rows:
        flag = "ABSTAIN" if given.abstained else ("ok" if scores.get("answer_support") else "MISS")
        precision = scores.get("citation_precision")
        print(
            f"{q.id} {q.type[:8]:8} best={best:.3f} {flag:7} "
            f"citation precision={'-' if precision is None else f'{precision:.2f}'} {ms:6.0f} ms "
            f"{'unknown=' + ','.join(unknown) if unknown else ''}"
        )
    means = {}
    for name in ("answer_support", "citation_precision", "false_abstention"):
        values = [scores[name] for *_, scores, _ms in rows if name in scores]
        means[name] = sum(values) / max(1, len(values))
    print(
        f"threshold {threshold}: answer support {means['answer_support']:.3f}, citation precision "
        f"{means['citation_precision']:.3f}, false abstention {means['false_abstention']:.3f}, "
        f"mean answer latency {sum(r[6] for r in rows) / len(rows):.0f} ms"
    )


if __name__ == "__main__":
    main()
