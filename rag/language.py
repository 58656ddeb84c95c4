"""Language facts the reader uses, from libraries made for them: the language of a text
(lingua), Dutch and English lemmas (simplemma) and how rare a word is (wordfreq)."""

from __future__ import annotations

import functools

from rag.words import WORD, parts


@functools.cache
def _detector():  # type: ignore[no-untyped-def]
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.DUTCH, Language.ENGLISH).build()


@functools.lru_cache(maxsize=4096)
def language(text: str) -> str:
    """'en' or 'nl' (the letters' language when unsure)."""
    from lingua import Language

    found = _detector().detect_language_of(text)
    return "en" if found == Language.ENGLISH else "nl"


@functools.lru_cache(maxsize=65536)
def lemma(word: str, lang: str) -> str:
    """The lemma of a lower-case word ("leverde", "geleverd" -> "leveren")."""
    import simplemma

    return str(simplemma.lemmatize(word, lang=lang))


@functools.lru_cache(maxsize=65536)
def rarity(word: str, lang: str) -> float:
    """How much a word says: 0 for the commonest words ("de", "welke", "the"), up to 8 for a
    word too rare to be counted (names, codes, numbers)."""
    import wordfreq

    return max(0.0, 8.0 - wordfreq.zipf_frequency(word, lang))


def words(text: str) -> list[str]:
    """The lower-case words of a text, hyphenated compounds also as their parts."""
    return [p for w in WORD.findall(text.lower()) for p in parts(w)]


def weighted_lemmas(text: str, lang: str) -> dict[str, float]:
    """Each lemma of the text with its rarity (common words weigh almost nothing)."""
    found: dict[str, float] = {}
    for w in words(text):
        key = lemma(w, lang) if not w.isdigit() else w
        found[key] = max(found.get(key, 0.0), rarity(w, lang))
    return found
