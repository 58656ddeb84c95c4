"""Readers compared on evaluation sets: does the sentence a reader ranks first hold a gold quote,
does the answering sentence beat the others, and does P(no answer) tell the unanswerable
questions apart? The same retrieved passages (top --depth of our hybrid retrieval) for every
reader, so only the reader differs.

    python benchmarks/reader_compare.py evals/dev.jsonl evals/own.jsonl [--reader PATH ...] [--index DIR]

Readers: "cosine" (the question's cosine to each stored sentence vector: e5 as it is),
"tuned-cosine" (the same with the fine-tuned question encoder, rag/answer/query_encoder.py) and
each --reader model file (default: the shipped one). Prints one JSON object per set and reader.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag import pipeline
from rag.answer.extractive import judge
from rag.answer.query_encoder import QueryEncoder
from rag.answer.reader import FeatureReader
from rag.evaluation.evaluate import load_questions
from rag.evaluation.train_metrics import auc
from rag.retrieval.hybrid import retrieve
from rag.settings import Settings


def sentence_hits(q, hits, depth):  # type: ignore[no-untyped-def]
    """For each (hit, sentence) of the first `depth` hits, whether it overlaps a gold span."""
    marks = []
    for hit in hits[:depth]:
        for e in hit.sentences:
            good = any(
                g.letter == hit.passage.letter_id and any(min(e.end, ge) > max(e.start, gs) for gs, ge in g.spans)
                for g in q.gold
            )
            marks.append(good)
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--reader", action="append", default=[])
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--index", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings.from_env()
    if args.index:
        settings = Settings(**{**settings.__dict__, "index_dir": args.index})
    index = pipeline.ensure_index(settings)
    encoder = QueryEncoder()
    readers: dict = {"cosine": None, "tuned-cosine": "tuned"}
    readers |= {Path(r).name: FeatureReader.load(Path(r)) for r in args.reader}
    if not args.reader:
        readers["shipped"] = FeatureReader.load()
    for path in args.sets:
        questions = load_questions(path, {lid: l.text for lid, l in index.letters.items()})
        prepared = []
        tuned = encoder.encode_many([q.question for q in questions])
        for q, t in zip(questions, tuned, strict=True):
            hits = retrieve(q.question, index, settings.retrieval)
            prepared.append((q, hits, index.embed_query(q.question), t))
        for name, reader in readers.items():
            top, null_pos, null_neg = [], [], []
            for q, hits, vector, t in prepared:
                if reader is None or reader == "tuned":
                    use = vector if reader is None else t
                    scores = [float(e.vector @ use) for h in hits[: args.depth] for e in h.sentences]
                    no_answer = -max(scores, default=0.0)
                else:
                    judged, no_answer = judge(q.question, vector, hits, args.depth, reader, t)
                    scores = [e.support or 0.0 for h in judged[: args.depth] for e in h.sentences]
                (null_neg if q.gold else null_pos).append(no_answer)
                if q.gold:
                    marks = sentence_hits(q, hits, args.depth)
                    if any(marks):
                        top.append(bool(marks[int(np.argmax(scores))]))
            print(
                json.dumps(
                    {
                        "set": path.name,
                        "reader": name,
                        "top1_accuracy": round(float(np.mean(top)), 3),
                        "answerable_with_gold_in_depth": len(top),
                        "no_answer_auc": round(auc(null_pos, null_neg), 3),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
