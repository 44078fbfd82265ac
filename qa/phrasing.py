"""How a chat question is typed, apart from what it asks: spacing and polite framing.

The answerer reads a question's shape: its first word sets the kind of answer wanted ("Who
...?" wants a name), a capital past the first letter marks a name. "  Who  won?" and "Hi!
Can you tell me who won? Thanks" ask what "Who won?" asks, but a leading space made "Who"
look like a name, and the framing hid the wh-word, so such questions were answered worse
(eval/dev with doubled spaces: false abstention 0.04 -> 0.11; behind "Can you tell me":
abstention on unanswerable questions 0.48 -> 0.37).
"""

from __future__ import annotations

import re

from qa.chunking import split_sentences

_APOS = r"['’]"
# Greetings, fillers and acknowledgements before the question ("Hi!", "OK,", "Quick question:",
# "Thanks! And ...", "Got it. When ...").
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|good\s+(?:morning|afternoon|evening))(?:\s+there)?\s*[,:;!.-]*"
    r"|(?:ok(?:ay)?|well|quick\s+question|question|thanks|thank\s+you|great|cool|nice|perfect|interesting|got\s+it|i\s+see)"
    r"\s*[,:;!.-]+)\s+",
    re.I,
)
_PLEASE = re.compile(r"^please\s*,?\s+", re.I)
# A label before a question pasted from a list: "Q:", "Question 3:", "2)", "(a)", "1.".
_LABEL = re.compile(r"^(?:q\s*\d*\s*[:.)]|question\s*\d+\s*[:.)]|\(?\d{1,3}[.)]|\(?[a-h]\))\s+", re.I)
# A request that wraps the question ("Can you tell me who ...", "I'd like to know: when ..."):
# removed only when a question word follows, so "Tell me about the vote" is left as it is.
_REQUEST = re.compile(
    r"^(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show)\s+me|(?:tell|show)\s+me"
    rf"|i{_APOS}?d\s+like\s+to\s+know|i\s+would\s+like\s+to\s+know|i\s+want\s+to\s+know|do\s+you\s+know"
    r"|i\s+(?:was\s+)?wonder(?:ing)?|any\s+idea)\s*[,:]?\s+"
    r"(?=(?:what|which|who|whom|whose|when|where|why|how|if|whether)\b)",
    re.I,
)
# Thanks or "please" after the question ("Who won? Thanks!", "Who won, please?").
_TRAILER = re.compile(
    r"[\s,.!]*\b(?:thanks|thank\s+you|thx|cheers|please)\b(?:\s+(?:so\s+much|a\s+lot|very\s+much|in\s+advance))?[\s.!?]*$",
    re.I,
)


def plain(question: str) -> str:
    """``question`` with its whitespace collapsed and its greeting, request and thanks removed."""
    q = " ".join(question.split())
    for _ in range(3):  # "Hi! Please, could you tell me ..." peels one layer at a time
        before = q
        for pattern in (_LABEL, _GREETING, _PLEASE, _REQUEST):
            rest = pattern.sub("", q, count=1)
            if rest != q and re.search(r"\w", rest):
                q = rest
        if q == before:
            break
    m = _TRAILER.search(q)
    if m and re.search(r"\w", q[: m.start()]):
        q = q[: m.start()] + ("?" if "?" in m.group(0) else "")
    if q != " ".join(question.split()) and q[:1].islower():
        q = q[0].upper() + q[1:]
    return q


def asked_part(question: str) -> str:
    """The sentence that asks, of a question that says something first ("I read that the bridge
    will cost $48 million. Who voted against it?"): the last one ending in "?", else the last.

    The kind of answer wanted is read off it; the chain searches for the rest too when it
    names something or gives a number (``qa.chain``).
    """
    spans = split_sentences(question)
    if len(spans) < 2:
        return question
    asking = [(s, e) for s, e in spans if question[s:e].rstrip().endswith("?")]
    s, e = (asking or spans)[-1]
    return question[s:e]
