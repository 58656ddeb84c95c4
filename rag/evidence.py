"""Sentence-level evidence for a question: the sentences of the retrieved passages (and
their footnotes), each scored by the multilingual embedder and by lexical overlap, with
a cue for what the question word asks (a cause for "waarom", a date for "wanneer", ...);
what the question asks for (a list, a source, two named letters); and the checks that
tell when the letters cannot answer (a named thing the letters never mention, a "how
much" question with no amount in sight)."""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import bm25s.stopwords
import Stemmer

from rag.chunking import sentence_spans
from rag.corpus import MONTHS
from rag.embedding import Embedder
from rag.types import Hit, Passage

_WORD = re.compile(r"[^\W_]+(?:[-‐][^\W_]+)*")
_QUESTION_WORDS = {
    *"welke welk wat wie waar wanneer waarom hoe hoeveel hoelang which what who where when why how".split(),
    *"does do did is are was were has have had volgens according".split(),
}
_STOP = set(bm25s.stopwords.STOPWORDS_DUTCH) | set(bm25s.stopwords.STOPWORDS_EN_PLUS) | _QUESTION_WORDS
_STEM = Stemmer.Stemmer("dutch")
_NUMBER_WORDS = "twee drie vier vijf zes zeven acht negen tien twaalf honderd duizend miljoen miljard dubbel"
# a number standing on its own: not in a name (F-16, G7) nor a footnote marker ("geleverd.7")
_QUANTITY = re.compile(rf"(?<![\w.‐-])\d|\b(?:{'|'.join(_NUMBER_WORDS.split())})", re.IGNORECASE)
_DATE = re.compile(rf"\b\d{{1,2}}\s+(?:{'|'.join(MONTHS)})(?:\s+\d{{4}})?|\b(?:19|20)\d\d\b", re.I)
_MONEY = re.compile(r"\b(?:eur|euro|€|usd|dollar|miljoen|miljard)\b|€", re.IGNORECASE)
_ASKS_MONEY = re.compile(r"\b(?:hoeveel geld|how much money|welk bedrag|what amount)\b", re.IGNORECASE)
_PERCENT = re.compile(r"%|\b(?:procent|percent|procentpunt)", re.IGNORECASE)
_ASKS_PERCENT = re.compile(r"\b(?:hoeveel procent|welk percentage|what percentage|how many percent)\b", re.I)
_ASKS_DATE = re.compile(
    r"\b(?:op welke datum|welke datum|in welk jaar|what date|which date|which year|what year)\b", re.I
)
_ASKS_QUANTITY = re.compile(r"\b(?:hoeveel|how many|how much)\b", re.IGNORECASE)
_LIST = re.compile(
    r"\b(?:twee|drie|vier|vijf|two|three|four|five)\s+\w+"
    r"|(?:,|\ben\b|\band\b)\s+(?:wat|hoe|welke|wie|wanneer|waarom|what|how|which|who|when|why)\b",
    re.IGNORECASE,
)
_WHICH = re.compile(r"\b(?:welke|which|wat zijn|what are)\s+(?:(?:de|het|the)\s+)?(\S+)(?:\s+(\S+))?", re.IGNORECASE)
_CAUSE = re.compile(
    r"\b(?:omdat|doordat|aangezien|vanwege|want|gezien|dankzij|daardoor|daarom|immers|because|since|due to)\b", re.I
)
_ASKS = {  # question word -> what an answering sentence holds
    "reason": re.compile(r"\b(?:waarom|why)\b", re.IGNORECASE),
    "person": re.compile(r"\b(?:wie|who)\b", re.IGNORECASE),
    "time": re.compile(r"\b(?:wanneer|when)\b", re.IGNORECASE),
}
_REFERENCE = re.compile(r"https?://|^\W*(?:Kamerstuk(?:ken)?|Kamerbrief|Zie)\b", re.IGNORECASE)
_ASKS_SOURCE = re.compile(
    r"\b(?:kamerstuk\w*|kamerbrief|document\w*|bron\w*|link|website|url|source|reference)\b", re.I
)
_ABOUT_THE_LETTER = re.compile(r"\b(?:uw Kamer|deze brief|toegezegd|toezegging)\b", re.IGNORECASE)
_FUZZY = 0.75  # Georgia~Georgië 0.86, Ukraine~Oekraine 0.80, NATO~NAVO 0.75; F-35~F-16 0.5


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a retrieved passage, where it lies in the letter, and its scores."""

    rank: int  # 1-based position of its passage among the hits: the [n] it is cited as
    passage: Passage
    text: str
    start: int  # Letter.text[start:end] == text
    end: int
    similarity: float = 0.0  # cosine to the question (multilingual embedder)
    overlap: float = 0.0  # share of the question's content words it contains
    relevance: float = 0.0  # similarity + weighted overlap - rank penalty: what abstention judges
    score: float = 0.0  # relevance + answer-type cue - penalties (references, remarks on the letter): what ranks


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of a sentence's score are weighed (measured: see rag.answer)."""

    lexical: float  # a sentence holding all the question's content words gains this
    rank: float  # a passage ranked lower by retrieval loses this per place
    cue: float  # a sentence with what the question word asks for (a cause for "waarom", ...)
    reference: float  # a bare reference ("Kamerstuk 28 676, nr. 411", a link) loses this ...
    about_letter: float  # ... and a remark about the letter itself ("uw Kamer", "toezegging") this


def candidates(hits: Sequence[Hit], depth: int) -> list[Sentence]:
    """The sentences of the top `depth` passages, footnotes included, in reading order."""
    found: list[Sentence] = []
    for rank, hit in enumerate(hits[:depth], start=1):
        p = hit.passage
        pieces = [(p.text, p.start)] + [(f.text, f.start) for f in p.footnotes]
        for text, offset in pieces:
            for s, e in sentence_spans(text):
                words = _WORD.findall(re.sub(r"\S*https?://\S*", " ", text[s:e]))
                if len(words) >= 3:  # not headings, stray numbers or bare links
                    found.append(Sentence(rank, p, text[s:e], offset + s, offset + e))
    return found


def score(question: str, sentences: Sequence[Sentence], embedder: Embedder, weights: Weights) -> list[Sentence]:
    """The sentences with similarity, overlap, relevance and score, best first."""
    if not sentences:
        return []
    q = embedder.embed_queries([question])[0]
    vectors = embedder.embed_passages([s.text for s in sentences])
    wanted = content_stems(question)
    asks_source = asks_for_source(question)
    scored = []
    for s, sim in zip(sentences, vectors @ q, strict=True):
        context = content_stems(" ".join((s.text, s.passage.section or "", s.passage.letter_title)))
        overlap = len(wanted & context) / len(wanted) if wanted else 0.0
        relevance = float(sim) + weights.lexical * overlap - weights.rank * (s.rank - 1)
        combined = relevance + weights.cue * answers_question_word(question, s.text)
        combined -= weights.reference * (not asks_source and is_reference(s.text))
        combined -= weights.about_letter * is_about_the_letter(s.text)
        scored.append(
            dataclasses.replace(s, similarity=float(sim), overlap=overlap, relevance=relevance, score=combined)
        )
    return sorted(scored, key=lambda s: -s.score)


def answers_question_word(question: str, sentence: str) -> bool:
    """Whether the sentence holds what the question word asks for: a cause for "waarom", a
    name the question does not mention for "wie" (not an acronym such as NAVO), a date
    for "wanneer", an enumeration for a list question. (Amounts for "hoeveel" are a
    filter, not a cue: fits_answer_type.)"""
    if _ASKS["reason"].search(question):
        return bool(_CAUSE.search(sentence))
    if _ASKS["person"].search(question):
        asked = {w.lower() for w in _WORD.findall(question)}
        words = _WORD.findall(sentence)
        return any(i > 0 and w[0].isupper() and not w.isupper() and w.lower() not in asked for i, w in enumerate(words))
    if _ASKS["time"].search(question):
        return bool(_DATE.search(sentence) or re.search(rf"\b(?:{'|'.join(MONTHS)})\b", sentence, re.IGNORECASE))
    if is_list_question(question):
        return sentence.count(",") >= 2 or bool(re.search(r"[\w)], [^,]+ (?:en|and) \w", sentence))
    return False


def is_list_question(question: str) -> bool:
    """Whether the question asks for several things: a count ("drie elementen"), two
    questions in one, or "welke"/"which" before a plural ("welke landen", not "welke status")."""
    if _LIST.search(question):
        return True
    for found in _WHICH.finditer(question):
        first, second = found.groups()
        if _plural(first):
            return True
        # after an adjective ("welke nieuwe plannen") or a name ("which G7 countries")
        if second and (first.lower().endswith("e") or not first.islower()) and _plural(second):
            return True
    return False


def _plural(word: str) -> bool:
    """A Dutch plural in -en or -s (the Dutch stemmer strips these only where they are plural
    endings: "landen", "ministers", not "status", "proces"), or an English one in -s."""
    w = word.lower().strip("?.,")
    if w.endswith(("en", "s")) and len(w) > 3 and _STEM.stemWord(w) != w:
        return True
    return w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3 and w.isascii()


def is_reference(text: str) -> bool:
    """A bare reference to another document: a Kamerstuk number, a link."""
    return bool(_REFERENCE.search(text))


def named_letters(question: str, passages: Iterable[Passage]) -> set[str]:
    """The letters (of these passages) that the question names by a word of their id or
    title, or their year, that the other letters do not share ("Madrid", "2023")."""
    names = {}
    for p in passages:
        year = str(p.letter_date.year) if p.letter_date else ""
        names[p.letter_id] = _words_and_parts(f"{p.letter_id} {p.letter_title} {year}")
    asked = _words_and_parts(question)
    named = set()
    for letter_id, words in names.items():
        others = set().union(*(w for other, w in names.items() if other != letter_id))
        if (words - others - _STOP) & asked:
            named.add(letter_id)
    return named


def _words_and_parts(text: str) -> set[str]:
    """Folded words, and the parts of hyphenated ones ("navo-top-madrid-2022" -> madrid)."""
    return {part for w in _WORD.findall(_fold(text)) for part in (w, *re.split(r"[-‐]", w))}


def asks_for_source(question: str) -> bool:
    """Whether the question asks for a document, a Kamerstuk or a link."""
    return bool(_ASKS_SOURCE.search(question))


def is_about_the_letter(text: str) -> bool:
    """A remark about the letter or the parliament itself ("Hiermee komt het kabinet tegemoet
    aan de toezegging ...", "waarover uw Kamer eerder werd geïnformeerd"), rarely an answer."""
    return bool(_ABOUT_THE_LETTER.search(text))


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry meaning: no stop words or question words; compounds
    joined by hyphens count as their parts too ("UCAP-fonds" -> ucap, fonds)."""
    words = [w.lower() for w in _WORD.findall(text)]
    parts = [p for w in words for p in ([w, *re.split(r"[-‐]", w)] if "-" in w or "‐" in w else [w])]
    return {_STEM.stemWord(_unprefixed(w)) for w in parts if w not in _STOP and len(w) > 2}


def _unprefixed(word: str) -> str:
    """A Dutch past participle without its "ge-", so "geopend" meets "opende" (the stemmer
    keeps prefixes); applied to every long ge- word alike, on both sides of a comparison."""
    return word[2:] if word.startswith("ge") and len(word) > 6 else word


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word of the letters, lower-cased and without accents, with hyphen parts."""
    words: set[str] = set()
    for text in texts:
        for w in _WORD.findall(_fold(text)):
            words.add(w)
            words.update(re.split(r"[-‐]", w))
    return words


def unknown_names(question: str, known: Collection[str], dutch: bool = True) -> list[str]:
    """Names and codes in the question that no letter mentions, not even in a close
    spelling or a derived form (so "Georgia" finds "Georgië", "Chinees" finds "China",
    but "F-35" does not find "F-16"). Capitalised words count only in Dutch questions:
    an English name ("Dutch", "Council") is not expected in a Dutch letter."""
    missing = []
    for i, word in enumerate(_WORD.findall(question)):
        has_digit = any(c.isdigit() for c in word)
        if not (has_digit or (dutch and i > 0 and word[0].isupper())):
            continue
        folded = _fold(word)
        if folded in known or (has_digit and not re.search(r"[^\W\d_]", folded)):
            continue  # plain numbers (years, amounts) are judged by the embedder, not here
        parts = [p for p in re.split(r"[-‐]", folded) if p]
        if not has_digit and all(_known_word(p, known) for p in parts):
            continue
        missing.append(word)
    return missing


def _known_word(word: str, known: Collection[str]) -> bool:
    """In the letters as written, in a close spelling, as a derived form (same first four
    letters: "Chinees"/"China") or as the head of a Dutch compound ("leiders" in
    "regeringsleiders")."""
    if word in known or difflib.get_close_matches(word, known, 1, _FUZZY):
        return True
    return len(word) >= 5 and any(k.startswith(word[:4]) or k.endswith(word) for k in known)


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


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def near_duplicate(a: str, b: str) -> bool:
    """Whether two sentences say the same: most content words shared."""
    sa, sb = content_stems(a), content_stems(b)
    if not sa or not sb:
        return a.strip() == b.strip()
    return len(sa & sb) / min(len(sa), len(sb)) >= 0.8
