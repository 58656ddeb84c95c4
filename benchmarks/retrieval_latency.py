"""Retrieval and answer latency per stage: prints p50/p95 (ms) over the questions of eval files.

    python benchmarks/retrieval_latency.py evals/dev.jsonl evals/own.jsonl [--index index] [--repeat 3]

Also prints how long loading the embedder and the index takes (what the app pays at start)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from rag import pipeline
from rag.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    settings = dataclasses.replace(settings, index_dir=args.index)  # RAG_ANSWER_* choose the answer (rules, reader)
    clock = time.perf_counter()
    index = pipeline.ensure_index(settings)
    print(f"load embedder + index: {(time.perf_counter() - clock) * 1000:.0f} ms ({len(index.passages)} passages)")
    questions = [json.loads(l)["question"] for f in args.files for l in f.read_text().splitlines() if l.strip()]
    pipeline.ask(questions[0], index, settings)  # warm up
    stages: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for q in questions:
            index.forget_queries()  # a new question each time: no remembered vector
            answer = pipeline.ask(q, index, settings)
            for stage, ms in answer.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    print(
        f"{len(questions)} questions x {args.repeat}, embedder threads={settings.embedding.threads}, "
        f"composer={settings.answer.composer}"
    )
    print(f"{'stage':<10}{'p50 ms':>10}{'p95 ms':>10}")
    for stage, values in stages.items():
        print(f"{stage:<10}{np.percentile(values, 50):>10.1f}{np.percentile(values, 95):>10.1f}")


if __name__ == "__main__":
    main()
