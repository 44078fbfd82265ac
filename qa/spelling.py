"""Typing mistakes in a question, read against the documents' own words.

One slip ("What did the miliatry do?", "What did Coael say?") costs more than a word: the
misspelt word matches no passage lexically, and the answerability model reads a rare
question word missing from the evidence as the strongest sign that the documents do not
answer. Measured on copies of the question sets with one typo per question, answer accuracy
on eval/dev fell from 0.690 to 0.542, most of it as abstentions (README, twelfth session).

A word is read as a typo only when nothing vouches for it: it is not a stop word, its stem
is in no sentence of the documents, and it is not an English word of some frequency
(``wordfreq``; so "salary" asked of documents that never say it stays "salary": that is a
question the documents may not answer, not a slip). It is then replaced by the documents'
word closest to it (optimal string alignment distance 1, or 2 for words of ten letters or
more; same first letter; the more frequent word on a tie), with its capitalisation.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter

from rapidfuzz import process
from rapidfuzz.distance import OSA
from wordfreq import zipf_frequency

from qa.lexical import STOPWORDS, fold, stem
from qa.store import Snapshot

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MIN_LENGTH = 4  # shorter words have too many neighbours one edit away
# English words at least this common (Zipf scale: 3 is once per million words) are never
# typos: "qualitative" stays "qualitative" though the documents only say "quantitative"
# (SQuAD's unanswerable questions are made that way), "facet" stays "facet". Common
# misspellings are common too ("recieve" 2.75), so some slips stay unread.
ENGLISH_ZIPF = 2.5
LONG_WORD = 10  # from this length two edits: at eight, "watchdog" became "watching" and "rescuers" "rescued"
_VOCAB_CACHE: weakref.WeakKeyDictionary[Snapshot, dict[str, list[tuple[str, int]]]] = weakref.WeakKeyDictionary()


def corpus_words(snapshot: Snapshot) -> dict[str, list[tuple[str, int]]]:
    """The documents' words (folded, lower case) with their counts, by first letter.

    Built on the first question that needs it and kept for the snapshot's lifetime: a few
    tenths of a second per million words of text."""
    cached = _VOCAB_CACHE.get(snapshot)
    if cached is None:
        counts: Counter[str] = Counter()
        for doc in snapshot.documents:
            counts.update(w for w in _WORD.findall(fold(doc.text).lower()) if len(w) >= MIN_LENGTH - 1)
        cached = {}
        for word, n in counts.items():
            cached.setdefault(word[0], []).append((word, n))
        _VOCAB_CACHE[snapshot] = cached
    return cached


def _cased_like(word: str, model: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def vouched(word: str, stems: set[str] | dict[str, int]) -> bool:
    """A word of the documents (in any inflection) or of English."""
    return word in STOPWORDS or stem(word) in stems or zipf_frequency(word, "en") >= ENGLISH_ZIPF


def correct(question: str, snapshot: Snapshot, stems: set[str] | dict[str, int]) -> str:
    """``question`` with the words nothing vouches for replaced by the documents' closest word.

    ``stems``: the stems of the documents' sentences (``qa.answerers.extractive.sentence_df``)."""
    pieces: list[str] = []
    last = 0
    for m in _WORD.finditer(question):
        word = m.group(0)
        low = fold(word).lower()
        if len(low) < MIN_LENGTH or vouched(low, stems):
            continue
        base = re.split(r"['’]", low)[0]  # "coael's": look up "coael"
        if base != low and vouched(base, stems):
            continue
        replacement = nearest(base, corpus_words(snapshot))
        if replacement is None:
            continue
        pieces.append(question[last : m.start()])
        pieces.append(_cased_like(replacement, word) + word[len(base) :] if base != low else _cased_like(replacement, word))
        last = m.end()
    if not pieces:
        return question
    pieces.append(question[last:])
    return "".join(pieces)


def nearest(word: str, vocabulary: dict[str, list[tuple[str, int]]]) -> str | None:
    """The closest word with the same first letter, one edit away (two for long words); on a
    tie the most frequent; None if there is none."""
    candidates = vocabulary.get(word[0], [])
    if not candidates:
        return None
    limit = 2 if len(word) >= LONG_WORD else 1
    found = process.extract(word, [w for w, _ in candidates], scorer=OSA.distance, score_cutoff=limit, limit=None)
    if not found:
        return None
    best = min(found, key=lambda hit: (hit[1], -candidates[hit[2]][1]))
    return str(best[0])
