"""Calibrate the reading chain as ask() runs it: the feature reader over a question's candidates,
then the cross-encoder over its best few. On the validation split of the training data only
(never an evaluation set), choose the P(no answer) at which to abstain and the share of the best
sentence's support a second sentence needs; write them into the cross-encoder's model file.

    python -m rag.training.calibrate [--max-false-abstention 0.05]
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
from rag.training.train_reader import calibrate, examples, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-false-abstention", type=float, default=0.05)
    parser.add_argument("--coverage", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    data.add_data_argument(parser, what="validation")
    args = parser.parse_args()
    passages, questions = data.load(*args.data)
    _, val_q = data.split(questions, passages)
    svec = vectors(list(data.all_texts(passages)), "passage")
    qvec = vectors([q.question for q in val_q], "query")
    reader, cross = load_model(), ce.shared()
    val = examples(val_q, passages, qvec, svec, args.seed)
    tuned = query_encoder.shared().encode_many([e.text for e in val]) if reader.uses_tuned else [None] * len(val)
    rows, top = [], []
    for e, t in zip(val, tuned, strict=True):
        first = reader.read(e.text, e.q, e.units, t)
        best = np.argsort(-first.support)[: cross.candidates]
        no_answer, support = cross.score(e.text, [e.units[i].text for i in best])
        full = np.zeros(len(e.units))
        full[best] = support
        positives = set(np.flatnonzero(e.target[1:]).tolist()) if e.target[0] == 0 else set()
        rows.append((bool(positives), int(np.argmax(full)) in positives, None, no_answer, full, positives))
        if positives:
            top.append(int(np.argmax(full)) in positives)
    abstain_at, keep_mass, measured = calibrate(rows, args.max_false_abstention, args.coverage)
    measured |= {
        "top1_accuracy": float(np.mean(top)),
        "no_answer_auc": auc([r[3] for r in rows if not r[0]], [r[3] for r in rows if r[0]]),
        "questions": len(rows),
    }
    path = ce.MODEL_DIR / "cross_encoder.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta |= {
        "abstain_at": abstain_at,
        "keep_mass": keep_mass,
        "chain_validation": measured,
        "calibrated_on": data.provenance(args.data),
    }
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"abstain_at": abstain_at, "keep_mass": keep_mass, **measured}, indent=2))


if __name__ == "__main__":
    main()
