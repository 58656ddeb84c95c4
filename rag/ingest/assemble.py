"""The one way every format becomes a Letter: a Draft (title, metadata, and a list of
headings and paragraphs, each paragraph with its footnotes and explicit references)
is laid out as clean text, and every span recorded on the way.

Layout of Letter.text: the title, then each heading and paragraph after a blank line,
then "Voetnoten" and each footnote as "N text". A footnote's marker is its number
written in the paragraph text ("NAVO-landen1"), so `letter.text[f.marker:...] == str(n)`.
Invariants: `letter.text[p.start:p.end] == p.text` for every paragraph and footnote.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rag.errors import CorpusError
from rag.ingest import provenance
from rag.types import Footnote, Letter, Paragraph, Reference


@dataclass
class Note:
    """A footnote of a block: its number, its text, where its marker digits stand in the block."""

    number: int
    text: str
    marker: int  # offset in Block.text
    links: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kst-identifier) in text


@dataclass
class Block:
    """A heading (level >= 1) or a paragraph (level 0) in reading order."""

    text: str
    level: int = 0
    notes: list[Note] = field(default_factory=list)
    links: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kst-identifier) in text
    page: int | None = None


@dataclass
class Draft:
    """What a format parser found; `build` turns it into a Letter."""

    title: str
    blocks: list[Block]
    date: dt.date | None = None
    dossier: str | None = None
    number: str | None = None
    vergaderjaar: str | None = None
    chamber: str | None = None
    identifier: str | None = None
    url: str | None = None
    kamerstuk: str | None = None
    signature: str | None = None
    also: tuple[str, ...] = ()
    orphans: list[tuple[int, str]] = field(default_factory=list)  # footnotes whose marker was not found


def build(draft: Draft, letter_id: str, source: str, sha256: str) -> Letter:
    """Lay out the draft as a Letter; CorpusError when it holds no paragraph of text."""
    text = draft.title
    paragraphs: list[Paragraph] = []
    headings: list[tuple[int, int]] = []
    section: list[tuple[int, str]] = []  # the headings above, with their levels
    pending: list[tuple[int, Note]] = []  # (paragraph index, note) laid out after the body
    for block in draft.blocks:
        if not block.text.strip():
            continue
        text += "\n\n"
        start = len(text)
        text += block.text
        if block.level:
            section = [*(h for h in section if h[0] < block.level), (block.level, block.text)]
            headings.append((start, len(text)))
            continue
        links = [Reference(*found, start + s, start + e) for s, e, i in block.links if (found := _link(i))]
        pending.extend((len(paragraphs), n) for n in block.notes)
        paragraphs.append(
            Paragraph(len(paragraphs) + 1, " › ".join(h for _, h in section) or None, block.text, start, len(text), (),
                      block.page, tuple(links))
        )  # fmt: skip
    if not paragraphs:
        raise CorpusError(
            f"{source or letter_id}: no paragraphs of text found. Is this a letter?",
            nl=f"{source or letter_id}: geen alinea's tekst gevonden. Is dit een brief?",
        )
    text, paragraphs = _footnotes(text, paragraphs, pending, draft.orphans)
    letter = Letter(
        id=letter_id,
        title=draft.title,
        date=draft.date,
        text=text,
        paragraphs=tuple(_with_references(p) for p in paragraphs),
        source=source,
        sha256=sha256,
        kamerstuk=draft.kamerstuk,
        url=draft.url or provenance.permalink(draft.identifier),
        headings=tuple(headings),
        dossier=draft.dossier,
        number=draft.number,
        vergaderjaar=draft.vergaderjaar,
        chamber=draft.chamber,
        identifier=draft.identifier,
        signature=draft.signature,
        also=draft.also,
    )
    return letter


def _footnotes(
    text: str, paragraphs: list[Paragraph], pending: list[tuple[int, Note]], orphans: list[tuple[int, str]]
) -> tuple[str, list[Paragraph]]:
    """Append the footnotes after the body (in number order) and attach each to its paragraph."""
    notes = [(n.number, n.text, i, paragraphs[i].start + n.marker, n.links) for i, n in pending]
    notes += [(number, body, -1, -1, []) for number, body in orphans]
    if notes:
        text += "\n\nVoetnoten"
    attached: dict[int, list[Footnote]] = {}
    links: dict[int, list[Reference]] = {}
    for number, body, owner, marker, found in sorted(notes, key=lambda n: n[0]):
        text += f"\n\n{number} "
        start = len(text)
        text += body
        if owner >= 0:
            attached.setdefault(owner, []).append(Footnote(number, body, start, len(text), marker))
            refs = [(_link(i), s, e) for s, e, i in found]
            links.setdefault(owner, []).extend(Reference(*r, start + s, start + e) for r, s, e in refs if r)
    out = [
        Paragraph(p.number, p.section, p.text, p.start, p.end, tuple(attached.get(i, ())), p.page,
                  (*p.references, *links.get(i, ())))
        for i, p in enumerate(paragraphs)
    ]  # fmt: skip
    return text, out


def _with_references(p: Paragraph) -> Paragraph:
    """The paragraph with every reference in its text and footnotes (explicit links first)."""
    found = list(p.references)
    for text, start in [(p.text, p.start), *((f.text, f.start) for f in p.footnotes)]:
        for ref in provenance.references(text, start):
            same = [r for r in found if r.start < ref.end and ref.start < r.end and r.number == ref.number]
            if not same or len(ref.dossiers) > max(len(r.dossiers) for r in same):  # the text may name more dossiers
                found = [r for r in found if r not in same] + [ref]
    found.sort(key=lambda r: (r.start, r.end))
    return Paragraph(p.number, p.section, p.text, p.start, p.end, p.footnotes, p.page, tuple(found))


def _link(identifier: str) -> tuple[tuple[str, ...], str] | None:
    parsed = provenance.parse_identifier(identifier)
    return ((parsed[0],), parsed[1]) if parsed else None
