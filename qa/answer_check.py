"""Does the cited evidence answer the question? One short yes/no question to the chat model.

Citation verification (:mod:`qa.citations`) proves that each answer sentence is stated in
a passage; it cannot tell whether that sentence answers the question. A small model asked
something the documents do not say tends to reply with a true sentence about the same
subject ("How old is the governor?" -> "The governor declared an emergency. [1]"), and every
such citation is wrong. Asking the model afterwards, with only the cited quotes in front of
it, whether they state what the question asks for is a much easier task than answering,
and it catches most of these (measured in docs/llm.md).
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from qa.prompts import check_messages

_WORD_RE = re.compile(r"[a-z]+")


def parse_yes_no(reply: str) -> float | None:
    """1.0 for a reply that starts with yes, 0.0 for no, ``None`` when it is neither."""
    m = _WORD_RE.search(reply.lower())
    if m is None:
        return None
    return {"yes": 1.0, "no": 0.0}.get(m.group(0))


def answer_support(model: BaseChatModel, question: str, answer: str, quotes: list[str]) -> float | None:
    """How sure the model is that the quotes answer the question (0..1), or ``None`` if it would not say.

    A model that can score the reply's first token (the local llama.cpp backend) gives a
    probability, so the threshold is a real dial; any other chat model is asked for a
    one-word reply, which gives 0 or 1.
    """
    if not quotes:
        return None
    return verdict(model, check_messages(question, answer, quotes))


def verdict(model: BaseChatModel, messages: list[BaseMessage]) -> float | None:
    """P(yes) from a model that scores its first reply token, else its one-word reply as 1/0/None."""
    scorer: Any = getattr(model, "yes_probability", None)
    if callable(scorer):
        return float(scorer(messages))
    return parse_yes_no(str(model.invoke(messages).content))
