"""Official letters in a real browser: upload a Kamerstuk XML (with its metadata.xml) and the
DOCX letter it refers to, ask about it, see the official citation and its permalink, and
follow the reference between the letters into the other letter's view.

Runs after test_app_browser.py (files run in name order), so its letters do not change
what those tests see. Screenshots land in evals/screenshots/."""

from __future__ import annotations

from pathlib import Path

from documents import make_docx
from playwright.sync_api import Page, expect
from test_app_browser import ask, open_tab

KST = Path(__file__).resolve().parents[1] / "data" / "kst"
PERMALINK = "https://zoek.officielebekendmakingen.nl/kst-36200-V-12.html"
PROGRAMME = [
    ("title", "Oefenprogramma van de krijgsmacht voor het najaar van 2022"),
    ("p", ["In het najaar van 2022 neemt de krijgsmacht deel aan vijf internationale oefeningen",
           ("note", "Het volledige programma staat in de bijlage bij deze brief."), "."]),
    ("h1", "Marine"),
    ("p", ["De marine levert fregatten voor de oefening Poolster in de Noordzee."]),
]  # fmt: skip


def test_upload_an_official_letter_ask_and_follow_its_citation_and_reference(page: Page, shot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docx = make_docx(tmp_path / "kst-28676-433.docx", PROGRAMME)
    open_tab(page, "Brieven")
    files = [str(KST / "kst-36200-V-12.xml"), str(KST / "kst-36200-V-12.metadata.xml"), str(docx)]
    page.locator("#upload input[type=file]").set_input_files(files)
    result = page.locator("#ingest-result")
    expect(result).to_contain_text("Toegevoegd: kst-28676-433", timeout=90_000)
    expect(result).to_contain_text("Toegevoegd: kst-36200-V-12")
    expect(page.locator("#ingest-result .refused")).to_have_count(0)  # the metadata.xml is a sidecar, not a letter
    expect(page.locator("#letters")).to_contain_text("Kamerstukken II 2022/23, 36 200 V, nr. 12")
    shot(page, "08-upload-official")

    open_tab(page, "Vragen")
    ask(page, "Hoeveel militairen namen deel aan de oefening Poolster?", "oefening Poolster")
    bot = page.locator("#chat [data-testid='bot']").last
    expect(bot).to_contain_text("2.340 militairen")
    expect(bot.locator(".cited")).to_contain_text("[1] Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea 3")
    card = page.locator("#sources .src").first
    expect(card.locator(".citation .cite-text")).to_have_text("Kamerstukken II 2022/23, 36 200 V, nr. 12, alinea 3")
    expect(card.locator("a.official")).to_have_attribute("href", PERMALINK)
    expect(card.locator("a.official")).to_have_attribute("target", "_blank")
    shot(page, "09-official-citation")

    page.locator("#chat a.cite").first.click()
    letter = page.locator("#letter")
    expect(letter.locator(".letter-head")).to_contain_text("Kamerstukken II 2022/23, 36 200 V, nr. 12", timeout=15_000)
    expect(letter.locator(".par.hl")).to_contain_text("2.340 militairen")
    # a reference to a letter that is not in the index links to its official address
    absent = letter.locator("a.ref", has_text="Kamerstukken 36 045 en 22 054, nr. 164")
    expect(absent).to_have_attribute("href", "https://zoek.officielebekendmakingen.nl/kst-36045-164.html")
    # ... and one to an indexed letter opens that letter here
    letter.locator("a.ref-open", has_text="Kamerstuk 28 676, nr. 433").click()
    expect(letter.locator(".letter")).to_have_attribute("data-letter", "kst-28676-433", timeout=15_000)
    expect(letter.locator(".letter-head")).to_contain_text("Oefenprogramma van de krijgsmacht")
    expect(letter.locator(".letter-head")).to_contain_text("Kamerstuk 28 676, nr. 433")
    shot(page, "10-reference-opened")
