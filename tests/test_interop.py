"""Our embedder and retriever pass LangChain's standard tests (langchain-tests) and carry provenance."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from rag.interop import LetterEmbeddings, LetterRetriever


class OurEmbeddings:
    """What both standard suites need to build our LangChain Embeddings."""

    @pytest.fixture(autouse=True)
    def _embedder(self, embedder) -> None:  # type: ignore[no-untyped-def]
        type(self).loaded = embedder

    @property
    def embeddings_class(self) -> type[LetterEmbeddings]:
        return LetterEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": type(self).loaded}


class TestLetterEmbeddingsUnit(OurEmbeddings, EmbeddingsUnitTests):
    pass


class TestLetterEmbeddings(OurEmbeddings, EmbeddingsIntegrationTests):
    pass


class TestLetterRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, index) -> None:  # type: ignore[no-untyped-def]
        type(self).loaded = index

    @property
    def retriever_constructor(self) -> type[LetterRetriever]:
        return LetterRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index": type(self).loaded}

    @property
    def retriever_query_example(self) -> str:
        return "Wie wordt gastheer van de NAVO-Top in 2025?"


def test_retrieved_documents_carry_the_passage_provenance(index) -> None:  # type: ignore[no-untyped-def]
    docs = LetterRetriever(index=index, k=2).invoke("Which country will host the European F-16 training centre?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "Roemenië" in top.page_content
    assert top.metadata["letter_id"] == "navo-top-vilnius-2023" and top.metadata["section"] == "F-16 trainingscoalitie"
    assert top.id == top.metadata["passage_id"] == f"navo-top-vilnius-2023#{top.metadata['paragraph']}"
