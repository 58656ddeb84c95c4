"""Which sentences the cross-encoder should re-read: the feature reader's best (what
`composer=reader` does), the fine-tuned bi-encoder's best (the question encoder's cosine to each
sentence vector), or both in turn. Measured on the training data's validation split, the chain
as rag/training/calibrate.py runs it (never an evaluation set): the cross-encoder's top-1
accuracy, how often an answering sentence is among the candidates, and the AUC of its
P(no answer).

    python benchmarks/cross_candidates.py [--data FOLDER ...]

Prints one JSON object per way of choosing. Takes about 7 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rag.answer import cross_encoder as ce
from rag.answer import query_encoder
from rag.answer.reader import load_model
from rag.evaluation.train_metrics import auc
from rag.training import data
from rag.training.train_reader import examples, vectors


def interleaved(*orders: list[int]) -> list[int]:
    """The orders taken in turn, each index once."""
    out: list[int] = []
    for group in zip(*orders, strict=True):
        out += [i for i in group if i not in out]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data.add_data_argument(parser, what="validation")
    args = parser.parse_args()
    passages, questions = data.load(*args.data)
    _, val_q = data.split(questions, passages)
    svec = vectors(list(data.all_texts(passages)), "passage")
    qvec = vectors([q.question for q in val_q], "query")
    reader, cross = load_model(), ce.shared()
    val = examples(val_q, passages, qvec, svec, 0)
    tuned = query_encoder.shared().encode_many([e.text for e in val])
    found: dict[str, dict[str, list]] = {
        way: {"top": [], "among": [], "no_answer_answerable": [], "no_answer_unanswerable": []}
        for way in ("reader", "bi-encoder", "both")
    }
    for e, t in zip(val, tuned, strict=True):
        by_reader = [int(i) for i in np.argsort(-reader.read(e.text, e.q, e.units, t).support)]
        sentences = np.stack([u.vector for u in e.units]).astype(np.float32)
        by_tuned = [int(i) for i in np.argsort(-(sentences @ np.asarray(t, dtype=np.float32)))]
        positives = set(np.flatnonzero(e.target[1:]).tolist()) if e.target[0] == 0 else set()
        for way, order in (("reader", by_reader), ("bi-encoder", by_tuned), ("both", interleaved(by_reader, by_tuned))):
            best = order[: cross.candidates]
            no_answer, support = cross.score(e.text, [e.units[i].text for i in best])
            f = found[way]
            if positives:
                f["top"].append(best[int(np.argmax(support))] in positives)
                f["among"].append(bool(set(best) & positives))
                f["no_answer_answerable"].append(no_answer)
            else:
                f["no_answer_unanswerable"].append(no_answer)
    for way, f in found.items():
        result = {
            "candidates": way,
            "questions": len(val),
            "top1_accuracy": round(float(np.mean(f["top"])), 3),
            "answer_among_candidates": round(float(np.mean(f["among"])), 3),
            "no_answer_auc": round(auc(f["no_answer_unanswerable"], f["no_answer_answerable"]), 3),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
