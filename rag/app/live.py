"""The app's index, shared by everyone using the app at once.

Questions read `LiveIndex.index`, a reference to an Index that is never changed
again. Uploads and removals are serialised by a lock; each one loads a fresh copy
of the stored index, changes and saves that copy, and then swaps the reference.
A question in flight keeps the Index it started with; a refused file never reaches
the index, and a failed upload leaves the stored index as it was.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rag import pipeline
from rag.errors import IndexError_, RagError
from rag.ingest import corpus
from rag.ingest.corpus import SOORTEN, SUFFIXES
from rag.settings import Settings
from rag.store.index import MANIFEST, Index
from rag.types import IngestReport

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOADS = "uploads"  # folder in the index folder that keeps the uploaded letter files


class LiveIndex:
    """The current Index, its build status, and the one writer at a time that replaces it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._index: Index | None = None
        self._write = threading.Lock()
        self._status = "De index wordt geopend."
        self._failed: str | None = None
        self._adding = ""  # what an upload is doing, for the status line

    def start(self, background: bool = True) -> None:
        """Open the stored index; without one, build it from the corpus (in a thread if background)."""
        if (self.settings.index_dir / MANIFEST).exists():
            self._index = pipeline.warm(pipeline.open_index(self.settings), self.settings.answer)
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
        ix = self._index
        held = f"Index: {len(ix.letters)} brieven, {len(ix.passages)} passages."
        return f"{held} {self._adding}" if self._adding else held

    @property
    def index(self) -> Index:
        """The current index; IndexError_ (with the build status) while it is still being built."""
        if self._index is None:
            raise IndexError_(self.status + " Probeer het zo opnieuw.")
        return self._index

    def add_files(self, files: Sequence[Path], on_progress: pipeline.OnProgress | None = None) -> IngestReport:
        """Add uploaded letter files; refuse wrong types, oversized and unreadable files with a reason."""
        with self._write, tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
            staged, refused = _stage(files, Path(tmp))
            # read as a folder, so that a metadata.xml uploaded beside its letter is that letter's metadata
            letters, bad = pipeline.read_letters(corpus.scan([Path(tmp)])[0] if staged else [], dutch=True)
            refused += [(Path(f).name, why.removeprefix(f"{f}: ")) for f, why in bad]
            if not letters:
                return IngestReport(refused=tuple(refused))
            uploads = self.settings.index_dir / UPLOADS
            uploads.mkdir(parents=True, exist_ok=True)
            # each letter's source is its kept copy; the copies are made only once the index is saved
            kept = [dataclasses.replace(l, source=str(uploads / Path(l.source).name)) for l in letters]
            fresh = self._fresh_copy()

            def progress(letter_id: str, done: int, total: int) -> None:
                self._adding = f"Bezig met toevoegen van {letter_id}: {done} van {total} ingebed."
                if on_progress:
                    on_progress(letter_id, done, total)

            try:
                report = pipeline.add_letters(self.settings, fresh, kept, _yielding(progress))
            finally:
                self._adding = ""
            for staged_letter, letter in zip(letters, kept, strict=True):
                shutil.copy2(staged_letter.source, letter.source)
            self._index = pipeline.warm(fresh, self.settings.answer)  # ready before the first question sees it
        return dataclasses.replace(report, refused=tuple(refused) + report.refused)

    def remove(self, letter_id: str) -> None:
        """Remove a letter from the index (and its uploaded file, if it was uploaded)."""
        with self._write:
            fresh = self._fresh_copy()
            source = Path(fresh.letters[letter_id].source) if letter_id in fresh.letters else None
            pipeline.remove_letter(self.settings, letter_id, index=fresh)
            self._index = pipeline.warm(fresh, self.settings.answer)  # ready before the first question sees it
        if source and source.parent == self.settings.index_dir / UPLOADS:
            source.unlink(missing_ok=True)

    def _fresh_copy(self) -> Index:
        """The stored index loaded anew (sharing the loaded embedder): the copy a writer may change."""
        current = self.index
        return Index.load(self.settings.index_dir, current.embedder, current.chunking)


def _yielding(on_progress: pipeline.OnProgress | None) -> pipeline.OnProgress:
    """on_progress, then a short pause: progress comes between embedding batches, when the
    embedder's lock is free, and the pause lets a waiting question take it (locks are not fair)."""

    def step(letter_id: str, done: int, total: int) -> None:
        if on_progress:
            on_progress(letter_id, done, total)
        time.sleep(0.05)

    return step


def _stage(files: Sequence[Path], folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Copy acceptable files into folder under their own names; (name, reason) for the others."""
    staged: list[Path] = []
    refused: list[tuple[str, str]] = []
    for file in map(Path, files):
        name = safe_name(file.name)
        if file.suffix.lower() not in SUFFIXES:
            refused.append((file.name, f"onbekend bestandstype; een brief is {SOORTEN}."))
        elif file.stat().st_size > MAX_UPLOAD_BYTES:
            mb = MAX_UPLOAD_BYTES // (1024 * 1024)
            refused.append((file.name, f"het bestand is groter dan {mb} MB."))
        elif (folder / name).exists():
            refused.append((file.name, "een bestand met deze naam zit al in deze upload."))
        else:
            staged.append(Path(shutil.copy2(file, folder / name)))
    return staged, refused


def safe_name(name: str) -> str:
    """A file name that is safe to store: no folders, no leading dots, no control characters."""
    base = re.sub(r"[\x00-\x1f/\\]", "_", Path(name).name).lstrip(".")
    return base or "brief.txt"
