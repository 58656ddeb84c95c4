"""The systems `rag eval` compares, each a name and a search function returning ranked units
(letter id, spans): our pipeline, BM25 only, dense only, and the pipeline a LangChain user
would write by default (RecursiveCharacterTextSplitter(1000, 200) on the raw text, the same
embedder, LangChain's FAISS vector store)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag import pipeline
from rag.retrieval.hybrid import retrieve
from rag.settings import EmbeddingSettings, Settings
from rag.store.index import Index
from rag.types import Answer

Unit = tuple[str, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class System:
    name: str
    search: Callable[[str], list[Unit]]
    texts: dict[str, str] | None = None  # what the spans index into, if not the letters' clean texts


def ours(index: Index, settings: Settings, depth: int) -> System:
    """Our path: hybrid retrieval, the top passages re-ranked by the reader's best sentence."""
    wider = dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, k=depth))

    def search(question: str) -> list[Unit]:
        return [(h.passage.letter_id, h.passage.spans) for h in pipeline.find(question, index, wider).hits]

    return System("hybrid (ours)", search)


def bm25_only(index: Index, settings: Settings, depth: int) -> System:
    return _retrieval("bm25", index, dataclasses.replace(settings.retrieval, k=depth, fusion="lexical"))


def dense_only(index: Index, settings: Settings, depth: int) -> System:
    return _retrieval("dense", index, dataclasses.replace(settings.retrieval, k=depth, fusion="dense"))


def _retrieval(name: str, index: Index, retrieval) -> System:  # type: ignore[no-untyped-def]
    def search(question: str) -> list[Unit]:
        return [(h.passage.letter_id, h.passage.spans) for h in retrieve(question, index, retrieval)]

    return System(name, search)


def langchain_default(index: Index, embedding: EmbeddingSettings, depth: int) -> System:
    """LangChain's default recipe over the raw letter files (the clean text if a file is gone)."""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.interop import LetterEmbeddings

    def build() -> tuple[dict[str, str], FAISS]:
        texts = {lid: _raw_text(letter.source) or letter.text for lid, letter in index.letters.items()}
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        docs = splitter.create_documents(list(texts.values()), metadatas=[{"letter": lid} for lid in texts])
        return texts, FAISS.from_documents(docs, LetterEmbeddings(index.embedder))

    # embedding every chunk takes a while on a CPU: once per state of the index, not per eval run
    texts, store = index.derived("baseline:langchain-default", build)

    def search(question: str) -> list[Unit]:
        found = store.similarity_search(question, k=depth)
        return [(d.metadata["letter"], ((s := d.metadata["start_index"], s + len(d.page_content)),)) for d in found]

    return System("langchain default", search, texts)


def answer(question: str, index: Index, settings: Settings) -> Answer:
    return pipeline.ask(question, index, settings)


def _raw_text(source: str) -> str | None:
    path = Path(source)
    if path.suffix.lower() == ".txt" and path.is_file():
        return path.read_text(encoding="utf-8-sig")
    return None
