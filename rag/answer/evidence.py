"""Sentence-level evidence for the rule-based composer (composer.py): the sentences of the
retrieved passages (and their footnotes) with the cosine retrieval already computed for them
(Hit.sentences), plus lexical overlap with the question (its relevance), a cue for what the
question word asks (questions.py) and penalties for remarks about the letter itself and (off
by default: AnswerSettings.rules_reference) for bare references (its score)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer import questions
from rag.types import Hit, Passage
from rag.words import WORD, content_stems

_LINK = re.compile(r"\S*https?://\S*")
_REFERENCE_START = re.compile(r"^\W*(?:Kamerstuk(?:ken)?|Kamerbrief|Zie)\b", re.IGNORECASE)
_ABOUT_THE_LETTER = re.compile(
    r"^(?:Hiermee|Hierbij|Met deze brief|Bij deze(?: brief)?|Middels deze brief)\b.*\b(?:toezegging|uw Kamer)\b"
    r"|\buw Kamer wordt\b[^.]*\bgeïnformeerd\b"  # "Uw Kamer wordt hierover nader geïnformeerd ..."
    r"|\buw Kamer (?:heeft )?toegezegd\b",  # "... heeft de Minister uw Kamer toegezegd toe te lichten ..."
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a retrieved passage, where it lies in the letter, and its scores."""

    rank: int  # 1-based position of its passage among the hits: the [n] it is cited as
    passage: Passage
    text: str
    start: int  # Letter.text[start:end] == text
    end: int
    similarity: float = 0.0  # cosine to the question (multilingual embedder)
    support: float = 0.0  # the trained reader's P(it answers), when it has read the passage
    overlap: float = 0.0  # share of the question's content words it contains
    relevance: float = 0.0  # similarity + weighted overlap - rank penalty: what abstention judges
    score: float = 0.0  # relevance + question-word cue - penalties: what ranks the sentences


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of a sentence's score are weighed (AnswerSettings.rules_*)."""

    lexical: float  # a sentence holding all the question's content words gains this
    rank: float  # a passage ranked lower by retrieval loses this per place
    cue: float  # a sentence with what the question word asks for (a cause for "waarom", ...)
    reference: float  # a bare reference ("Kamerstuk 28 676, nr. 411", a link) loses this ...
    about_letter: float  # ... and a remark about the letter itself ("Uw Kamer wordt ... geïnformeerd") this
    reader: float = 0.0  # a sentence the trained reader is sure answers gains this (AnswerSettings.reader_weight)


def candidates(hits: Sequence[Hit], depth: int) -> list[Sentence]:
    """The sentences of the top `depth` passages, footnotes included, in reading order, with
    the cosine to the question that retrieval computed (Hit.sentences)."""
    found: list[Sentence] = []
    for rank, hit in enumerate(hits[:depth], start=1):
        for e in hit.sentences:
            text = hit.passage.text_at(e.start, e.end)
            if len(WORD.findall(_LINK.sub(" ", text))) >= 3:  # not headings, stray numbers or bare links
                support = e.support or 0.0
                found.append(Sentence(rank, hit.passage, text, e.start, e.end, e.similarity, support=support))
    return found


def score(question: str, sentences: Sequence[Sentence], weights: Weights) -> list[Sentence]:
    """The sentences with overlap, relevance and score, best first."""
    if not sentences:
        return []
    wanted = content_stems(question)
    references_count = not questions.asks_for_source(question)
    holds_what_is_asked = questions.answer_cue(question)
    scored = []
    for s in sentences:
        sim = s.similarity
        context = content_stems(" ".join((s.text, s.passage.section or "", s.passage.letter_title)))
        overlap = len(wanted & context) / len(wanted) if wanted else 0.0
        relevance = float(sim) + weights.lexical * overlap - weights.rank * (s.rank - 1)
        value = relevance + weights.reader * s.support
        if holds_what_is_asked(s.text):
            value += weights.cue
        if references_count and is_reference(s.text):
            value -= weights.reference
        if is_about_the_letter(s.text):
            value -= weights.about_letter
        scored.append(dataclasses.replace(s, similarity=float(sim), overlap=overlap, relevance=relevance, score=value))
    return sorted(scored, key=lambda s: -s.score)


def is_reference(text: str) -> bool:
    """A bare reference to another document: "Kamerstuk 36 045, nr. 164", "Zie ...", or a
    link with little else ("Joint Declaration on EU-NATO Cooperation: https://...")."""
    if _REFERENCE_START.search(text):
        return True
    return bool(_LINK.search(text)) and len(WORD.findall(_LINK.sub(" ", text))) < 8


def is_about_the_letter(text: str) -> bool:
    """A remark about the letter or the parliament itself, rarely an answer: "Hiermee komt
    het kabinet tegemoet aan de toezegging ...", "Uw Kamer wordt hierover nader
    geïnformeerd ...". A sentence that only ends in such a remark ("..., waarover uw Kamer
    eerder werd geïnformeerd") still says something and is not one."""
    return bool(_ABOUT_THE_LETTER.search(text))


def near_duplicate(a: str, b: str) -> bool:
    """Whether two sentences say the same: most content words shared."""
    sa, sb = content_stems(a), content_stems(b)
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.8
