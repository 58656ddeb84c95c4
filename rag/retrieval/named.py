"""Which letter a question names ("in Madrid", "the 2023 report"), and its hits first.

A letter is named by a word of its id or title, or its year, that the other retrieved letters
do not share; day numbers and month names of a title name nothing. The words come from each
letter's own metadata, never from a list. On the development sets every answerable question
that names one letter has its answer in that letter (47 of 47), so retrieval puts that letter's
hits first (named_first), and the answer stage draws on that letter alone (named_only), or on
each of the letters a question names (named_letters).
"""

from __future__ import annotations

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


def the_named_letter(question: str, passages: Iterable[Passage]) -> str | None:
    """The one letter (of these passages) the question names, or None if it names none or
    several."""
    named = named_letters(question, passages)
    return next(iter(named)) if len(named) == 1 else None


def named_first(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """The hits with those of the one letter the question names first, each group in its
    order; unchanged when it names none or several (RetrievalSettings.named_first)."""
    named = the_named_letter(question, [h.passage for h in hits])
    return sorted(hits, key=lambda h: h.passage.letter_id != named) if named else list(hits)  # stable


def named_only(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """Only the hits of the one letter the question names, when it names one; otherwise all."""
    named = the_named_letter(question, [h.passage for h in hits])
    return [h for h in hits if h.passage.letter_id == named] if named else list(hits)
