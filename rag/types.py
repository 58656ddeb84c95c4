"""The dataclasses that stages pass to each other. Frozen, no I/O.

Every piece of text carries its provenance: the letter it comes from and its
character span in that letter's clean text, so a citation can always be shown
in its letter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Footnote:
    """A footnote of a letter, attached to the paragraph whose marker refers to it."""

    number: int
    text: str
    start: int  # span of `text` in Letter.text
    end: int
    marker: int  # offset in Letter.text of the marker digits in the body ("landen1")


@dataclass(frozen=True, slots=True)
class Reference:
    """A mention of another Kamerstuk in a letter ("Kamerstuk 28 676, nr. 433"), in its
    text or footnotes: the dossier(s) and number it names and where it stands."""

    dossiers: tuple[str, ...]  # "28676", "36200-V"; a joint letter names several, the first is its own
    number: str  # the ondernummer, "433"
    start: int  # span of the mention in Letter.text
    end: int

    @property
    def identifier(self) -> str:
        """The official identifier of the letter referred to: kst-28676-433."""
        return f"kst-{self.dossiers[0]}-{self.number}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a letter came from, so a reader can tell an official letter from an upload."""

    kind: str = "corpus"  # "corpus": added by the operator (rag ingest); "upload": through the app
    by: str | None = None  # who uploaded it: the login name, "token" or "lokaal"
    at: str | None = None  # when it was added (ISO 8601, UTC)
    identifier: str | None = None  # the official identifier the letter gives (its kamerstuk)
    # True only for an identifier from the operator's corpus; an upload's claim is never trusted.
    # (Nothing is checked online: there is no connection to officielebekendmakingen.nl.)
    verified: bool = False

    @property
    def upload(self) -> bool:
        return self.kind == "upload"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A numbered body paragraph (the unit of citation)."""

    number: int  # 1-based, in reading order
    section: str | None  # heading the paragraph stands under
    text: str
    start: int  # Letter.text[start:end] == text
    end: int
    footnotes: tuple[Footnote, ...] = ()
    page: int | None = None  # the PDF page the paragraph starts on, where a PDF gives it
    references: tuple[Reference, ...] = ()  # other Kamerstukken named in it or its footnotes


@dataclass(frozen=True, slots=True)
class Letter:
    """A parsed letter: clean text (headings, paragraphs, then footnotes) and its parts."""

    id: str  # the file stem, e.g. "navo-top-vilnius-2023"
    title: str
    date: dt.date | None
    text: str
    paragraphs: tuple[Paragraph, ...]
    source: str  # the file it was read from
    sha256: str  # of the file's bytes: re-adding an unchanged letter is a no-op
    kamerstuk: str | None = None
    url: str | None = None  # the official permalink (or the sidecar's url)
    headings: tuple[tuple[int, int], ...] = ()  # spans of section headings in text
    dossier: str | None = None  # "28676", "36200-V"
    number: str | None = None  # the ondernummer within the dossier, "440"
    vergaderjaar: str | None = None  # "2022-2023"
    chamber: str | None = None  # "II" (Tweede Kamer) or "I" (Eerste Kamer)
    identifier: str | None = None  # the official identifier, "kst-28676-440"
    signature: str | None = None  # the ondertekening: who signed the letter
    also: tuple[str, ...] = ()  # the other dossiers of a letter published in several
    origin: Origin = Origin()

    @property
    def footnotes(self) -> tuple[Footnote, ...]:
        return tuple(f for p in self.paragraphs for f in p.footnotes)

    @property
    def content_key(self) -> str:
        """A hash of what the letter says (its paragraphs, white space folded): the same letter
        under another file name, or re-exported, has the same key. Stores keep it, so that
        an ingest finds a duplicate without reading the letters already stored."""
        text = "\n".join(" ".join(p.text.split()) for p in self.paragraphs)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable piece of a paragraph (a whole paragraph unless it is very long)."""

    letter_id: str
    letter_title: str
    letter_date: dt.date | None
    section: str | None
    paragraph: int
    text: str
    start: int  # Letter.text[start:end] == text
    end: int
    footnotes: tuple[Footnote, ...] = ()
    part: int = 0  # 0: the whole paragraph; 1, 2, ...: pieces of a long one
    page: int | None = None
    references: tuple[Reference, ...] = ()
    citation: str = ""  # "Kamerstukken II 2022/23, 28 676, nr. 440, alinea 3", or "<letter id>, alinea 3"
    url: str | None = None  # the letter's official permalink
    origin: Origin = Origin()  # the letter's

    @property
    def id(self) -> str:
        suffix = f".{self.part}" if self.part else ""
        return f"{self.letter_id}#{self.paragraph}{suffix}"

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """Every span of the letter this passage stands for: its text and its footnotes."""
        return ((self.start, self.end), *((f.start, f.end) for f in self.footnotes))

    @property
    def indexed_text(self) -> str:
        """What search sees: the section, the text without marker digits, the footnotes."""
        text = self.text
        for f in sorted(self.footnotes, key=lambda f: f.marker, reverse=True):
            at = f.marker - self.start
            if 0 <= at < len(text):
                text = text[:at] + text[at + len(str(f.number)) :]
        notes = " ".join(f.text for f in self.footnotes)
        return " \n".join(s for s in (self.section, text, notes) if s)

    def text_at(self, start: int, end: int) -> str:
        """The words at a span of the letter inside this passage (its text or a footnote)."""
        for text, offset in ((self.text, self.start), *((f.text, f.start) for f in self.footnotes)):
            if offset <= start and end <= offset + len(text):
                return text[start - offset : end - offset]
        raise ValueError(f"span {start}-{end} is not inside passage {self.id}")


@dataclass(frozen=True, slots=True)
class Evidence:
    """A sentence (or footnote sentence) of a retrieved passage: where it stands in the letter,
    its cosine to the question and, once the reader has judged it, the probability that it
    answers the question. `vector` is its stored embedding, passed along for the reader."""

    start: int  # Letter.text[start:end] is the sentence
    end: int
    similarity: float
    support: float | None = None
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage found for a question, with the score of the stage that ranked it and its
    sentences with their scores (filled for the passages the answer stage reads)."""

    passage: Passage
    score: float
    scores: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    evidence: tuple[int, int] | None = None  # span (in the letter) of the best-matching sentence
    sentences: tuple[Evidence, ...] = field(default=(), hash=False, compare=False)
    named: bool = False  # its letter is one the question names ("in Madrid"): retrieval/named.py


CITATION = re.compile(r"\[(\d+)\]")  # the one pattern of a citation `[n]` in an answer text


@dataclass(frozen=True, slots=True)
class Citation:
    """`[n]` in an answer: the passage it points at and the spans (in the letter) of the
    sentences that support the claim."""

    n: int
    passage: Passage
    spans: tuple[tuple[int, int], ...]

    @property
    def quote(self) -> str:
        """The cited sentences, verbatim, joined by " … "."""
        return " … ".join(self.passage.text_at(s, e) for s, e in self.spans)


@dataclass(frozen=True, slots=True)
class Answer:
    """What `ask()` returns: the answer text with `[n]` citations and everything behind it."""

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    mode: str = "extractive"
    timings_ms: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    notes: tuple[str, ...] = ()  # e.g. dropped citation numbers, fallbacks


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an ingest did, letter by letter, and what it refused and why."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()  # replaced by different content under the same id
    unchanged: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()  # (file, reason): letter files that could not be read
    skipped: tuple[tuple[str, str], ...] = ()  # (file, reason): files in a folder that are no letter
    replaced: tuple[tuple[str, int, int], ...] = ()  # (letter id, passages before, passages now)
    pending: tuple[tuple[str, int, int], ...] = ()  # replacements not done: they wait for a confirmation
