"""An OpenDocument letter (.odt, as the official repository and LibreOffice ship them) ->
a Draft, through odfpy.

`text:h` is a heading at its outline level; a `text:p` whose style is (or derives from)
"Title" is the title, one deriving from "Heading N" a heading; `text:list` items stay
with the paragraph before them; `text:note` (class footnote) becomes a footnote of the
paragraph holding it; `text:a` links to an official publication are references;
`table:table` is read row by row.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from rag.ingest.assemble import Draft
from rag.ingest.inline import Inline, kst_identifier, note_number
from rag.ingest.refusal import refuse

_HEADING = re.compile(r"^(?:heading|kop)\s*(\d)$", re.IGNORECASE)


def draft_odt(path: Path, data: bytes, fallback_title: str) -> Draft:
    """The draft of an .odt letter: title, headings, paragraphs, lists, tables, footnotes."""
    from odf.opendocument import load

    try:
        document = load(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ExpatError, ValueError) as err:
        raise refuse(
            path,
            f"not a readable OpenDocument text ({type(err).__name__}). Save it again as .odt.",
            f"geen leesbaar OpenDocument-tekstbestand ({type(err).__name__}). Sla het opnieuw op als .odt.",
        ) from None
    reader = _Reader(_parents(document))
    reader.walk(document.text)
    return Draft(reader.title or fallback_title, [b.block() for b in reader.blocks if b.text.strip()])


class _Reader:
    def __init__(self, parents: dict[str, str]) -> None:
        self.parents = parents
        self.blocks: list[Inline] = []
        self.title: str | None = None
        self.used: set[int] = set()

    def walk(self, el: Any, depth: int = 0) -> None:
        for child in el.childNodes:
            name = _name(child)
            if name == "h":
                level = int(child.getAttribute("outlinelevel") or 1)
                self.blocks.append(self.inline(child, Inline(level=level), notes=False))
            elif name == "p":
                self.paragraph(child)
            elif name == "list":
                self.items(child, depth)
            elif name == "table":
                self.blocks.append(self.table(child))
            elif name in ("section", "sequence-decls") or name.startswith("variable"):
                self.walk(child, depth)

    def paragraph(self, p: Any) -> None:
        style = self.style(p.getAttribute("stylename") or "")
        if style == "title" and self.title is None:
            self.title = self.inline(p, Inline(), notes=False).block().text or None
        elif _HEADING.match(style):
            level = int(_HEADING.match(style).group(1))  # type: ignore[union-attr]
            self.blocks.append(self.inline(p, Inline(level=level), notes=False))
        else:
            self.blocks.append(self.inline(p, Inline()))

    def style(self, name: str) -> str:
        """The named style a paragraph's (automatic) style derives from, lower case: 'heading_20_1'."""
        for _ in range(10):  # named styles derive from "Heading" and "Standard": stop at the first that says
            plain = name.lower().replace("_20_", " ")
            if plain == "title" or _HEADING.match(plain) or name not in self.parents:
                return plain
            name = self.parents[name]
        return name.lower()

    def inline(self, el: Any, acc: Inline, notes: bool = True) -> Inline:
        for child in el.childNodes:
            if child.nodeType == child.TEXT_NODE:
                acc.add(str(child.data))
                continue
            name = _name(child)
            if name == "s":
                acc.raw(" " * int(child.getAttribute("c") or 1))
            elif name in ("tab", "line-break"):
                acc.add(" ")
            elif name == "note":
                if notes and (child.getAttribute("noteclass") or "footnote") == "footnote":
                    self.note(child, acc)
            elif name == "a":
                start = len(acc.text)
                self.inline(child, acc, notes)
                target = kst_identifier(child.getAttribute("href"))
                if target:
                    acc.link(start, target)
            elif name not in ("bookmark", "bookmark-start", "bookmark-end", "soft-page-break", "annotation"):
                self.inline(child, acc, notes)
        return acc

    def note(self, note: Any, acc: Inline) -> None:
        citation = next((c for c in note.childNodes if _name(c) == "note-citation"), None)
        body = next((c for c in note.childNodes if _name(c) == "note-body"), None)
        text = Inline()
        for p in body.childNodes if body is not None else ():
            self.inline(p, text, notes=False)
            text.add(" ")
        done = text.block()
        acc.note(note_number(str(citation) if citation is not None else "", self.used), done.text, done.links)

    def items(self, lst: Any, depth: int) -> None:
        """Each list item on a line of its own, with the paragraph before it; nested lists indented."""
        last = self.blocks[-1] if self.blocks and not self.blocks[-1].level else None
        target = last if last is not None else Inline()
        for item in (c for c in lst.childNodes if _name(c) == "list-item"):
            for part in item.childNodes:
                if _name(part) == "list":
                    if last is None and target not in self.blocks:
                        self.blocks.append(target)
                    self.items(part, depth + 1)
                elif _name(part) in ("p", "h"):
                    target.raw(("\n" if target.text else "") + "  " * depth + "• ")
                    self.inline(part, target)
        if last is None and target not in self.blocks:
            self.blocks.append(target)

    def table(self, table: Any) -> Inline:
        """A table as text in reading order: a line per row, cells joined by ' | '."""
        acc = Inline()
        for row in _descendants(table, "table-row"):
            acc.raw("\n" if acc.text else "")
            for i, cell in enumerate(c for c in row.childNodes if _name(c) == "table-cell"):
                if i:
                    acc.raw(" | ")
                for p in cell.childNodes:
                    self.inline(p, acc)
        return acc


def _name(node: Any) -> str:
    return node.qname[1] if getattr(node, "qname", None) else ""


def _descendants(el: Any, name: str) -> list[Any]:
    found = []
    for child in el.childNodes:
        if _name(child) == name:
            found.append(child)
        elif _name(child):
            found.extend(_descendants(child, name))
    return found


def _parents(document: Any) -> dict[str, str]:
    """Style name -> parent style name, over automatic and named paragraph styles."""
    out: dict[str, str] = {}
    for styles in (document.automaticstyles, document.styles):
        for style in styles.childNodes:
            if _name(style) == "style":
                parent = style.getAttribute("parentstylename")
                if parent:
                    out[style.getAttribute("name")] = parent
    return out
