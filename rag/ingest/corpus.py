"""Letter files (.txt extracted from PDF, .pdf, plain .txt) -> Letter with numbered paragraphs.

The text of a PDF extraction shows its layout: a new page starts with a line that
begins with a space, footnotes stand at the bottom of a page (after a blank line,
numbered in sequence, their markers stuck to a word in the body: "NAVO-landen1"),
and words are hyphenated across line ends. We undo all of that from the text
around each break, never from a list of words, and keep every paragraph's span
in the clean text: `letter.text[p.start:p.end] == p.text`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError
from rag.settings import LimitsSettings
from rag.types import Footnote, Letter, Origin, Paragraph

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".pdf")
MARK = "\ue000"  # private-use sentinel put before a footnote marker while parsing
_FOOTNOTE_LINE = re.compile(r"^(\d{1,3}) +(\S.*)$")
_BULLET = re.compile(r"^[•▪◦·●\-–*] +\S")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?(?:" + MARK + r"\d+)?$")
MONTHS = tuple("januari februari maart april mei juni juli augustus september oktober november december".split())
_DATE = re.compile(r"(\d{1,2})\s+(" + "|".join(MONTHS) + r")\s+(\d{4})", re.IGNORECASE)


@dataclass
class _Note:
    number: int
    lines: list[str] = field(default_factory=list)


def letter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every letter file under the given files and folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            yield path


def letter_id(name: str) -> str:
    """A letter's id from its file name; the one rule of the CLI and the app: the stem in NFC,
    control characters (newlines too) and slashes as '_', without leading dots or outer spaces."""
    stem = unicodedata.normalize("NFC", Path(name.replace("/", "_").replace("\\", "_")).stem)
    clean = re.sub(r"[\x00-\x1f\x7f]", "_", stem).strip().lstrip(".").strip()
    return clean or "brief"


def read_letter(path: Path, limits: LimitsSettings | None = None) -> Letter:
    """Read one .txt or .pdf file into a Letter; raise CorpusError saying what is wrong, and
    nothing else whatever the file holds."""
    try:
        return _read_letter(Path(path), limits or LimitsSettings())
    except CorpusError:
        raise
    except OSError as err:
        raise _refuse(
            path,
            f"cannot be read ({err.strerror or err}). Check the file and its name.",
            f"kan niet worden gelezen ({err.strerror or err}). Controleer het bestand en de naam.",
        ) from None
    except Exception as err:  # noqa: BLE001 - a parser bug on one odd file must refuse that file alone
        log.exception("parsing %s failed", path)
        raise _refuse(
            path,
            f"could not be parsed ({type(err).__name__}: {err}). Check the file; the other files are not affected.",
            f"kon niet worden verwerkt ({type(err).__name__}). Controleer het bestand; andere bestanden gaan gewoon door.",
        ) from None


def _read_letter(path: Path, limits: LimitsSettings) -> Letter:
    if not path.is_file():
        raise _refuse(
            path,
            "no such file. Give the path of a .txt or .pdf letter.",
            "bestand niet gevonden. Geef het pad van een brief als .txt of .pdf.",
        )
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _refuse(
            path,
            f"unknown file type '{suffix or '(none)'}'. Give a .txt or .pdf letter.",
            f"onbekend bestandstype '{suffix or '(geen)'}'. Voeg een brief toe als .txt of .pdf.",
        )
    if "#" in path.stem:
        raise _refuse(
            path,
            "the file name may not contain '#'; rename the file.",
            "de bestandsnaam mag geen '#' bevatten; hernoem het bestand.",
        )
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise _refuse(
            path,
            f"the file is {_mb(size)}, above the limit of {_mb(limits.file_bytes)}. Split the letter, or raise "
            "the limit (RAG_LIMITS_FILE_BYTES).",
            f"het bestand is {_mb(size)}, meer dan de grens van {_mb(limits.file_bytes)}. Splits de brief, of laat "
            "de beheerder de grens verhogen (RAG_LIMITS_FILE_BYTES).",
        )
    data = path.read_bytes()
    if not data.strip():
        raise _refuse(
            path,
            "the file is empty. Export the letter's text again.",
            "het bestand is leeg. Exporteer de tekst van de brief opnieuw.",
        )
    raw = _pdf_text(path, data, limits.pages) if suffix == ".pdf" else _decode(path, data)
    meta = _sidecar(path)
    return parse_text(raw, letter_id=letter_id(path.name), source=str(path), sha256=_sha256(data, meta), meta=meta)


def parse_text(raw: str, letter_id: str, source: str = "", sha256: str = "", meta: dict | None = None) -> Letter:
    """Parse the text of a letter (PDF-extraction layout or blank-line paragraphs)."""
    meta = meta or {}
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n ").split("\n")
    body, notes = _strip_footnotes(_pages(lines))
    blocks = _blocks(body)
    title = _title(blocks) or meta.get("title") or letter_id.replace("-", " ").replace("_", " ")
    if meta.get("title"):
        title = meta["title"]
    letter = _assemble(blocks, notes, title, letter_id)
    if not letter["paragraphs"]:
        raise _refuse(
            source or letter_id,
            "no paragraphs of text found. Is this a letter?",
            "geen alinea's tekst gevonden. Is dit een brief?",
        )
    return Letter(
        id=letter_id,
        title=title,
        date=_date(meta, title, source),
        text=letter["text"],
        paragraphs=tuple(letter["paragraphs"]),
        source=source,
        sha256=sha256 or _sha256(raw.encode(), meta),
        kamerstuk=meta.get("kamerstuk"),
        url=meta.get("url"),
        headings=tuple(letter["headings"]),
        origin=Origin("corpus", identifier=meta.get("kamerstuk"), verified="kamerstuk" in meta),
    )


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


def _strip_footnotes(pages: list[list[str]]) -> tuple[list[str], list[_Note]]:
    """Take the footnote block off the bottom of each page, marking its markers in the body."""
    body: list[str] = []
    notes: list[_Note] = []
    previous = 0  # where the page before this one starts in body
    for page in pages:
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
        previous = len(body)
        body.extend(page)
    return body, notes


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


def _blocks(lines: list[str]) -> list[list[str]]:
    """Group lines into blank-line separated blocks; bullet items stay with their paragraph."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line.strip())
        elif current:
            if blocks and _BULLET.match(current[0]) and not _is_heading(blocks[-1]):
                blocks[-1].extend(current)
            else:
                blocks.append(current)
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


def _title(blocks: list[list[str]]) -> str | None:
    """The first block is the title when it reads as one (short, no closing punctuation)."""
    if len(blocks) > 1 and _is_heading(blocks[0]):
        title = join_lines(blocks.pop(0))
        return title
    return None


# --- assembling the clean text -------------------------------------------------------


def _assemble(blocks: list[list[str]], notes: list[_Note], title: str, letter_id: str) -> dict:
    """Lay out title, headings and paragraphs, then the footnotes, recording every span."""
    text = title
    paragraphs: list[dict] = []
    headings: list[tuple[int, int]] = []
    section: list[str] = []
    markers: dict[int, int] = {}
    after_heading = False
    for i, block in enumerate(blocks):
        heading = i + 1 < len(blocks) and _is_heading(block)
        piece = join_lines(block)
        text += "\n\n"
        if heading:
            section = [*section, piece] if after_heading else [piece]
            headings.append((len(text), len(text) + len(piece)))
            text += piece
        else:
            start = len(text)
            piece, found = _take_marks(piece, notes, markers)
            for offset, number in found:
                markers[number] = start + offset
            text += piece
            paragraphs.append({"section": " › ".join(section) or None, "start": start, "end": len(text)})
        after_heading = heading
    if notes:
        text += "\n\nVoetnoten"
    spans = {}
    for note in notes:
        body = join_lines(note.lines)
        text += f"\n\n{note.number} "
        spans[note.number] = (len(text), len(text) + len(body))
        text += body
    return {"text": text, "headings": headings, "paragraphs": _paragraphs(text, paragraphs, spans, markers)}


def _take_marks(piece: str, notes: list[_Note], seen: dict[int, int]) -> tuple[str, list[tuple[int, int]]]:
    """Remove MARK sentinels; return the clean text and (offset, footnote number) pairs."""
    found = []
    while MARK in piece:
        at = piece.index(MARK)
        number = int(re.match(r"\d+", piece[at + 1 :]).group())  # type: ignore[union-attr]
        found.append((at, number))
        piece = piece[:at] + piece[at + 1 :]
    return piece, found


def _paragraphs(text: str, raw: list[dict], spans: dict, markers: dict[int, int]) -> list[Paragraph]:
    """Number the paragraphs and attach each footnote to the paragraph holding its marker."""
    result = []
    for number, p in enumerate(raw, start=1):
        notes = tuple(
            Footnote(n, text[s:e], s, e, markers[n])
            for n, (s, e) in sorted(spans.items())
            if n in markers and p["start"] <= markers[n] < p["end"]
        )
        result.append(Paragraph(number, p["section"], text[p["start"] : p["end"]], p["start"], p["end"], notes))
    return result


# --- file formats and metadata --------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16/32 with a BOM (Word and Windows export it);
    stray NUL and other control characters are dropped, many of them refuse the file."""
    for bom, codec in (
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return _controls(path, data.decode(codec))
            except UnicodeDecodeError as err:
                raise _refuse(
                    path,
                    f"broken {codec.upper()} text (at byte {err.start}). Save it as UTF-8.",
                    f"beschadigde {codec.upper()}-tekst (bij byte {err.start}). Sla het op als UTF-8.",
                ) from None
    if b"\x00" in data[:4096]:
        raise _refuse(
            path, "this is binary data, not text. " + _AS_TEXT, "dit zijn binaire gegevens, geen tekst. " + _ALS_TEKST
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _refuse(
            path,
            f"not UTF-8 text (byte 0x{data[err.start]:02x} at position {err.start}). Save it as UTF-8.",
            f"geen UTF-8-tekst (byte 0x{data[err.start]:02x} op positie {err.start}). Sla het op als UTF-8.",
        ) from None
    return _controls(path, text)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _controls(path: Path, text: str) -> str:
    """The text without control characters (NUL and the like); refused if they are many."""
    controls = len(_CONTROL.findall(text))
    if controls > max(3, len(text) // 100):
        raise _refuse(
            path,
            "looks like binary data, not text. " + _AS_TEXT,
            "lijkt op binaire gegevens, geen tekst. " + _ALS_TEKST,
        )
    return _CONTROL.sub("", text) if controls else text


def _pdf_text(path: Path, data: bytes, max_pages: int) -> str:
    """Extract a PDF's text page by page, in the layout the .txt letters have: blank lines
    between paragraphs (pypdf's layout mode keeps vertical gaps), a space opening each page."""
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _refuse(
                path,
                "the PDF is encrypted. Save an unencrypted copy and add that.",
                "de PDF is versleuteld. Sla een onversleutelde kopie op en voeg die toe.",
            )
        if len(reader.pages) > max_pages:
            raise _refuse(
                path,
                f"the PDF has {len(reader.pages)} pages, above the limit of {max_pages}. Split it, or raise the "
                "limit (RAG_LIMITS_PAGES).",
                f"de PDF heeft {len(reader.pages)} pagina's, meer dan de grens van {max_pages}. Splits hem, of laat "
                "de beheerder de grens verhogen (RAG_LIMITS_PAGES).",
            )
        pages = [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
    except CorpusError:
        raise
    except Exception as err:  # noqa: BLE001 - pypdf raises many kinds on a damaged file; refuse only that file
        raise _refuse(
            path,
            f"not a readable PDF ({err}). Export the letter to PDF again.",
            f"geen leesbare PDF ({err}). Exporteer de brief opnieuw naar PDF.",
        ) from None
    if sum(len(p.strip()) for p in pages) < 20:
        raise _refuse(
            path,
            "the PDF has no text layer (scanned images?). Run OCR on it first.",
            "de PDF heeft geen tekstlaag (gescande afbeeldingen?). Laat er eerst OCR op los.",
        )
    return "\n".join(" " + _tidy_page(p) for p in pages if p.strip())


def _tidy_page(text: str) -> str:
    """Strip layout padding and fold runs of blank lines into one."""
    lines = [re.sub(r" {2,}", " ", ln.strip()) for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _sidecar(path: Path) -> dict:
    """Metadata from an optional <stem>.json beside the letter: title, date, kamerstuk, url."""
    side = path.with_suffix(".json")
    try:
        if not side.is_file():
            return {}
    except OSError:  # the sidecar's name would be too long: then there is none
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise _refuse(
            side,
            f"not valid JSON ({err}). Fix or remove the sidecar file.",
            f"geen geldige JSON ({err}). Herstel of verwijder dit metadatabestand.",
        ) from None
    if not isinstance(meta, dict):
        raise _refuse(
            side,
            "must hold a JSON object with title, date, kamerstuk, url.",
            "moet een JSON-object bevatten met title, date, kamerstuk, url.",
        )
    return {k: str(v) for k, v in meta.items() if k in ("title", "date", "kamerstuk", "url") and v}


def _date(meta: dict, title: str, source: str) -> dt.date | None:
    """The sidecar's ISO date, else the last Dutch date in the title ('11 en 12 juli 2023')."""
    if "date" in meta:
        try:
            return dt.date.fromisoformat(meta["date"])
        except ValueError:
            raise _refuse(
                source,
                f"sidecar date '{meta['date']}' is not YYYY-MM-DD.",
                f"de datum '{meta['date']}' in het metadatabestand is niet JJJJ-MM-DD.",
            ) from None
    found = _DATE.findall(title)
    if not found:
        return None
    day, month, year = found[-1]
    try:
        return dt.date(int(year), MONTHS.index(month.lower()) + 1, int(day))
    except ValueError:
        date = f"{day} {month} {year}"
        raise _refuse(
            source,
            f"the title holds the date '{date}', which does not exist. Correct the title, or give the date in a "
            'sidecar .json beside the letter ({"date": "YYYY-MM-DD"}).',
            f"de titel bevat de datum '{date}', die niet bestaat. Verbeter de titel, of geef de datum in een "
            '.json-bestand naast de brief ({"date": "JJJJ-MM-DD"}).',
        ) from None


_AS_TEXT = "Give the letter as .txt (UTF-8) or .pdf."
_ALS_TEKST = "Voeg de brief toe als .txt (UTF-8) of .pdf."


def _refuse(path: Path | str, english: str, dutch: str) -> CorpusError:
    """The error for a file that cannot be read, in English and (for the app) in Dutch."""
    return CorpusError(f"{path}: {english}", nl=f"{path}: {dutch}")


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def content_key(letter: Letter) -> str:
    """A hash of what a letter says (its paragraphs, white space folded): the same letter under
    another file name, or re-exported, has the same key."""
    text = "\n".join(" ".join(p.text.split()) for p in letter.paragraphs)
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(data: bytes, meta: dict) -> str:
    return hashlib.sha256(data + json.dumps(meta, sort_keys=True).encode()).hexdigest()
