"""Real .docx and .odt files for tests, written with python-docx and odfpy as a word processor
writes them: named heading and title styles, list numbering, footnotes in the document's
footnotes part (DOCX) or as text:note (ODT), hyperlinks, tables.

A letter is a list of parts:
    ("title", text) · ("h1" / "h2", text) · ("p", pieces) · ("li", level, pieces) · ("table", rows)
where pieces are strings, ("note", footnote text) or ("link", text, url)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Part = tuple


def make_docx(path: Path, parts: Sequence[Part]) -> Path:
    """Write the letter as a .docx (footnotes part and hyperlink relationships included)."""
    from docx import Document
    from docx.opc.constants import CONTENT_TYPE as CT
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part as OpcPart
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    notes: list[str] = []

    def run_text(p, text: str) -> None:  # type: ignore[no-untyped-def]
        p.add_run(text)

    def pieces(p, items) -> None:  # type: ignore[no-untyped-def]
        for piece in items:
            if isinstance(piece, str):
                run_text(p, piece)
            elif piece[0] == "note":
                notes.append(piece[1])
                r = OxmlElement("w:r")
                props = OxmlElement("w:rPr")
                style = OxmlElement("w:vertAlign")
                style.set(qn("w:val"), "superscript")
                props.append(style)
                ref = OxmlElement("w:footnoteReference")
                ref.set(qn("w:id"), str(len(notes)))
                r.append(props)
                r.append(ref)
                p._p.append(r)
            elif piece[0] == "link":
                rid = doc.part.relate_to(piece[2], RT.HYPERLINK, is_external=True)
                link = OxmlElement("w:hyperlink")
                link.set(qn("r:id"), rid)
                r = OxmlElement("w:r")
                t = OxmlElement("w:t")
                t.text = piece[1]
                t.set(qn("xml:space"), "preserve")
                r.append(t)
                link.append(r)
                p._p.append(link)

    for part in parts:
        kind = part[0]
        if kind == "title":
            doc.add_paragraph(part[1], style="Title")
        elif kind in ("h1", "h2"):
            doc.add_heading(part[1], level=int(kind[1]))
        elif kind == "p":
            pieces(doc.add_paragraph(), part[1])
        elif kind == "li":
            p = doc.add_paragraph(style="List Bullet" if part[1] == 0 else "List Bullet 2")
            num = OxmlElement("w:numPr")
            level = OxmlElement("w:ilvl")
            level.set(qn("w:val"), str(part[1]))
            ident = OxmlElement("w:numId")
            ident.set(qn("w:val"), "1")
            num.append(level)
            num.append(ident)
            p._p.get_or_add_pPr().append(num)
            pieces(p, part[2])
        elif kind == "table":
            table = doc.add_table(rows=len(part[1]), cols=len(part[1][0]))
            for row, values in zip(table.rows, part[1], strict=True):
                for cell, value in zip(row.cells, values, strict=True):
                    cell.text = value
    if notes:
        body = "".join(
            f'<w:footnote w:id="{i}"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {_esc(n)}</w:t></w:r></w:p></w:footnote>'
            for i, n in enumerate(notes, start=1)
        )
        blob = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
            '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote>'
            f"{body}</w:footnotes>"
        ).encode()
        footnotes = OpcPart(PackURI("/word/footnotes.xml"), CT.WML_FOOTNOTES, blob, doc.part.package)
        doc.part.relate_to(footnotes, RT.FOOTNOTES)
    doc.save(str(path))
    return path


def make_odt(path: Path, parts: Sequence[Part]) -> Path:
    """Write the letter as an .odt (automatic styles deriving from Title / Heading N)."""
    from odf.opendocument import OpenDocumentText
    from odf.style import Style, TextProperties
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import A, H, List, ListItem, Note, NoteBody, NoteCitation, P

    doc = OpenDocumentText()
    named = {}
    for name, display in (("Title", "Title"), ("Heading_20_1", "Heading 1"), ("Heading_20_2", "Heading 2")):
        style = Style(name=name, displayname=display, family="paragraph", parentstylename="Standard")
        style.addElement(TextProperties(fontweight="bold"))
        doc.styles.addElement(style)
        named[name] = style
    auto = Style(name="P1", family="paragraph", parentstylename="Title")  # what LibreOffice writes on a local change
    doc.automaticstyles.addElement(auto)
    count = 0

    def paragraph(items, style=None):  # type: ignore[no-untyped-def]
        nonlocal count
        p = P(stylename=style) if style is not None else P()
        for piece in items:
            if isinstance(piece, str):
                p.addText(piece)
            elif piece[0] == "note":
                count += 1
                note = Note(id=f"ftn{count}", noteclass="footnote")
                note.addElement(NoteCitation(text=str(count)))
                body = NoteBody()
                body.addElement(P(text=piece[1]))
                note.addElement(body)
                p.addElement(note)
            elif piece[0] == "link":
                p.addElement(A(href=piece[2], text=piece[1]))
        return p

    lists: list = []
    for part in parts:
        kind = part[0]
        if kind != "li":
            lists = []
        if kind == "title":
            doc.text.addElement(paragraph([part[1]], auto))
        elif kind in ("h1", "h2"):
            level = int(kind[1])
            doc.text.addElement(H(outlinelevel=level, stylename=named[f"Heading_20_{level}"], text=part[1]))
        elif kind == "p":
            doc.text.addElement(paragraph(part[1]))
        elif kind == "li":
            level = part[1]
            while len(lists) > level + 1:
                lists.pop()
            if len(lists) <= level:
                new = List()
                (lists[-1].lastChild if lists else doc.text).addElement(new)  # a nested list sits in the last item
                lists.append(new)
            item = ListItem()
            item.addElement(paragraph(part[2]))
            lists[level].addElement(item)
        elif kind == "table":
            table = Table(name="Tabel1")
            table.addElement(TableColumn(numbercolumnsrepeated=len(part[1][0])))
            for values in part[1]:
                row = TableRow()
                for value in values:
                    cell = TableCell()
                    cell.addElement(P(text=value))
                    row.addElement(cell)
                table.addElement(row)
            doc.text.addElement(table)
    doc.save(str(path))
    return path


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
