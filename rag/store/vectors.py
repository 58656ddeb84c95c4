"""Vectors by key for the FAISS backend: an append-only float16 file, a FAISS ANN index
over most of it, and an exact tail.

- `<name>.f16`: row `key` holds the vector of that key (float16, memory-mapped). Rows are
  only ever appended; rows past the committed count are left-overs of a crashed commit
  and are overwritten by the next one.
- segments: FAISS IVF indexes with 8-bit scalar quantisation (`IndexIVFScalarQuantizer`,
  inner product) over key ranges, built when the tail has grown past TAIL_MAX and merged
  by `compact()`; their files are written before the commit that names them.
- the tail: the keys after the last segment, in an exact `IndexFlatIP` in memory.

Opening: a segment file of MAP_FROM bytes or more is first opened memory-mapped (the store
answers at once, each search reading only the lists it visits), and a background thread
reads it into memory and swaps it in; IVF search over the memory map is slower (at 1 M
passages the sentence search 5.7 -> 9.2 ms), so the map is only the first seconds' bridge.

A search runs every part with the same FAISS IDSelector (deleted keys and the filter
left out inside the search), takes a few times k candidates and re-scores them exactly
against the float16 rows. When a filter leaves few keys, they are scored exactly instead.
"""

from __future__ import annotations

import math
import mmap
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

TAIL_MAX = 20_000  # vectors kept exact in memory before they become an ANN segment
EXACT_LIMIT = (
    4_000  # a filter that leaves at most this many keys is scored exactly (gathering more rows costs more than IVF)
)
READ_MAX = 8_192  # at most this many keys are read by pread (more: through the memory map)
NPROBE = 128  # IVF lists visited per search (recall@10 0.96 at 1 M passages, see README)
# The lists a query visits are found through an HNSW graph over the centroids when there are
# many; it must look at more candidates than the lists it returns, or it misses near lists:
# at 1 M passages, 2,000 lists, FAISS's default (16) capped recall@10 at 0.93 whatever nprobe.
QUANTIZER_EF = 256
GRAPH_LISTS = 1024  # from this many lists on, an HNSW graph finds them (a flat scan below)
# segment files this large open memory-mapped and are read into memory in the background:
# reading the 2.4 GB of a 1 M-passage index from disk took 4-6 s before the first answer
MAP_FROM = 256 * 2**20


@dataclass(frozen=True)
class Segment:
    """An ANN index file over the keys [lo, hi) that were alive when it was built."""

    name: str
    lo: int
    hi: int


class Rows:
    """An append-only file of fixed-width rows (float16 vectors, int32 owners): row i is key i."""

    def __init__(self, path: Path, dim: int, count: int, dtype: type = np.float16) -> None:
        self.path, self.dim, self.count, self.dtype = path, dim, count, np.dtype(dtype)
        self._map: np.ndarray | None = None
        self._handle: BinaryIO | None = None
        self._reader: BinaryIO | None = None

    def view(self) -> np.ndarray:
        """The committed rows, memory-mapped (re-mapped when the file has grown)."""
        if self._map is None or len(self._map) < self.count:
            self._map = (
                np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count, self.dim))
                if self.count
                else np.zeros((0, self.dim), self.dtype)
            )
        return self._map[: self.count]

    def append(self, vectors: np.ndarray, at: int) -> None:
        """Write rows at..at+len(vectors) (readable at once; durable after sync())."""
        if self._handle is None:
            self._handle = open(self.path, "r+b" if self.path.exists() else "w+b")  # noqa: SIM115 - until sync()
        self._handle.seek(at * self.dim * self.dtype.itemsize)
        self._handle.write(np.ascontiguousarray(vectors, dtype=self.dtype).tobytes())
        self._handle.flush()

    def sync(self) -> None:
        """Cut the file after the last row and fsync it: what a commit does before naming the rows."""
        if self._handle is not None:
            self._handle.truncate(self.count * self.dim * self.dtype.itemsize)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def forget(self) -> None:
        """Close the file without syncing (a rollback)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def get(self, keys: np.ndarray | Sequence[int]) -> np.ndarray:
        """float32 vectors of these keys."""
        keys = np.asarray(keys, dtype=np.int64)
        if 0 < len(keys) <= READ_MAX:
            return self._read(keys)
        view = self.view()
        found = np.asarray(view[keys], dtype=np.float32)
        if len(keys) > 256 and isinstance(self._map, np.memmap):
            # let go of the file pages just read: they stay in the page cache, not in our RSS
            self._map._mmap.madvise(mmap.MADV_DONTNEED)  # type: ignore[attr-defined]
        return found

    def _read(self, keys: np.ndarray) -> np.ndarray:
        """The rows of a few scattered keys by pread, one read per run of consecutive keys: the
        pages land in the page cache only, and nothing is mapped that has to be let go again
        (a memory-mapped read of the rows a search re-scores cost 3-5x more)."""
        if self._reader is None:
            self._reader = open(self.path, "rb", buffering=0)  # noqa: SIM115 - read for the store's lifetime
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        if len(ordered) and (ordered[0] < 0 or ordered[-1] >= self.count):
            raise IndexError(f"keys outside 0..{self.count - 1} in {self.path.name}")
        cuts = (np.flatnonzero(np.diff(ordered) != 1) + 1).tolist()
        rows = np.empty((len(ordered), self.dim), self.dtype)
        buffer, width = rows.data.cast("B"), self.dim * self.dtype.itemsize
        for a, b in zip([0, *cuts], [*cuts, len(ordered)], strict=True):
            got = os.preadv(self._reader.fileno(), [buffer[a * width : b * width]], int(ordered[a]) * width)
            if got != (b - a) * width:
                raise OSError(f"{self.path} is shorter than its {self.count} committed rows")
        found = np.empty(rows.shape, np.float32)
        found[order] = rows
        return found


class Vectors:
    """Search over one kind of vector (passages or sentences): segments + tail + rows."""

    def __init__(
        self,
        folder: Path,
        name: str,
        dim: int,
        count: int,
        segments: Sequence[Segment],
        previous: Vectors | None = None,
    ) -> None:
        """`previous`: the Vectors this one replaces (a reload); its open segments are taken over."""
        self.folder, self.name, self.dim = folder, name, dim
        self.rows = Rows(folder / f"{name}.f16", dim, count)
        self.segments: list[Segment] = []
        self._ann: dict[str, faiss.Index] = {}  # by segment name; replaced whole, never changed in place
        self._mapped: set[str] = set()  # segments still searched through their memory map
        self._swap = threading.Lock()
        self._loader: threading.Thread | None = None
        if previous is not None:
            with previous._swap:
                self._ann, self._mapped = dict(previous._ann), set(previous._mapped)
                previous._mapped.clear()
        self.use(segments)

    @property
    def count(self) -> int:
        return self.rows.count

    def tail_start(self) -> int:
        return self.segments[-1].hi if self.segments else 0

    def append(self, vectors: np.ndarray) -> None:
        """Add vectors with the next keys (written to the file and the tail; committed by the caller)."""
        start = self.rows.count
        self.rows.append(vectors, start)
        self.rows.count = start + len(vectors)
        self._tail.add_with_ids(np.asarray(vectors, np.float32), np.arange(start, self.rows.count, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """(key, cosine) of the k nearest keys among those `allowed` (a bool array over keys; None: all)."""
        if k <= 0 or not self.count:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        passing = 0 if allowed is None else int(np.count_nonzero(allowed))
        if allowed is not None and passing <= EXACT_LIMIT:
            return self.exact(query[0], np.flatnonzero(allowed), k)
        wanted = max(4 * k, 64)
        bits = None if allowed is None else _bits(allowed)  # kept alive while FAISS reads it
        selector = None if bits is None else faiss.IDSelectorBitmap(bits)
        share = 1.0 if allowed is None else max(passing / max(len(allowed), 1), 1e-3)
        found: list[tuple[float, int]] = []
        for ann in [*self._ann.values(), self._tail]:
            found += _search(ann, query, wanted, selector, share)
        found.sort(reverse=True)
        return self.exact(query[0], np.array([key for _, key in found[:wanted]], dtype=np.int64), k)

    def exact(self, query: np.ndarray, keys: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k best of these keys by exact cosine against the stored rows."""
        if not len(keys):
            return []
        keys = np.sort(keys)  # sorted reads are sequential reads of the memory map
        scores = self.rows.get(keys) @ query
        top = np.argsort(-scores, kind="stable")[:k] if len(keys) <= 4 * k else _top(scores, k)
        return [(int(keys[i]), float(scores[i])) for i in top]

    def new_segment(self, alive: np.ndarray, generation: int, force: bool = False) -> Segment | None:
        """If the tail is long enough (or `force`), an ANN segment of it, written to disk."""
        lo, hi = self.tail_start(), self.count
        if hi - lo < (1 if force else TAIL_MAX):
            return None
        return self._build(lo, hi, alive, generation)

    def merged(self, alive: np.ndarray, generation: int) -> Segment | None:
        """One ANN segment over every alive key (what compaction swaps in), written to disk."""
        return self._build(0, self.count, alive, generation) if self.count else None

    def _build(self, lo: int, hi: int, alive: np.ndarray, generation: int) -> Segment:
        keys = np.arange(lo, hi, dtype=np.int64)
        keys = keys[alive[lo:hi]] if len(alive) >= hi else keys
        segment = Segment(f"{self.name}-{lo}-{hi}-{generation}.faiss", lo, hi)
        index = _ivf(self.dim, len(keys))
        sample = np.sort(np.random.default_rng(0).choice(keys, min(len(keys), 32 * index.nlist), replace=False))
        index.train(self.rows.get(sample) if len(sample) else np.zeros((1, self.dim), np.float32))
        for start in range(0, len(keys), 100_000):
            chunk = keys[start : start + 100_000]
            index.add_with_ids(self.rows.get(chunk), chunk)
        path = self.folder / segment.name
        faiss.write_index(index, str(path))
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        return segment

    def use(self, segments: Sequence[Segment]) -> None:
        """Switch to these segments (after the commit that names them); the tail is what follows.
        Segments already open stay open; large new ones are mapped and loaded in the background."""
        with self._swap:
            ann = {}
            for segment in segments:
                if segment.name in self._ann:
                    ann[segment.name] = self._ann[segment.name]
                    continue
                path = self.folder / segment.name
                mapped = path.stat().st_size >= MAP_FROM
                ann[segment.name] = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mapped else 0)
                if mapped:
                    self._mapped.add(segment.name)
            self._mapped &= set(ann)
            self.segments, self._ann = list(segments), ann
            if self._mapped and (self._loader is None or not self._loader.is_alive()):
                self._loader = threading.Thread(target=self._load_mapped, name=f"load-{self.name}", daemon=True)
                self._loader.start()
        start = self.tail_start()
        self._tail = _flat(self.dim)
        if self.count > start:
            keys = np.arange(start, self.count, dtype=np.int64)
            self._tail.add_with_ids(self.rows.get(keys), keys)

    def _load_mapped(self) -> None:
        """Read each memory-mapped segment into memory and swap it in (the background thread)."""
        while True:
            with self._swap:
                if not self._mapped:
                    return
                name = next(iter(sorted(self._mapped)))
            try:
                index = faiss.read_index(str(self.folder / name))
            except RuntimeError:  # gone (compacted away) or unreadable: it stays searched through the map
                return
            with self._swap:
                if name in self._mapped:  # still in use (a compaction may have replaced it)
                    self._ann = {**self._ann, name: index}
                    self._mapped.discard(name)

    def stop_loading(self) -> None:
        """Let the background thread end after the segment it is reading (the store is closing)."""
        with self._swap:
            self._mapped.clear()

    def in_memory(self, timeout: float | None = None) -> bool:
        """Wait (at most `timeout` seconds) until no segment is searched through its memory map."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout)
        return not self._mapped

    def truncate(self, count: int) -> None:
        """Forget rows past `count` (an uncommitted add); the tail is rebuilt from the file."""
        self.rows.count = count
        self.use(self.segments)


def _ivf(dim: int, n: int) -> faiss.Index:
    nlist = max(1, min(4096, int(2 * math.sqrt(max(n, 1)))))
    # many lists: find them through an HNSW graph over the centroids (adding millions of
    # vectors costs minutes instead of an hour; the lists a query visits barely change)
    quantizer = (
        faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT) if nlist >= GRAPH_LISTS else faiss.IndexFlatIP(dim)
    )
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.own_fields = True
    quantizer.this.disown()
    index.cp.min_points_per_centroid = 5  # small segments train on what they have
    index.cp.niter = 12
    index.clustering_index = faiss.IndexFlatIP(dim)  # k-means itself assigns exactly
    return index


def _search(ann: faiss.Index, query: np.ndarray, k: int, selector: faiss.IDSelector | None, share: float) -> list:
    if not ann.ntotal:
        return []
    if isinstance(ann, faiss.IndexIVF):
        # a filter that keeps a share of the keys leaves that share in each list: visit more lists
        nprobe = min(ann.nlist, int(math.ceil(NPROBE / math.sqrt(share))))
        graph = faiss.SearchParametersHNSW(efSearch=max(QUANTIZER_EF, 2 * nprobe))
        quantizer = graph if isinstance(faiss.downcast_index(ann.quantizer), faiss.IndexHNSW) else None
        params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe, quantizer_params=quantizer)
    else:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
    scores, keys = ann.search(query, min(k, ann.ntotal), params=params)
    return [(float(s), int(i)) for s, i in zip(scores[0], keys[0], strict=True) if i >= 0]


def _flat(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _bits(mask: np.ndarray) -> np.ndarray:
    return np.packbits(np.asarray(mask, dtype=bool), bitorder="little")


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]
