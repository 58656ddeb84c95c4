"""One writer at a time, across processes, around the store: the pipeline and the app
wrap every read-modify-write of an index in `exclusive()`, and end it with `commit()`.

- `<index>.writer.lock` beside the index folder (not in it) is held (flock, exclusive) from
  before the stored index is read until after the new one is on disk, so a second `rag
  ingest`, `rag remove` or app upload waits (saying so) instead of saving over the first
  one's letters. Beside, because `rag ingest --rebuild` swaps the folder: a lock inside it
  would be swapped away with it, and a writer waiting on the old folder's lock and one
  arriving after the swap would both hold "the" lock.
- `commit()` saves through the store and then stamps the next `generation` number into
  manifest.json, so a reader (the app) can see that someone else committed.
- `version()` is what a reader compares, at the cost of one stat: the manifest file's identity.

This wraps the store (rag/store/) rather than living inside it, so the store's
backend can change underneath.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from rag.errors import IndexError_

LOCK = ".writer.lock"  # suffix of the lock file beside the index folder: index/ -> index.writer.lock
MANIFEST = "manifest.json"

Version = tuple[int, int, int]  # (inode, mtime in ns, size) of manifest.json


class Committable(Protocol):
    """What commit() needs from a store: its folder and a save that writes manifest.json."""

    directory: Path

    def save(self) -> None: ...


@contextlib.contextmanager
def exclusive(
    directory: Path, wait_s: float = 600.0, on_wait: Callable[[str], None] | None = None, what: str = ""
) -> Iterator[None]:
    """Hold the index's writer lock; if another writer holds it, tell on_wait and wait up to wait_s."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(lock_path(directory), "a+", encoding="utf-8") as handle:
        if not _try(handle):
            holder = _holder(directory)
            if on_wait:
                on_wait(f"Another writer ({holder}) is changing the index at {directory}; waiting for it to finish.")
            deadline = time.monotonic() + wait_s
            while not _try(handle):
                if time.monotonic() >= deadline:
                    raise IndexError_(
                        f"The index at {directory} is still being changed by another writer ({holder}) after "
                        f"{wait_s:.0f} s; nothing was changed. Try again later, or wait longer (RAG_LIMITS_WRITER_WAIT_S).",
                        nl=f"De index wordt nog door een ander gewijzigd ({_short(holder)}); er is niets veranderd. "
                        "Probeer het straks opnieuw.",
                    )
                time.sleep(0.1)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, {what or ' '.join(Path(a).name for a in sys.argv[:2])}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_path(directory: Path) -> Path:
    """The writer lock of the index at `directory`: a file beside the folder, which outlives
    the folder being swapped by a rebuild (index/ -> index.writer.lock)."""
    directory = Path(directory).resolve()
    return directory.with_name(directory.name + LOCK)


def commit(store: Committable) -> int:
    """Save the store (inside exclusive()) and stamp the next generation into its manifest;
    the new generation number."""
    generation = read_generation(store.directory) + 1
    store.save()
    path = Path(store.directory) / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["generation"] = generation
    tmp = path.with_name(MANIFEST + ".generation")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)
    return generation


def read_generation(directory: Path) -> int:
    """The generation stamped in the index's manifest (0 without an index or a stamp)."""
    try:
        return int(json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8")).get("generation", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def version(directory: Path) -> Version | None:
    """What changes with every commit, cheaply (one stat, no reading): the inode, mtime and
    size of manifest.json, which every save and every generation stamp replace; None
    without an index."""
    try:
        stat = (Path(directory) / MANIFEST).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _try(handle: object) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[arg-type]
    except BlockingIOError:
        return False
    return True


def _holder(directory: Path) -> str:
    try:
        return lock_path(directory).read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


def _short(holder: str) -> str:
    """The holder without anything that could be a path (for the app's Dutch message)."""
    return holder.split(",")[-1].strip()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
