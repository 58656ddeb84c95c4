"""Our dataclasses as JSON records and back. These shapes are a public interface:
`rag passages --json`, `rag ask --json`, the app's `ask` API and the index files use them."""

from __future__ import annotations

import datetime as dt

from rag.ingest.provenance import permalink
from rag.types import Answer, Footnote, Hit, Letter, Origin, Paragraph, Passage, Reference


def footnote(f: Footnote) -> dict:
    return {"number": f.number, "text": f.text, "start": f.start, "end": f.end, "marker": f.marker}


def footnote_from(r: dict) -> Footnote:
    return Footnote(r["number"], r["text"], r["start"], r["end"], r["marker"])


def reference(r: Reference) -> dict:
    """A reference to another Kamerstuk: its dossier(s), number, identifier, permalink and span."""
    return {
        "dossiers": list(r.dossiers),
        "number": r.number,
        "identifier": r.identifier,
        "url": permalink(r.identifier),
        "start": r.start,
        "end": r.end,
    }


def reference_from(r: dict) -> Reference:
    return Reference(tuple(r["dossiers"]), r["number"], r["start"], r["end"])


def origin(o: Origin) -> dict:
    """kind ("corpus" or "upload"), by, at, identifier, identifier_verified."""
    return {"kind": o.kind, "by": o.by, "at": o.at, "identifier": o.identifier, "identifier_verified": o.verified}


def origin_from(r: dict | None) -> Origin:
    """An Origin from its record; a record from before origins were kept is the corpus's."""
    if not r:
        return Origin()
    return Origin(r["kind"], r.get("by"), r.get("at"), r.get("identifier"), bool(r.get("identifier_verified")))


def passage(p: Passage) -> dict:
    """passage_id, letter_id, letter_title, letter_date, section, paragraph, text, start, end, footnotes;
    page, citation (official where known), url (the official permalink), references and origin."""
    return {
        "passage_id": p.id,
        "letter_id": p.letter_id,
        "letter_title": p.letter_title,
        "letter_date": _iso(p.letter_date),
        "section": p.section,
        "paragraph": p.paragraph,
        "part": p.part,
        "text": p.text,
        "start": p.start,
        "end": p.end,
        "footnotes": [footnote(f) for f in p.footnotes],
        "page": p.page,
        "citation": citation(p),
        "url": p.url,
        "references": [reference(r) for r in p.references],
        "origin": origin(p.origin),
    }


def citation(p: Passage) -> str:
    """The passage's citation; a passage stored before citations existed reads '<letter id>, alinea n'."""
    return p.citation or f"{p.letter_id}, alinea {p.paragraph}"


def passage_from(r: dict) -> Passage:
    return Passage(
        letter_id=r["letter_id"],
        letter_title=r["letter_title"],
        letter_date=_date(r["letter_date"]),
        section=r["section"],
        paragraph=r["paragraph"],
        text=r["text"],
        start=r["start"],
        end=r["end"],
        footnotes=tuple(footnote_from(f) for f in r["footnotes"]),
        part=r.get("part", 0),
        page=r.get("page"),
        references=tuple(reference_from(x) for x in r.get("references", ())),
        citation=r.get("citation", ""),
        url=r.get("url"),
        origin=origin_from(r.get("origin")),
    )


def letter(l: Letter) -> dict:
    return {
        "id": l.id,
        "title": l.title,
        "date": _iso(l.date),
        "text": l.text,
        "source": l.source,
        "sha256": l.sha256,
        "kamerstuk": l.kamerstuk,
        "url": l.url,
        "headings": [list(h) for h in l.headings],
        "dossier": l.dossier,
        "number": l.number,
        "vergaderjaar": l.vergaderjaar,
        "chamber": l.chamber,
        "identifier": l.identifier,
        "signature": l.signature,
        "also": list(l.also),
        "origin": origin(l.origin),
        "paragraphs": [
            {
                "number": p.number,
                "section": p.section,
                "start": p.start,
                "end": p.end,
                "footnotes": [footnote(f) for f in p.footnotes],
                "page": p.page,
                "references": [reference(x) for x in p.references],
            }
            for p in l.paragraphs
        ],
    }


def letter_from(r: dict) -> Letter:
    text = r["text"]
    paragraphs = tuple(
        Paragraph(
            p["number"],
            p["section"],
            text[p["start"] : p["end"]],
            p["start"],
            p["end"],
            tuple(footnote_from(f) for f in p["footnotes"]),
            p.get("page"),
            tuple(reference_from(x) for x in p.get("references", ())),
        )
        for p in r["paragraphs"]
    )
    return Letter(
        id=r["id"],
        title=r["title"],
        date=_date(r["date"]),
        text=text,
        paragraphs=paragraphs,
        source=r["source"],
        sha256=r["sha256"],
        kamerstuk=r.get("kamerstuk"),
        url=r.get("url"),
        headings=tuple(tuple(h) for h in r.get("headings", ())),  # type: ignore[misc]
        dossier=r.get("dossier"),
        number=r.get("number"),
        vergaderjaar=r.get("vergaderjaar"),
        chamber=r.get("chamber"),
        identifier=r.get("identifier"),
        signature=r.get("signature"),
        also=tuple(r.get("also", ())),
        origin=origin_from(r.get("origin")),
    )


def hit(h: Hit, rank: int) -> dict:
    """A retrieved passage as `rag ask --json` shows it under `passages`."""
    p = passage(h.passage)
    return {
        "rank": rank,
        "passage_id": p["passage_id"],
        "letter_id": p["letter_id"],
        "letter_title": p["letter_title"],
        "letter_date": p["letter_date"],
        "section": p["section"],
        "paragraph": p["paragraph"],
        "score": round(h.score, 6),
        "scores": {k: round(v, 6) for k, v in h.scores.items()},
        "text": p["text"],
        "footnotes": p["footnotes"],
        "start": p["start"],
        "end": p["end"],
        "sentences": [
            {"start": e.start, "end": e.end, "similarity": round(e.similarity, 6)}
            | ({"support": round(e.support, 6)} if e.support is not None else {})
            for e in h.sentences
        ],
        "page": p["page"],
        "citation": p["citation"],
        "url": p["url"],
        "references": p["references"],
        "origin": p["origin"],
        "named": h.named,
    }


def answer(a: Answer) -> dict:
    """The `rag ask --json` object: question, answer, abstained, mode, citations, passages, timings_ms."""
    return {
        "question": a.question,
        "answer": a.text,
        "abstained": a.abstained,
        "mode": a.mode,
        "citations": [
            {
                "n": c.n,
                "passage_id": c.passage.id,
                "letter_id": c.passage.letter_id,
                "letter_title": c.passage.letter_title,
                "section": c.passage.section,
                "paragraph": c.passage.paragraph,
                "quote": c.quote,
                "spans": [list(s) for s in c.spans],
                "citation": citation(c.passage),
                "url": c.passage.url,
                "origin": origin(c.passage.origin),
            }
            for c in a.citations
        ],
        "passages": [hit(h, rank) for rank, h in enumerate(a.hits, start=1)],
        "timings_ms": {k: round(v, 2) for k, v in a.timings_ms.items()},
        "notes": list(a.notes),
    }


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def _date(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None
