"""Where a paragraph comes from, in the form people cite it: the official citation
("Kamerstukken II 2022/23, 28 676, nr. 440, alinea 3"), the official permalink, and the
references between letters ("Kamerstuk 28 676, nr. 433") found in a letter's text.

The citation grammar of Kamerstukken is a fixed, published format (dossier number in
groups of three digits, an optional suffix such as "V" or "-32" for a sub-dossier or a
budget chapter, "nr." and the ondernummer), so a pattern is the right tool for it.
"""

from __future__ import annotations

import re

from rag.types import Letter, Reference

PERMALINK = "https://zoek.officielebekendmakingen.nl/{}.html"
CHAMBERS = {"tweede kamer": "II", "eerste kamer": "I", "2": "II", "1": "I", "tk": "II", "ek": "I"}

# 28 676 · 28676 · 36 200 V · 36200-V · 21 501-32 · 27 400 XV
_DOSSIER = r"\d{2,3}[\s.\u00a0]?\d{3}(?:(?:-|\s)(?:[IVXL]{1,6}|[A-Z])(?![\w-])|-\d{1,3})?"
_NUMBER = r"\d{1,4}(?![\d,.]\d)|[A-Z]{1,2}(?![\w-])"
_MENTION = re.compile(
    r"\bKamerstuk(?:ken)?(?:\s+(?P<chamber>II|I))?(?:\s+\d{4}[/–-]\d{2,4})?,?\s+"
    rf"(?P<dossiers>{_DOSSIER}(?:\s*(?:,|en)\s*{_DOSSIER})*),?\s+nrs?\.\s*"
    rf"(?P<numbers>(?:{_NUMBER})(?:\s*(?:,|en)\s*(?:{_NUMBER}))*)"
)
_IDENTIFIER = re.compile(r"\bkst-(\d{4,6}(?:-[IVXLA-Z0-9]{1,6})*-[0-9A-Z]{1,4})(?:-n\d+)?\b", re.IGNORECASE)


def parse_identifier(identifier: str) -> tuple[str, str] | None:
    """(dossier, ondernummer) of an official identifier, or None when it does not name them:
    kst-28676-440 -> ("28676", "440"), kst-27400-XV-52 -> ("27400-XV", "52"), a reprint
    kst-28676-440-n1 -> ("28676", "440"); a bare publication number (kst-1138049) -> None."""
    found = re.fullmatch(r"kst-(.+?)(?:-n\d+)?", identifier.strip(), re.IGNORECASE)
    parts = found.group(1).split("-") if found else []
    if len(parts) < 2 or not parts[0].isdigit() or not re.fullmatch(r"\d+|[A-Za-z]{1,2}", parts[-1]):
        return None
    dossier = "-".join([parts[0], *(p.upper() for p in parts[1:-1])])
    return dossier, parts[-1].upper()


def identifier(dossier: str, number: str) -> str:
    """The official identifier of Kamerstuk `number` in `dossier`: kst-36200-V-3."""
    return f"kst-{dossier}-{number}"


def permalink(identifier: str | None) -> str | None:
    """The official address of a publication, from its identifier."""
    return PERMALINK.format(identifier) if identifier else None


def normal_dossier(text: str) -> str:
    """A dossier number as written ("36 200 V", "21 501-32") in the form identifiers use ("36200-V")."""
    found = re.match(r"\s*(\d{2,3})[\s.\u00a0]?(\d{3})\s*(?:[-\s]\s*([A-Za-z0-9]+))?\s*$", text)
    if not found:
        return re.sub(r"\s+", "", text)
    head = found.group(1) + found.group(2)
    return f"{head}-{found.group(3).upper()}" if found.group(3) else head


def normal_vergaderjaar(text: str | None) -> str | None:
    """'Vergaderjaar 2022–2023', '20222023', '2022/23' -> '2022-2023'."""
    if not text:
        return None
    found = re.search(r"(\d{4})\s*[-–/]?\s*(\d{2,4})", text)
    if not found:
        return None
    first, second = found.group(1), found.group(2)
    return f"{first}-{first[:2] + second if len(second) == 2 else second}"


def chamber(text: str | None) -> str | None:
    """'Tweede Kamer der Staten-Generaal' (or kamer="2") -> 'II'; 'Eerste Kamer ...' -> 'I'."""
    lowered = (text or "").strip().lower()
    return next((mark for name, mark in CHAMBERS.items() if lowered.startswith(name)), None)


def format_dossier(dossier: str) -> str:
    """28676 -> '28 676', 36200-V -> '36 200 V', 21501-32 -> '21 501-32', as citations write them."""
    head, _, suffix = dossier.partition("-")
    grouped = f"{head[:-3]} {head[-3:]}" if len(head) > 3 and head.isdigit() else head
    if not suffix:
        return grouped
    return f"{grouped}-{suffix}" if suffix[:1].isdigit() else f"{grouped} {suffix}"


def letter_citation(letter: Letter) -> str | None:
    """The official citation of a letter: 'Kamerstukken II 2022/23, 28 676, nr. 440'
    ('Kamerstuk 28 676, nr. 440' without chamber and year); None without dossier and number."""
    if not (letter.dossier and letter.number):
        return None
    year = letter.vergaderjaar
    head = " ".join(
        p for p in ("Kamerstukken" if letter.chamber or year else "Kamerstuk", letter.chamber, _short(year)) if p
    )
    dossiers = " en ".join(format_dossier(d) for d in (letter.dossier, *letter.also))
    number = letter.number if letter.number.isalpha() else f"nr. {letter.number}"  # Eerste Kamer: "D"
    return f"{head}{', ' if letter.chamber or year else ' '}{dossiers}, {number}"


def citation(letter: Letter, paragraph: int, page: int | None = None) -> str:
    """The citation of one paragraph: the official one with the page where a PDF gives it and
    the paragraph always; without official metadata, today's '<letter id>, alinea n'."""
    where = f", p. {page}" if page else ""
    return f"{letter_citation(letter) or letter.id}{where}, alinea {paragraph}"


def reference_citation(ref: Reference) -> str:
    """How a reference reads: 'Kamerstuk 28 676, nr. 433' ('Kamerstukken 36 045 en 22 054, nr. 164')."""
    head = "Kamerstukken" if len(ref.dossiers) > 1 else "Kamerstuk"
    number = ref.number if ref.number.isalpha() else f"nr. {ref.number}"
    return f"{head} {' en '.join(format_dossier(d) for d in ref.dossiers)}, {number}"


def references(text: str, offset: int = 0) -> list[Reference]:
    """Every Kamerstuk that `text` (starting at letter offset `offset`) refers to, in order:
    'Kamerstuk 28 676, nr. 433', 'Kamerstukken 36 045 en 22 054, nr. 164', 'kst-28676-433'."""
    found: list[Reference] = []
    for m in _MENTION.finditer(text):
        dossiers = tuple(normal_dossier(d) for d in re.split(r"\s*(?:,|\ben\b)\s*", m.group("dossiers")) if d)
        for number in re.split(r"\s*(?:,|\ben\b)\s*", m.group("numbers")):
            if number:
                found.append(Reference(dossiers, number.upper(), offset + m.start(), offset + m.end()))
    for m in _IDENTIFIER.finditer(text):
        parsed = parse_identifier(m.group(0))
        if parsed and not any(r.start <= offset + m.start() < r.end for r in found):
            found.append(Reference((parsed[0],), parsed[1], offset + m.start(), offset + m.end()))
    return sorted(found, key=lambda r: (r.start, r.end))


def _short(vergaderjaar: str | None) -> str | None:
    """'2022-2023' -> '2022/23', as citations write the parliamentary year."""
    if not vergaderjaar or not re.fullmatch(r"\d{4}-\d{4}", vergaderjaar):
        return vergaderjaar
    return f"{vergaderjaar[:4]}/{vergaderjaar[-2:]}"


ORDERS = ("date", "dossier", "vergaderjaar")


def order_key(letter: Letter, by: str) -> tuple:
    """Sort key for letters: by date, by dossier (then number, numerically), or by vergaderjaar
    (then date); letters that lack the field come last, then by id."""
    day = letter.date.toordinal() if letter.date else 10**7
    if by == "dossier":
        head, _, suffix = (letter.dossier or "").partition("-")
        number = letter.number or ""
        return (
            not head,
            int(head) if head.isdigit() else 0,
            suffix,
            not number.isdigit(),
            int(number) if number.isdigit() else 0,
            number,
            letter.id,
        )
    if by == "vergaderjaar":
        return (not letter.vergaderjaar, letter.vergaderjaar or "", day, letter.id)
    return (day, letter.id)
