"""The app in a real browser: ask, follow a citation into its letter, add letters, evaluate.

Screenshots of every step land in evals/screenshots/ (1280x800)."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

DATA = Path(__file__).resolve().parents[1] / "data"
DEV = Path(__file__).resolve().parents[2] / "evals" / "dev.jsonl"
MILITARY_AID = "Hoeveel militaire steun heeft Nederland inmiddels aan Oekraïne geleverd?"


def ask(page: Page, question: str, letter_title: str) -> None:
    """Ask in the chat and wait for the final state: a cited answer and the sources of this turn."""
    turn = page.locator("#chat [data-testid='bot']").count()
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    card = page.locator(f'#sources .sources[data-turn="{turn}"] .src').first
    expect(card).to_contain_text(letter_title, timeout=30_000)
    expect(page.locator("#chat [data-testid='bot']").nth(turn).locator("a.cite").first).to_have_text("[1]")


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_ask_a_question_and_see_a_cited_answer(page: Page, shot) -> None:  # type: ignore[no-untyped-def]
    ask(page, MILITARY_AID, "VILNIUS")
    expect(page.locator("#chat [data-testid='user']").last).to_contain_text(MILITARY_AID)
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("EUR 1,9 miljard")
    card = page.locator("#sources .src").first
    expect(card).to_contain_text("12 juli 2023")
    expect(card).to_contain_text("alinea 7")
    expect(card.locator("mark").first).to_be_visible()  # the supporting sentence
    expect(card.locator(".notes")).to_contain_text("Kamerstuk")  # the paragraph's footnote
    expect(page.locator("#sources details.others summary")).to_contain_text("Andere gevonden passages")
    expect(page.locator("#question textarea")).to_have_value("")
    shot(page, "01-answer")


def test_a_citation_opens_the_letter_at_the_highlighted_paragraph(page: Page, shot) -> None:  # type: ignore[no-untyped-def]
    ask(page, MILITARY_AID, "VILNIUS")
    page.locator("#chat a.cite").first.click()
    target = page.locator("#letter .par.hl")
    expect(target).to_have_count(1, timeout=15_000)
    expect(target).to_have_attribute("id", "par-7")
    expect(target).to_contain_text("EUR 1,9 miljard aan militaire steun")
    expect(target).to_be_in_viewport()  # scrolled to it
    expect(page.locator("#letter .letter-head")).to_contain_text("VILNIUS")
    shot(page, "02-letter")
    # an uncited passage from the collapsed list opens in its letter too
    open_tab(page, "Bronnen")
    page.locator("#sources details.others summary").click()
    other = page.locator("#sources .hit").first
    paragraph = other.locator(".src-head").inner_text().split("alinea ")[1].split()[0]
    other.locator("a.open").click()
    expect(page.locator("#letter .par.hl")).to_have_attribute("id", f"par-{paragraph}", timeout=15_000)


def test_upload_a_letter_and_ask_about_it_its_html_stays_text(page: Page, shot) -> None:  # type: ignore[no-untyped-def]
    open_tab(page, "Brieven")
    page.locator("#upload input[type=file]").set_input_files([str(DATA / "oefening-noorderlicht-2024.txt")])
    expect(page.locator("#ingest-result")).to_contain_text("Toegevoegd: oefening-noorderlicht-2024", timeout=60_000)
    expect(page.locator("#letters")).to_contain_text("OEFENING NOORDERLICHT")
    shot(page, "03-upload")
    open_tab(page, "Vragen")
    ask(page, "Hoeveel militairen namen deel aan de oefening Noorderlicht?", "NOORDERLICHT")
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("1.250 militairen")
    ask(
        page,
        "Welke tekens schreef een deelnemer in het logboek, die als gewone tekst getoond horen te worden?",
        "NOORD",
    )
    page.locator("#chat a.cite").last.click()
    expect(page.locator("#letter .par.hl")).to_contain_text("<script>window.__xss = 1</script>", timeout=15_000)
    expect(page.locator("#letter img, #sources img, #chat img")).to_have_count(0)
    assert page.evaluate("window.__xss") is None  # nothing of the letter ran
    shot(page, "04-upload-answer")


def test_a_broken_upload_shows_the_error_and_keeps_the_index(page: Page, shot, app_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    manifest = app_server.index_dir / "manifest.json"
    before = json.loads(manifest.read_text())
    broken, empty = tmp_path / "kapotte-brief.pdf", tmp_path / "lege-brief.txt"
    broken.write_bytes(b"%PDF-1.7 half a file")
    empty.write_text("")
    open_tab(page, "Brieven")
    rows = page.locator("#letters").get_by_role("row")  # a header row, then a row per letter
    expect(rows).to_have_count(len(before["letters"]) + 1)
    page.locator("#upload input[type=file]").set_input_files([str(broken), str(empty)])
    refused = page.locator("#ingest-result .refused")
    expect(refused).to_have_count(2, timeout=30_000)
    expect(refused.nth(0)).to_contain_text("kapotte-brief.pdf")
    expect(refused.nth(0)).to_contain_text("geen leesbare PDF")
    expect(refused.nth(1)).to_contain_text("lege-brief.txt")
    expect(rows).to_have_count(len(before["letters"]) + 1)
    assert json.loads(manifest.read_text())["corpus_hash"] == before["corpus_hash"]
    shot(page, "05-upload-refused")


def test_run_an_evaluation_set_from_the_eval_tab(page: Page, shot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = tmp_path / "dev-klein.jsonl"
    small.write_text("".join(DEV.read_text(encoding="utf-8").splitlines(keepends=True)[:4]), encoding="utf-8")
    open_tab(page, "Evaluatie")
    page.locator("#eval-upload input[type=file]").set_input_files([str(small)])
    page.locator("#eval-run").click()
    expect(page.locator("#eval-summary table").first).to_be_visible(timeout=60_000)
    expect(page.locator("#eval-summary")).to_contain_text("4 questions")
    expect(page.locator("#eval-report")).to_contain_text(".md")
    shot(page, "06-eval")
    open_tab(page, "Per vraag")
    table = page.locator("#eval-rows")
    for qid in ("dev-01", "dev-02", "dev-03", "dev-04"):
        expect(table).to_contain_text(qid)
    expect(table).to_contain_text("navo-top-vilnius-2023#")
    expect(table.get_by_role("gridcell", name="✓").or_(table.get_by_role("gridcell", name="✗")).first).to_be_visible()
    shot(page, "07-eval-rows")
    open_tab(page, "Grafieken")
    expect(page.locator("#eval-plots img").first).to_be_visible()


def test_the_question_is_shown_as_text_and_fetches_nothing(page: Page) -> None:
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "tracker" in r.url else None)
    question = f"{MILITARY_AID} ![x](http://127.0.0.1:9/tracker.png) en *vet* http://x.example/a_b.png)"
    turn = page.locator("#chat [data-testid='bot']").count()
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    expect(page.locator(f'#sources .sources[data-turn="{turn}"]')).to_have_count(1, timeout=30_000)  # answered
    shown = page.locator("#chat [data-testid='user']").last
    expect(shown).to_have_text(question)  # exactly, no stray backslash, no link, no image
    assert shown.locator("img").count() == 0 and shown.locator("a").count() == 0
    assert not fetched, fetched
