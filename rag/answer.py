"""Hits -> an answer with citations. (Extractive placeholder: the top passage's first
sentences, cited as [1]; the full composer and the LLM path come with the answer issue.)"""

from __future__ import annotations

from collections.abc import Sequence

from rag.chunking import sentence_spans
from rag.settings import AnswerSettings
from rag.types import Answer, Citation, Hit

NO_ANSWER_NL = "De brieven bevatten hierover geen informatie."
NO_ANSWER_EN = "The letters contain no information about this."


def compose(question: str, hits: Sequence[Hit], settings: AnswerSettings) -> Answer:
    """Answer from the top passage, or abstain when nothing was found."""
    if not hits:
        return Answer(question, NO_ANSWER_NL, True, (), tuple(hits))
    top = hits[0].passage
    spans = list(sentence_spans(top.text))[:2]
    quote = top.text[spans[0][0] : spans[-1][1]] if spans else top.text
    return Answer(question, f"{quote} [1]", False, (Citation(1, top, quote),), tuple(hits))
