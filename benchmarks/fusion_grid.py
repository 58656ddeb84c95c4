"""Choose the fusion of the rankings by measurement over whole eval sets.

Fetches passage-dense, sentence-dense and BM25 candidates once per question, then scores
a grid of fusion settings (RRF over two or three rankings with weights and k; a weighted
sum of scores) and prints MRR / R@1 / R@5 per setting, per eval file and pooled; the
best pooled setting is printed last. With --foreign, it scores only the questions that are not
in Dutch, over BM25's weight for them (the other settings as configured), and prints the best.
Usage:
    python benchmarks/fusion_grid.py evals/dev.jsonl evals/own.jsonl [--index index] [--foreign]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from rag import pipeline
from rag.evaluation.evaluate import SystemRun, load_questions
from rag.evaluation.metrics import retrieval_scores
from rag.language import language
from rag.retrieval.hybrid import dense, lexical, rrf, sentences
from rag.settings import Settings
from rag.types import Hit


def weighted(dense_hits: list[Hit], lexical_hits: list[Hit], w: float) -> list[Hit]:
    """w * cosine + (1 - w) * BM25 / max BM25 of the question."""
    top = max((h.score for h in lexical_hits), default=1.0) or 1.0
    scores: dict[str, float] = {}
    passages = {}
    for h in dense_hits:
        scores[h.passage.id] = scores.get(h.passage.id, 0) + w * h.score
        passages[h.passage.id] = h.passage
    for h in lexical_hits:
        scores[h.passage.id] = scores.get(h.passage.id, 0) + (1 - w) * h.score / top
        passages[h.passage.id] = h.passage
    return [Hit(passages[p], s) for p, s in sorted(scores.items(), key=lambda x: -x[1])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--foreign", action="store_true", help="BM25's weight for questions not in Dutch")
    args = parser.parse_args()
    settings = Settings(index_dir=args.index)
    index = pipeline.ensure_index(settings)
    texts = {lid: l.text for lid, l in index.letters.items()}
    sets = {f.name: [q for q in load_questions(f, texts) if q.gold] for f in args.files}
    if args.foreign:
        sets = {name: [q for q in qs if language(q.question) != "nl"] for name, qs in sets.items()}
        print({name: len(qs) for name, qs in sets.items()})
    cands = {}
    for qs in sets.values():
        for q in qs:
            vector = index.embedder.embed_queries([q.question])[0]
            cands[q.id] = (dense(vector, index, 50), lexical(q.question, index, 50), sentences(vector, index, 50))
    grid: list[tuple[str, tuple | float | None]] = [("dense", None), ("bm25", None), ("sentence", None)]
    if args.foreign:
        r = settings.retrieval
        grid += [("rrf3", (r.rrf_k, r.dense_weight, r.sentence_weight, w)) for w in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)]
    else:
        grid += [("rrf2", (k, 1.0, 0.0, 1.0)) for k in (10, 30, 60)]
        grid += [("weighted", w) for w in (0.5, 0.7, 0.9)]
        weights = itertools.product((10, 30, 60), (0.5, 1.0), (0.5, 1.0, 1.5), (0.5, 0.75, 1.0, 1.5))
        grid += [("rrf3", w) for w in weights]
    print(f"{'setting (k, dense, sentence, bm25)':<34}" + "".join(f"{name[:14]:>34}" for name in [*sets, "pooled"]))
    best = (0.0, "")
    for method, param in grid:
        line = f"{method + ' ' + str(param or ''):<34}"
        everything = [q for qs in sets.values() for q in qs]
        for qs in [*sets.values(), everything]:
            run = SystemRun(method)
            for q in qs:
                d, l, sent = cands[q.id]
                if method in ("dense", "bm25", "sentence"):
                    hits = {"dense": d, "bm25": l, "sentence": sent}[method]
                elif method.startswith("rrf"):
                    k, wd, ws, wl = param  # type: ignore[misc]
                    hits = rrf([d, sent, l], k=k, weights=(wd, ws, wl))
                else:
                    hits = weighted(d, l, param)  # type: ignore[arg-type]
                run.ranked[q.id] = [(h.passage.letter_id, h.passage.spans) for h in hits[:10]]
            s = [retrieval_scores(run, q) for q in qs]
            mrr = sum(x["mrr"] for x in s) / len(s)
            r1 = sum(x["recall@1"] for x in s) / len(s)
            r5 = sum(x["recall@5"] for x in s) / len(s)
            line += f"   MRR {mrr:.3f} R@1 {r1:.3f} R@5 {r5:.3f}"
        print(line, flush=True)
        best = max(best, (mrr, line))
    print("best pooled MRR:", best[1])


if __name__ == "__main__":
    main()
