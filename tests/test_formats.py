"""Every format lands in the same Letter: official Kamerstuk XML with its metadata.xml,
DOCX, ODT and HTML fixtures parse to the right paragraphs, sections, footnotes (on the
paragraph that holds the marker) and references, with the offset invariant."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from documents import make_docx, make_odt
from places import DATA

from rag.ingest import chunking, provenance
from rag.ingest.corpus import read_letter
from rag.settings import ChunkingSettings
from rag.types import Letter

KST = DATA / "kst"
XML = KST / "kst-36200-V-12.xml"
HTML = KST / "kst-28676-420.html"
LETTER = [
    ("title", "Verslag van de NAVO-top in Madrid"),
    ("p", ["Hierbij bied ik u het verslag aan van de NAVO-top van 28 tot en met 30 juni 2022."]),
    ("h1", "Oekraïne"),
    ("p", ["De bondgenoten zegden steun toe aan Oekraïne", ("note", "Zie ook Kamerstuk 21 501-20, nr. 1834."),
           " en besloten tot een pakket van EUR 1 miljard."]),
    ("p", ["De toezeggingen betroffen:"]),
    ("li", 0, ["munitie;"]),
    ("li", 1, ["artillerie van 155 mm;"]),
    ("li", 0, ["brandstof."]),
    ("h2", "Kosten"),
    ("table", [["Post", "Bedrag"], ["Munitie", "12"]]),
    ("p", ["Eerder berichtte ik hierover (", ("link", "de brief van 10 juni", "https://zoek.officielebekendmakingen.nl/kst-28676-420.html"), ")."]),
]  # fmt: skip


def assert_spans(letter: Letter) -> None:
    """The invariant every format keeps: paragraphs, footnotes and markers are spans of the text."""
    assert [p.number for p in letter.paragraphs] == list(range(1, len(letter.paragraphs) + 1))
    for p in letter.paragraphs:
        assert letter.text[p.start : p.end] == p.text
        for f in p.footnotes:
            assert letter.text[f.start : f.end] == f.text
            assert letter.text[f.marker : f.marker + len(str(f.number))] == str(f.number)
            assert p.start <= f.marker < p.end
        for r in p.references:
            assert p.start <= r.start < p.end or any(f.start <= r.start < f.end for f in p.footnotes)


def paragraph_with(letter: Letter, words: str):  # type: ignore[no-untyped-def]
    found = [p for p in letter.paragraphs if words in p.text]
    assert len(found) == 1, f"{words!r} is in {len(found)} paragraphs"
    return found[0]


@pytest.fixture(scope="module")
def kst() -> Letter:
    return read_letter(XML)


def test_the_official_xml_gives_its_metadata_and_the_official_citation(kst: Letter) -> None:
    assert (kst.dossier, kst.number, kst.vergaderjaar, kst.chamber) == ("36200-V", "12", "2022-2023", "II")
    assert kst.identifier == "kst-36200-V-12"  # not the numeric kst-1138049 that metadata.xml also lists
    assert kst.url == "https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html"
    assert kst.date == dt.date(2022, 11, 14)  # datumBrief, not the later DCTERMS.issued
    assert kst.title == "Brief van de minister van Buitenlandse Zaken over de oefening Poolster"
    assert kst.signature == "De Minister van Buitenlandse Zaken, W.B. Hoekstra"
    assert provenance.letter_citation(kst) == "Kamerstukken II 2022/23, 36 200 V, nr. 12"
    costs = paragraph_with(kst, "EUR 18,4 miljoen")
    assert provenance.citation(kst, costs.number) == f"Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea {costs.number}"


def test_the_xml_body_keeps_its_structure(kst: Letter) -> None:
    assert_spans(kst)
    assert kst.paragraphs[0].text == "Aan de Voorzitter van de Tweede Kamer der Staten-Generaal"
    costs = paragraph_with(kst, "EUR 18,4 miljoen")
    assert costs.section == "1. Verloop van de oefening › 1.1 Kosten"  # nested divisie
    assert paragraph_with(kst, "tweemaal uit").section == "2. Lessen › Verbindingen"  # a tussenkop under a kop
    # the nested list stays with the paragraph that announces it, one item a line
    tasks = paragraph_with(kst, "drie taken")
    assert tasks.text.splitlines()[1:] == [
        "a. het beschermen van zeeverbindingen, waaronder",
        "  – de kabels op de zeebodem;",
        "  – de gasleidingen naar Noorwegen;",
        "b. het snel verplaatsen van een brigade naar de oostflank;",
        "c. het gezamenlijk bevel over de lucht- en zeestrijdkrachten.",
    ]
    table = paragraph_with(kst, "Tabel 1")
    assert table.text.splitlines() == [
        "Tabel 1: kosten per onderdeel (EUR miljoen)", "Onderdeel | Kosten", "Marine | 11,2",
        "Landmacht | 5,1", "Luchtmacht | 2,1",
    ]  # fmt: skip
    # a processing instruction and a soft hyphen inside a word leave the word whole
    assert "versleutelingsapparatuur" in paragraph_with(kst, "tweemaal uit").text


def test_xml_footnotes_sit_on_the_paragraph_with_their_marker(kst: Letter) -> None:
    allies = paragraph_with(kst, "2.340 militairen")
    assert [(f.number, f.text[:16]) for f in allies.footnotes] == [(1, "Behalve Nederlan")]
    assert allies.text[allies.footnotes[0].marker - allies.start - 4 :].startswith("deel1;")
    assert "Behalve Nederland" not in " ".join(p.text for p in kst.paragraphs)
    costs = paragraph_with(kst, "EUR 18,4 miljoen")
    assert [f.number for f in costs.footnotes] == [2]


def test_xml_references_in_text_links_and_footnotes(kst: Letter) -> None:
    found = {r.identifier: r for p in kst.paragraphs for r in p.references}
    assert set(found) == {"kst-28676-433", "kst-36045-164", "kst-36200-X-8"}
    assert found["kst-36045-164"].dossiers == ("36045", "22054")  # a joint letter: both dossiers
    assert kst.text[found["kst-28676-433"].start : found["kst-28676-433"].end] == "Kamerstuk 28 676, nr. 433"
    # the footnote's reference belongs to the paragraph holding the footnote
    assert [r.identifier for r in paragraph_with(kst, "EUR 18,4 miljoen").references] == ["kst-36045-164"]


def test_passages_carry_citation_url_and_references(kst: Letter) -> None:
    passages = chunking.passages(kst, ChunkingSettings())
    costs = next(p for p in passages if "EUR 18,4 miljoen" in p.text)
    assert costs.citation.startswith("Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea ")
    assert costs.url == kst.url
    assert [r.identifier for r in costs.references] == ["kst-36045-164"]


def test_metadata_xml_overrides_the_body_and_without_it_the_body_speaks(tmp_path: Path) -> None:
    bare = tmp_path / "kst-36200-V-12.xml"
    shutil.copy(XML, bare)
    letter = read_letter(bare)
    assert (letter.dossier, letter.number, letter.vergaderjaar, letter.chamber) == ("36200-V", "12", "2022-2023", "II")
    assert letter.title.endswith("; BRIEF VAN DE MINISTER VAN BUITENLANDSE ZAKEN")  # dossier title; stuk title
    assert letter.date == dt.date(2022, 11, 14)  # the body's <datum isodatum>
    other = tmp_path / "metadata.xml"  # as the official repository names it, beside its one letter
    other.write_text((KST / "kst-36200-V-12.metadata.xml").read_text().replace('content="12"', 'content="13"'))
    assert read_letter(bare).number == "13"


@pytest.mark.parametrize("make", [make_docx, make_odt], ids=["docx", "odt"])
def test_word_processor_letters_use_their_styles_and_footnotes(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    letter = read_letter(make(tmp_path / f"kst-28676-433.{make.__name__[-4:].strip('_')}", LETTER))
    assert_spans(letter)
    assert letter.title == "Verslag van de NAVO-top in Madrid"
    assert (letter.identifier, letter.dossier, letter.number) == ("kst-28676-433", "28676", "433")  # from its name
    assert provenance.letter_citation(letter) == "Kamerstuk 28 676, nr. 433"  # no chamber or year known
    support = paragraph_with(letter, "steun toe")
    assert support.section == "Oekraïne"
    assert support.text.startswith("De bondgenoten zegden steun toe aan Oekraïne1 en besloten")
    assert [(f.number, f.text) for f in support.footnotes] == [(1, "Zie ook Kamerstuk 21 501-20, nr. 1834.")]
    assert [r.identifier for r in support.references] == ["kst-21501-20-1834"]
    assert paragraph_with(letter, "toezeggingen").text.splitlines()[1:] == [
        "• munitie;", "  • artillerie van 155 mm;", "• brandstof."
    ]  # fmt: skip
    assert paragraph_with(letter, "Post").text == "Post | Bedrag\nMunitie | 12"
    assert paragraph_with(letter, "Post").section == "Oekraïne › Kosten"
    link = paragraph_with(letter, "Eerder berichtte")
    assert [(r.identifier, letter.text[r.start : r.end]) for r in link.references] == [
        ("kst-28676-420", "de brief van 10 juni")
    ]


def test_an_html_letter_reads_its_meta_tags_and_footnote_section() -> None:
    letter = read_letter(HTML)
    assert_spans(letter)
    assert (letter.identifier, letter.vergaderjaar, letter.date) == ("kst-28676-420", "2021-2022", dt.date(2022, 6, 10))
    assert provenance.letter_citation(letter) == "Kamerstukken II 2021/22, 28 676, nr. 420"
    assert "scripts are not text" not in letter.text and "Overheid.nl" not in letter.text
    flank = paragraph_with(letter, "oostflank1")
    assert flank.section == "Inzet van Nederland"
    assert [f.text for f in flank.footnotes] == [
        "Zie de brief over de Defensienota, Kamerstukken 34 919 en 36 124, nr. 93."
    ]
    assert letter.text.count("Defensienota") == 1  # the footnote section is not read as body text
    assert [r.dossiers for r in flank.references] == [("34919", "36124")]
    assert paragraph_with(letter, "Jaar | Bedrag").section == "Financiën"
    assert paragraph_with(letter, "drie punten").text.splitlines()[1:] == [
        "• meer troepen in Litouwen,", "  • onder Duits bevel;", "• gezamenlijke inkoop van munitie."
    ]  # fmt: skip


def test_a_pdf_gives_the_page_of_each_paragraph_to_the_citation(tmp_path: Path) -> None:
    from pdfs import make_pdf

    pdf = tmp_path / "brief.pdf"
    pdf.write_bytes(make_pdf([
        ["Brief over de oefening", "", "De eerste alinea staat op de eerste pagina."],
        ["De tweede alinea begint op de tweede pagina.", "", "De derde alinea ook."],
    ]))  # fmt: skip
    letter = read_letter(pdf)
    assert [p.page for p in letter.paragraphs] == [1, 2, 2]
    pdf.write_bytes(make_pdf([["Brief", "", "Voor de lege pagina."], [], ["Na de lege pagina."]]))
    assert [p.page for p in read_letter(pdf).paragraphs] == [1, 3]  # a blank page still counts
    assert provenance.citation(letter, 2, letter.paragraphs[1].page) == "brief, p. 2, alinea 2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zie Kamerstuk 28 676, nr. 433.", [(("28676",), "433")]),
        ("Kamerstukken 36 045 en 22 054, nr. 164", [(("36045", "22054"), "164")]),
        ("(Kamerstukken II 2022/23, 21 501-32, nr. 1703)", [(("21501-32",), "1703")]),
        ("Kamerstuk 36 200 V, nrs. 3 en 4", [(("36200-V",), "3"), (("36200-V",), "4")]),
        ("Kamerstukken I 2022/23, 36 045, D", []),  # Eerste Kamer letters carry no "nr."
        ("kst-27400-XV-52", [(("27400-XV",), "52")]),
        ("in 2014 en 28 676 keer", []),
    ],
)
def test_references_are_recognised_with_dossier_and_number(text: str, expected: list) -> None:
    assert [(r.dossiers, r.number) for r in provenance.references(text)] == expected


def test_identifiers_of_every_shape_parse_or_say_they_do_not() -> None:
    assert provenance.parse_identifier("kst-27400-XV-52") == ("27400-XV", "52")
    assert provenance.parse_identifier("kst-21501-32-1703") == ("21501-32", "1703")
    assert provenance.parse_identifier("kst-28676-440-n1") == ("28676", "440")  # a reprint
    assert provenance.parse_identifier("kst-1138049") is None  # a publication number names no dossier
    assert provenance.format_dossier("21501-32") == "21 501-32"
