"""A Word letter (.docx) -> a Draft, through python-docx.

The document's own styles say what a paragraph is: "Title" / "Titel" the title,
"Heading N" / "Kop N" a heading of level N, a numbered or bulleted paragraph (numPr,
or a list style) an item kept with the paragraph before it. Footnotes come from the
document's footnotes part, each attached where its w:footnoteReference stands;
hyperlinks to an official publication (kst-...) are kept as references.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from lxml import etree

from rag.ingest.assemble import Draft
from rag.ingest.inline import Inline, kst_identifier, note_number
from rag.ingest.refusal import refuse

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_HEADING = re.compile(r"^(?:heading|kop)\s*(\d)$", re.IGNORECASE)


def draft_docx(path: Path, data: bytes, fallback_title: str) -> Draft:
    """The draft of a .docx letter: title, headings, paragraphs, lists, tables, footnotes."""
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, etree.XMLSyntaxError) as err:
        raise refuse(
            path,
            f"not a readable Word document ({type(err).__name__}). Save it again as .docx.",
            f"geen leesbaar Word-document ({type(err).__name__}). Sla het opnieuw op als .docx.",
        ) from None
    reader = _Reader(_footnotes(document), _links(document))
    title = None
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):
            reader.blocks.append(reader.table(item))
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style.lower() in ("title", "titel") and title is None:
            title = reader.inline(item._p, Inline()).block().text or None
        elif heading := _HEADING.match(style):
            reader.blocks.append(reader.inline(item._p, Inline(level=int(heading.group(1))), notes=False))
        elif _is_list(item, style):
            reader.item(item)
        else:
            reader.blocks.append(reader.inline(item._p, Inline()))
    return Draft(title or fallback_title, [b.block() for b in reader.blocks if b.text.strip()])


class _Reader:
    def __init__(self, notes: dict[str, etree._Element], links: dict[str, str]) -> None:
        self.notes = notes
        self.links = links
        self.used: set[int] = set()
        self.blocks: list[Inline] = []

    def inline(self, el: etree._Element, acc: Inline, notes: bool = True) -> Inline:
        """The runs of a paragraph (or hyperlink) into acc: text, tabs, breaks, footnote markers."""
        for child in el:
            tag = child.tag
            if tag == f"{W}r":
                for part in child:
                    if part.tag == f"{W}t":
                        acc.add(part.text)
                    elif part.tag in (f"{W}tab", f"{W}br", f"{W}cr"):
                        acc.add(" ")
                    elif part.tag == f"{W}footnoteReference" and notes:
                        self.note(part.get(f"{W}id") or "", acc)
            elif tag == f"{W}hyperlink":
                start = len(acc.text)
                self.inline(child, acc, notes)
                target = kst_identifier(self.links.get(child.get(f"{R}id") or "", ""))
                if target:
                    acc.link(start, target)
            elif tag != f"{W}pPr":
                self.inline(child, acc, notes)  # w:ins, w:smartTag, fields: their runs count
        return acc

    def note(self, note_id: str, acc: Inline) -> None:
        body = self.notes.get(note_id)
        if body is None:
            return
        text = Inline()
        for p in body.iter(f"{W}p"):
            self.inline(p, text, notes=False)
            text.add(" ")
        done = text.block()
        acc.note(note_number(str(len(self.used) + 1), self.used), done.text, done.links)

    def item(self, paragraph) -> None:  # type: ignore[no-untyped-def]
        """A list item: on a line of its own, indented by its level, with the paragraph before it."""
        level = paragraph._p.find(f"{W}pPr/{W}numPr/{W}ilvl")
        depth = int(level.get(f"{W}val", "0")) if level is not None else 0
        last = self.blocks[-1] if self.blocks and not self.blocks[-1].level else None
        target = last if last is not None else Inline()
        target.raw(("\n" if target.text else "") + "  " * depth + "• ")
        self.inline(paragraph._p, target)
        if last is None:
            self.blocks.append(target)

    def table(self, table) -> Inline:  # type: ignore[no-untyped-def]
        """A table as text in reading order: a line per row, cells joined by ' | '."""
        acc = Inline()
        for row in table.rows:
            acc.raw("\n" if acc.text else "")
            for i, cell in enumerate(row.cells):
                if i:
                    acc.raw(" | ")
                for p in cell.paragraphs:
                    self.inline(p._p, acc)
                    acc.add(" ")
        return acc


def _is_list(paragraph, style: str) -> bool:  # type: ignore[no-untyped-def]
    return paragraph._p.find(f"{W}pPr/{W}numPr") is not None or style.lower().startswith(("list", "lijst"))


def _footnotes(document) -> dict[str, etree._Element]:  # type: ignore[no-untyped-def]
    """w:footnote elements by id from the footnotes part (separators left out)."""
    for rel in document.part.rels.values():
        if rel.reltype.endswith("/footnotes") and not rel.is_external:
            root = etree.fromstring(rel.target_part.blob, etree.XMLParser(resolve_entities=False, no_network=True))
            return {
                n.get(f"{W}id"): n
                for n in root.iter(f"{W}footnote")
                if n.get(f"{W}type") not in ("separator", "continuationSeparator", "continuationNotice")
            }
    return {}


def _links(document) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """External hyperlink targets by relationship id."""
    return {rid: rel.target_ref for rid, rel in document.part.rels.items() if rel.is_external}
