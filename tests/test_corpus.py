"""Letters become numbered paragraphs with provenance: the parsing rules, on the real letters."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pdfs import make_pdf
from places import CORPUS, DATA

from rag.errors import CorpusError
from rag.ingest.corpus import join_lines, parse_text, read_letter
from rag.pipeline import read_letters
from rag.types import Letter

MADRID = CORPUS / "navo-top-madrid-2022.txt"
VILNIUS = CORPUS / "navo-top-vilnius-2023.txt"


@pytest.fixture(scope="module")
def madrid() -> Letter:
    return read_letter(MADRID)


@pytest.fixture(scope="module")
def vilnius() -> Letter:
    return read_letter(VILNIUS)


def paragraph_with(letter: Letter, words: str):
    found = [p for p in letter.paragraphs if words in p.text]
    assert len(found) == 1, f"{words!r} is in {len(found)} paragraphs"
    return found[0]


@pytest.mark.parametrize("path", [MADRID, VILNIUS])
def test_every_paragraph_is_its_span_of_the_clean_text(path: Path) -> None:
    letter = read_letter(path)
    numbers = [p.number for p in letter.paragraphs]
    assert numbers == list(range(1, len(numbers) + 1))
    for p in letter.paragraphs:
        assert letter.text[p.start : p.end] == p.text
        for f in p.footnotes:
            assert letter.text[f.start : f.end] == f.text
            assert letter.text[f.marker : f.marker + len(str(f.number))] == str(f.number)
            assert p.start <= f.marker < p.end


def test_title_and_date_are_read_from_the_text(madrid: Letter, vilnius: Letter) -> None:
    assert vilnius.title == "VERSLAG VAN DE NAVO TOP IN VILNIUS VAN 11 EN 12 JULI 2023"
    assert vilnius.date == dt.date(2023, 7, 12)
    assert madrid.date == dt.date(2022, 6, 30)
    assert madrid.id == "navo-top-madrid-2022"


def test_a_paragraph_running_across_a_page_break_is_one_paragraph(madrid: Letter, vilnius: Letter) -> None:
    # The page break falls inside these sentences; a footnote block stands between the halves.
    paragraph_with(madrid, "de beslissingen die we nu nemen van grote invloed kunnen zijn op onze toekomst")
    paragraph_with(vilnius, "De veiligheidssituatie in Europa is de afgelopen jaren ernstig verslechterd")
    # ... and here no footnotes stand between them.
    paragraph_with(madrid, "stonden Ministers van Buitenlandse zaken stil bij het grote belang dat het zuiden heeft")
    paragraph_with(vilnius, "De Minister-President sprak specifiek over het belang van accountability")


def test_footnotes_are_taken_out_of_the_body_and_attached_to_their_paragraph(vilnius: Letter) -> None:
    assert [f.number for f in vilnius.footnotes] == list(range(1, 9))
    body = " ".join(p.text for p in vilnius.paragraphs)
    assert "Kamerstuk 22 054 en 36 045" not in body
    assert "Luxemburg, Noorwegen" not in body
    first = paragraph_with(vilnius, "NAVO-landen1 een politieke verklaring")
    assert [f.number for f in first.footnotes] == [1, 2]
    assert first.footnotes[0].text.startswith("Denemarken, Nederland, België, Canada")
    assert first.footnotes[0].text.endswith("Verenigd Koninkrijk en Zweden")
    support = paragraph_with(vilnius, "EUR 1,9 miljard")
    assert [(f.number, f.text) for f in support.footnotes] == [(3, "Kamerstuk 22 054 en 36 045, nr. 393")]


def test_a_footnote_split_over_a_blank_line_stays_one_footnote(vilnius: Letter) -> None:
    note = next(f for f in vilnius.footnotes if f.number == 4)
    assert note.text == (
        "Uw Kamer is hier eerder over geïnformeerd in onder andere de Voorgangsrapportage "
        "Nederlandse inzet oostflank NAVO, Kamerstuk 28 676, nr. 433."
    )


def test_a_line_that_starts_with_a_number_is_not_taken_for_a_footnote(madrid: Letter) -> None:
    assert [f.number for f in madrid.footnotes] == [1, 2, 3]
    paragraph_with(madrid, "op maandag 4 juli 2022 van start gegaan")


def test_line_end_hyphens_are_joined_but_real_hyphens_stay(madrid: Letter, vilnius: Letter) -> None:
    assert "een historische NAVO Top" in madrid.text  # histo-\nrische
    assert "het nieuwe Strategisch Concept" in madrid.text  # Strate-\ngisch
    assert "deze drie partnerlanden" in vilnius.text  # partner-\nlanden
    assert "betekenisvolle stappen" in vilnius.text  # betekenis-\nvolle
    assert "De Minister-President, Minister van Buitenlandse Zaken" in madrid.text  # Minister-\nPresident
    assert "NAVO-Oekraïne-Commissie op te waarderen naar een NAVO-Oekraïne-Raad" in vilnius.text
    assert "Diverse NAVO-bondgenoten, waaronder ook Nederland" in madrid.text  # NAVO-\nbondgenoten
    assert not re.search(r"\w- \w", vilnius.text.replace("en -regeringsleiders", ""))


def test_join_lines_decides_from_the_text_around_the_break() -> None:
    assert join_lines(["de samen-", "werking"]) == "de samenwerking"
    assert join_lines(["de Noord-", "Atlantische Raad"]) == "de Noord-Atlantische Raad"
    assert join_lines(["de EU-", "lidstaten"]) == "de EU-lidstaten"
    assert join_lines(["de 2%-", "norm"]) == "de 2%-norm"
    assert join_lines(["steun –", "zowel"]) == "steun – zowel"


def test_headings_are_sections_not_paragraphs(madrid: Letter, vilnius: Letter) -> None:
    texts = {p.text for p in vilnius.paragraphs}
    assert "Defense Investment Pledge" not in texts
    assert "NAVO-Top 2025" not in texts
    pledge = paragraph_with(vilnius, "structureel minimaal 2% van het BBP")
    assert pledge.section == "Defense Investment Pledge"
    host = paragraph_with(vilnius, "gastheer zal zijn van de NAVO-Top in 2025")
    assert host.section == "NAVO-Top 2025"
    session = paragraph_with(vilnius, "Op 11 juli vond parallel de Noord-Atlantische Raad")
    assert session.section == "Werksessie III: Noord-Atlantische Raad in de samenstelling van Ministers van Defensie"
    assert not any(p.text.startswith("Werksessie") for p in madrid.paragraphs)


def test_a_bullet_list_stays_with_its_paragraph(madrid: Letter) -> None:
    listing = paragraph_with(madrid, "De belangrijkste militaire activiteiten betreffen:")
    for bullet in ("• Landdomein", "• Luchtdomein", "• Maritiem domein", "• Snelle interventiecapaciteit"):
        assert "\n" + bullet in listing.text


def test_plain_text_with_blank_line_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "notitie.txt"
    path.write_text("Korte notitie\n\nEerste alinea over de\nNAVO.\n\nTweede alinea.\n", encoding="utf-8")
    letter = read_letter(path)
    assert letter.title == "Korte notitie"
    assert [p.text for p in letter.paragraphs] == ["Eerste alinea over de NAVO.", "Tweede alinea."]


def test_a_sidecar_gives_title_date_and_kamerstuk(tmp_path: Path) -> None:
    (tmp_path / "brief.txt").write_text("Een alinea met tekst.\n\nNog een alinea.\n", encoding="utf-8")
    (tmp_path / "brief.json").write_text(
        '{"title": "Geannoteerde agenda", "date": "2024-06-01", "kamerstuk": "28 676, nr. 450"}', encoding="utf-8"
    )
    letter = read_letter(tmp_path / "brief.txt")
    assert (letter.title, letter.date, letter.kamerstuk) == (
        "Geannoteerde agenda",
        dt.date(2024, 6, 1),
        "28 676, nr. 450",
    )


def test_a_pdf_gets_the_same_cleaning(tmp_path: Path) -> None:
    path = tmp_path / "verslag.pdf"
    page1 = [
        "Verslag van de Top in Oslo van 3 mei 2024",
        "",
        "De bondgenoten spraken over de NAVO-",
        "bondgenoten en een histo-",
        "rische stap van Noorwegen1 en",
        "",
        "1 Kamerstuk 12 345, nr. 6",
    ]
    page2 = ["de steun aan Oekraïne.", "", "Een tweede alinea."]
    path.write_bytes(make_pdf([page1, page2]))
    letter = read_letter(path)
    assert letter.date == dt.date(2024, 5, 3)
    first, second = letter.paragraphs
    assert first.text == (
        "De bondgenoten spraken over de NAVO-bondgenoten en een historische stap van Noorwegen1 en "
        "de steun aan Oekraïne."
    )
    assert [f.text for f in first.footnotes] == ["Kamerstuk 12 345, nr. 6"]
    assert second.text == "Een tweede alinea."


BAD_FILES = {
    "leeg.txt": (b"", "empty"),
    "junk.txt": (bytes(range(256)) * 8, "binary"),
    "latin1.txt": ("Een brief over de NAVO en Oekraïne.".encode("latin-1"), "not UTF-8"),
    "brief.doc": (b"\xd0\xcf\x11\xe0 an old Word file", "unknown file type"),
    "brief.docx": (b"PK\x03\x04 not a letter", "not a readable Word document"),
    "brief.odt": (b"PK\x03\x04 not a letter", "not a readable OpenDocument text"),
    "kst-1-2.xml": (b"<officiele-publicatie><kamerstuk><stuk><al>half", "not well-formed XML"),
    "besluit.xml": (b"<staatsblad><al>Een besluit.</al></staatsblad>", "no <kamerstuk> element"),
    "kapot.pdf": (b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
    "scan.pdf": (make_pdf([[]]), "no text layer"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_input_raises_a_corpus_error_naming_the_file(tmp_path: Path, name: str) -> None:
    data, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=re.escape(reason)) as caught:
        read_letter(path)
    assert name in str(caught.value)
    assert name in caught.value.nl and caught.value.nl != str(caught.value)  # the app shows it in Dutch


def test_an_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_pdf([["Een alinea van een brief over de NAVO-Top."]]))
    writer = PdfWriter()
    writer.append(PdfReader(plain))
    writer.encrypt("geheim")
    with open(tmp_path / "geheim.pdf", "wb") as handle:
        writer.write(handle)
    with pytest.raises(CorpusError, match="encrypted"):
        read_letter(tmp_path / "geheim.pdf")


def test_a_folder_reports_every_bad_file_and_still_reads_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "goed.txt").write_text("Een alinea over de NAVO.\n\nEn nog een.\n", encoding="utf-8")
    (tmp_path / "leeg.txt").write_bytes(b"")
    (tmp_path / "kapot.pdf").write_bytes(b"%PDF-1.4 broken")
    letters, refused = read_letters([tmp_path])
    assert [l.id for l in letters] == ["goed"]
    assert sorted(Path(f).name for f, _ in refused) == ["kapot.pdf", "leeg.txt"]


def test_the_crafted_edge_cases_parse(tmp_path: Path) -> None:
    letter = read_letter(DATA / "script-letter.txt")
    assert "<script>" in letter.paragraphs[0].text  # kept as text; the app must escape it
    assert parse_text("Alleen een alinea zonder titel.", "x").paragraphs[0].text == "Alleen een alinea zonder titel."
