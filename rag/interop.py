"""LangChain adapters, so users can plug our parts into their own chains:
LetterEmbeddings (a LangChain `Embeddings` over our embedder) and LetterRetriever
(a LangChain `BaseRetriever` over our hybrid retrieval, provenance in metadata)."""

from __future__ import annotations

import dataclasses
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag import records
from rag.embedding.embedders import Embedder
from rag.retrieval.hybrid import retrieve
from rag.settings import Settings
from rag.store.index import Index
from rag.types import Hit


class LetterEmbeddings(Embeddings):
    """Our embedder as LangChain Embeddings (documents get the passage side, queries the query side)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self.embedder.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()


class LetterRetriever(BaseRetriever):
    """Hybrid retrieval over the index as a LangChain retriever. `k` overrides settings.retrieval.k."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    index: Any  # rag.store.index.Index
    settings: Any = None  # rag.settings.Settings
    k: int | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        settings: Settings = self.settings or Settings()
        k = k if k is not None else self.k
        retrieval = settings.retrieval if k is None else dataclasses.replace(settings.retrieval, k=k)
        index: Index = self.index
        return [to_document(h, rank) for rank, h in enumerate(retrieve(query, index, retrieval), start=1)]


def to_document(hit: Hit, rank: int) -> Document:
    """A hit as a LangChain Document: the passage text, its provenance and scores as metadata."""
    metadata = records.hit(hit, rank)
    text = metadata.pop("text")
    return Document(page_content=text, metadata=metadata, id=hit.passage.id)
