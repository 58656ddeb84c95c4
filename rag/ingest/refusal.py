"""The error for a letter file that cannot be read, in English and (for the app) in Dutch."""

from __future__ import annotations

from pathlib import Path

from rag.errors import CorpusError


def refuse(path: Path | str, english: str, dutch: str) -> CorpusError:
    """A CorpusError naming the file: what is wrong and what to do, in both languages."""
    return CorpusError(f"{path}: {english}", nl=f"{path}: {dutch}")
