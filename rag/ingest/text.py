"""Text in the layout of a PDF extraction (or plain blank-line paragraphs) -> a Draft.

The text of a PDF extraction shows its layout: a new page starts with a line that
begins with a space, footnotes stand at the bottom of a page (after a blank line,
numbered in sequence, their markers stuck to a word in the body: "NAVO-landen1"),
and words are hyphenated across line ends. We undo all of that from the text
around each break, never from a list of words, and remember the page each
paragraph starts on (pdf.py hands its pages over in this layout).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.ingest.assemble import Block, Draft, Note

MARK = "\ue000"  # private-use sentinel put before a footnote marker while parsing
_FOOTNOTE_LINE = re.compile(r"^(\d{1,3}) +(\S.*)$")
_BULLET = re.compile(r"^[•▪◦·●\-–*] +\S")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(?:" + MARK + r"\d+)?$")


@dataclass
class _Note:
    number: int
    lines: list[str] = field(default_factory=list)


def draft_text(raw: str, fallback_title: str, pages: bool = False) -> Draft:
    """The draft of a letter's text; `pages`: record the page each paragraph starts on."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    # a form feed always starts a page (an empty one too, so page numbers stay the PDF's)
    sheets = [page for chunk in text.split("\f") for page in _pages(chunk.split("\n"))]
    body, on_page, notes = _strip_footnotes(sheets)
    blocks = _blocks(body, on_page)
    title = _title(blocks) or fallback_title
    return _draft(blocks, notes, title, pages)


# --- pages and footnotes -------------------------------------------------------------


def _pages(lines: list[str]) -> list[list[str]]:
    """Split at lines that begin with a space (a new PDF page); whitespace-only lines are blank."""
    lines = [ln.rstrip() if ln.strip() else "" for ln in lines]
    pages: list[list[str]] = [[]]
    for line in lines:
        if line.startswith((" ", "\t")) and pages[-1]:
            pages.append([])
        pages[-1].append(line)
    return pages


def _strip_footnotes(pages: list[list[str]]) -> tuple[list[str], list[int], list[_Note]]:
    """Take the footnote block off the bottom of each page, marking its markers in the body;
    the body lines, the page (1-based) of each, and the footnotes."""
    body: list[str] = []
    on_page: list[int] = []
    notes: list[_Note] = []
    previous = 0  # where the page before this one starts in body
    for number, page in enumerate(pages, start=1):
        page = list(page)
        start = _footnote_block(page, len(notes) + 1, body, previous)
        if start is not None:
            found = _parse_notes(page[start:], len(notes) + 1)
            for note in found[1:]:  # the first one was marked when the block was found
                _mark(page, 0, start, note.number) or _mark(body, previous, len(body), note.number)
            notes.extend(found)
            page = page[:start]
            while page and not page[-1]:
                page.pop()
        if body and page and body[-1] and not _continues(body[-1], page[0].strip()):
            body.append("")
            on_page.append(number)
        previous = len(body)
        body.extend(page)
        on_page.extend([number] * len(page))
    return body, on_page, notes


def _footnote_block(page: list[str], number: int, body: list[str], previous: int) -> int | None:
    """Where the footnotes of this page begin: a line 'N text' after a blank line, N the
    next footnote number, whose marker stands in the body above it (or on the page before)."""
    for j, line in enumerate(page):
        found = _FOOTNOTE_LINE.match(line)
        if found and int(found.group(1)) == number and j > 0 and not page[j - 1]:
            if _mark(page, 0, j, number) or _mark(body, previous, len(body), number):
                return j
    return None


def _mark(lines: list[str], lo: int, hi: int, number: int) -> bool:
    """Put MARK before the first unmarked marker 'number' in lines[lo:hi]; False if none."""
    marker = re.compile(r"(?<=[^\W\d_]|[%.,;:)\]'’”])" + str(number) + r"(?![\d,.]\d)(?!\d)")
    for i in range(lo, min(hi, len(lines))):
        found = marker.search(lines[i])
        if found:
            lines[i] = lines[i][: found.start()] + MARK + lines[i][found.start() :]
            return True
    return False


def _parse_notes(lines: list[str], number: int) -> list[_Note]:
    notes: list[_Note] = []
    for line in lines:
        found = _FOOTNOTE_LINE.match(line)
        if found and int(found.group(1)) == number + len(notes):
            notes.append(_Note(number + len(notes), [found.group(2)]))
        elif line and notes:
            notes[-1].lines.append(line.strip())
    return notes


def _continues(last: str, first: str) -> bool:
    """Does the first line of a page continue the paragraph the page before ended in?"""
    if _BULLET.match(first):
        return True
    return not (_SENTENCE_END.search(last.rstrip()) and first[:1].isupper())


# --- blocks, lines and hyphens -------------------------------------------------------


def _blocks(lines: list[str], on_page: list[int]) -> list[tuple[list[str], int]]:
    """Group lines into blank-line separated blocks (with the page each starts on); bullet
    items stay with their paragraph."""
    blocks: list[tuple[list[str], int]] = []
    current: list[str] = []
    first = 1
    for line, page in [*zip(lines, on_page, strict=True), ("", 0)]:
        if line:
            if not current:
                first = page
            current.append(line.strip())
        elif current:
            if blocks and _BULLET.match(current[0]) and not _is_heading(blocks[-1][0]):
                blocks[-1][0].extend(current)
            else:
                blocks.append((current, first))
            current = []
    return blocks


def join_lines(lines: Sequence[str]) -> str:
    """Join wrapped lines: undo line-end hyphenation, keep real hyphens, keep bullets apart."""
    text = ""
    for line in lines:
        line = re.sub(r"\s{2,}", " ", line.strip())
        if not text:
            text = line
        elif _BULLET.match(line):
            text += "\n" + line
        elif text.endswith("\u00ad"):
            text = text[:-1] + line
        elif text.endswith(("-", "\u2010")) and len(text) > 1 and not text[-2].isspace() and line[:1].isalpha():
            text = text + line if _real_hyphen(text[:-1], line) else text[:-1] + line
        elif text.endswith("/"):
            text += line
        else:
            text += " " + line
    return text


def _real_hyphen(before: str, after: str) -> bool:
    """A hyphen at a line end is part of the word when a capital follows it
    ("Minister-President") or an acronym or number stands before it ("NAVO-bondgenoten")."""
    fragment = re.split(r"[\s\-\u2010/(]", before)[-1].replace(MARK, "")
    return after[:1].isupper() or (len(fragment) > 1 and fragment.isupper()) or any(c.isdigit() for c in fragment)


def _is_heading(block: list[str]) -> bool:
    text = join_lines(block)
    return (
        len(block) <= 3
        and len(text) <= 160
        and not _BULLET.match(text)
        and MARK not in text
        and (text[:1].isupper() or text[:1].isdigit())
        and text[-1] not in ".,;:!?"
    )


def _title(blocks: list[tuple[list[str], int]]) -> str | None:
    """The first block is the title when it reads as one (short, no closing punctuation)."""
    if len(blocks) > 1 and _is_heading(blocks[0][0]):
        return join_lines(blocks.pop(0)[0])
    return None


# --- into a draft ----------------------------------------------------------------------


def _draft(blocks: list[tuple[list[str], int]], notes: list[_Note], title: str, pages: bool) -> Draft:
    """Headings (a run of them nests) and paragraphs with their footnotes, in reading order."""
    out: list[Block] = []
    texts = {n.number: join_lines(n.lines) for n in notes}
    level = 0
    for i, (lines, page) in enumerate(blocks):
        piece = join_lines(lines)
        if i + 1 < len(blocks) and _is_heading(lines):
            level += 1
            out.append(Block(piece, level=level))
            continue
        level = 0
        piece, found = _take_marks(piece)
        marked = [Note(n, texts[n], at) for at, n in found if n in texts]
        out.append(Block(piece, notes=marked, page=page if pages else None))
    used = {n.number for b in out for n in b.notes}
    return Draft(title, out, orphans=[(n, t) for n, t in texts.items() if n not in used])


def _take_marks(piece: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove MARK sentinels; return the clean text and (offset, footnote number) pairs."""
    found = []
    while MARK in piece:
        at = piece.index(MARK)
        number = int(re.match(r"\d+", piece[at + 1 :]).group())  # type: ignore[union-attr]
        found.append((at, number))
        piece = piece[:at] + piece[at + 1 :]
    return piece, found
