"""Words as the answer stage and retrieval's letter names compare them: tokens, stop words,
Dutch stems, accents folded.

Shared by answer/questions.py (what a question asks), answer/evidence.py (how well a sentence
fits it), retrieval/named.py (which letter a question names) and answer/llm.py (whether a
claim denies what its sentence says). BM25 has its own tokenizer
(store/lexical.py)."""

from __future__ import annotations

import re
import unicodedata

import bm25s.stopwords
import Stemmer

WORD = re.compile(r"[^\W_]+(?:[-‐][^\W_]+)*")  # a word, hyphenated compounds whole ("NAVO-landen")
QUESTION_WORDS = {
    *"welke welk wat wie waar wanneer waarom hoe hoeveel hoelang which what who where when why how".split(),
    *"does do did is are was were has have had volgens according".split(),
}
STOP = set(bm25s.stopwords.STOPWORDS_DUTCH) | set(bm25s.stopwords.STOPWORDS_EN_PLUS) | QUESTION_WORDS
# the words that deny what a sentence says, in Dutch and in English
NEGATIONS = {*"niet geen nooit niets nergens noch".split(), *"not no never none nothing nowhere neither nor".split()}
_NUMBER_SIGN = re.compile(r"\bno\.\s*\d", re.IGNORECASE)  # "No. 393": a number, not a denial
# how a sentence bounds an amount, in Dutch and in English ("meer dan", "less than")
_BOUNDS = {
    "more": "meer dan|ruim|ten minste|minstens|more than|at least|in excess of",
    "less": "minder dan|hooguit|maximaal|ten hoogste|bijna|less than|fewer than|at most|up to|almost|nearly",
}
_BOUND = {kind: re.compile(rf"\b(?:{words})\b", re.IGNORECASE) for kind, words in _BOUNDS.items()}
_STEMMER = Stemmer.Stemmer("dutch")


def stem(word: str) -> str:
    """The Dutch Snowball stem of a lower-case word."""
    return str(_STEMMER.stemWord(word))


def fold(text: str) -> str:
    """Lower case without accents: "Oekraïne" -> "oekraine"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parts(word: str) -> list[str]:
    """A word and, if hyphenated, its parts: "UCAP-fonds" -> UCAP-fonds, UCAP, fonds."""
    return [word, *re.split(r"[-‐]", word)] if "-" in word or "‐" in word else [word]


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry meaning: no stop words or question words; compounds
    joined by hyphens count as their parts too ("UCAP-fonds" -> ucap, fonds)."""
    words = [p for w in WORD.findall(text.lower()) for p in parts(w)]
    return {stem(_unprefixed(w)) for w in words if w not in STOP and len(w) > 2}


def _unprefixed(word: str) -> str:
    """A Dutch past participle without its "ge-", so "geopend" meets "opende" and "geleverd"
    meets "leverde" (the stemmer keeps prefixes). Only long ge- words ending in -d or -t, the
    weak participles: "gevolgen" and "gebieden" stay whole."""
    return word[2:] if word.startswith("ge") and len(word) > 6 and word.endswith(("d", "t")) else word


def folded_words(text: str) -> set[str]:
    """The folded words of a text with the parts of hyphenated ones ("navo-top-madrid-2022"
    -> madrid)."""
    return {p for w in WORD.findall(fold(text)) for p in parts(w)}


def negated(text: str) -> bool:
    """Whether the text denies something: a negation word ("geen", "niet", "not"), or "n't"."""
    lowered = _NUMBER_SIGN.sub(" ", text.lower()).replace("’", "'")
    return "n't" in lowered or any(w in NEGATIONS for w in WORD.findall(lowered))


def turns_bound(claim: str, sentence: str) -> bool:
    """Whether the claim bounds an amount the other way than its sentence: "less than" where
    the sentence has "meer dan" (and not also "minder dan")."""
    found = {kind for kind, pattern in _BOUND.items() if pattern.search(claim)}
    given = {kind for kind, pattern in _BOUND.items() if pattern.search(sentence)}
    opposite = {"more": "less", "less": "more"}
    return any(kind not in given and opposite[kind] in given for kind in found)
