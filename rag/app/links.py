"""Provenance as HTML for the app: a passage's official citation with its permalink, and its
references to other Kamerstukken, each a link to that letter's view when the index holds it
(an `a.ref-open` the page's script turns into an event) and to its permalink otherwise."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from rag.ingest import provenance
from rag.types import Letter, Passage, Reference


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def known_letters(letters: Iterable[Letter]) -> dict[str, str]:
    """Official identifier -> letter id, for every indexed letter that has one (also under
    each of its dossiers, as a reference may name the letter by any of them)."""
    known: dict[str, str] = {}
    for letter in letters:
        if letter.identifier:
            known[letter.identifier] = letter.id
        if letter.dossier and letter.number:
            for dossier in (letter.dossier, *letter.also):
                known.setdefault(provenance.identifier(dossier, letter.number), letter.id)
    return known


def citation_html(p: Passage) -> str:
    """'Kamerstukken II 2022/23, 28 676, nr. 440, alinea 3' with a link to the official text,
    or today's form and a note that the letter has no official address."""
    citation = p.citation or f"{p.letter_id}, alinea {p.paragraph}"
    if p.url:
        link = (
            f' · <a class="official" href="{esc(p.url)}" target="_blank" rel="noopener noreferrer">officiële bron</a>'
        )
    else:
        link = ' · <span class="no-official">geen officiële vindplaats bekend</span>'
    return f'<div class="citation"><span class="cite-text">{esc(citation)}</span>{link}</div>'


def letter_citation_html(letter: Letter) -> str:
    """The head line of the letter view: its official citation and permalink, where known."""
    citation = provenance.letter_citation(letter)
    if not citation:
        return '<div class="citation no-official">geen officiële vindplaats bekend</div>'
    link = (
        f' · <a class="official" href="{esc(letter.url)}" target="_blank" rel="noopener noreferrer">officiële bron</a>'
        if letter.url
        else ""
    )
    return f'<div class="citation"><span class="cite-text">{esc(citation)}</span>{link}</div>'


def references_html(references: Sequence[Reference], known: Mapping[str, str]) -> str:
    """'Verwijst naar:' and a link per referred Kamerstuk (once each)."""
    seen: dict[str, Reference] = {}
    for ref in references:
        seen.setdefault(ref.identifier, ref)
    if not seen:
        return ""
    items = []
    for ident, ref in seen.items():
        label = esc(provenance.reference_citation(ref))
        letter_id = next((known[i] for i in _identifiers(ref) if i in known), None)
        if letter_id:
            items.append(f'<a href="#" class="ref ref-open" data-letter="{esc(letter_id)}">{label}</a>')
        else:
            url = esc(provenance.permalink(ident))
            items.append(f'<a class="ref" href="{url}" target="_blank" rel="noopener noreferrer">{label}</a>')
    return f'<div class="refs">Verwijst naar: {" · ".join(items)}</div>'


def cited_footer(citations: Sequence[tuple[int, Passage]]) -> str:
    """Under an answer in the chat: '[n] <citation> <permalink>' per cited passage, so that a
    copied answer keeps where each claim comes from."""
    lines = []
    for n, p in citations:
        where = esc(p.citation or f"{p.letter_id}, alinea {p.paragraph}")
        url = (
            f' <a class="official" href="{esc(p.url)}" target="_blank" rel="noopener noreferrer">{esc(p.url)}</a>'
            if p.url
            else ""
        )
        lines.append(f"[{n}] {where}{url}")
    return f'\n\n<div class="cited">{"<br>".join(lines)}</div>' if lines else ""


def _identifiers(ref: Reference) -> list[str]:
    return [provenance.identifier(d, ref.number) for d in ref.dossiers]


CSS = """
.citation {font-size: 0.88em; margin: 2px 0}
.citation .cite-text {font-weight: 600}
.no-official {color: var(--body-text-color-subdued); font-style: italic}
.cited {font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: 6px}
.refs {font-size: 0.85em; margin: 4px 0; color: var(--body-text-color-subdued)}
a.ref, a.official {color: var(--color-accent)}
"""
