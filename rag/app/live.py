"""The app's index, shared by everyone using the app at once.

Questions read `LiveIndex.index`, a reference to an Index that is never changed
again. Uploads and removals hold the index's writer lock (rag.writer, shared with the
CLI in other processes); each one loads a fresh copy of the stored index, changes and
commits that copy, and then swaps the reference. A question in flight keeps the Index
it started with; a refused file never reaches the index, and a failed upload leaves the
stored index as it was.

A commit by someone else (`rag ingest` while the app runs) is noticed by the manifest's
version: on the next question, and by a watcher every few seconds. The newer index is
then loaded in a thread and swapped in; questions go on meanwhile on the one they have.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rag import pipeline, writer
from rag.errors import IndexError_, RagError
from rag.ingest import corpus
from rag.ingest.corpus import SOORTEN, SUFFIXES, letter_id
from rag.settings import Settings
from rag.store.index import MANIFEST, Index
from rag.types import IngestReport, Origin

UPLOADS = "uploads"  # folder in the index folder that keeps the uploaded letter files
WATCH_S = 2.0  # how often the watcher looks for a commit by another process
log = logging.getLogger(__name__)


class LiveIndex:
    """The current Index, its build status, and the one writer at a time that replaces it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: Index | None = None
        self._write = threading.Lock()
        self._status = "De index wordt geopend."
        self._failed: str | None = None
        self._adding = ""  # what an upload is doing, for the status line
        self._version: writer.Version | None = None  # of the stored index self._index was loaded from
        self._reloading = threading.Lock()  # held while a newer index is being loaded

    def start(self, background: bool = True, watch: bool = True) -> None:
        """Open the stored index; without one, build it from the corpus (in a thread if background).
        With `watch`, a thread looks for commits by other processes every WATCH_S seconds."""
        sweep_temp()
        if watch:
            threading.Thread(target=self._watch, name="watch-index", daemon=True).start()
        if (self.settings.index_dir / MANIFEST).exists():
            version = writer.version(self.settings.index_dir)
            self._index = pipeline.warm(pipeline.open_index(self.settings), self.settings.answer)
            self._version = version
            return
        self._status = f"Er is nog geen index: hij wordt gebouwd uit {self.settings.corpus_dir}/."
        if background:
            threading.Thread(target=self._build, name="build-index", daemon=True).start()
        else:
            self._build()

    def _build(self) -> None:
        def progress(letter_id: str, done: int, total: int) -> None:
            self._status = (
                f"De index wordt gebouwd uit {self.settings.corpus_dir}/: {done} van {total} passages ingebed "
                f"({letter_id})."
            )

        with self._write:
            try:
                self._index = pipeline.ensure_index(self.settings, on_progress=progress)
                self._version = writer.version(self.settings.index_dir)
            except RagError as err:
                self._failed = f"De index kon niet worden gebouwd: {err.nl}"
            except Exception as err:  # noqa: BLE001 - a build thread that dies silently would leave "wordt gebouwd" forever
                self._failed = f"De index kon niet worden gebouwd ({type(err).__name__}: {err})."
                raise

    @property
    def ready(self) -> bool:
        return self._index is not None

    @property
    def status(self) -> str:
        """One line for the app's header: what the index holds, or how far building is."""
        if self._failed:
            return self._failed
        if self._index is None:
            return self._status
        letters, passages = self._held(self._index)
        held = f"Index: {letters} brieven, {passages} passages."
        return f"{held} {self._adding}" if self._adding else held

    @staticmethod
    def _held(index: Index) -> tuple[int, int]:
        """What the loaded index holds, counted once when it was loaded: the store's tables are
        read live, but its vectors are those of the load, and the status must tell what the
        answers come from."""
        return index.derived("held", lambda: (len(index.letters), len(index.passages)))

    @property
    def index(self) -> Index:
        """The current index; IndexError_ (with the build status) while it is still being built.
        If someone else committed a newer one, it is loaded in the background meanwhile."""
        if self._index is None:
            raise IndexError_(self.status + " Probeer het zo opnieuw.")
        self.check_newer()
        return self._index

    def check_newer(self, wait: bool = False) -> bool:
        """Start loading the stored index if it is newer than the loaded one (wait for it if
        `wait`); True if a newer one was found."""
        if self._index is None or writer.version(self.settings.index_dir) in (self._version, None):
            return False
        if not self._reloading.acquire(blocking=False):
            return True  # already being loaded
        thread = threading.Thread(target=self._reload, name="reload-index", daemon=True)
        thread.start()
        if wait:
            thread.join()
        return True

    def _reload(self) -> None:
        try:
            before = self._version
            version = writer.version(self.settings.index_dir)  # before loading: a later commit reloads again
            fresh = pipeline.warm(self._load(), self.settings.answer)
            with self._write:  # not in the middle of our own write's swap
                if self._version == before:  # else our own write swapped in one at least as new
                    self._index, self._version = fresh, version
        except RagError as err:
            log.warning("reloading the index failed: %s", err)
        finally:
            self._reloading.release()

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_S)
            try:
                self.check_newer()
            except OSError as err:  # the folder may be gone for a moment (a test's cleanup)
                log.warning("watching the index failed: %s", err)

    def add_files(
        self,
        files: Sequence[Path],
        on_progress: pipeline.OnProgress | None = None,
        who: str = "lokaal",
        replace: bool = False,
    ) -> IngestReport:
        """Add uploaded letter files, marked as uploads by `who`; refuse wrong types, oversized,
        unreadable and duplicate files with a reason. A letter that would replace one with
        different content is only replaced if `replace` (else it is reported as pending)."""
        limits = self.settings.limits
        with tempfile.TemporaryDirectory(prefix=f"rag-upload-{os.getpid()}-") as tmp:
            staged, refused = _stage(files, Path(tmp), limits.file_bytes)
            # read as a folder, so that a metadata.xml uploaded beside its letter is that letter's metadata
            scanned = corpus.scan([Path(tmp)])[0] if staged else []
            letters, bad = pipeline.read_letters(scanned, dutch=True, limits=limits)
            refused += [(Path(f).name, why.removeprefix(f"{f}: ")) for f, why in bad]
            if not letters:
                return IngestReport(refused=tuple(refused))
            with self._write, writer.exclusive(self.settings.index_dir, limits.writer_wait_s, what="app upload"):
                report = self._add(letters, who, replace, on_progress)
        named = tuple((Path(f).name, why.removeprefix(f"{f}: ")) for f, why in report.refused)
        return dataclasses.replace(report, refused=tuple(refused) + named)

    def _add(self, letters: list, who: str, replace: bool, on_progress: pipeline.OnProgress | None) -> IngestReport:
        uploads = self.settings.index_dir / UPLOADS
        uploads.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        # each letter's source is its kept copy; the copies are made only once the index is saved
        kept = [
            dataclasses.replace(
                l, source=str(uploads / Path(l.source).name), origin=Origin("upload", who, now, l.kamerstuk, False)
            )
            for l in letters
        ]
        fresh = self._load()

        def progress(letter_id: str, done: int, total: int) -> None:
            self._adding = f"Bezig met toevoegen van {letter_id}: {done} van {total} ingebed."
            if on_progress:
                on_progress(letter_id, done, total)

        try:
            report = pipeline.add_letters(self.settings, fresh, kept, _yielding(progress), replace=replace, dutch=True)
        finally:
            self._adding = ""
        done = set(report.added) | set(report.updated)
        for staged_letter, letter in zip(letters, kept, strict=True):
            if letter.id in done:
                shutil.copy2(staged_letter.source, letter.source)
        self._swap(fresh)
        return report

    def remove(self, letter_id: str) -> None:
        """Remove a letter from the index (its last version kept: rag restore brings it back)."""
        with self._write, writer.exclusive(self.settings.index_dir, self.settings.limits.writer_wait_s, what="app"):
            fresh = self._load()
            pipeline.remove_letter(self.settings, letter_id, index=fresh)
            self._swap(fresh)

    def _swap(self, fresh: Index) -> None:
        """Make a committed index the current one (under the writer lock: its version is ours)."""
        self._index = pipeline.warm(fresh, self.settings.answer)  # ready before the first question sees it
        self._version = writer.version(self.settings.index_dir)

    def _load(self) -> Index:
        """The stored index loaded anew (sharing the loaded embedder): the copy a writer may change."""
        if self._index is None:
            raise IndexError_(self.status + " Probeer het zo opnieuw.")
        return Index.load(self.settings.index_dir, self._index.embedder, self._index.chunking)


def _yielding(on_progress: pipeline.OnProgress | None) -> pipeline.OnProgress:
    """on_progress, then a short pause: progress comes between embedding batches, when the
    embedder's lock is free, and the pause lets a waiting question take it (locks are not fair)."""

    def step(letter_id: str, done: int, total: int) -> None:
        if on_progress:
            on_progress(letter_id, done, total)
        time.sleep(0.05)

    return step


def _stage(files: Sequence[Path], folder: Path, max_bytes: int) -> tuple[list[Path], list[tuple[str, str]]]:
    """Copy acceptable files into folder under their own names; (name, reason) for the others."""
    staged: list[Path] = []
    refused: list[tuple[str, str]] = []
    for file in map(Path, files):
        name = safe_name(file.name)
        if file.suffix.lower() not in SUFFIXES:
            refused.append((file.name, f"onbekend bestandstype; een brief is {SOORTEN}."))
        elif file.stat().st_size > max_bytes:
            refused.append(
                (
                    file.name,
                    f"het bestand is {file.stat().st_size / 2**20:.1f} MB, meer dan de grens van "
                    f"{max_bytes / 2**20:.1f} MB (RAG_LIMITS_FILE_BYTES).",
                )
            )
        elif (folder / name).exists():
            refused.append((file.name, "een bestand met deze naam zit al in deze upload."))
        else:
            staged.append(Path(shutil.copy2(file, folder / name)))
    return staged, refused


def safe_name(name: str) -> str:
    """A file name that is safe to store, whose letter id is the one the CLI gives the same
    file (corpus.letter_id): no folders, no leading dots, no control characters."""
    suffix = re.sub(r"[\x00-\x1f\x7f/\\]", "_", Path(name.replace("\\", "/")).suffix)
    return letter_id(name) + suffix


def sweep_temp() -> None:
    """Remove staging and report folders (rag-upload-<pid>-*, rag-eval-<pid>-*) left by an app
    process that is gone (killed during an upload or an evaluation)."""
    for folder in Path(tempfile.gettempdir()).glob("rag-*-*-*"):
        kind, _, rest = folder.name.removeprefix("rag-").partition("-")
        pid = rest.split("-")[0]
        if kind in ("upload", "eval") and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_PATH = re.compile(r"(?<![\w.])(?:\.{0,2}/)?(?:[^\s/'\"():,]+/)+([^\s/'\"():,]*)")


def dutch(err: RagError) -> str:
    """An error as the app shows it: in Dutch, each server path cut to its last part."""
    return _PATH.sub(lambda m: m.group(1) or "(map)", err.nl)
