"""Word-level text processing shared by BM25 and answer scoring.

One tokenizer and one stemmer for both, so that "comparing" in a question meets
"compare" in a passage the same way in retrieval and in sentence selection.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
STOPWORDS: frozenset[str] = frozenset(STOPWORDS_EN) | frozenset(
    """what which who whom whose when where why how did does do doing done say said says tell told
    according would could should can may might also just about there their they them he she his her
    him it its this that these those was were is are been being be have has had an the of a to in
    on for with as by at from into than then so such any some many much more most other""".split()
)
_STEMMER = Stemmer.Stemmer("english")


def fold(text: str) -> str:
    """Lower-case and strip accents, so 'Nicolás' matches 'Nicolas'."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD_RE.findall(fold(text))]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word.split("'")[0])


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (no stopwords, no one-letter tokens)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


def content_words(text: str) -> list[str]:
    """The folded words behind :func:`content_stems`, for matching by meaning rather than form."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def sentence_stem_df(sentences: Iterable[str]) -> Counter[str]:
    """In how many of ``sentences`` each content stem occurs: the idf behind question-word weights."""
    df: Counter[str] = Counter()
    for text in sentences:
        df.update(set(content_stems(text)))
    return df


def bm25_tokens(texts: list[str]) -> list[list[str]]:
    """Token lists for bm25s; a text with no content words gets a placeholder so ids stay aligned."""
    return [content_stems(t) or ["\u2205"] for t in texts]
