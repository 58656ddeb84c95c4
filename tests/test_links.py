"""The app's provenance HTML: official citation and permalink, or a note that there is none;
references link to an indexed letter's view, else to the official permalink."""

from __future__ import annotations

from places import DATA

from rag.app import links, render
from rag.ingest import chunking, corpus
from rag.settings import ChunkingSettings
from rag.types import Answer, Citation


def test_a_cited_official_passage_shows_its_citation_permalink_and_references() -> None:
    kst = corpus.read_letter(DATA / "kst" / "kst-36200-V-12.xml")
    other = corpus.read_letter(DATA / "kst" / "kst-28676-420.html")
    passages = chunking.passages(kst, ChunkingSettings())
    first = next(p for p in passages if p.references and p.references[0].identifier == "kst-28676-433")
    known = links.known_letters([kst, other, corpus.read_letter(DATA / "oefening-noorderlicht-2024.txt")])
    assert known == {"kst-36200-V-12": "kst-36200-V-12", "kst-28676-420": "kst-28676-420"}
    answer = Answer("vraag", "Iets [1].", False, (Citation(1, first, ((first.start, first.start + 20),)),), ())
    html = render.sources_html(answer, known={**known, "kst-28676-433": "navo-top-madrid-2022"})
    assert f"Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea {first.paragraph}" in html
    assert 'href="https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html"' in html
    # the letter referred to is indexed: the link opens its view, not the official site
    assert 'class="ref ref-open" data-letter="navo-top-madrid-2022">Kamerstuk 28 676, nr. 433</a>' in html
    html = render.sources_html(answer, known=known)  # not indexed: its official permalink
    assert 'href="https://zoek.officielebekendmakingen.nl/kst-28676-433.html"' in html


def test_a_letter_without_official_metadata_says_so() -> None:
    plain = corpus.read_letter(DATA / "oefening-noorderlicht-2024.txt")
    p = chunking.passages(plain, ChunkingSettings())[0]
    assert p.citation == f"oefening-noorderlicht-2024, alinea {p.paragraph}" and p.url is None
    assert "geen officiële vindplaats bekend" in links.citation_html(p)
    assert "geen officiële vindplaats bekend" in render.letter_html(plain)


def test_the_letter_view_heads_with_the_citation_and_links_its_references() -> None:
    kst = corpus.read_letter(DATA / "kst" / "kst-36200-V-12.xml")
    view = render.letter_html(kst, known=links.known_letters([kst]))
    assert "Kamerstukken II 2022/23, 36 200 V, nr. 12" in view
    assert "Kamerstukken 36 045 en 22 054, nr. 164" in view  # the footnote's reference, linked
    assert 'href="https://zoek.officielebekendmakingen.nl/kst-36045-164.html"' in view
    assert "De Minister van Buitenlandse Zaken, W.B. Hoekstra" in view  # the ondertekening


def test_the_answer_in_the_chat_ends_with_its_citations_so_a_copy_keeps_them() -> None:
    kst = corpus.read_letter(DATA / "kst" / "kst-36200-V-12.xml")
    plain = corpus.read_letter(DATA / "oefening-noorderlicht-2024.txt")
    one, other = chunking.passages(kst, ChunkingSettings())[2], chunking.passages(plain, ChunkingSettings())[0]
    footer = links.cited_footer([(1, one), (2, other)])
    assert f"[1] Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea {one.paragraph}" in footer
    assert "https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html" in footer
    assert f"[2] oefening-noorderlicht-2024, alinea {other.paragraph}" in footer
    assert links.cited_footer([]) == ""
