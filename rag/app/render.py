"""Answers, sources and letters as HTML for the app. Pure functions, no Gradio.

Every piece of letter text, title, section and file name goes through html.escape:
a letter that contains `<script>` shows those characters and runs nothing. Spans
(quotes, footnote markers) are letter offsets, so a highlight lands exactly where
the cited words stand in the letter.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping, Sequence

from rag.app.links import CSS as LINKS_CSS
from rag.app.links import citation_html, letter_citation_html, references_html
from rag.ingest.corpus import MONTHS
from rag.types import CITATION, Answer, Citation, Footnote, Hit, IngestReport, Letter, Origin, Paragraph, Passage

# A footnote marker as the letters print it: digits straight after a word's closing
# punctuation ("geleverd.3", "NAVO.4") or after a lower-case word ("NAVO-landen1 een"); not a
# number ("in 2014"), a code ("G7", "F-16", "punt a2") or an amount.
_NOTE_MARKER = re.compile(r"(?:(?<=[^\W\d_][.,;:)])|(?<=[a-zà-ÿ]{3}))(\d{1,2})(?=[\s.,;:]|$)")

Span = tuple[int, int]


def esc(text: object) -> str:
    """Text (or None) as HTML text, quotes included so it is safe in attributes too."""
    return html.escape("" if text is None else str(text), quote=True)


def date_nl(day: dt.date | None) -> str:
    """12 juli 2023; 'datum onbekend' without a date."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}" if day else "datum onbekend"


# The chat renders Markdown. Text inside one HTML block (a <div> without blank lines) is not
# Markdown to it: no image is fetched, no URL turned into a link, and no escape is needed,
# so letter text and questions show exactly as they are (checked in tests/browser/).


def question_html(question: str) -> str:
    """The user's question for the chat: plain text, never Markdown or HTML."""
    return f'<div class="question">{_lines(esc(question))}</div>'


def answer_markdown(text: str, turn: int = 0) -> str:
    """The answer for the chat: its text exactly (letters and LLM tokens may hold `[x](url)`,
    `*` or `#`; they stay characters), in which every [n] links to source n of answer `turn`."""
    pieces = CITATION.split(text)  # text, number, text, number, ..., text
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(f'<a href="#cite-{turn}-{piece}" class="cite">[{piece}]</a>')
        else:
            out.append(_plain(piece))
    return f'<div class="answer">{_lines("".join(out))}</div>'


def _lines(html_text: str) -> str:
    """Line breaks as <br>: a blank line would end the HTML block and start Markdown again."""
    return html_text.replace("\r\n", "\n").replace("\n", "<br>")


def _plain(text: str) -> str:
    """Text escaped for HTML, with footnote markers as superscripts, as in the letter."""
    pieces = _NOTE_MARKER.split(text)  # text, marker, text, marker, ..., text
    return "".join(f"<sup>{p}</sup>" if i % 2 else esc(p) for i, p in enumerate(pieces))


def origin_text(origin: Origin) -> str:
    """Where a letter came from, in a few words (for the table of letters)."""
    if origin.upload:
        return f"upload door {origin.by or 'onbekend'}" + (f", {origin.at[:10]}" if origin.at else "")
    return "corpus" + (", kenmerk geverifieerd" if origin.identifier and origin.verified else "")


def origin_html(origin: Origin) -> str:
    """The origin line of a source: an upload is marked plainly as not an official letter."""
    if origin.upload:
        when = f" op {esc(origin.at[:16].replace('T', ' '))}" if origin.at else ""
        claim = f" Opgegeven kenmerk {esc(origin.identifier)}: niet geverifieerd." if origin.identifier else ""
        return (
            f'<div class="origin upload">Upload door <b>{esc(origin.by or "onbekend")}</b>{when}: '
            f"geen officiële brief uit de corpus.{claim}</div>"
        )
    ident = f" · {esc(origin.identifier)} (geverifieerd)" if origin.identifier and origin.verified else ""
    return f'<div class="origin corpus">Uit de corpus{ident}</div>'


def markup(text: str, offset: int, marks: Sequence[Span] = (), footnotes: Sequence[Footnote] = ()) -> str:
    """Escaped `text` (which starts at letter offset `offset`), the letter spans `marks`
    in <mark> and the footnote markers of `footnotes` as superscripts."""
    sups: list[Span] = []
    for f in footnotes:
        at = f.marker - offset
        digits = str(f.number)
        if 0 <= at and text[at : at + len(digits)] == digits:
            sups.append((at, at + len(digits)))
    local = [(max(0, a - offset), min(len(text), b - offset)) for a, b in marks]
    hls = [(a, b) for a, b in local if a < b]
    cuts = sorted({0, len(text), *(c for s in sups for c in s), *(c for s in hls for c in s)})
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        piece = esc(text[a:b])
        if any(s <= a and b <= e for s, e in sups):
            piece = f"<sup>{piece}</sup>"
        if any(s <= a and b <= e for s, e in hls):
            piece = f"<mark>{piece}</mark>"
        out.append(piece)
    return "".join(out)


def sources_html(
    answer: Answer | None, turn: int = 0, active: int | None = None, known: Mapping[str, str] | None = None
) -> str:
    """The sources panel of answer `turn`: a card per cited passage (card `active` marked),
    with its official citation and the Kamerstukken it refers to (linked to their letter view
    when `known` (identifier -> letter id) holds them), then the other retrieved passages, collapsed."""
    if answer is None:
        return '<p class="empty">Stel een vraag; de bronnen van het antwoord verschijnen hier.</p>'
    cited = {c.passage.id for c in answer.citations}
    cards = "".join(_citation_card(c, c.n == active, known or {}) for c in answer.citations)
    if not cards:
        cards = '<p class="empty">Geen bron geciteerd: de brieven geven hierop geen antwoord.</p>'
    others = [(rank, h) for rank, h in enumerate(answer.hits, start=1) if h.passage.id not in cited]
    rows = "".join(_hit_row(rank, h) for rank, h in others)
    more = (
        f'<details class="others"><summary>Andere gevonden passages ({len(others)}), niet geciteerd</summary>'
        f"{rows}</details>"
        if others
        else ""
    )
    return f'<div class="sources" data-turn="{turn}">{cards}{more}</div>'


def _where(p: Passage) -> str:
    part = f" (deel {p.part})" if p.part else ""
    section = f"{esc(p.section)} · " if p.section else ""
    return f"{section}alinea {p.paragraph}{part}"


def _open_link(p: Passage, n: int | None = None) -> str:
    cite = f' data-n="{n}"' if n is not None else ""
    return f'<a href="#" class="open" data-passage="{esc(p.id)}"{cite}>Open in brief</a>'


def _citation_card(c: Citation, active: bool, known: Mapping[str, str]) -> str:
    p = c.passage
    spans = c.spans
    notes = "".join(f"<li><sup>{f.number}</sup> {markup(f.text, f.start, spans)}</li>" for f in p.footnotes)
    notes = f'<ul class="notes">{notes}</ul>' if notes else ""
    return (
        f'<div class="src{" active" if active else ""}" id="src-{c.n}" data-cite="{c.n}">'
        f'<div class="src-head"><span class="n">[{c.n}]</span> <b>{esc(p.letter_title)}</b>'
        f' <span class="date">{date_nl(p.letter_date)}</span></div>'
        f'<div class="where">{_where(p)}</div>{citation_html(p)}{origin_html(p.origin)}'
        f"<blockquote>{markup(p.text, p.start, spans, p.footnotes)}</blockquote>"
        f"{notes}{references_html(p.references, known)}{_open_link(p, c.n)}</div>"
    )


def _hit_row(rank: int, h: Hit) -> str:
    p = h.passage
    scores = ", ".join(f"{esc(k)} {v:.3f}" for k, v in h.scores.items()) or f"{h.score:.3f}"
    text = p.text if len(p.text) <= 400 else p.text[:400] + " …"
    return (
        f'<div class="hit"><div class="src-head">#{rank} <b>{esc(p.letter_title)}</b> · {_where(p)}</div>'
        f"{origin_html(p.origin)}"
        f'<div class="scores">score {h.score:.4f} ({scores})</div>'
        f"<p>{esc(text)}</p>{_open_link(p)}</div>"
    )


def letter_html(
    letter: Letter, paragraph: int | None = None, marks: Sequence[Span] = (), known: Mapping[str, str] | None = None
) -> str:
    """The whole letter: title, date, headings, numbered paragraphs and footnotes.

    Paragraph `paragraph` is highlighted (class "hl", the view scrolls to it) and the
    letter spans `marks` (the cited words, in it or in its footnotes) are marked."""
    head = (
        f'<div class="letter-head"><h3>{esc(letter.title)}</h3>'
        f'<div class="date">{date_nl(letter.date)} · {esc(letter.id)}</div>{letter_citation_html(letter)}'
        f"{origin_html(letter.origin)}</div>"
    )
    body = []
    headings = sorted(letter.headings)
    for p in letter.paragraphs:
        while headings and headings[0][0] < p.start:
            start, end = headings.pop(0)
            body.append(f'<h4 class="section">{esc(letter.text[start:end])}</h4>')
        body.append(_paragraph(p, p.number == paragraph, marks) + references_html(p.references, known or {}))
    target = next((p for p in letter.paragraphs if p.number == paragraph), None)
    marked = {f.number for f in target.footnotes} if target else set()
    notes = "".join(
        f'<li id="fn-{f.number}" class="{"hl" if f.number in marked else ""}"><sup>{f.number}</sup> {markup(f.text, f.start, marks)}</li>'
        for f in letter.footnotes
    )
    notes = f'<h4 class="section">Voetnoten</h4><ul class="notes">{notes}</ul>' if notes else ""
    signature = f'<p class="signature">{esc(letter.signature)}</p>' if letter.signature else ""
    return f'<div class="letter" data-letter="{esc(letter.id)}">{head}{"".join(body)}{signature}{notes}</div>'


def _paragraph(p: Paragraph, target: bool, marks: Sequence[Span]) -> str:
    css = "par hl" if target else "par"
    text = markup(p.text, p.start, marks if target else (), p.footnotes)
    return f'<p id="par-{p.number}" class="{css}"><span class="num">{p.number}</span>{text}</p>'


def ingest_html(report: IngestReport) -> str:
    """What an upload did: the letters added or updated, and each refused file with its reason."""
    items = [f'<li class="ok">Toegevoegd: <b>{esc(i)}</b></li>' for i in report.added]
    items += [
        f'<li class="ok">Vervangen: <b>{esc(i)}</b> ({old} passages vervangen door {new}; de vorige versie is '
        "bewaard)</li>"
        for i, old, new in report.replaced
    ]
    items += [
        f'<li class="pending">Bestaat al: <b>{esc(i)}</b> heeft nu {old} passages; de upload zou er {new} van maken. '
        "Nog niet vervangen: klik op <i>Vervangen bevestigen</i> om de brief te vervangen.</li>"
        for i, old, new in report.pending
    ]
    items += [f'<li class="same">Al aanwezig, ongewijzigd: <b>{esc(i)}</b></li>' for i in report.unchanged]
    items += [f'<li class="refused">Geweigerd: <b>{esc(f)}</b>: {esc(why)}</li>' for f, why in report.refused]
    if not items:
        items = ['<li class="same">Geen bestanden ontvangen.</li>']
    return f'<ul class="ingest">{"".join(items)}</ul>'


CSS = (
    """
#top {align-items: center}
#status {text-align: right; color: var(--body-text-color-subdued)}
#title h3 {margin: 0}
#chat a.cite {color: var(--color-accent); font-weight: 600; text-decoration: none}
.sources .src, .sources .hit {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin-bottom: 8px; background: var(--background-fill-primary)}
.sources .src.active {border: 2px solid var(--color-accent)}
.src-head .n {font-weight: bold; color: var(--color-accent)}
.src-head .date, .where, .scores, .letter-head .date {color: var(--body-text-color-subdued); font-size: 0.9em}
.sources blockquote {margin: 6px 0; padding-left: 8px; border-left: 3px solid var(--border-color-accent)}
.sources mark, .letter mark {background: #fde68a; color: inherit; padding: 0 1px}
.notes {font-size: 0.88em; margin: 4px 0; padding-left: 1em}
.others summary {cursor: pointer; margin: 6px 0}
a.open, a.cite {cursor: pointer}
.letter .par {margin: 6px 0; padding: 4px 6px; border-radius: 6px}
.letter .par .num {display: inline-block; min-width: 2em; color: var(--body-text-color-subdued); font-size: 0.85em}
.letter .par.hl {background: #fff7d6; outline: 2px solid #f59e0b}
.letter li.hl {background: #fff7d6}
.letter h4.section {margin: 14px 0 4px}
.ingest .refused {color: #b91c1c}
.ingest .pending {color: #b45309}
.origin {font-size: 0.85em; color: var(--body-text-color-subdued)}
.origin.upload {color: #b45309; font-weight: 600}
.ingest .ok {color: #15803d}
#letters table *, #eval-rows table * {font-family: var(--font) !important}
.letter .signature {margin: 10px 0; font-style: italic}
"""
    + LINKS_CSS
)

# The browser half of the markup above, for gr.HTML(js_on_load=...). Citation clicks, in
# the chat ([n] links) and in the sources panel ("Open in brief"), all become one `click`
# event of the sources component: trigger('click', {turn, n, passage}).
SOURCES_JS = """
const send = (e) => {
  const chat = e.target.closest && e.target.closest('#chat a.cite');
  const open = e.target.closest && e.target.closest('#sources a.open');
  const ref = e.target.closest && e.target.closest('a.ref-open');
  if (!chat && !open && !ref) return;
  e.preventDefault();
  if (ref) {
    const turn = element.querySelector('.sources')?.dataset.turn;
    trigger('click', {turn: Number(turn), n: 0, passage: '', letter: ref.dataset.letter});
  } else if (chat) {
    const [turn, n] = chat.getAttribute('href').slice('#cite-'.length).split('-');
    trigger('click', {turn: Number(turn), n: Number(n), passage: ''});
  } else {
    const turn = element.querySelector('.sources')?.dataset.turn;
    trigger('click', {turn: Number(turn), n: Number(open.dataset.n || 0), passage: open.dataset.passage});
  }
};
if (window.ragCiteClick) document.removeEventListener('click', window.ragCiteClick);
window.ragCiteClick = send;
document.addEventListener('click', send);
"""
# The letter view scrolls to its highlighted paragraph whenever it changes.
LETTER_JS = """
const go = () => element.querySelector('.par.hl')?.scrollIntoView({block: 'center'});
new MutationObserver(() => setTimeout(go, 60)).observe(element, {childList: true, subtree: true});
setTimeout(go, 60);
"""
