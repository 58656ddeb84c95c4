"""The app's HTML: citations link to their source, quotes are marked where they stand in
the letter, and letter text or file names never become markup."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import pytest

from rag.app import render
from rag.ingest import chunking, corpus
from rag.settings import ChunkingSettings
from rag.types import Answer, Citation, Hit, IngestReport, Letter, Origin, Passage

DATA = Path(__file__).parent / "data"
VILNIUS = "navo-top-vilnius-2023"
QUOTE = "Nederland heeft inmiddels meer dan EUR 1,9 miljard aan militaire steun aan Oekraïne geleverd."


def passage(letter: Letter, number: int) -> Passage:
    return next(p for p in chunking.passages(letter, ChunkingSettings()) if p.paragraph == number)


def span_of(p: Passage, words: str) -> tuple[int, int]:
    """The letter span of words in the passage's text or one of its footnotes."""
    for text, offset in ((p.text, p.start), *((f.text, f.start) for f in p.footnotes)):
        if words in text:
            return offset + text.index(words), offset + text.index(words) + len(words)
    raise AssertionError(f"{words!r} not in {p.id}")


def visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


@pytest.fixture
def answer(letters: dict[str, Letter]) -> Answer:
    """An answer citing Vilnius paragraph 7 (which has footnote 3), with two other passages retrieved."""
    cited = passage(letters[VILNIUS], 7)
    others = [passage(letters[VILNIUS], 9), passage(letters["navo-top-madrid-2022"], 3)]
    hits = [Hit(cited, 0.033, {"dense": 0.91, "lexical": 4.4}), *(Hit(p, 0.02, {"dense": 0.8}) for p in others)]
    return Answer("Hoeveel steun?", f"{QUOTE} [1]", False, (Citation(1, cited, (span_of(cited, QUOTE),)),), tuple(hits))


def test_answer_links_every_citation_to_its_turn_and_escapes_text() -> None:
    out = render.answer_markdown("Zie <b>dit</b> [1] en [12].", turn=3)
    assert '<a href="#cite-3-1" class="cite">[1]</a>' in out
    assert '<a href="#cite-3-12" class="cite">[12]</a>' in out
    assert "<b>" not in out and "&lt;b&gt;dit&lt;/b&gt;" in out


def test_footnote_markers_in_an_answer_are_superscripts_and_numbers_are_not() -> None:
    out = render.answer_markdown("EUR 1,9 miljard geleverd.3 [1] Elf NAVO-landen1 tekenden in 2014 met G7 en F-16. [2]")
    assert "geleverd.<sup>3</sup> <a" in out and "NAVO-landen<sup>1</sup> tekenden" in out
    assert "1,9 miljard" in out and "in 2014" in out and "G7" in out and "F-16" in out
    assert out.count("<sup>") == 2
    assert render.answer_markdown("Zo besloot de NAVO.4 [1]").startswith(
        '<div class="answer">Zo besloot de NAVO.<sup>4</sup> '
    )
    assert "<sup>" not in render.answer_markdown("Zie punt a2 en artikel 5 [1]")


def test_answer_text_cannot_make_markdown_links_or_formatting() -> None:
    out = render.answer_markdown(
        "Zie [hier](http://x.example) of ![b](http://x/p.png) en *vet* van Oekraïne's steun [2].\n\nNieuwe regel."
    )
    # one HTML block (no blank line in it), so the chat's Markdown leaves the text alone
    assert out.startswith('<div class="answer">') and out.endswith("</div>") and "\n" not in out
    assert "[hier](http://x.example) of ![b](http://x/p.png) en *vet*" in out  # the text exactly, no backslashes
    assert "\\" not in out and "<img" not in out
    assert "&#x27;" in out  # the entity stays whole
    assert '<a href="#cite-0-2" class="cite">[2]</a>' in out


def test_a_url_in_a_letter_is_shown_exactly_as_it_stands() -> None:
    text = "Zie de kaart op https://example.org/kaart_2023.png) en (www.defensie.nl/a*b)."
    out = render.answer_markdown(f"{text} [1]")
    assert html.unescape(out.split('<a href="#cite')[0].removeprefix('<div class="answer">')).strip() == text


def test_the_question_is_plain_text_in_the_chat() -> None:
    out = render.question_html("Wat is ![](http://tracker.example/p.png) en <b>dit</b>?\n\n# kop")
    assert out.startswith('<div class="question">') and "\n" not in out
    assert "<img" not in out and "<b>" not in out and "&lt;b&gt;dit&lt;/b&gt;" in out
    assert "![](http://tracker.example/p.png)" in out  # as characters, inside the HTML block


def test_an_upload_is_marked_as_not_an_official_letter_in_the_sources(answer: Answer) -> None:
    upload = Origin("upload", "alice", "2024-05-01T10:00:00+00:00", "36 045, nr. 1", False)
    cited = dataclasses.replace(answer.citations[0].passage, origin=upload)
    changed = dataclasses.replace(answer, citations=(Citation(1, cited, answer.citations[0].spans),))
    out = render.sources_html(changed)
    assert "Upload door <b>alice</b> op 2024-05-01 10:00: geen officiële brief" in out
    assert "36 045, nr. 1: niet geverifieerd" in out
    assert "Uit de corpus" in render.sources_html(answer)  # the untouched letters say where they come from


def test_a_citation_quotes_the_words_at_its_spans(letters: dict[str, Letter]) -> None:
    p = passage(letters[VILNIUS], 7)
    spans = (span_of(p, QUOTE), span_of(p, "Kamerstuk 22 054 en 36 045, nr. 393"))
    assert Citation(1, p, spans).quote == f"{QUOTE} … Kamerstuk 22 054 en 36 045, nr. 393"
    with pytest.raises(ValueError):
        p.text_at(p.start - 10, p.start + 5)  # a span outside the passage names no words of it


def test_a_quote_in_pieces_is_marked_in_the_text_and_in_the_footnote(letters: dict[str, Letter]) -> None:
    p = passage(letters[VILNIUS], 7)
    spans = (span_of(p, f"{QUOTE}3"), span_of(p, "Kamerstuk 22 054 en 36 045, nr. 393"))
    assert [letters[VILNIUS].text[a:b] for a, b in spans] == [f"{QUOTE}3", "Kamerstuk 22 054 en 36 045, nr. 393"]
    answer = Answer("Hoeveel?", f"{QUOTE}3 [1]", False, (Citation(1, p, spans),), (Hit(p, 1.0),))
    card = render.sources_html(answer)
    assert "<mark>Kamerstuk 22 054 en 36 045, nr. 393</mark>" in card
    view = render.letter_html(letters[VILNIUS], 7, spans)
    assert "<mark>Kamerstuk 22 054 en 36 045, nr. 393</mark>" in view.split('id="fn-3"')[1]


def test_footnote_markers_become_superscripts(letters: dict[str, Letter]) -> None:
    p = letters[VILNIUS].paragraphs[3]  # "... elf NAVO-landen1 ... geïnformeerd2 ..."
    out = render.markup(p.text, p.start, (), p.footnotes)
    assert "NAVO-landen<sup>1</sup>" in out and "geïnformeerd<sup>2</sup>" in out
    assert visible_text(out) == p.text


def test_sources_panel_shows_the_cited_passage_with_its_provenance(answer: Answer) -> None:
    out = render.sources_html(answer, turn=2, active=1)
    card = out.split('<details class="others">')[0]
    assert 'data-turn="2"' in out and 'class="src active"' in card
    assert "VERSLAG VAN DE NAVO TOP IN VILNIUS" in card and "12 juli 2023" in card
    assert "Samenwerking NAVO-Oekraïne" in card and "alinea 7" in card
    assert f"<mark>{QUOTE[:-1]}" in card.replace("</mark><mark>", "")
    assert "Kamerstuk 22 054 en 36 045, nr. 393" in card  # footnote 3 of the paragraph
    assert f'data-passage="{VILNIUS}#7" data-n="1"' in card


def test_other_retrieved_passages_are_collapsed_with_scores(answer: Answer) -> None:
    others = render.sources_html(answer).split('<details class="others">')[1]
    assert "Andere gevonden passages (2), niet geciteerd" in others
    assert others.count('class="hit"') == 2 and "dense 0.800" in others
    assert f"{VILNIUS}#7" not in others  # the cited passage is not repeated


def test_no_answer_says_so_in_dutch() -> None:
    assert "Stel een vraag" in render.sources_html(None)
    empty = Answer("Wat?", "De brieven bevatten hierover geen informatie.", True, (), ())
    assert "Geen bron geciteerd" in render.sources_html(empty)


def test_letter_view_highlights_and_marks_the_cited_paragraph(letters: dict[str, Letter]) -> None:
    letter = letters[VILNIUS]
    p = passage(letter, 7)
    out = render.letter_html(letter, 7, (span_of(p, QUOTE),))
    assert out.count('class="par hl"') == 1 and '<p id="par-7" class="par hl">' in out
    assert out.count('class="par') == len(letter.paragraphs)
    assert "<mark>" in out.split('id="par-7"')[1].split("</p>")[0]
    assert '<li id="fn-3" class="hl">' in out  # the paragraph's footnote, highlighted too
    text = visible_text(out)
    for para in letter.paragraphs:  # nothing of the letter's body is lost
        assert visible_text(render.markup(para.text, para.start, (), para.footnotes)) in text
    assert text.index("Samenwerking NAVO-Oekraïne") < text.index(p.text[:40])


def test_letter_without_target_has_no_highlight(letters: dict[str, Letter]) -> None:
    out = render.letter_html(letters["navo-top-madrid-2022"])
    assert "hl" not in re.findall(r'class="([^"]*)"', out) and "<mark>" not in out
    assert "30 juni 2022" in out


def test_html_in_a_letter_renders_inert() -> None:
    letter = corpus.read_letter(DATA / "oefening-noorderlicht-2024.txt")
    p = passage(letter, 3)
    quote = "Een deelnemer schreef in het logboek <script>window.__xss = 1</script>"
    answer = Answer("logboek?", f"{quote} [1]", False, (Citation(1, p, (span_of(p, quote),)),), (Hit(p, 1.0),))
    views = [
        render.letter_html(letter, 3, (span_of(p, quote),)),
        render.sources_html(answer),
        render.answer_markdown(answer.text),
    ]
    for out in views:
        assert "<script" not in out and "<img" not in out
        # shown as text
        assert "&lt;script&gt;window." in out and "xss = 1&lt;/script&gt;" in out


def test_ingest_report_escapes_file_names_and_lists_reasons() -> None:
    report = IngestReport(
        added=("oefening-noorderlicht-2024",),
        refused=(('<img src=x onerror="alert(1)">.pdf', "not a readable PDF"), ("notes.docx", "alleen .pdf")),
    )
    out = render.ingest_html(report)
    assert "<img" not in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.pdf" in out
    assert "Toegevoegd: <b>oefening-noorderlicht-2024</b>" in out
    assert out.count('class="refused"') == 2 and "notes.docx" in out
