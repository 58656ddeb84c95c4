"""Fine-tune the cross-encoder (rag/answer/cross_encoder.py) and write rag/answer/models/cross_encoder.*.

    python -m rag.training.train_cross_encoder [--epochs N] [--layers L] [--candidates C]

Each training question is read with C candidate sentences: its answering sentence(s), the
sentence that restates it, and the others of its passage and of the other passage on its subject
nearest to it by e5 cosine (the hard ones). Listwise loss: one softmax over the candidates' scores
and a learned "no answer" score, whose target is the answering sentence(s), or "no answer" for
an unanswerable question. The first L layers of e5 with LoRA on attention and feed-forward; the
embeddings stay frozen. Validation (held-out subject groups): top-1 accuracy and the AUC of
P(no answer), before training (untrained head) and after.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from rag.answer.cross_encoder import MODEL_DIR, pooled_scores, truncate
from rag.answer.query_encoder import ensure_base
from rag.evaluation.train_metrics import auc
from rag.training import data
from rag.training.train_query_encoder import TARGETS, lora_update
from rag.training.train_reader import vectors


def candidate_set(q, passages, svec, qvec, size: int):  # type: ignore[no-untyped-def]
    """(sentences, target over [no answer, sentences...]) for a question."""
    cands = data.candidates(q, passages, others=0)
    text = [passages[c.passage].sentences[c.index] for c in cands]
    cos = np.array([svec[t] @ qvec[q.question] for t in text])
    chosen = [i for i, c in enumerate(cands) if c.answers]
    trap = next((i for i, c in enumerate(cands) if c.passage == q.passage and c.index == q.restating), None)
    if trap is not None and trap not in chosen:
        chosen.append(trap)
    for i in np.argsort(-cos):
        if len(chosen) >= size:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    random.Random(q.id).shuffle(chosen)
    target = np.zeros(len(chosen) + 1, dtype=np.float32)
    positives = [j + 1 for j, i in enumerate(chosen) if cands[i].answers]
    if positives:
        target[positives] = 1.0 / len(positives)
    else:
        target[0] = 1.0
    return [text[i] for i in chosen], target


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=72)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="train on at most this many questions (0: all)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR / "cross_encoder")
    # The shipped model reads batches 1 and 2 only: with batch 3 it abstained far more on
    # dev-ownwords (data/reader-batch3/README.md).
    data.add_data_argument(parser, [data.DATA_DIR])
    args = parser.parse_args()
    started = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    passages, questions = data.load(*args.data)
    train_q, val_q = data.split(questions, passages)
    svec = vectors(list(data.all_texts(passages)), "passage")
    qvec = vectors([q.question for q in questions], "query")
    sets = {q.id: candidate_set(q, passages, svec, qvec, args.candidates) for q in questions}
    base = ensure_base()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base))
    truncate(model, args.layers)
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=TARGETS, lora_dropout=0.05)
    model = get_peft_model(model, config)
    head_w = torch.zeros(model.config.hidden_size, requires_grad=True)
    head_b = torch.zeros(1, requires_grad=True)
    null = torch.zeros(1, requires_grad=True)

    def logits(q, training: bool):  # type: ignore[no-untyped-def]
        sentences, _ = sets[q.id]
        batch = tokenizer(
            ["query: " + q.question] * len(sentences),
            ["passage: " + s for s in sentences],
            padding=True,
            truncation="only_second",
            max_length=args.max_length,
            return_tensors="pt",
        )
        model.train(training)
        return torch.cat([null, pooled_scores(model, batch, head_w, head_b)])

    def validate() -> dict:
        top, null_un, null_ans = [], [], []
        with torch.inference_mode():
            for q in val_q:
                p = torch.softmax(logits(q, False), 0).numpy()
                target = sets[q.id][1]
                if target[0] == 1.0:
                    null_un.append(p[0])
                else:
                    null_ans.append(p[0])
                    top.append(target[1 + int(np.argmax(p[1:]))] > 0)
        return {"top1_accuracy": float(np.mean(top)), "no_answer_auc": auc(null_un, null_ans)}

    before = after = validate()
    print(f"validation before: {before}", flush=True)
    params = [p for p in model.parameters() if p.requires_grad] + [head_w, head_b, null]
    opt = torch.optim.AdamW(params, lr=args.lr)
    rng = random.Random(args.seed)
    order = list(train_q)
    if args.limit:
        order = rng.sample(order, min(args.limit, len(order)))
    for epoch in range(args.epochs):
        rng.shuffle(order)
        for step, start in enumerate(range(0, len(order), args.batch)):
            loss = torch.zeros(())
            for q in order[start : start + args.batch]:
                target = torch.tensor(sets[q.id][1])
                loss = loss - (target * torch.log_softmax(logits(q, True), 0)).sum()
            loss = loss / len(order[start : start + args.batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 20 == 0:
                print(
                    f"  epoch {epoch} step {step}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True
                )
        after = validate()
        print(f"epoch {epoch}: validation {after}", flush=True)
    weights = {
        "head.weight": head_w.detach().numpy(),
        "head.bias": head_b.detach().numpy(),
        "null": null.detach().numpy(),
    }
    weights |= lora_update(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out.with_suffix(".npz"), **{k: v.astype(np.float16) for k, v in weights.items()})  # type: ignore[arg-type]
    meta = {
        "layers": args.layers,
        "candidates": args.candidates,
        "max_length": args.max_length,
        "scale": config.lora_alpha / args.rank,
        "validation": {"before": before, "after": after},
        "settings": {
            k: getattr(args, k)
            for k in ("epochs", "layers", "candidates", "rank", "lr", "batch", "seed", "limit", "threads")
        },
        "trained_on": {
            "questions": len(order),
            "passages": len(passages),
            **data.provenance(args.data),
        },
        "seconds": round(time.time() - started, 1),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
