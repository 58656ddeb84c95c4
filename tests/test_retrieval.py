"""Hybrid retrieval on the real letters: fusion, filters, footnotes, English questions."""

from __future__ import annotations

import dataclasses
import datetime as dt

from rag.retrieval.hybrid import retrieve, rrf
from rag.retrieval.named import mark, named_first, named_only
from rag.settings import RetrievalSettings
from rag.types import Hit, Passage

SETTINGS = RetrievalSettings()


def passage(n: int) -> Passage:
    return Passage("brief", "Brief", None, None, n, f"alinea {n}", 0, 1)


def test_rrf_with_empty_lists() -> None:
    assert rrf([]) == []
    assert rrf([[], []]) == []
    only = [Hit(passage(1), 0.9), Hit(passage(2), 0.5)]
    assert [h.passage.id for h in rrf([only, []])] == ["brief#1", "brief#2"]


def test_rrf_sums_reciprocal_ranks_with_weights() -> None:
    a = [Hit(passage(1), 1.0), Hit(passage(2), 1.0)]
    b = [Hit(passage(2), 1.0), Hit(passage(3), 1.0)]
    fused = rrf([a, b], k=10)
    assert [h.passage.id for h in fused] == ["brief#2", "brief#1", "brief#3"]
    assert fused[0].score == 1 / 12 + 1 / 11
    weighted = rrf([a, b], k=10, weights=(1.0, 0.0))  # the second ranking no longer counts
    assert [(h.passage.id, h.score) for h in weighted] == [("brief#1", 1 / 11), ("brief#2", 1 / 12), ("brief#3", 0.0)]


def test_the_question_about_pantserhouwitsers_returns_the_madrid_paragraph_first(index) -> None:  # type: ignore[no-untyped-def]
    hits = retrieve("Hoeveel pantserhouwitsers leveren Duitsland en Nederland extra?", index, SETTINGS)
    assert hits[0].passage.letter_id == "navo-top-madrid-2022" and "zes pantserhouwitsers" in hits[0].passage.text
    start, end = hits[0].evidence  # the sentence that matched best
    assert "pantserhouwitsers" in index.letters["navo-top-madrid-2022"].text[start:end]


def test_an_english_question_finds_the_dutch_paragraph(index) -> None:  # type: ignore[no-untyped-def]
    hits = retrieve("Which country announced it could host the European F-16 training centre?", index, SETTINGS)
    assert "Roemenië kondigde aan het Europese F-16 trainingscentrum te kunnen hosten" in hits[0].passage.text


def test_a_question_about_a_footnote_leads_to_the_paragraph_it_belongs_to(index) -> None:  # type: ignore[no-untyped-def]
    hits = retrieve("Welke landen hebben de verklaring over het F-16 trainingsinitiatief ondertekend?", index, SETTINGS)
    top3 = hits[:3]
    holder = next(h for h in top3 if any(f.number == 1 for f in h.passage.footnotes))
    assert "NAVO-landen1" in holder.passage.text
    assert holder.passage.footnotes[0].text.startswith("Denemarken, Nederland, België")


def test_filters_restrict_to_letters_and_dates(index) -> None:  # type: ignore[no-untyped-def]
    question = "Wat is er besloten over de steun aan Oekraïne?"
    only_madrid = dataclasses.replace(SETTINGS, letters=("navo-top-madrid-2022",), k=10)
    assert {h.passage.letter_id for h in retrieve(question, index, only_madrid)} == {"navo-top-madrid-2022"}
    from_2023 = dataclasses.replace(SETTINGS, date_from=dt.date(2023, 1, 1), k=10)
    assert {h.passage.letter_id for h in retrieve(question, index, from_2023)} == {"navo-top-vilnius-2023"}
    nothing = dataclasses.replace(SETTINGS, date_to=dt.date(2000, 1, 1))
    assert retrieve(question, index, nothing) == []


def test_timings_are_reported_per_stage(index) -> None:  # type: ignore[no-untyped-def]
    timings: dict[str, float] = {}
    retrieve("Wat is UCAP?", index, SETTINGS, timings)
    assert {"embed", "dense", "lexical", "fuse"} <= set(timings) and all(v >= 0 for v in timings.values())


def test_the_hits_of_the_one_letter_a_question_names_go_first() -> None:
    def letter(letter_id: str, title: str, year: int, n: int) -> Hit:
        p = Passage(letter_id, title, dt.date(year, 3, 14), None, n, f"alinea {n}", 0, 1)
        return Hit(p, 1.0 / n)

    hits = [
        letter("verslag-raad-lissabon-2031", "Verslag van de Raad in Lissabon op 14 maart 2031", 2031, 1),
        letter("verslag-raad-oslo-2032", "Verslag van de Raad in Oslo op 14 maart 2032", 2032, 2),
        letter("verslag-raad-lissabon-2031", "Verslag van de Raad in Lissabon op 14 maart 2031", 2031, 3),
        letter("verslag-raad-oslo-2032", "Verslag van de Raad in Oslo op 14 maart 2032", 2032, 4),
    ]

    def first(question: str) -> list[int]:
        return [h.passage.paragraph for h in named_first(mark(question, hits))]

    def only(question: str) -> list[int]:
        return [h.passage.paragraph for h in named_only(mark(question, hits))]

    assert first("Wat besprak de Raad in Oslo over visserij?") == [2, 4, 1, 3]  # each group keeps retrieval's order
    assert first("What did the council decide in 2031?") == [1, 3, 2, 4]
    for plain in ("Wat besprak de Raad over visserij?", "Wat zei men in maart?", "Verschilden Oslo en Lissabon?"):
        assert first(plain) == only(plain) == [1, 2, 3, 4]  # no letter, a shared month, or both letters named
    assert only("Wat besprak de Raad in Oslo?") == [2, 4]
    both = mark("Verschilden Oslo en Lissabon?", hits)
    assert all(h.named for h in both) and not any(h.named for h in mark("Wat zei men in maart?", hits))
