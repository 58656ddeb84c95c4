"""Which letter a question names ("in Madrid", "the 2023 report"), and its hits first.

A letter is named by a word of its id or title, or its year, that the other retrieved letters
do not share; day numbers and month names of a title name nothing. The words come from each
letter's own metadata, never from a list. On the development sets every answerable question
that names one letter has its answer in that letter (47 of 47), so retrieval puts that letter's
hits first (named_first), and the answer stage draws on that letter alone (named_only), or on
each of the letters a question names. Retrieval marks the hits once (mark(): Hit.named); the
answer stage reads the marks instead of recomputing them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from rag.ingest.corpus import MONTHS
from rag.types import Hit, Passage
from rag.words import STOP, folded_words

_MONTH = re.compile(rf"\b(?:{'|'.join(MONTHS)})\b", re.IGNORECASE)


def named_letters(question: str, passages: Iterable[Passage]) -> set[str]:
    """The letters (of these passages) that the question names."""
    names = {}
    for p in passages:
        year = str(p.letter_date.year) if p.letter_date else ""
        words = folded_words(f"{p.letter_id} {p.letter_title} {year}")
        names[p.letter_id] = {w for w in words if not re.fullmatch(r"\d{1,2}", w) and not _MONTH.fullmatch(w)}
    asked = folded_words(question)
    named = set()
    for letter_id, words in names.items():
        others = set().union(*(w for other, w in names.items() if other != letter_id))
        if (words - others - STOP) & asked:
            named.add(letter_id)
    return named


def mark(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """The hits, each marked `named` when its letter is one the question names (among the
    letters of all retrieved hits): retrieval computes it once and the answer stage reads it.
    The answer stage reads the top `depth` hits with the marks of all `k`: a letter is named by a
    word no other retrieved letter shares, so a larger k names fewer letters, never more."""
    named = named_letters(question, [h.passage for h in hits])
    return [dataclasses.replace(h, named=h.passage.letter_id in named) for h in hits]


def the_named_letter(hits: Iterable[Hit]) -> str | None:
    """The one letter (of these marked hits) the question names, or None if it names none or
    several."""
    named = {h.passage.letter_id for h in hits if h.named}
    return next(iter(named)) if len(named) == 1 else None


def named_first(hits: Sequence[Hit]) -> list[Hit]:
    """The marked hits with those of the one letter the question names first, each group in
    its order; unchanged when it names none or several (RetrievalSettings.named_first)."""
    named = the_named_letter(hits)
    return sorted(hits, key=lambda h: h.passage.letter_id != named) if named else list(hits)  # stable


def named_only(hits: Sequence[Hit]) -> list[Hit]:
    """Only the marked hits of the one letter the question names, when it names one;
    otherwise all."""
    named = the_named_letter(hits)
    return [h for h in hits if h.passage.letter_id == named] if named else list(hits)
