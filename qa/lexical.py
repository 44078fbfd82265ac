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


@lru_cache(maxsize=1)
def _combining_marks() -> dict[int, None]:
    """str.translate table deleting every combining mark (built once, ~0.2 s)."""
    return {cp: None for cp in range(0x110000) if unicodedata.combining(chr(cp))}


def fold(text: str) -> str:
    """Lower-case and strip accents, so 'Nicolás' matches 'Nicolas'.

    Runs over every chunk whenever the BM25 index is rebuilt, so it stays in C: a per-character
    Python loop took 45 s of a 79 s one-file add to a 100k-chunk index.
    """
    text = text.lower()
    if text.isascii():
        return text
    # NFKD leaves ASCII alone, so only the (few, short) non-ASCII runs need decomposing.
    return _NON_ASCII.sub(_fold_run, text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_run(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKD", m.group()).translate(_combining_marks())


# A word that a typeset PDF split across two lines: "inter-" at a line's end, "national" below.
_SPLIT_WORD_RE = re.compile(r"([^\W\d_]+)-[ \t]*\r?\n[ \t]*([a-z][^\W\d_]*)")
#: Zipf frequencies (``wordfreq``): a part at least this common is a word of its own, a
#: joined form at least this common is one word ("international", not "long-term").
PART_ZIPF = 2.5
WHOLE_ZIPF = 3.0


@lru_cache(maxsize=65536)
def _rejoined(first: str, second: str) -> str:
    from wordfreq import zipf_frequency  # imported on first use: most texts never need it

    whole = first + second
    parts_are_words = all(zipf_frequency(p.lower(), "en") >= PART_ZIPF for p in (first, second))
    if zipf_frequency(whole.lower(), "en") >= WHOLE_ZIPF or not parts_are_words:
        return whole
    return f"{first}-{second}"  # a compound that happened to break at its hyphen


def dehyphenate(text: str) -> str:
    """``text`` with the words that line-end hyphenation split made whole again.

    Typeset PDFs (reports, papers) break long words across lines; their text layer then says
    "inter-\nnational", which neither BM25, the stemmer, the embedding model nor a reader
    takes for "international". The stored text keeps the split (offsets index it as read);
    tokens, embedded sentences and shown answers are made from this. A split whose parts are
    both words and whose joined form is rare keeps its hyphen ("long-\nterm" -> "long-term").
    """
    if "-" not in text or "\n" not in text:
        return text
    return _SPLIT_WORD_RE.sub(lambda m: _rejoined(m.group(1), m.group(2)), text)


# Markdown markup around words: a link's target, emphasis markers, inline code, a heading's #s.
_MD_LINK_RE = re.compile(r"\[([^\]\n]{1,300})\]\((?:[^()\s]|\([^()\s]*\))+(?:\s+\"[^\"\n]*\")?\)")
_MD_EMPHASIS_RE = re.compile(r"(?<![\w*`])(\*\*|\*|`)(?=\S)([^*`\n]{1,300}?)(?<=\S)\1(?![\w*`])")
_MD_HEADING_RE = re.compile(r"^#{1,6}\s+", re.M)


def unmark(text: str) -> str:
    """Markdown read as its words: "[Tobias Renwick](https://...)" is "Tobias Renwick",
    "**Renwick**" is "Renwick", "# Title" is "Title". A link's address is not something the
    document says, and as words it would match queries about "https" and "example"."""
    if "[" not in text and "*" not in text and "`" not in text and "#" not in text:
        return text
    text = _MD_LINK_RE.sub(r"\1", text)
    text = _MD_EMPHASIS_RE.sub(r"\2", text)
    return _MD_HEADING_RE.sub("", text)


def readable(text: str) -> str:
    """Document text as it reads: split words whole (:func:`dehyphenate`), Markdown markup off
    (:func:`unmark`). Tokens, embedded sentences, prompts and shown answers are made of this;
    offsets and quotes keep the text as stored."""
    return unmark(dehyphenate(text))


def one_line(text: str) -> str:
    """Document text as an answer shows it: :func:`readable`, line breaks and space runs one space."""
    return " ".join(readable(text).split())


def words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD_RE.findall(fold(readable(text)))]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word.split("'")[0])


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (no stopwords, no one-letter tokens)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


_Q_NAME_RE = re.compile(r"(?<!^)(?<![?.!]\s)\b[A-Z][\w’'-]*")


def question_names(question: str) -> set[str]:
    """Stems of the capitalised words inside a question (not its first word): the names it is about."""
    return {s for m in _Q_NAME_RE.findall(question.strip()) for s in content_stems(m)}


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
