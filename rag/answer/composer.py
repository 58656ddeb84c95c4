"""Hits -> an answer with citations, composed by rules from the letters' own sentences
(`AnswerSettings.composer = "rules"`, the default while it measures better than the reader).

The sentences of the top passages (of the one letter a question names, when it names one:
`AnswerSettings.named_only`) are scored against the question (the cosine retrieval computed,
Hit.sentences + lexical overlap + a cue for what the question word asks: evidence.py and
questions.py); the best one, the close runners-up of its passage (for list or multi-part
questions: of any passage; for a question naming two letters: also the best of each) and
the two sentences that follow the best one in its passage become the answer, each ending
in `[n]` where n is its passage's rank among the hits. When no sentence scores above
`AnswerSettings.min_support`, the answer says that the letters do not answer it and
`abstained` is set; the hits are still given.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.answer import evidence, questions
from rag.answer.evidence import Sentence
from rag.answer.extractive import abstain, following
from rag.language import language
from rag.retrieval.named import the_named_letter
from rag.settings import AnswerSettings
from rag.types import Answer, Citation, Hit


def weights(settings: AnswerSettings) -> evidence.Weights:
    """How a sentence's score is weighed (AnswerSettings.rules_*)."""
    return evidence.Weights(
        lexical=settings.rules_lexical,
        rank=settings.rules_rank,
        cue=settings.rules_cue,
        reference=settings.rules_reference,
        about_letter=settings.rules_about_letter,
        reader=settings.reader_weight,
    )


def compose(
    question: str,
    hits: Sequence[Hit],
    settings: AnswerSettings,
) -> Answer:
    """Answer from the letters' sentences, or abstain."""
    hits = tuple(hits)
    if not hits:
        return abstain(question, hits, "no passage was retrieved")
    sentences = candidates(question, hits, settings)
    reason = abstention_reason(question, sentences, settings)
    if reason:
        return abstain(question, hits, reason)
    chosen = select(question, sentences, settings)
    chosen = each_letter(question, chosen, sentences, hits[: settings.depth], settings)
    chosen = follow(chosen, sentences, settings.rules_follow)
    chosen = widen(question, chosen, sentences)
    english = language(question) == "en"
    return Answer(question, render(chosen, quoted=english), False, citations(chosen), hits)


def refusal(question: str, hits: Sequence[Hit], settings: AnswerSettings) -> str | None:
    """Why the rules would say that the letters do not answer, or None: for another composer
    that also abstains when the rules would (AnswerSettings.rules_abstention)."""
    reason = abstention_reason(question, candidates(question, hits, settings), settings)
    return f"rules: {reason}" if reason else None


def candidates(question: str, hits: Sequence[Hit], settings: AnswerSettings) -> list[Sentence]:
    """The scored sentences of the top `depth` passages, best first; of the one letter the
    question names only, when it names one (Hit.named, AnswerSettings.named_only)."""
    found = evidence.candidates(hits, settings.depth)
    named = the_named_letter(hits[: settings.depth]) if settings.named_only else None
    found = [s for s in found if s.passage.letter_id == named] if named else found  # ranks stay the hits'
    return evidence.score(question, found, weights(settings))


def abstention_reason(question: str, sentences: Sequence[Sentence], settings: AnswerSettings) -> str | None:
    """Why the letters cannot answer the question, or None when they can."""
    dutch = language(question) == "nl"
    best = support(question, sentences, settings, with_overlap=dutch)
    threshold = support_threshold(question, settings)
    if best < threshold:
        return f"best supporting sentence scores {best:.3f} < {threshold:.3f}"
    return None


def support_threshold(question: str, settings: AnswerSettings) -> float:
    """What a sentence must reach for the letters to answer: a Dutch question is judged on
    a sentence's relevance (similarity plus the share of its words in the sentence, not the
    cues and penalties that only rank); an English one on similarity alone (its words never
    occur in a Dutch letter)."""
    return settings.min_support if language(question) == "nl" else settings.min_similarity_en


def support(question: str, sentences: Sequence[Sentence], settings: AnswerSettings, with_overlap: bool = True) -> float:
    """The relevance (or, without overlap, the cosine) of the best sentence that can answer
    this kind of question (0 if none)."""
    fitting = [s.relevance if with_overlap else s.similarity for s in sentences if fits(question, s, settings)]
    return max(fitting, default=0.0)


def fits(question: str, sentence: Sentence, settings: AnswerSettings) -> bool:
    """Whether the sentence can answer this kind of question (questions.fits_answer_type: an
    amount for "hoeveel"), or any sentence can when that filter is off (rules_answer_type)."""
    return not settings.rules_answer_type or questions.fits_answer_type(question, sentence.text)


def select(question: str, sentences: Sequence[Sentence], settings: AnswerSettings) -> list[Sentence]:
    """The best fitting sentence and the close runners-up that add something new (from the
    same passage, unless the question asks for several things), in the order of the hits
    and the letter."""
    fitting = [s for s in sentences if fits(question, s, settings)]
    if not fitting:
        return []
    many = settings.rules_lists and questions.is_list_question(question)
    if many:
        margin, limit = settings.rules_list_margin, settings.max_sentences
    else:
        margin, limit = settings.rules_margin, min(settings.rules_max_single, settings.max_sentences)
    chosen = [fitting[0]]
    for s in fitting[1:]:
        if len(chosen) >= limit or s.score < fitting[0].score - margin:
            break
        if not many and s.passage != fitting[0].passage:
            continue  # a plain question is answered from one passage: one citation to check
        if not any(evidence.near_duplicate(s.text, c.text) for c in chosen):
            chosen.append(s)
    return sorted(chosen, key=lambda s: (s.rank, s.start))


def each_letter(
    question: str,
    chosen: Sequence[Sentence],
    sentences: Sequence[Sentence],
    hits: Sequence[Hit],
    settings: AnswerSettings,
) -> list[Sentence]:
    """When the question names two or more letters of these hits ("in Madrid en later in
    Vilnius": Hit.named), add the best fitting sentence of each named letter that the answer
    does not draw on yet, if it is relevant enough to answer on its own (support_threshold)."""
    named = {h.passage.letter_id for h in hits if h.named}
    if len(named) < 2:
        return list(chosen)
    dutch = language(question) == "nl"
    threshold = support_threshold(question, settings)
    wider = list(chosen)
    for letter_id in named - {c.passage.letter_id for c in chosen}:
        fitting = (s for s in sentences if s.passage.letter_id == letter_id and fits(question, s, settings))
        best = next(fitting, None)
        if best is not None and support(question, [best], settings, with_overlap=dutch) >= threshold:
            wider.append(best)
    return sorted(wider, key=lambda s: (s.rank, s.start))


def follow(chosen: Sequence[Sentence], sentences: Sequence[Sentence], count: int) -> list[Sentence]:
    """Add the `count` sentences that follow the best one in its paragraph (extractive.following):
    the sentence most like the question often only introduces the answer ("... spraken over de
    nieuwe Pledge."), and the next one gives it ("Hiermee spreken bondgenoten af om ...")."""
    if not chosen:
        return []
    best = max(chosen, key=lambda s: s.score)
    own = [s for s in sentences if s.passage == best.passage]
    starts = following(best.passage, best.start, (s.start for s in own), count)
    have = {c.start for c in chosen if c.passage == best.passage}
    new = [s for s in own if s.start in starts and s.start not in have]
    return sorted([*chosen, *new], key=lambda s: (s.rank, s.start))


def widen(question: str, chosen: Sequence[Sentence], sentences: Sequence[Sentence]) -> list[Sentence]:
    """Add the footnotes that the chosen sentences' markers point at: a sentence such as
    "... signed a declaration.12" often has its substance in footnote 12. A footnote that
    is a bare reference ("Kamerstuk 36 045, nr. 164") is added only when the question asks
    for a source; the citation's passage shows it anyway."""
    seen = {(s.passage.id, s.start) for s in chosen}
    if not questions.asks_for_source(question):
        seen |= {(s.passage.id, s.start) for s in sentences if evidence.is_reference(s.text)}
    wider = list(chosen)
    for c in chosen:
        notes = [f for f in c.passage.footnotes if c.start <= f.marker <= c.end]
        for s in sentences:
            key = (s.passage.id, s.start)
            if key not in seen and s.passage == c.passage and any(f.start <= s.start < f.end for f in notes):
                seen.add(key)
                wider.append(s)
    return sorted(wider, key=lambda s: (s.rank, s.start))


def render(chosen: Sequence[Sentence], quoted: bool = False) -> str:
    """The answer text: each sentence followed by the number of its passage; for an English
    question the Dutch sentences are marked as quotes."""
    return " ".join(f"“{s.text}” [{s.rank}]" if quoted else f"{s.text} [{s.rank}]" for s in chosen)


def citations(chosen: Sequence[Sentence]) -> tuple[Citation, ...]:
    """One citation per cited passage; its quote is the cited sentences, verbatim."""
    by_rank: dict[int, list[Sentence]] = {}
    for s in chosen:
        by_rank.setdefault(s.rank, []).append(s)
    return tuple(
        Citation(rank, group[0].passage, tuple((s.start, s.end) for s in group))
        for rank, group in sorted(by_rank.items())
    )
