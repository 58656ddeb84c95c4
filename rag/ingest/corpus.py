"""Letter files -> Letter: finds the letter files under folders (naming every file it does
not take, and why), reads each with the module for its format, and applies its metadata.

One module per format: text.py (.txt, a PDF extraction or plain paragraphs), pdf.py,
kst_xml.py (official Kamerstuk XML), odt.py, docx.py, html.py. Each yields a Draft that
assemble.py lays out as a Letter with the offset invariant
`letter.text[p.start:p.end] == p.text`. Metadata comes from the document itself, then a
`<stem>.metadata.xml` (the official metadata.xml) and a `<stem>.json` beside the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest import provenance
from rag.ingest.assemble import Draft, build
from rag.ingest.refusal import refuse as _refuse
from rag.ingest.text import draft_text, join_lines  # noqa: F401  (join_lines: part of this module's API)
from rag.settings import LimitsSettings
from rag.types import Letter, Origin

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".pdf", ".xml", ".odt", ".docx", ".html", ".htm")
KINDS = ".txt, .pdf, .xml (officieel Kamerstuk), .odt, .docx or .html"
SOORTEN = ".txt, .pdf, .xml (officieel Kamerstuk), .odt, .docx of .html"
MONTHS = tuple("januari februari maart april mei juni juli augustus september oktober november december".split())
_DATE = re.compile(r"(\d{1,2})\s+(" + "|".join(MONTHS) + r")\s+(\d{4})", re.IGNORECASE)


def scan(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The letter files under the given files and folders (stable order), and (file, reason)
    for every file in those folders that is not taken; a file named directly is always tried."""
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file())
        letters = {(p.parent, p.stem) for p in files if p.suffix.lower() in SUFFIXES and not _is_metadata(p)}
        for file in files:
            reason = _skip_reason(file, letters)
            if reason:
                skipped.append((str(file), f"{file}: {reason}"))
            elif not _is_sidecar(file, letters):
                found.append(file)
    return found, skipped


def letter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every letter file under the given files and folders, in a stable order."""
    yield from scan(paths)[0]


def letter_id(name: str) -> str:
    """A letter's id from its file name; the one rule of the CLI and the app: the stem in NFC,
    control characters (newlines too) and slashes as '_', without leading dots or outer spaces."""
    stem = unicodedata.normalize("NFC", Path(name.replace("/", "_").replace("\\", "_")).stem)
    clean = re.sub(r"[\x00-\x1f\x7f]", "_", stem).strip().lstrip(".").strip()
    return clean or "brief"


def read_letter(path: Path, limits: LimitsSettings | None = None) -> Letter:
    """Read one letter file into a Letter; raise CorpusError saying what is wrong, and nothing
    else whatever the file holds."""
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
    data = _bytes(path, limits.file_bytes)
    draft, meta = _draft(path, data, limits.pages)
    official = _official_metadata(path)
    sidecar = _sidecar(path)
    lid = letter_id(path.name)
    draft = _apply(draft, {**meta, **official}, sidecar, str(path), lid)
    digest = _sha256(data + _metadata_bytes(path), sidecar)
    return _from_corpus(build(draft, letter_id=lid, source=str(path), sha256=digest))


def parse_text(raw: str, letter_id: str, source: str = "", sha256: str = "", meta: dict | None = None) -> Letter:
    """Parse the text of a letter (PDF-extraction layout or blank-line paragraphs)."""
    meta = meta or {}
    draft = _apply(draft_text(raw, _fallback_title(letter_id)), {}, meta, source, letter_id)
    return _from_corpus(build(draft, letter_id, source, sha256 or _sha256(raw.encode(), meta)))


def _from_corpus(letter: Letter) -> Letter:
    """A letter read by the operator (rag ingest): its official identifier, where it gives one,
    counts as verified; the app marks uploads otherwise."""
    identifier = letter.identifier or letter.kamerstuk
    return dataclasses.replace(letter, origin=Origin("corpus", identifier=identifier, verified=bool(identifier)))


# --- reading by format -----------------------------------------------------------------


def _bytes(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise _refuse(
            path,
            f"no such file. Give the path of a letter ({KINDS}).",
            f"bestand niet gevonden. Geef het pad van een brief ({SOORTEN}).",
        )
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise _refuse(
            path,
            f"unknown file type '{suffix or '(none)'}'. Give a letter as {KINDS}.",
            f"onbekend bestandstype '{suffix or '(geen)'}'. Voeg een brief toe als {SOORTEN}.",
        )
    if "#" in path.stem:
        raise _refuse(
            path,
            "the file name may not contain '#'; rename the file.",
            "de bestandsnaam mag geen '#' bevatten; hernoem het bestand.",
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise _refuse(
            path,
            f"the file is {_mb(size)}, above the limit of {_mb(max_bytes)}. Split the letter, or raise "
            "the limit (RAG_LIMITS_FILE_BYTES).",
            f"het bestand is {_mb(size)}, meer dan de grens van {_mb(max_bytes)}. Splits de brief, of laat "
            "de beheerder de grens verhogen (RAG_LIMITS_FILE_BYTES).",
        )
    data = path.read_bytes()
    if not data.strip():
        raise _refuse(
            path,
            "the file is empty. Export the letter's text again.",
            "het bestand is leeg. Exporteer de tekst van de brief opnieuw.",
        )
    return data


def _draft(path: Path, data: bytes, max_pages: int) -> tuple[Draft, dict]:
    """The draft of the file by its format, and the metadata the document itself holds."""
    suffix = path.suffix.lower()
    title = _fallback_title(letter_id(path.name))
    if suffix == ".pdf":
        from rag.ingest.pdf import draft_pdf

        return draft_pdf(path, data, title, max_pages), {}
    if suffix == ".xml":
        from rag.ingest.kst_xml import draft_xml

        return draft_xml(path, data)
    if suffix == ".odt":
        from rag.ingest.odt import draft_odt

        return draft_odt(path, data, title), {}
    if suffix == ".docx":
        from rag.ingest.docx import draft_docx

        return draft_docx(path, data, title), {}
    if suffix in (".html", ".htm"):
        from rag.ingest.html import draft_html

        return draft_html(path, data, title)
    return draft_text(_decode(path, data), title), {}


# --- metadata --------------------------------------------------------------------------


def _apply(draft: Draft, official: dict, sidecar: dict, source: str, letter_id: str) -> Draft:
    """Metadata over what the body gives: the official fields, then the JSON sidecar; the
    identifier is derived from dossier and number (or they from it) where one is missing,
    and a file named by its official identifier (kst-28676-433.docx) has that one."""
    changes = {
        k: official[k]
        for k in ("dossier", "number", "vergaderjaar", "chamber", "identifier", "title", "also")
        if k in official
    }
    if "signature" in official and not draft.signature:
        changes["signature"] = official["signature"]
    for key in ("title", "kamerstuk", "url"):
        if sidecar.get(key):
            changes[key] = sidecar[key]
    draft = dataclasses.replace(draft, **changes)
    date = _sidecar_date(sidecar, source) or official.get("date") or draft.date or official.get("issued")
    if not (draft.identifier or draft.dossier) and provenance.parse_identifier(letter_id):
        draft = dataclasses.replace(draft, identifier=letter_id)
    parsed = provenance.parse_identifier(draft.identifier or "")
    if parsed and not (draft.dossier and draft.number):
        draft = dataclasses.replace(draft, dossier=draft.dossier or parsed[0], number=draft.number or parsed[1])
    if not draft.identifier and draft.dossier and draft.number:
        draft = dataclasses.replace(draft, identifier=provenance.identifier(draft.dossier, draft.number))
    return dataclasses.replace(draft, date=date or _title_date(draft.title, source))


def _official_metadata(path: Path) -> dict:
    """The fields of the official metadata.xml beside the letter: <stem>.metadata.xml, or
    metadata.xml in a folder that holds this one letter (as the official repository ships it)."""
    side = _metadata_path(path)
    if side is None:
        return {}
    from rag.ingest.kst_xml import read_metadata

    return read_metadata(side)


def _metadata_path(path: Path) -> Path | None:
    named = path.with_name(path.stem + ".metadata.xml")
    if _is_file(named):
        return named
    shared = path.with_name("metadata.xml")
    if shared.is_file() and path.name != "metadata.xml":
        others = [p for p in path.parent.iterdir() if p.suffix.lower() in SUFFIXES and not _is_metadata(p)]
        return shared if others == [path] else None
    return None


def _is_file(path: Path) -> bool:
    """Whether a file is there; a name too long for the file system names none."""
    try:
        return path.is_file()
    except OSError:
        return False


def _metadata_bytes(path: Path) -> bytes:
    side = _metadata_path(path)
    return side.read_bytes() if side else b""


def _is_metadata(path: Path) -> bool:
    return path.name.lower() == "metadata.xml" or path.name.lower().endswith(".metadata.xml")


def _is_sidecar(path: Path, letters: set[tuple[Path, str]]) -> bool:
    """A metadata file of a letter beside it: <stem>.json, <stem>.metadata.xml, metadata.xml."""
    if _is_metadata(path):
        return True
    return path.suffix.lower() == ".json" and (path.parent, path.stem) in letters


def _skip_reason(path: Path, letters: set[tuple[Path, str]]) -> str | None:
    """Why a file in a folder is not read as a letter, or None when it is (or is a sidecar)."""
    if any(part.startswith(".") for part in path.parts[-1:]):
        return "hidden file, not read."
    if _is_metadata(path):
        stem = path.name[: -len(".metadata.xml")] if path.name.lower() != "metadata.xml" else None
        if stem is not None and not any(parent == path.parent and s == stem for parent, s in letters):
            return f"metadata without a letter: no {stem}.xml (or another letter file) beside it."
        return None
    if path.suffix.lower() == ".json":
        return None if (path.parent, path.stem) in letters else "a .json sidecar without a letter of the same name."
    if path.suffix.lower() not in SUFFIXES:
        return f"unknown file type '{path.suffix or '(none)'}'; letters are {KINDS}."
    return None


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


def _sidecar(path: Path) -> dict:
    """Metadata from an optional <stem>.json beside the letter: title, date, kamerstuk, url."""
    side = path.with_suffix(".json")
    if not _is_file(side):  # also when the sidecar's name would be too long: then there is none
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


def _sidecar_date(meta: dict, source: str) -> dt.date | None:
    if "date" not in meta:
        return None
    try:
        return dt.date.fromisoformat(meta["date"])
    except ValueError:
        raise _refuse(
            source,
            f"sidecar date '{meta['date']}' is not YYYY-MM-DD.",
            f"de datum '{meta['date']}' in het metadatabestand is niet JJJJ-MM-DD.",
        ) from None


def _title_date(title: str, source: str = "") -> dt.date | None:
    """The last Dutch date in the title ('11 en 12 juli 2023')."""
    found = _DATE.findall(title)
    if not found:
        return None
    day, month, year = found[-1]
    try:
        return dt.date(int(year), MONTHS.index(month.lower()) + 1, int(day))
    except ValueError:
        date = f"{day} {month} {year}"
        raise _refuse(
            source or title,
            f"the title holds the date '{date}', which does not exist. Correct the title, or give the date in a "
            'sidecar .json beside the letter ({"date": "YYYY-MM-DD"}).',
            f"de titel bevat de datum '{date}', die niet bestaat. Verbeter de titel, of geef de datum in een "
            '.json-bestand naast de brief ({"date": "JJJJ-MM-DD"}).',
        ) from None


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _fallback_title(letter_id: str) -> str:
    return letter_id.replace("-", " ").replace("_", " ")


_AS_TEXT = f"Give the letter as {KINDS} (text in UTF-8)."
_ALS_TEKST = f"Voeg de brief toe als {SOORTEN} (tekst in UTF-8)."


def _sha256(data: bytes, meta: dict) -> str:
    return hashlib.sha256(data + json.dumps(meta, sort_keys=True).encode()).hexdigest()
