"""What may go into the index and into a question, checked before any embedding starts:
the length of a question, the embedding work of a letter, and content the index already
holds under another name. Every refusal states the limit and the setting that raises it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.errors import QuestionError
from rag.ingest import chunking
from rag.settings import LimitsSettings, Settings
from rag.store.index import Index
from rag.types import Letter, Passage


@dataclass
class Plan:
    """Which letters an ingest embeds, with their passages and units of embedding."""

    todo: list[Letter] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    pieces: dict[str, list[Passage]] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)  # passages + sentences to embed, per letter
    counts: dict[str, int] = field(default_factory=dict)  # passages the index holds now, per letter


def check_question(question: str, limits: LimitsSettings) -> None:
    """QuestionError for an empty question or one longer than the limit."""
    if not question.strip():
        raise QuestionError(
            'The question is empty. Ask something, e.g. rag ask "Wat is UCAP?"', nl="Typ eerst een vraag."
        )
    if len(question) > limits.question_chars:
        raise QuestionError(
            f"The question is {len(question):,} characters long; the limit is {limits.question_chars:,}. "
            "Ask it shorter, or raise the limit (RAG_LIMITS_QUESTION_CHARS).",
            nl=f"De vraag is {len(question):,} tekens lang; de grens is {limits.question_chars:,}. Stel hem korter.",
        )


def content_owners(index: Index, letters: Sequence[Letter]) -> dict[str, str]:
    """The id of the stored letter that says the content of each of these letters
    (Letter.content_key), looked up in the store: nothing else is read."""
    return index.store.content_owners([letter.content_key for letter in letters])


def plan(
    index: Index,
    letters: Sequence[Letter],
    settings: Settings,
    dutch: bool = False,
    owners: dict[str, str] | None = None,
) -> Plan:
    """Sort letters into unchanged, refused (duplicate content, too much embedding) and to do;
    the letters to do stamped with the time they are added. `owners` holds the content keys of
    the letters taken earlier in the same ingest (not yet stored, or stored by an earlier batch)
    and is updated with these; the store is asked about this batch's contents only."""
    result = Plan()
    owners = {} if owners is None else owners
    stored_owners = content_owners(index, letters)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for letter in letters:
        old = index.letters.get(letter.id)
        if old is not None and old.sha256 == letter.sha256:
            result.unchanged.append(letter.id)
            continue
        key = letter.content_key
        owner = owners.get(key, stored_owners.get(key, letter.id))
        if owner != letter.id:
            result.refused.append((letter.source, _duplicate(letter, owner, dutch)))
            continue
        if letter.origin.at is None:
            letter = dataclasses.replace(letter, origin=dataclasses.replace(letter.origin, at=now))
        pieces = chunking.passages(letter, settings.chunking)
        units = len(pieces) + sum(len(chunking.sentence_units(p)) for p in pieces)
        if units > settings.limits.embedding_units:
            result.refused.append((letter.source, _too_big(letter, units, settings.limits, dutch)))
            continue
        owners[key] = letter.id
        result.todo.append(letter)
        result.pieces[letter.id] = pieces
        result.units[letter.id] = units
    # passages stored now per letter: one read for the batch (not a pass over every passage per letter)
    stored = index.store.letter_summaries([l.id for l in result.todo]) if result.todo else {}
    result.counts = {l.id: int(stored.get(l.id, {}).get("passages", 0)) for l in result.todo}
    return result


def _duplicate(letter: Letter, owner: str, dutch: bool) -> str:
    if dutch:
        return f"{letter.source}: dezelfde inhoud staat al in de index als brief '{owner}'; niet opnieuw toegevoegd."
    return f"{letter.source}: the same content is already in the index as letter '{owner}'; not added again."


def _too_big(letter: Letter, units: int, limits: LimitsSettings, dutch: bool) -> str:
    if dutch:
        return (
            f"{letter.source}: de brief vraagt {units:,} eenheden inbedding (passages en zinnen), meer dan de grens "
            f"van {limits.embedding_units:,}. Splits de brief, of laat de beheerder de grens verhogen "
            "(RAG_LIMITS_EMBEDDING_UNITS)."
        )
    return (
        f"{letter.source}: the letter needs {units:,} units of embedding (passages and sentences), above the limit "
        f"of {limits.embedding_units:,}. Split the letter, or raise the limit (RAG_LIMITS_EMBEDDING_UNITS)."
    )
