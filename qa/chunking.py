"""Sentence spans and chunks whose offsets are exact indices into the document text.

Citations quote sentences, retrieval works on chunks, and both must map back to the
source character for character, so nothing here copies or normalises text: every unit
is a ``(start, end)`` pair and its text is always ``text[start:end]``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

# Abbreviations after which a period does not end a sentence (lower-cased, without the dot).
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs etc e.g i.e inc ltd co corp gen col lt sgt capt cmdr
    rep sen gov pres rev hon fig figs vol eds approx jan feb mar apr jun jul aug sep
    sept oct nov dec u.s u.k u.n a.m p.m al dept univ est""".split()
)
# Words that open sentences and are no one's name: after "to Y." they mean a new sentence.
_SENTENCE_OPENERS = frozenset(
    """the there this that these those it its in on at a an he she they we i but and however as
    for if when while so thus then such our their his her one some many most all both each""".split()
)
# A sentence ends at . ! ? (or an ellipsis) plus any closing quotes/brackets, followed by space.
_END_RE = re.compile(r"""(?:\.{3}|…|[.!?])["'”’»)\]]*(?=\s)""")
_LINE_RE = re.compile(r"[^\n]*(?:\n|$)")
# A line that ends mid-sentence: no sentence-final mark, and the next line goes on in lower case.
_OPEN_END_RE = re.compile(r"[^.!?:…\s\"'”’»)\]]\s*$")
# Lines that start a block of their own: list items, headings, quotes and tables.
_BLOCK_START_RE = re.compile(r"\s*(?:[-*+•]\s|#{1,6}\s|[>|]|\d{1,3}[.)]\s|[A-Za-z][.)]\s|```)")
_SPLIT_WORD_AT = re.compile(r"[^\W\d_]-\r?\n[a-z]")
#: A text is hard-wrapped when at least this share of its lines (and at least three) end
#: mid-sentence; text saved one paragraph per line has almost none.
WRAPPED_SHARE = 0.15
#: In hard-wrapped text a line shorter than this share of the usual full line ends a
#: paragraph (or is a heading): a wrapped line is as long as the width allows.
SHORT_LINE = 0.6
#: Search window of a character split, per allowed token. Word pieces are a few characters
#: long; a larger window only wastes tokenizer work, a smaller one would make pieces short.
_MAX_CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    first_sentence: int  # index into the sentence list, inclusive
    last_sentence: int  # inclusive


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial, not a sentence.

    Shared with the answer splitter (:func:`qa.citations.is_sentence_end`), so an answer
    quoting a document sentence is cut where the document was.
    """
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"“'":
        word_start -= 1
    raw = text[word_start:dot]
    word = raw.lower()
    if not word:
        return False
    if word in _ABBREVIATIONS:
        return True
    if word in ("no", "nos") and re.match(r"\.\s*\d", text[dot : dot + 4]):  # "No. 5", not "said no."
        return True
    if len(raw) == 1 and raw.isupper():
        # A capital initial ("John F. Kennedy", "J. K. Rowling"), unless a lower-case word
        # comes before it and a usual sentence opener after it: "X reduces to Y. There are..."
        before = re.search(r"([A-Za-z]+)\W*$", text[max(0, word_start - 40) : word_start])
        after = re.match(r"\W*([A-Za-z]+)", text[dot + 1 : dot + 40])
        return not (before and before.group(1)[0].islower() and after and after.group(1).lower() in _SENTENCE_OPENERS)
    # Dotted acronyms ("U.S."); a lone lower-case letter ends a sentence.
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def line_breaks(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions of the line breaks in ``text[start:end]`` that end a paragraph, heading or item.

    In saved articles every paragraph is a line, and a heading or list item must not be
    glued to the next sentence, so every line break counts. But text extracted from a PDF,
    an e-mail or a Markdown file wrapped at 72-80 columns breaks lines in mid-sentence:
    there a break counts only after a short line (a paragraph's last line, a heading),
    before a blank line or a list item, and after a first line that the next one does not
    go on in lower case (a title); the others are spaces.
    """
    end = len(text) if end is None else end
    lines = [(m.start(), m.end()) for m in _LINE_RE.finditer(text, start, end) if m.end() > m.start()]
    # A word hyphenated across a line break ("desa-" / "lination") is never a paragraph end.
    breaks = [
        e - 1 for _, e in lines if text[e - 1 : e] == "\n" and not _SPLIT_WORD_AT.search(text, max(start, e - 4), min(end, e + 1))
    ]
    body = [(s, e) for s, e in lines if text[s:e].strip()]
    if len(body) < 4:
        return breaks
    open_ends = sum(
        1
        for (s, e), (s2, e2) in zip(lines, lines[1:])
        if _OPEN_END_RE.search(text, s, e) and text[s2:e2].lstrip()[:1].islower()
    )
    if open_ends < 3 or open_ends < WRAPPED_SHARE * len(body):
        return breaks
    lengths = sorted(len(text[s:e].rstrip()) for s, e in body)
    full = lengths[int(0.9 * (len(lengths) - 1))]
    hard: list[int] = []
    kept = set(breaks)
    for i, ((s, e), (s2, e2)) in enumerate(zip(lines, lines[1:])):
        line, following = text[s:e], text[s2:e2]
        if e - 1 in kept and (
            (i == 0 and not following.lstrip()[:1].islower())
            or not line.strip()
            or not following.strip()
            or len(line.rstrip()) < SHORT_LINE * full
            or _BLOCK_START_RE.match(line)
            or _BLOCK_START_RE.match(following)
        ):
            hard.append(e - 1)
    if text[lines[-1][1] - 1 : lines[-1][1]] == "\n":
        hard.append(lines[-1][1] - 1)
    return hard


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, trimmed of surrounding whitespace.

    Sentences never cross a paragraph break (:func:`line_breaks`); inside a paragraph a
    line break is a space.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    line_start = start
    for line_end in line_breaks(text, start, end) + [end]:
        seg_start = line_start
        for m in _END_RE.finditer(text, line_start, line_end):
            stop = m.end()
            if text[m.start()] == "." and is_abbreviation(text, m.start()):
                continue
            # Next non-space character must plausibly start a sentence.
            nxt = stop
            while nxt < line_end and text[nxt].isspace():
                nxt += 1
            if nxt < line_end and text[nxt].islower():
                continue
            s, e = _trim(text, seg_start, stop)
            if e > s:
                spans.append((s, e))
            seg_start = stop
        s, e = _trim(text, seg_start, line_end)
        if e > s:
            spans.append((s, e))
        line_start = line_end + 1
    return spans


def fit_sentences(
    text: str,
    spans: list[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> list[tuple[int, int]]:
    """Split any sentence longer than ``max_tokens`` at whitespace, so every unit embeds whole."""
    fitted: list[tuple[int, int]] = []
    for s, e in spans:
        if count_tokens(text[s:e]) <= max_tokens:
            fitted.append((s, e))
            continue
        fitted.extend(_split_long(text, s, e, count_tokens, max_tokens))
    return fitted


def _split_long(
    text: str, start: int, end: int, count_tokens: Callable[[str], int], max_tokens: int
) -> list[tuple[int, int]]:
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        # Greedy growth with a binary search on the number of words that fit. Every word is
        # at least one token, so no piece holds more than ``max_tokens`` words: bounding the
        # search window there keeps each probe short. Without the bound the first probes
        # tokenize half of the remaining text, and a 2 MB line without a sentence end took
        # most of an hour (quadratic); with it the work is linear in the text length.
        lo, hi = i + 1, min(len(words), i + max_tokens)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[start + words[i][0] : start + words[mid - 1][1]]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        j = lo
        ps, pe = start + words[i][0], start + words[j - 1][1]
        if j == i + 1 and count_tokens(text[ps:pe]) > max_tokens:
            # One "word" longer than the limit (a URL, a base64 blob): cut it by characters.
            pieces.extend(_split_chars(text, ps, pe, count_tokens, max_tokens))
        else:
            pieces.append((ps, pe))
        i = j
    return pieces


def _split_chars(
    text: str, start: int, end: int, count_tokens: Callable[[str], int], max_tokens: int
) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        # Same bound as in _split_long, in characters: a piece that fits holds at most
        # max_tokens word pieces, and a word piece rarely spans more than a few characters.
        lo, hi = pos + 1, min(end, pos + max_tokens * _MAX_CHARS_PER_TOKEN)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens(text[pos:mid]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((pos, lo))
        pos = lo
    return pieces


def chunk_sentences(
    text: str,
    sentences: list[tuple[int, int]],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    overlap_sentences: int = 1,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` with sentence overlap.

    A paragraph break closes a chunk once it is at least half full, so chunks follow the
    author's structure where they can. ``sentences`` must already fit (see
    :func:`fit_sentences`).
    """
    chunks: list[Chunk] = []
    n = len(sentences)
    breaks = line_breaks(text, sentences[0][0], sentences[-1][1]) if sentences else []

    def paragraph_between(a: int, b: int) -> bool:
        k = bisect.bisect_left(breaks, a)
        return k < len(breaks) and breaks[k] < b

    i = 0
    while i < n:
        j = i
        tokens = count_tokens(text[sentences[i][0] : sentences[i][1]])
        while j + 1 < n:
            candidate = count_tokens(text[sentences[i][0] : sentences[j + 1][1]])
            if candidate > max_tokens:
                break
            if paragraph_between(sentences[j][1], sentences[j + 1][0]) and tokens >= max_tokens // 2:
                break
            j += 1
            tokens = candidate
        chunks.append(Chunk(sentences[i][0], sentences[j][1], i, j))
        if j + 1 >= n:
            break
        paragraph_break = paragraph_between(sentences[j][1], sentences[j + 1][0])
        overlap = 0 if paragraph_break else overlap_sentences
        i = max(j + 1 - overlap, i + 1)
    return chunks
