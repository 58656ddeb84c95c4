"""Letter -> Passages. A paragraph is the unit of citation: it becomes one passage,
and only a very long one is split, at sentence ends, keeping offsets and number. A
sentence longer than max_chars (a paragraph without sentence ends) is cut hard: at the
last space before max_chars, or at max_chars itself where there is none."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag.ingest import provenance
from rag.settings import ChunkingSettings
from rag.types import Letter, Paragraph, Passage

# A sentence ends at . ! ? (maybe with a footnote marker or quote) before a space and a capital,
# a bullet, or the end. Abbreviations such as "o.a." or "nr. 4" are not followed by a capital.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\d{0,2}(?=\s+[A-Z\u00C0-\u00DD•(\"'‘“]|\n|$)")


def passages(letter: Letter, settings: ChunkingSettings) -> list[Passage]:
    """All passages of a letter, in reading order."""
    return [p for para in letter.paragraphs for p in _split(letter, para, settings.max_chars)]


def sentence_units(passage: Passage) -> list[tuple[int, int]]:
    """Spans (in the letter text) of each sentence of a passage and of each of its footnotes:
    the units that sentence-level search embeds and that answers quote."""
    return [(start, end) for _, start, end in sentences(passage)]


def sentences(passage: Passage) -> list[tuple[str, int, int]]:
    """Each sentence of a passage and of its footnotes, with its span in the letter text."""
    pieces = [(passage.text, passage.start)] + [(f.text, f.start) for f in passage.footnotes]
    return [(text[s:e], offset + s, offset + e) for text, offset in pieces for s, e in sentence_spans(text)]


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence in text, without surrounding white space."""
    start = 0
    for found in _SENTENCE_END.finditer(text):
        yield from _trimmed(text, start, found.end())
        start = found.end()
    yield from _trimmed(text, start, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    piece = text[start:end]
    if piece.strip():
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        yield start + left, start + right


def _split(letter: Letter, para: Paragraph, max_chars: int) -> list[Passage]:
    """One passage for the paragraph, or several of whole sentences each under max_chars."""
    pieces = [(para.start, para.end)]
    if len(para.text) > max_chars:
        pieces = []
        for s, e in (cut for span in sentence_spans(para.text) for cut in hard_cuts(para.text, *span, max_chars)):
            if pieces and e - (pieces[-1][0] - para.start) <= max_chars:
                pieces[-1] = (pieces[-1][0], para.start + e)
            else:
                pieces.append((para.start + s, para.start + e))
    many = len(pieces) > 1
    return [
        Passage(
            letter_id=letter.id,
            letter_title=letter.title,
            letter_date=letter.date,
            section=para.section,
            paragraph=para.number,
            text=letter.text[start:end],
            start=start,
            end=end,
            footnotes=tuple(f for f in para.footnotes if start <= f.marker < end or not many),
            part=i if many else 0,
            page=para.page,
            references=tuple(r for r in para.references if _belongs(r.start, start, end, para, many)),
            citation=provenance.citation(letter, para.number, para.page),
            url=letter.url,
            origin=letter.origin,
        )
        for i, (start, end) in enumerate(pieces, start=1)
    ]


def _belongs(at: int, start: int, end: int, para: Paragraph, many: bool) -> bool:
    """Is a reference at letter offset `at` part of the piece start..end of the paragraph: in
    its text, or in a footnote whose marker stands in it (every piece, when the paragraph is whole)."""
    if not many or start <= at < end:
        return True
    return any(f.start <= at < f.end and start <= f.marker < end for f in para.footnotes)


def hard_cuts(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """text[start:end] in pieces of at most max_chars, cut at the last white space that
    leaves a piece of at least half max_chars, else at max_chars; spaces trimmed."""
    while end - start > max_chars:
        window = text[start : start + max_chars + 1]
        space = max(window.rfind(" "), window.rfind("\n"))
        cut = start + space if space >= max_chars // 2 else start + max_chars
        yield from _trimmed(text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        yield from _trimmed(text, start, end)
