"""Restore the capitals of names in a question typed in lower case ("who is coale").

People type chat questions in lower case; retrieval does not mind (BM25 folds case, the
embedding model is uncased), but the answerer reads capitals: "Who is Coale?" is an
identity question, a capitalised word in a question is a name the answer must be about,
and "a new name" is a capitalised word the question lacks. So before answering, a lower-case
question gets back the capitals its words have in the passages retrieved for it: a word
that those passages only ever write capitalised (apart from at the start of a sentence) is
a name. A question that already has capitals past its first letter is left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from qa.lexical import STOPWORDS

_WORD = re.compile(r"[^\W\d_][\w’'-]*")


def typed_in_lower_case(question: str) -> bool:
    """No capital past the first letter: the question's names lost theirs, if it has any."""
    return not any(ch.isupper() for ch in question[1:])


def unshout(question: str) -> str:
    """A question typed in capitals ("WHO IS THE CHAIRMAN OF TAMSIN?") read in lower case.

    In capitals every word looks like a name or an acronym, so the answerer wants a sentence
    that mentions all of them and reads the rest as missing; in lower case :func:`truecase`
    gives the names back their capitals from the passages.
    """
    words = _WORD.findall(question)
    if len([w for w in words if len(w) > 1]) < 2 or any(ch.islower() for ch in question):
        return question
    return question.lower()


def _base(word: str) -> str:
    """"lumetra's" is looked up as "lumetra": the passages may never use the possessive."""
    return word[:-2] if word.endswith(("'s", "’s")) else word


def truecase(question: str, texts: Iterable[str]) -> str:
    if not typed_in_lower_case(question):
        return question
    wanted = {_base(w) for w in (m.group(0) for m in _WORD.finditer(question)) if w.islower()}
    wanted = {w for w in wanted if len(w) > 1 and w not in STOPWORDS}
    if not wanted:
        return question
    forms: dict[str, Counter[str]] = {w: Counter() for w in wanted}
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(wanted, key=len, reverse=True)) + r")\b", re.I)
    for text in texts:
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - 3) : m.start()]
            if m.start() == 0 or re.search(r"(?:[.!?]\W*|\n\W*)\s*$", before) or before.endswith(("“", '"')):
                continue  # a sentence's first word is capitalised whatever it is
            forms[m.group(0).lower()][m.group(0)] += 1
    capital = {w: c.most_common(1)[0][0] for w, c in forms.items() if c and all(f[0].isupper() for f in c)}
    if not capital:
        return question
    def restore(m: re.Match[str]) -> str:
        word = m.group(0)
        base = _base(word)
        return capital[base] + word[len(base) :] if base in capital else word

    out = _WORD.sub(restore, question)
    return out[0].upper() + out[1:] if out else out
