"""Official Kamerstuk XML (kst-*.xml, the officiele-publicatie / kamerstuk schema) -> a Draft,
and its metadata.xml sidecar -> metadata fields.

The body's structure is explicit: `al` paragraphs, `kop` / `tussenkop` headings within
nested `divisie`s, `lijst` / `li` lists (kept with the paragraph before them), `noot`
footnotes inside the paragraph that holds their marker, `extref` / `intref` links,
CALS tables (`table` / `tgroup` / `row` / `entry`) and the `ondertekening`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from rag.ingest import provenance
from rag.ingest.assemble import Block, Draft
from rag.ingest.inline import Inline, kst_identifier, note_number
from rag.ingest.refusal import refuse

_HEAD = {"kamerstukkop", "dossier", "stuknr", "titel", "datumtekst", "metadata", "meta", "noot"}
_PARAGRAPH = {"al", "considerans.al", "wat", "wij", "slotformule", "dagtekening"}


def draft_xml(path: Path, data: bytes) -> tuple[Draft, dict]:
    """The draft of an official Kamerstuk XML file, and the metadata embedded in it."""
    root = parse(path, data)
    stuk_root = next((e for e in root.iter() if _name(e) == "kamerstuk"), None)
    if stuk_root is None:
        raise refuse(
            path,
            f"not an official Kamerstuk: no <kamerstuk> element (root <{_name(root)}>). Give a kst-*.xml file.",
            f"geen officieel Kamerstuk: geen <kamerstuk>-element (wortel <{_name(root)}>). Geef een kst-*.xml-bestand.",
        )
    stuk = _child(stuk_root, "stuk")
    if stuk is None:
        raise refuse(path, "the <kamerstuk> has no <stuk>.", "het <kamerstuk> heeft geen <stuk>.")
    reader = _Reader()
    for child in stuk:
        reader.walk(child, 0)
    dossiers = [_dossier(d) for d in stuk_root.iter() if _name(d) == "dossiernummer"]
    ondernummer = next((e for e in stuk.iter() if _name(e) == "ondernummer"), None)
    titles = [_plain(_child(stuk_root, "dossier"), "titel"), _plain(stuk, "titel")]
    draft = Draft(
        title="; ".join(t for t in titles if t) or path.stem,
        blocks=reader.finish(),
        date=_date(stuk),
        dossier=dossiers[0] if dossiers else None,
        number=_text(ondernummer).upper() or None,
        vergaderjaar=provenance.normal_vergaderjaar(_tekstregel(stuk_root, "vergaderjaar")),
        chamber=provenance.chamber(_tekstregel(stuk_root, "kameraanduiding"))
        or provenance.chamber(ondernummer.get("kamer") if ondernummer is not None else None),
        signature=reader.signature,
        also=tuple(dossiers[1:]),
    )
    embedded = {e.get("name"): e.get("content") for e in root.iter() if _name(e) == "meta" and e.get("name")}
    return draft, fields(embedded)


def read_metadata(path: Path) -> dict:
    """The fields of a metadata.xml (`<metadata name=".." content=".."/>`): identifier,
    dossier, number, vergaderjaar, title, date, chamber, signature."""
    root = parse(path, path.read_bytes())
    pairs: dict[str, str] = {}
    dossiers: list[str] = []
    indieners: list[str] = []
    for e in root.iter():
        name, content = e.get("name"), (e.get("content") or "").strip()
        if not name or not content:
            continue
        if (
            name == "DC.identifier"
            and provenance.parse_identifier(content)
            and not provenance.parse_identifier(pairs.get(name, ""))
        ):
            pairs[name] = content  # of several identifiers, the one that names dossier and number
        elif name == "OVERHEIDop.dossiernummer":
            dossiers.append(content)
        elif name == "OVERHEIDop.indiener":
            indieners.append(content)
        elif name == "DC.creator" and e.get("scheme") == "OVERHEID.StatenGeneraal":
            pairs["kamer"] = content
        pairs.setdefault(name, content)
    pairs["dossiers"] = ";".join(dossiers)
    pairs["indieners"] = ", ".join(indieners)
    return fields(pairs)


def fields(pairs: dict) -> dict:
    """Our field names for DC.* / OVERHEIDop.* metadata; only the fields it gives."""
    listed = pairs.get("dossiers") or pairs.get("OVERHEIDop.dossiernummer") or ""
    dossiers = [provenance.normal_dossier(d) for d in listed.split(";") if d]
    out = {
        "identifier": pairs.get("DC.identifier") or pairs.get("OVERHEIDop.ParlID"),
        "dossier": dossiers[0] if dossiers else None,
        "also": tuple(dossiers[1:]) or None,
        "number": (pairs.get("OVERHEIDop.ondernummer") or "").upper() or None,
        "vergaderjaar": provenance.normal_vergaderjaar(pairs.get("OVERHEIDop.vergaderjaar")),
        "title": pairs.get("OVERHEIDop.documenttitel") or pairs.get("DC.title"),
        "date": _iso(pairs.get("OVERHEIDop.datumBrief")),
        "issued": _iso(pairs.get("DCTERMS.issued") or pairs.get("OVERHEIDop.datumOntvangst")),
        "chamber": provenance.chamber(pairs.get("kamer") or pairs.get("DC.creator")),
        "signature": pairs.get("indieners") or pairs.get("OVERHEIDop.indiener"),
    }
    return {k: v for k, v in out.items() if v}


def parse(path: Path, data: bytes) -> etree._Element:
    """Parse XML safely (no entities, no network); CorpusError naming the line when malformed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise refuse(
            path,
            f"not well-formed XML ({err.msg}, line {err.lineno}). Download the file again.",
            f"geen geldige XML ({err.msg}, regel {err.lineno}). Download het bestand opnieuw.",
        ) from None


class _Reader:
    """Walks the body of a <stuk>, collecting headings and paragraphs in reading order."""

    def __init__(self) -> None:
        self.blocks: list[Inline] = []
        self.signature: str | None = None
        self.used: set[int] = set()

    def finish(self) -> list[Block]:
        return [b.block() for b in self.blocks]

    def walk(self, el: etree._Element, depth: int) -> None:
        name = _name(el)
        if name in _HEAD and depth == 0 or name in ("noot", "") or not isinstance(el.tag, str):
            return
        if name == "divisie":
            for child in el:
                self.walk(child, depth + 1)
        elif name in ("kop", "tussenkop"):
            heading = Inline(level=max(depth, 1) + (name == "tussenkop"))
            self.inline(el, heading, notes=False, spaced=True)
            self.blocks.append(heading)
        elif name in _PARAGRAPH:
            self.blocks.append(self.inline(el, Inline()))
        elif name == "lijst":
            last = self.blocks[-1] if self.blocks and not self.blocks[-1].level else None
            target = last if last is not None else Inline()
            self.items(el, target, 0)
            if last is None:
                self.blocks.append(target)
        elif name == "table":
            self.blocks.append(self.table(el))
        elif name == "ondertekening":
            self.signature = " ".join(t.strip() for t in el.itertext() if t.strip()).replace(" ,", ",")
        else:
            for child in el:
                self.walk(child, depth)

    def inline(self, el: etree._Element, acc: Inline, notes: bool = True, spaced: bool = False) -> Inline:
        """The text of `el` into acc: footnotes as markers, extref/intref recorded as links."""
        acc.add(el.text)
        for child in el:
            name = _name(child)
            if not isinstance(child.tag, str):
                pass  # a processing instruction (<?xpp ...?>) inside a word: invisible
            elif name == "noot":
                if notes and child.get("type", "voet") in ("voet", "tabel"):
                    self.note(child, acc)
            elif name in ("extref", "intref"):
                start = len(acc.text)
                self.inline(child, acc, notes)
                target = kst_identifier(child.get("doc") or child.get("ref"))
                if target:
                    acc.link(start, target)
            elif name in ("br",):
                acc.add(" ")
            elif name in ("lijst", "table"):
                self.items(child, acc, 0) if name == "lijst" else acc.add(" ".join(child.itertext()))
            else:
                if spaced and acc.text:
                    acc.add(" ")
                self.inline(child, acc, notes)
            acc.add(child.tail)
        return acc

    def note(self, el: etree._Element, acc: Inline) -> None:
        body = Inline()
        for part in el:
            if _name(part) != "noot.nr":
                self.inline(part, body, notes=False)
                body.add(" ")
        number = note_number(_plain(el, "noot.nr") or "", self.used)
        done = body.block()
        acc.note(number, done.text, done.links)

    def items(self, lijst: etree._Element, acc: Inline, depth: int) -> None:
        """Each `li` on a line of its own, with its own number or bullet; nested lists indented."""
        for li in (c for c in lijst if _name(c) == "li"):
            acc.raw("\n" + "  " * depth + (_plain(li, "li.nr") or "•") + " ")
            for part in li:
                if _name(part) == "lijst":
                    self.items(part, acc, depth + 1)
                elif _name(part) != "li.nr" and isinstance(part.tag, str):
                    self.inline(part, acc)
                    acc.add(" ")

    def table(self, table: etree._Element) -> Inline:
        """A table as text in reading order: its title, then a line per row, cells joined by ' | '."""
        acc = Inline()
        title = _plain(table, "title")
        if title:
            acc.add(title)
        for row in (r for r in table.iter() if _name(r) == "row"):
            acc.raw("\n" if acc.text else "")
            for i, entry in enumerate(e for e in row if _name(e) == "entry"):
                if i:
                    acc.raw(" | ")
                self.inline(entry, acc, spaced=True)
        return acc


def _name(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    return next((c for c in el if _name(c) == name), None) if el is not None else None


def _text(el: etree._Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _plain(el: etree._Element | None, name: str) -> str:
    """The text of child `name` of el, footnotes left out."""
    child = _child(el, name)
    if child is None:
        return ""
    acc = Inline()
    _Reader().inline(child, acc, notes=False, spaced=name == "titel")
    return acc.block().text


def _dossier(el: etree._Element) -> str:
    """A <dossiernummer>: its <dossiernr> with the suffix of a budget chapter or sub-dossier."""
    return provenance.normal_dossier(" ".join(t.strip() for t in el.itertext() if t.strip()))


def _tekstregel(el: etree._Element, what: str) -> str | None:
    found = next((e for e in el.iter() if _name(e) == "tekstregel" and e.get("inhoud") == what), None)
    return _text(found) or None


def _date(stuk: etree._Element) -> dt.date | None:
    for e in stuk.iter():
        if _name(e) == "datum" and e.get("isodatum"):
            return _iso(e.get("isodatum"))
    return None


def _iso(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
