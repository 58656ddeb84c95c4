"""Measure the LLM verification thresholds on an eval file.

A claim is each question's hand-written reference answer joined to its question; it is
checked against the passage holding its gold quote (should be supported) and against
the best-ranked retrieved passage that holds no gold quote (should not be). Prints the
similarity and overlap of each, and the share accepted per threshold.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/calibrate_verification.py --index /tmp/idx evals/dev.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from rag import pipeline
from rag.ingest.chunking import sentence_spans
from rag.evaluation.evaluate import covers, load_questions
from rag.retrieval.hybrid import retrieve
from rag.settings import Settings
from rag.answer.words import content_stems


def measure(claim: str, passage_text: str, embedder) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(best cosine to a sentence of the passage, share of claim words in the passage)."""
    sentences = [passage_text[s:e] for s, e in sentence_spans(passage_text)]
    vectors = embedder.embed_passages([claim, *sentences])
    wanted = content_stems(claim)
    overlap = len(wanted & content_stems(passage_text)) / max(1, len(wanted))
    return float((vectors[1:] @ vectors[0]).max()), overlap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_file", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.from_env(), index_dir=args.index)
    index = pipeline.open_index(settings)
    pos, neg = [], []
    for q in load_questions(args.eval_file, {lid: letter.text for lid, letter in index.letters.items()}):
        if not q.gold:
            continue
        claim = f"{q.question} {q.answer}"
        hits = retrieve(q.question, index, settings.retrieval)
        holds = [any(covers((h.passage.letter_id, h.passage.spans), g) for g in q.gold) for h in hits]
        right = [h for h, held in zip(hits, holds, strict=True) if held]
        wrong = [h for h, held in zip(hits, holds, strict=True) if not held]
        if right:
            pos.append(measure(claim, right[0].passage.indexed_text, index.embedder))
        if wrong:
            neg.append(measure(claim, wrong[0].passage.indexed_text, index.embedder))
    print(f"{len(pos)} supported pairs, {len(neg)} unsupported pairs")
    print("sim_t  ovl_t  accept_supported  accept_unsupported")
    for sim_t in (0.84, 0.86, 0.88, 0.90):
        for ovl_t in (0.5, 0.6, 0.7, 0.8, 1.01):
            tp = sum(s >= sim_t or o >= ovl_t for s, o in pos) / len(pos)
            fp = sum(s >= sim_t or o >= ovl_t for s, o in neg) / len(neg)
            print(f"{sim_t:5.2f}  {ovl_t:5.2f}  {tp:16.2f}  {fp:18.2f}")


if __name__ == "__main__":
    main()
