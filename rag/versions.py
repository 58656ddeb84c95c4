"""Earlier versions of replaced and removed letters, kept in the index folder under
`previous/` until the next compaction (`rag ingest --rebuild`), so that `rag restore ID`
can put one back. A version is the letter's full record (text, paragraphs, origin): it
needs no file to come back, only embedding again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from rag import records
from rag.errors import IndexError_
from rag.types import Letter

FOLDER = "previous"


@dataclass(frozen=True)
class Kept:
    """A kept version of a letter and the file that holds it."""

    letter: Letter
    path: Path
    kept_at: str


def keep(directory: Path, letter: Letter) -> Path:
    """Keep this version of the letter (before it is replaced or removed)."""
    folder = Path(directory) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # the id may be long or odd: the file is named by its hash, the id is inside
    path = folder / f"{_key(letter.id)}-{now.strftime('%Y%m%dT%H%M%S%f')}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"kept_at": now.isoformat(timespec="seconds"), "letter": records.letter(letter)}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    os.replace(tmp, path)
    return path


def kept(directory: Path, letter_id: str | None = None) -> list[Kept]:
    """The kept versions (of one letter, or all), oldest first."""
    folder = Path(directory) / FOLDER
    pattern = f"{_key(letter_id)}-*.json" if letter_id else "*.json"
    out = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            out.append(Kept(records.letter_from(row["letter"]), path, row["kept_at"]))
        except (OSError, ValueError, KeyError):
            continue  # a damaged copy is no version to offer
    return out


def latest(directory: Path, letter_id: str) -> Kept:
    """The most recent kept version of a letter; IndexError_ if there is none."""
    found = kept(directory, letter_id)
    if not found:
        raise IndexError_(
            f"No earlier version of '{letter_id}' is kept in {directory}/{FOLDER} (versions are kept from a "
            "replacement or removal until the next rag ingest --rebuild).",
            nl=f"Er is geen eerdere versie van '{letter_id}' bewaard.",
        )
    return found[-1]


def forget(version: Kept) -> None:
    """Drop a kept version (it has been restored)."""
    version.path.unlink(missing_ok=True)


def drop_all(directory: Path) -> None:
    """Drop every kept version (a compaction)."""
    shutil.rmtree(Path(directory) / FOLDER, ignore_errors=True)


def _key(letter_id: str) -> str:
    return hashlib.sha256(letter_id.encode()).hexdigest()[:20]
