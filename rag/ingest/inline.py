"""Shared cleaning for the structured formats (XML, ODT, DOCX, HTML): a paragraph's text
built piece by piece with white space folded, its footnote markers and links recorded
at the offsets where they land, so every format yields the same Block."""

from __future__ import annotations

import re

from rag.ingest.assemble import Block, Note

_SPACE = re.compile(r"\s+")


class Inline:
    """A paragraph under construction: text, footnotes (marker offsets) and kst- links."""

    def __init__(self, level: int = 0) -> None:
        self.level = level
        self.text = ""
        self.notes: list[Note] = []
        self.links: list[tuple[int, int, str]] = []

    def add(self, piece: str | None) -> None:
        """Running text: white space folded to one space, none at a line start."""
        if not piece:
            return
        piece = _SPACE.sub(" ", piece.replace("\u00ad", ""))  # soft hyphens only mark where a word may break
        if piece.startswith(" ") and (not self.text or self.text.endswith((" ", "\n"))):
            piece = piece[1:]
        self.text += piece

    def raw(self, piece: str) -> None:
        """Text as given (a line break and the bullet of a list item)."""
        self.text = self.text.rstrip(" ") + piece if piece[:1] in ("\n", " ") else self.text + piece

    def note(self, number: int, text: str, links: list[tuple[int, int, str]] | None = None) -> None:
        """A footnote marker here: its number written into the text, as letters print it."""
        self.text = self.text.rstrip(" ") if not text else self.text
        self.notes.append(Note(number, _SPACE.sub(" ", text).strip(), len(self.text), links or []))
        self.text += str(number)

    def link(self, start: int, identifier: str) -> None:
        """The text from `start` to here refers to the publication `identifier`."""
        if len(self.text) > start:
            self.links.append((start, len(self.text), identifier))

    def block(self, page: int | None = None) -> Block:
        """The finished Block, trimmed (offsets moved with the trim)."""
        cut = len(self.text) - len(self.text.lstrip())
        text = self.text.strip()
        notes = [Note(n.number, n.text, n.marker - cut, n.links) for n in self.notes]
        links = [(s - cut, e - cut, i) for s, e, i in self.links]
        return Block(text, self.level, notes, links, page)


def note_number(wanted: str, used: set[int]) -> int:
    """The footnote's own number when it is a fresh one, else the next free number."""
    number = int(wanted) if wanted.strip().isdigit() and int(wanted) not in used else max(used, default=0) + 1
    used.add(number)
    return number


def kst_identifier(target: str | None) -> str | None:
    """'kst-28676-433' from a link target: an identifier, or an official address holding one."""
    found = re.search(r"\bkst-[0-9A-Za-z-]+?(?=\.html|\.xml|\.pdf|/|$|\?|#)", target or "")
    return found.group(0) if found else None
