"""An HTML letter (a saved official publication page, or any HTML export) -> a Draft, through lxml.

`h1`..`h6` are headings (the first `h1` the title when there is no <title>), `p` and
`div.al` paragraphs, `ul`/`ol` items stay with the paragraph before them, tables are read
row by row. A footnote is a link `<a href="#id">` to an element inside a footnotes
container (class containing "footnote", "noten" or "noot", or role doc-endnotes /
doc-footnote); that container is not body text. `<meta name="DC.*" / "OVERHEIDop.*">`
in the head are the same metadata as metadata.xml. Scripts and styles are never text.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from rag.ingest.assemble import Draft
from rag.ingest.inline import Inline, kst_identifier, note_number
from rag.ingest.refusal import refuse

_SKIP = {"script", "style", "noscript", "template", "head", "nav", "header", "footer", "form", "button", "svg"}
_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "dl", "pre"}


def draft_html(path: Path, data: bytes, fallback_title: str) -> tuple[Draft, dict]:
    """The draft of an HTML letter, and the DC.* / OVERHEIDop.* metadata of its head."""
    from rag.ingest.kst_xml import fields

    try:
        root = lxml_html.document_fromstring(data)
    except (etree.ParserError, ValueError) as err:
        raise refuse(path, f"not readable HTML ({err}).", f"geen leesbare HTML ({err}).") from None
    meta = {m.get("name"): m.get("content") for m in root.iter("meta") if m.get("name") and m.get("content")}
    dossiers = [m.get("content") for m in root.iter("meta") if m.get("name") == "OVERHEIDop.dossiernummer"]
    meta["dossiers"] = ";".join(d for d in dossiers if d)
    notes = _footnote_targets(root)
    reader = _Reader(notes)
    body = root.find("body")
    reader.walk(body if body is not None else root)
    title = (root.findtext(".//title") or "").strip() or reader.first_h1 or fallback_title
    blocks = [b.block() for b in reader.blocks if b.text.strip() and not (b.level and b.text == title)]
    return Draft(title, blocks), fields(meta)


class _Reader:
    def __init__(self, notes: dict[str, etree._Element]) -> None:
        self.notes = notes
        self.containers = _containers(notes)  # the elements themselves: lxml proxies live while referenced
        self.blocks: list[Inline] = []
        self.used: set[int] = set()
        self.first_h1: str | None = None

    def walk(self, el: etree._Element) -> None:
        for child in el:
            if not isinstance(child.tag, str) or child.tag in _SKIP or any(child is c for c in self.containers):
                continue
            tag = child.tag
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                heading = self.inline(child, Inline(level=int(tag[1])), notes=False)
                self.first_h1 = self.first_h1 or (heading.text.strip() if tag == "h1" else None)
                self.blocks.append(heading)
            elif tag in ("ul", "ol"):
                self.items(child, 0)
            elif tag == "table":
                self.blocks.append(self.table(child))
            elif tag in ("p", "pre", "blockquote", "dl") or not _has_blocks(child):
                self.blocks.append(self.inline(child, Inline()))
            else:
                self.walk(child)

    def inline(self, el: etree._Element, acc: Inline, notes: bool = True) -> Inline:
        acc.add(el.text)
        for child in el:
            if isinstance(child.tag, str) and child.tag not in _SKIP:
                href = child.get("href") or ""
                if child.tag == "a" and href.startswith("#") and href[1:] in self.notes:
                    if notes:
                        self.note(href[1:], acc)
                elif (
                    child.tag == "sup"
                    and len(child) == 1
                    and child[0].tag == "a"
                    and (child[0].get("href") or "")[1:] in self.notes
                ):
                    if notes:
                        self.note((child[0].get("href") or "")[1:], acc)
                elif child.tag == "a":
                    start = len(acc.text)
                    self.inline(child, acc, notes)
                    target = kst_identifier(href)
                    if target:
                        acc.link(start, target)
                elif child.tag == "br":
                    acc.add(" ")
                else:
                    self.inline(child, acc, notes)
            acc.add(child.tail)
        return acc

    def note(self, target: str, acc: Inline) -> None:
        el = self.notes[target]
        text = Inline()
        self.inline(el, text, notes=False)
        done = text.block()
        body = done.text
        wanted = body.split(" ", 1)[0].rstrip(".)") if body[:1].isdigit() else str(len(self.used) + 1)
        if body[:1].isdigit():
            body = body.split(" ", 1)[1] if " " in body else ""
        acc.note(note_number(wanted, self.used), body.replace("↩", "").strip(), [])

    def items(self, lst: etree._Element, depth: int, into: Inline | None = None) -> None:
        """Each `li` on a line of its own, with the paragraph before it; nested lists indented."""
        last = self.blocks[-1] if into is None and self.blocks and not self.blocks[-1].level else None
        target = into or last or Inline()
        for number, li in enumerate((c for c in lst if c.tag == "li"), start=1):
            target.raw(("\n" if target.text else "") + "  " * depth + (f"{number}." if lst.tag == "ol" else "•") + " ")
            self.inline(_without_lists(li), target)
            for nested in (c for c in li if c.tag in ("ul", "ol")):
                self.items(nested, depth + 1, target)
        if into is None and last is None:
            self.blocks.append(target)

    def table(self, table: etree._Element) -> Inline:
        acc = Inline()
        caption = table.find("caption")
        if caption is not None:
            self.inline(caption, acc)
        for row in table.iter("tr"):
            acc.raw("\n" if acc.text else "")
            for i, cell in enumerate(c for c in row if c.tag in ("td", "th")):
                if i:
                    acc.raw(" | ")
                self.inline(cell, acc)
        return acc


def _has_blocks(el: etree._Element) -> bool:
    return any(
        isinstance(c.tag, str) and c.tag in _BLOCKS | {"div", "section", "article", "li"} for c in el.iterdescendants()
    )


def _footnote_targets(root: etree._Element) -> dict[str, etree._Element]:
    """Elements with an id inside a footnotes container: the targets of footnote links."""
    out: dict[str, etree._Element] = {}
    for container in root.iter():
        if isinstance(container.tag, str) and _is_container(container):
            for el in container.iter():
                if (
                    isinstance(el.tag, str)
                    and el.get("id")
                    and el is not container
                    and el.tag in ("li", "div", "p", "aside")
                ):
                    out.setdefault(el.get("id"), el)
    return out


def _is_container(el: etree._Element) -> bool:
    classes = (el.get("class") or "").lower()
    role = (el.get("role") or "").lower()
    return any(w in classes for w in ("footnote", "noten", "noot")) or role in ("doc-endnotes", "doc-footnotes")


def _containers(notes: dict[str, etree._Element]) -> list[etree._Element]:
    found: list[etree._Element] = []
    for el in notes.values():
        parent = el.getparent()
        while parent is not None and not _is_container(parent):
            parent = parent.getparent()
        while parent is not None and parent.getparent() is not None and _is_container(parent.getparent()):
            parent = parent.getparent()
        if parent is not None and not any(parent is f for f in found):
            found.append(parent)
    return found


def _without_lists(li: etree._Element) -> etree._Element:
    """A copy of a list item without its nested lists (they are laid out as lines of their own)."""
    import copy

    item = copy.deepcopy(li)
    for nested in [c for c in item if c.tag in ("ul", "ol")]:
        item.remove(nested)
    return item
