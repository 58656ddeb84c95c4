"""Answer metrics for variants of the extractive composer's weights and constants.

How rag/answer.py's WEIGHTS, FOLLOW, MARGIN, ... were chosen: each variant is run on the
development sets (dev and own, never the held-out set) and kept only if it helps both.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/answer_variants.py --index /tmp/idx \\
        evals/dev.jsonl evals/own.jsonl \\
        --variant 'now={}' --variant 'no cue={"cue": 0}' --variant 'follow 1={"FOLLOW": 1}'

A variant is a JSON object: keys of evidence.Weights (lexical, rank, cue, reference,
about_letter) and/or answer module constants (DEPTH, MARGIN, LIST_MARGIN, FOLLOW, MAX_SINGLE).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from rag import pipeline
from rag.answer import extractive as answer
from rag.evaluation import baselines
from rag.evaluation import metrics
from rag.evaluation.evaluate import SystemRun, load_questions
from rag.settings import Settings

CONSTANTS = ("DEPTH", "MARGIN", "LIST_MARGIN", "FOLLOW", "MAX_SINGLE")
SHOWN = ("citation_precision", "answer_support", "citation_recall", "false_abstention", "token_f1")
HEADS = ("cit.prec", "support", "cit.rec", "false.ab", "token.f1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_files", type=Path, nargs="+")
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON (repeatable)")
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.from_env(), index_dir=args.index)
    index = pipeline.ensure_index(settings)
    texts = {lid: letter.text for lid, letter in index.letters.items()}
    sets = {f.name: load_questions(f, texts) for f in args.eval_files}
    defaults = {name: getattr(answer, name) for name in CONSTANTS}
    weights = answer.WEIGHTS
    print(" " * 16, *(f"{f:<49}" for f in sets), sep="  ")
    print("variant".ljust(16), *(" ".join(f"{h:>9}" for h in HEADS) for _ in sets), "words", sep="  ")
    for spec in args.variant or ["now={}"]:
        name, _, raw = spec.partition("=")
        changes = json.loads(raw or "{}")
        for constant in CONSTANTS:
            setattr(answer, constant, changes.pop(constant, defaults[constant]))
        answer.WEIGHTS = dataclasses.replace(weights, **changes)
        cells, words = [], []
        for questions in sets.values():
            scores: dict[str, list[float]] = {}
            for q in questions:
                a = baselines.answer(q.question, index, settings)
                words += [] if a.abstained else [len(a.text.split())]
                for key, value in metrics.answer_scores(q, a, metrics.cite_gold(SystemRun("ours"), q)).items():
                    scores.setdefault(key, []).append(value)
            cells.append(" ".join(f"{sum(scores[k]) / len(scores[k]):9.3f}" if k in scores else " " * 9 for k in SHOWN))
        print(name.ljust(16), *cells, f"{sum(words) / max(1, len(words)):5.0f}", sep="  ", flush=True)


if __name__ == "__main__":
    main()
