"""A follow-up question read against the previous one: "En in Madrid?" after "... de Top in
Vilnius?" becomes "... de Top in Madrid?". Conversation structure, not what the letters say."""

from __future__ import annotations

import re

_FOLLOW_UP = re.compile(r"^(?:en|maar|ook|and|but|also|what about|how about|en wat (?:met|over))\b\s*", re.I)
_PREPOSITION = r"in|op|bij|aan|voor|tijdens|na|at|to|for|during|after"


def resolve_follow_up(question: str, previous: str | None) -> str:
    """A follow-up such as "En in Madrid?" read against the previous question
    ("... de Top in Vilnius?" -> "... de Top in Madrid?"); other questions unchanged."""
    if not previous:
        return question
    words = re.findall(r"\w+", question)
    cue = _FOLLOW_UP.match(question.strip())
    bare = re.match(rf"(?i)({_PREPOSITION})\s+", question.strip()) and len(words) <= 3  # "In Madrid?"
    if not cue and not bare:
        return question
    focus = question.strip()[cue.end() if cue else 0 :].strip(" ?.!")
    if not focus:
        return question
    lead = re.match(rf"(?i)({_PREPOSITION})\s+", focus)
    if lead:
        # the same preposition before a name or number: "in Vilnius", "aan Oekraïne", "in 2023"
        pattern = rf"\b(?i:{re.escape(lead.group(1))})\s+(?:de |het |the )?[\w‐-]*[A-Z0-9][\w‐-]*"
        replaced, n = re.subn(pattern, focus, previous, count=1)
        if n:
            return replaced
    return f"{previous.rstrip(' ?')} {focus}?"
