"""The cross-encoder: reads the question and a candidate sentence together (first layers of e5,
fine-tuned with LoRA, rag/training/train_cross_encoder.py) and scores how well the sentence
answers. It re-reads only the few best candidates of the feature reader: its scores go through
one softmax with a learned "no answer" score, as in training.

Base weights: e5-small as `rag export-e5` writes it (query_encoder.ensure_base); the project
ships the low-rank update, the scoring head and the no-answer score, in float16.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.answer.query_encoder import DEFAULT_BASE, apply_update, load_adapter, load_base

MODEL_DIR = Path(__file__).resolve().parent / "models"


class CrossEncoder:
    """score(question, sentences) -> (P(no answer), P(answer) per sentence)."""

    def __init__(self, adapter: Path | None = None, base: Path = DEFAULT_BASE, threads: int = 1) -> None:
        import torch

        self.meta, weights = load_adapter(
            adapter or MODEL_DIR / "cross_encoder", "cross-encoder", "rag.training.train_cross_encoder"
        )
        self._tokenizer, model = load_base(base, threads)
        truncate(model, int(self.meta["layers"]))
        apply_update(model, {k: v for k, v in weights.items() if k.endswith((".A", ".B"))}, float(self.meta["scale"]))
        model.eval()
        self._model, self._torch = model, torch
        self._head_w = torch.tensor(weights["head.weight"].astype(np.float32))
        self._head_b = float(weights["head.bias"][0])
        self._null = float(weights["null"][0])
        self.candidates = int(self.meta["candidates"])
        self.max_length = int(self.meta["max_length"])
        self.abstain_at = float(self.meta.get("abstain_at", 1.0))  # calibrated: rag.training.calibrate
        self.keep_mass = float(self.meta.get("keep_mass", 1.0))
        self._lock = threading.Lock()

    def logits(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One score per sentence (before the softmax)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        with self._lock, self._torch.inference_mode():
            batch = self._tokenizer(
                ["query: " + question] * len(sentences),
                ["passage: " + s for s in sentences],
                padding=True,
                truncation="only_second",
                max_length=self.max_length,
                return_tensors="pt",
            )
            return pooled_scores(self._model, batch, self._head_w, self._head_b).numpy()

    def score(self, question: str, sentences: Sequence[str]) -> tuple[float, np.ndarray]:
        """(P(none answers), P(each answers)) over the sentences and the no-answer option."""
        out = np.concatenate([[self._null], self.logits(question, sentences)])
        p = np.exp(out - out.max())
        p /= p.sum()
        return float(p[0]), p[1:]


def pooled_scores(model, batch, head_w, head_b):  # type: ignore[no-untyped-def]
    """Mean of the last hidden states over the tokens, through the linear head."""
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return pooled @ head_w + head_b


def truncate(model, layers: int) -> None:  # type: ignore[no-untyped-def]
    """Keep only the first `layers` transformer layers (faster; the rest is not needed)."""
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers


def shipped() -> bool:
    """Whether the project ships a trained cross-encoder."""
    return (MODEL_DIR / "cross_encoder.npz").is_file()


_SHARED = threading.Lock()  # one load, however many threads ask at once (warm() loads it in the background)


def shared(adapter: str = "") -> CrossEncoder:
    """The cross-encoder loaded once per process (the shipped adapter for ""); a caller that
    asks while another thread loads it waits for that load."""
    with _SHARED:
        return _loaded(adapter)


@functools.lru_cache(maxsize=2)
def _loaded(adapter: str) -> CrossEncoder:
    return CrossEncoder(Path(adapter) if adapter else None)
