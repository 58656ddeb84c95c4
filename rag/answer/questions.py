"""What a question asks, read from its words: whether it wants a list; what
kind of sentence can answer it (an amount for "hoeveel", a date for "op welke datum");
what its question word asks for (a cause for "waarom", a name for "wie"); whether it asks
for a source. Which letters it names: retrieval/named.py; its language: rag/language.py."""

from __future__ import annotations

import re
from collections.abc import Callable

from rag.ingest.corpus import MONTHS
from rag.language import language
from rag.words import STOP, WORD, stem

# --- the kind of answer: filters ----------------------------------------------------------
_NUMBER_WORDS = (
    "twee drie vier vijf zes zeven acht negen tien elf twaalf dertien veertien vijftien twintig dertig veertig"
    " vijftig honderd duizend miljoen miljard dubbel"
)
# a number standing on its own: not in a name (F-16, G7) nor a footnote marker ("geleverd.7")
_QUANTITY = re.compile(rf"(?<![\w.‐-])\d|\b(?:{'|'.join(_NUMBER_WORDS.split())})\b", re.IGNORECASE)
_DATE = re.compile(rf"\b\d{{1,2}}\s+(?:{'|'.join(MONTHS)})(?:\s+\d{{4}})?|\b(?:19|20)\d\d\b", re.I)
_MONEY = re.compile(r"\b(?:eur|euro|€|usd|dollar|miljoen|miljard)\b|€", re.IGNORECASE)
_PERCENT = re.compile(r"%|\b(?:procent|percent|procentpunt)", re.IGNORECASE)
_ASKS_MONEY = re.compile(r"\b(?:hoeveel geld|how much money|welk bedrag|what amount)\b", re.IGNORECASE)
_ASKS_PERCENT = re.compile(r"\b(?:hoeveel procent|welk percentage|what percentage|how many percent)\b", re.I)
_ASKS_DATE = re.compile(
    r"\b(?:op welke datum|welke datum|in welk jaar|what date|which date|which year|what year)\b", re.I
)
_ASKS_QUANTITY = re.compile(r"\b(?:hoeveel|how many|how much)\b", re.IGNORECASE)

# --- what the question word asks for: cues ----------------------------------------------
_ASKS_REASON = re.compile(r"\b(?:waarom|why)\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(r"\b(?:wie|who)\b", re.IGNORECASE)
_ASKS_TIME = re.compile(r"\b(?:wanneer|when)\b", re.IGNORECASE)
_CAUSE = re.compile(
    r"\b(?:omdat|doordat|aangezien|vanwege|want|gezien (?:de|het|dat)|dankzij|daardoor|daarom|immers)\b", re.I
)
_MONTH = re.compile(rf"\b(?:{'|'.join(MONTHS)})\b", re.IGNORECASE)
_ENUMERATION = re.compile(r"[\w)], [^,]+ (?:en|and) \w")

# --- several things asked ---------------------------------------------------------------
_UNITS = "jaar|jaren|maand|maanden|weken|dagen|uur|procent|miljoen|miljard|years?|months?|weeks?|days?|hours?"
_LIST = re.compile(
    rf"\b(?:twee|drie|vier|vijf|two|three|four|five)\s+(?!(?:{_UNITS})\b)\w+"  # "drie elementen", not "twee jaar"
    r"|(?:,|\ben\b|\band\b)\s+(?:wat|hoe|hoeveel|welke|wie|wanneer|waarom|what|how|which|who|when|why)\b"
    r"|\b(?:wat zijn|wat waren|what are|what were)\b",  # a plural verb: "wat zijn de gevolgen?"
    re.IGNORECASE,
)
_WHICH = re.compile(r"\b(?:welke|which)\s+(?:(?:de|het|the)\s+)?([^\s?.,]+)(?:\s+([^\s?.,]+))?", re.IGNORECASE)
_ADJECTIVE_ENDS = ("ige", "lijke", "ische", "ele", "ale", "ieve", "ere", "ste", "aire", "ieke", "nde", "se")
_ADJECTIVES = {"nieuwe", "oude", "grote", "kleine", "andere", "goede", "hoge", "lage", "extra", "belangrijke"}
_ADJECTIVES |= {"main", "new", "other", "key", "major", "specific", "additional", "military", "political"}
_ENGLISH_NOT_PLURAL = {"does", "was", "has", "is", "this", "its", "his", "us", "as", "yes"}

# --- sources and names ------------------------------------------------------------------
_ASKS_SOURCE = re.compile(
    r"\b(?:kamerstuk\w*|kamerbrief\w*|document\w*|bron\w*|link\w*|website\w*|url|source\w*|reference\w*)\b", re.I
)


def fits_answer_type(question: str, sentence: str) -> bool:
    """Whether the sentence can answer the kind of question: an amount of money for
    "hoeveel geld", a percentage for "hoeveel procent", a date for "op welke datum", a
    number that is not a date nor part of a name (F-16) for "hoeveel"; anything otherwise."""
    if _ASKS_MONEY.search(question):
        return bool(_MONEY.search(sentence))
    if _ASKS_PERCENT.search(question):
        return bool(_PERCENT.search(sentence))
    if _ASKS_DATE.search(question):
        return bool(_DATE.search(sentence))
    if _ASKS_QUANTITY.search(question):
        return bool(_QUANTITY.search(_DATE.sub(" ", sentence)))
    return True


def answers_question_word(question: str, sentence: str) -> bool:
    """Whether the sentence holds what the question word asks for (see answer_cue)."""
    return answer_cue(question)(sentence)


def answer_cue(question: str) -> Callable[[str], bool]:
    """The test for what the question word asks for, read from the question once: a cause
    for "waarom", a name the question does not mention for "wie" (not an acronym such as
    NAVO), a date for "wanneer", an enumeration for a list question; nothing otherwise.
    A cue that raises a sentence, not a filter: "Wie besluit erover?" may be answered by
    "een volgend kabinet"."""
    if _ASKS_REASON.search(question):
        return lambda sentence: bool(_CAUSE.search(sentence))
    if _ASKS_PERSON.search(question):
        asked = {w.lower() for w in WORD.findall(question)}
        return lambda sentence: any(
            _is_name(w, first=i == 0) and w.lower() not in asked for i, w in enumerate(WORD.findall(sentence))
        )
    if _ASKS_TIME.search(question):
        return lambda sentence: bool(_DATE.search(sentence) or _MONTH.search(sentence))
    if is_list_question(question):
        return lambda sentence: sentence.count(",") >= 2 or bool(_ENUMERATION.search(sentence))
    return lambda sentence: False


def _is_name(word: str, first: bool) -> bool:
    """A capitalised word that is not an acronym (NAVO, EU) nor, at the start of a sentence,
    a common word ("De", "Daarna")."""
    return word[0].isupper() and not word.isupper() and not (first and word.lower() in STOP)


def is_list_question(question: str) -> bool:
    """Whether the question asks for several things: a count ("drie elementen"), two
    questions in one, a plural verb ("wat zijn"), or "welke"/"which" before a plural noun,
    perhaps after an adjective ("welke nieuwe plannen"; not "welke status", not "welke
    bijdrage leveren")."""
    if _LIST.search(question):
        return True
    english = language(question) == "en"
    for found in _WHICH.finditer(question):
        first, second = found.groups()
        if _plural(first, english):
            return True
        if second and (_adjective(first) or not first.islower()) and _plural(second, english):
            return True  # "welke nieuwe plannen", "which G7 countries"
    return False


def _adjective(word: str) -> bool:
    w = word.lower()
    return w in _ADJECTIVES or w.endswith(_ADJECTIVE_ENDS)


def _plural(word: str, english: bool) -> bool:
    """A Dutch plural: -en where the Dutch stemmer strips it ("landen", not "status"), or -s
    after the endings that take it ("ministers", "missies"; not "koers", "kans"); in an
    English question, an -s plural ("countries", not "does")."""
    w = word.lower()
    if english:
        return w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3 and w not in _ENGLISH_NOT_PLURAL
    if w.endswith("en") and len(w) > 3 and stem(w) != w:
        return True
    return len(w) > 5 and w.endswith(("els", "ems", "ens", "ers", "jes", "ies", "'s"))


def asks_for_source(question: str) -> bool:
    """Whether the question asks for a document, a Kamerstuk or a link."""
    return bool(_ASKS_SOURCE.search(question))
