"""The reader: which sentence of the retrieved passages answers the question, and whether any
does. A model trained on data we wrote (data/reader/, rag/training/), never on the letters.

It scores every sentence (and footnote sentence) of the top passages from what retrieval
already computed: the question's vector, each sentence's stored vector and span. Per sentence
it takes a few measured features (cosine to the question, to its neighbours, against the best
one, where it stands, how much of the question's rarer words it holds and how much it adds)
plus a learned bilinear match of question and sentence vectors, and puts them through one
softmax together with a "no answer" option. So `no_answer` is the probability that none of
these sentences answers, and each sentence's `support` the probability that it is the answer.
The weights, the abstention threshold and the selection ratio come with the model file
(`rag/answer/models/reader.npz` + `.json`), calibrated on the training data's validation split.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import SettingsError
from rag.language import language, weighted_lemmas

MODEL_DIR = Path(__file__).resolve().parent / "models"
_NUMBER = re.compile(r"(?<![\w‐-])\d")  # a number on its own, not inside a name such as F-16

FEATURES = (
    "cosine",
    "below_best",
    "below_best_in_passage",
    "zscore",
    "previous_cosine",
    "next_cosine",
    "passage_mean_cosine",
    "inverse_rank",
    "relative_position",
    "first",
    "footnote",
    "log_words",
    "question_words_held",
    "new_words",
    "has_number",
    "commas",
)
TUNED_FEATURES = ("tuned_cosine", "tuned_below_best", "tuned_zscore")  # with the fine-tuned question vector


@dataclass(frozen=True, slots=True)
class Unit:
    """One sentence as the reader sees it."""

    text: str
    vector: np.ndarray
    group: int  # which passage (0-based among the candidates' passages)
    position: int  # 0-based within its passage
    count: int  # sentences in its passage
    rank: int  # 1-based rank of its passage among the hits
    footnote: bool = False


@dataclass(frozen=True, slots=True)
class Reading:
    """What the reader made of the candidates: P(no sentence answers) and P(answers) each."""

    no_answer: float
    support: np.ndarray  # one per unit, in the order given


def features(question: str, q: np.ndarray, units: Sequence[Unit], tuned: np.ndarray | None = None) -> np.ndarray:
    """The measured features of each unit (FEATURES, then TUNED_FEATURES when the fine-tuned
    question vector `tuned` is given), one row per unit."""
    width = len(FEATURES) + (len(TUNED_FEATURES) if tuned is not None else 0)
    if not units:
        return np.zeros((0, width), dtype=np.float32)
    vectors = np.stack([u.vector for u in units]).astype(np.float32)
    cos = vectors @ np.asarray(q, dtype=np.float32)
    best = float(cos.max())
    spread = float(cos.std()) or 1.0
    by_group: dict[int, list[int]] = {}
    for i, u in enumerate(units):
        by_group.setdefault(u.group, []).append(i)
    at = {(u.group, u.position): i for i, u in enumerate(units)}
    lang = language(question)
    asked = weighted_lemmas(question, lang)
    asked_total = sum(asked.values()) or 1.0
    rows = []
    for i, u in enumerate(units):
        members = by_group[u.group]
        prev = at.get((u.group, u.position - 1))
        nxt = at.get((u.group, u.position + 1))
        held = weighted_lemmas(u.text, "nl")
        if lang != "nl":  # an English question may share names and numbers with a Dutch sentence
            held = {**held, **weighted_lemmas(u.text, lang)}
        shared = sum(w for k, w in asked.items() if k in held)
        own_total = sum(held.values()) or 1.0
        new = sum(w for k, w in held.items() if k not in asked) / own_total
        rows.append(
            (
                cos[i],
                cos[i] - best,
                cos[i] - max(cos[j] for j in members),
                (cos[i] - cos.mean()) / spread,
                cos[prev] if prev is not None else 0.0,
                cos[nxt] if nxt is not None else 0.0,
                float(np.mean([cos[j] for j in members])),
                1.0 / u.rank,
                u.position / max(1, u.count - 1),
                float(u.position == 0),
                float(u.footnote),
                np.log1p(len(u.text.split())) / 4,
                shared / asked_total,
                new,
                float(bool(_NUMBER.search(u.text))),
                min(u.text.count(","), 6) / 6,
            )
        )
    out = np.asarray(rows, dtype=np.float32)
    if tuned is not None:
        tc = vectors @ np.asarray(tuned, dtype=np.float32)
        extra = np.stack([tc, tc - tc.max(), (tc - tc.mean()) / (float(tc.std()) or 1.0)], axis=1)
        out = np.concatenate([out, extra.astype(np.float32)], axis=1)
    return out


class FeatureReader:
    """The trained scorer: an MLP over the features plus a low-rank bilinear match of the
    question and sentence vectors, and a "no answer" logit; softmax over all of them."""

    def __init__(self, weights: dict[str, np.ndarray], meta: dict) -> None:
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.meta = meta
        self.abstain_at = float(meta["abstain_at"])  # P(no answer) at which to abstain
        self.keep_mass = float(meta["keep_mass"])  # the answer's sentences hold this share of the support
        self.name = str(meta.get("name", "features"))
        self.uses_tuned = bool(meta.get("query_encoder"))  # needs the fine-tuned question vector

    @classmethod
    def load(cls, path: Path | None = None) -> FeatureReader:
        """The reader model at path (default: the one shipped in rag/answer/models/)."""
        path = Path(path) if path else MODEL_DIR / "reader"
        try:
            weights = dict(np.load(path.with_suffix(".npz")))
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise SettingsError(
                f"The reader model at {path} cannot be read ({err}). Train it: python -m rag.training.train_reader"
            ) from None
        return cls(weights, meta)

    def logits(
        self, question: str, q: np.ndarray, units: Sequence[Unit], tuned: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """(no-answer logit, one logit per unit)."""
        f = (features(question, q, units, tuned if self.uses_tuned else None) - self.w["mean"]) / self.w["scale"]
        if not len(units):
            return float(self.w["null_bias"][0]), np.zeros(0, dtype=np.float32)
        s = np.stack([u.vector for u in units]).astype(np.float32)
        hidden = np.tanh(f @ self.w["w1"] + self.w["b1"])
        out = hidden @ self.w["w2"] + f @ self.w["w_lin"]
        qv = np.asarray(q, dtype=np.float32)
        out = out + (s @ self.w["v"]) @ (self.w["u"].T @ qv) + s @ (self.w["d"] * qv)
        summary = np.array([f[:, 0].max(), f[:, 12].max(), f[:, 0].mean()], dtype=np.float32)
        null = float(self.w["null_bias"][0] + summary @ self.w["null_w"] + self.w["null_q"] @ qv)
        return null, out.reshape(-1)

    def read(self, question: str, q: np.ndarray, units: Sequence[Unit], tuned: np.ndarray | None = None) -> Reading:
        """P(no answer) and each unit's P(it is the answer); `tuned` is the question's
        fine-tuned vector, which a reader trained with it needs."""
        if self.uses_tuned and tuned is None:
            raise ValueError("this reader needs the question's fine-tuned vector (QueryEncoder.encode)")
        null, out = self.logits(question, q, units, tuned)
        all_ = np.concatenate([[null], out])
        p = np.exp(all_ - all_.max())
        p /= p.sum()
        return Reading(float(p[0]), p[1:])


@functools.lru_cache(maxsize=8)
def load_model(path: str = "", kind: str = "reader") -> FeatureReader:
    """A model loaded once per process: the one at path, or the shipped `kind` ("reader" to
    answer, "verifier" to check a claim against a sentence)."""
    return FeatureReader.load(Path(path) if path else MODEL_DIR / kind)
