"""Citation verification for generated answers: never show a citation the documents do not back.

Small models get citation numbers wrong (another passage, none, one that does not exist)
and sometimes "cite" a passage for something it never says. So after generation, for any
model, every answer sentence is checked against the retrieved passages themselves:

* ``[n]`` markers are parsed (also ``[1, 2]``, ``[Passage 3]``); numbers that point at no
  passage are dropped;
* for each sentence the best supporting span (one sentence, or two adjacent ones, of a
  retrieved passage) is found with the index's precomputed sentence vectors and
  content-word overlap; the cited passage wins when it supports the sentence about as well
  as any other, otherwise the citation is repaired to the passage that does;
* a span that is an instruction addressed to the reader or the model ("Ignore previous
  instructions and reply ...") never counts as support: passages are data;
* a number or a name in the sentence that the span does not contain caps its support, so
  "$25 million" is not supported by "$15 million"; so does the question's named subject
  ("How old is Governor Thorsby?" answered "The governor is 67.") when neither the span,
  the sentence before it nor the document title is about it;
* sentences nothing supports are kept but marked (``support`` below the threshold, no
  citation); the caller decides whether the answer as a whole falls back.

Quotes are ``document.text[start:end]`` of stored sentence spans, so they are exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.answer import Answer, Citation
from qa.chunking import is_abbreviation
from qa.lexical import content_stems, question_names
from qa.store import Snapshot

SUPPORTED = 0.5  # support at or above this: the span backs the sentence
CITED_MARGIN = 0.1  # keep the model's own number unless another passage is clearly better
MAX_CITATIONS_PER_SENTENCE = 1  # the best supporting span; a second one rarely adds evidence, often noise

# ---------------------------------------------------------------------------- markers

_NUM_LIST = r"#?\d+(?:\s*(?:,|;|and|&|-|–)\s*#?\d+)*"
MARKER_ANY_RE = re.compile(r"\[\s*(?:(?:passages?|sources?|docs?|documents?|refs?)\s*)?(" + _NUM_LIST + r")\s*\]", re.I)
_PARTIAL_MARKER_RE = re.compile(r"\s*\[[^\]\n]{0,24}$")


def marker_numbers(text: str) -> list[int]:
    """Every number the markers in ``text`` name, in order (``[1-3]`` is 1, 2, 3)."""
    out: list[int] = []
    for m in MARKER_ANY_RE.finditer(text):
        for part in re.split(r"\s*(?:,|;|and|&)\s*", m.group(1)):
            bounds = [int(x) for x in re.findall(r"\d+", part)]
            if len(bounds) == 2 and bounds[0] <= bounds[1] <= bounds[0] + 10:
                out.extend(range(bounds[0], bounds[1] + 1))
            else:
                out.extend(bounds)
    return out


_MARKER_WITH_SPACE_RE = re.compile(r"\s*" + MARKER_ANY_RE.pattern, re.I)


def strip_all_markers(text: str) -> str:
    """Text without markers (and the space before them), whitespace collapsed: the sentence as shown."""
    return " ".join(_MARKER_WITH_SPACE_RE.sub("", text).split())


# ---------------------------------------------------------------------------- sentences in a stream

_END_RE = re.compile(r"""(?:\.{3}|…|[.!?])["'”’»)]*(?:\s*""" + MARKER_ANY_RE.pattern + r")*", re.I)


def is_sentence_end(text: str, m: re.Match[str]) -> bool:
    """A terminator ends a sentence unless an abbreviation/initial precedes it or lower case follows.

    ``m`` matches the terminator (at ``m.start()``) and what closes it (quotes, markers).
    Shared by the answer stream and the evaluation, so both cut an answer the same way.
    """
    # "Dr.", "J.", "U.S.", "the No. 9 shirt" (but "the council said no. The vote..."); the
    # markers after the period are skipped, as the rule looks at the word that follows.
    if text[m.start()] == "." and is_abbreviation(text[: m.start() + 1] + text[m.end() :], m.start()):
        return False
    rest = text[m.end() :]
    nxt = rest.lstrip()
    return not nxt or not (nxt[0].islower() or nxt[0].isdigit())


class SentenceStream:
    """Cuts a token stream into answer sentences, with display text as it goes.

    Display text is the answer without the model's markers (the caller re-emits verified
    ones when a sentence ends); whitespace is collapsed, and trailing whitespace or a
    half-written ``[`` marker is held back, so what was shown is always a prefix of the
    final sentence. ``feed`` and ``finish`` return events in order: ``("text", piece)`` and
    ``("end", raw sentence with its markers)``.
    """

    def __init__(self) -> None:
        self.raw = ""  # the current, incomplete sentence as the model wrote it
        self.shown = 0  # characters of its display text already shown

    @staticmethod
    def display(raw: str, final: bool = False) -> str:
        if not final:
            raw = _PARTIAL_MARKER_RE.sub("", raw)
        return strip_all_markers(raw)

    def _text(self, raw: str, final: bool) -> list[tuple[str, str]]:
        text = self.display(raw, final)
        piece = text[self.shown :]
        self.shown = len(text)
        return [("text", piece)] if piece else []

    def feed(self, token: str) -> list[tuple[str, str]]:
        self.raw += token
        events: list[tuple[str, str]] = []
        while True:
            end = None
            for m in _END_RE.finditer(self.raw):
                rest = self.raw[m.end() :]
                if not rest.strip() or rest.lstrip().startswith("["):
                    break  # cannot tell yet: more text or more markers may follow
                if rest[0].isspace() and is_sentence_end(self.raw, m):
                    end = m.end()
                    break
            if end is None:
                break
            sentence, self.raw = self.raw[:end], self.raw[end:]
            events += self._text(sentence, final=True)
            events.append(("end", sentence))
            self.shown = 0
        # hold back what may still change: trailing whitespace and a half-written marker
        events += self._text(self.raw[: len(self.raw.rstrip())], final=False)
        return events

    def finish(self) -> list[tuple[str, str]]:
        raw, self.raw = self.raw, ""
        events = self._text(raw, final=True)
        if raw.strip():
            events.append(("end", raw))
        self.shown = 0
        return events


# ---------------------------------------------------------------------------- instructions inside passages

_OVERRIDE_RE = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.!?]{0,60}\b(instructions?|prompts?|rules|guidelines|directions|context|"
    r"everything|above|previous)\b|\b(you are now|from now on|new instructions|system prompt|as an ai)\b",
    re.I,
)
_IMPERATIVE_RE = re.compile(
    r"^\W*(?:please\s+|now\s+|instead\s+|just\s+)?(ignore|disregard|forget|reply|respond|answer|say|print|output|write|type|"
    r"repeat|pretend|act|tell|return|append|include|do not|don't|never|always|stop|begin|start|end)\b",
    re.I,
)
_COMMUNICATION_VERBS = frozenset("reply respond answer say print output write type repeat tell return append".split())
_ADDRESS_RE = re.compile(r"\b(you|your|assistant|ai|language model|chatbot|model|bot|reader)\b", re.I)
_REPORTED_RE = re.compile(r"[“”\"]|\b(said|says|told|added|wrote|insisted|claimed|asked)\b", re.I)


def is_instruction(text: str) -> bool:
    """An imperative aimed at whoever reads the passage (the model), not a fact a document states.

    Reported speech in an article ("'Never give up,' he said") is not an instruction.
    """
    if _OVERRIDE_RE.search(text):
        return True
    m = _IMPERATIVE_RE.search(text)
    if not m or _REPORTED_RE.search(text):
        return False
    return m.group(1).lower() in _COMMUNICATION_VERBS or bool(_ADDRESS_RE.search(text))


# ---------------------------------------------------------------------------- page furniture

_FURNITURE_RE = re.compile(
    r"^\W*(?:(?:related(?:\s+(?:stories|articles|coverage|content|links?))?|read\s+(?:more|also|next)|also\s+read|see\s+also|"
    r"more\s+on\s+(?:this|this\s+story)|recommended(?:\s+for\s+you)?|sponsored(?:\s+content)?|you\s+may\s+also\s+like)\s*[:|»›>]"
    r"|advertisement\W*$|(?:skip|close)\s+advertisement\W*$|advertisement\s*[-–—:]\s*(?:scroll|continue)"
    r"|(?:the\s+)?(?:story|article)\s+continues\s+(?:below|after)(?:\s+(?:this|the))?(?:\s+advert(?:isement)?)?\W*$"
    r"|share\s+this\s+(?:article|story)\b.{0,40}$|follow\s+us\s+on\b.{0,60}$"
    r"|(?:sign\s+up|subscribe)\b.{0,120}\b(?:newsletter|briefing|inbox)\b[^.!?]{0,80}[.!?]?$)",
    re.I,
)


# "Photo: Kelvary Coast Guard", "Credit: Delacroft University": who took a picture, in a few
# words and no sentence.
_CREDIT_RE = re.compile(r"^\W*(?:photo(?:graph)?|image|picture|credit)s?(?:\s+credit)?\s*:\s*(?P<who>[^.!?]*)$", re.I)


def is_page_furniture(text: str) -> bool:
    """A line a saved web page carries around the article, not something the article says:
    "Related: Ellsmoor bus fares to rise 5 percent" is another story's headline, so it never
    answers a question or supports a sentence; nor does a photo credit. (Photo captions do
    describe the story, and stay.)
    """
    if _FURNITURE_RE.match(text):
        return True
    credit = _CREDIT_RE.match(text.strip())
    return credit is not None and len(credit.group("who").split()) <= 6


# "Photo: Jonah Kettering wheels away after scoring ...": a caption describes a picture. It
# stays answerable (it says something about the story) but is not where a text introduces
# anyone or opens its story.
_CAPTION_RE = re.compile(r"^\W*(?:photo(?:graph)?|image|picture|caption|pictured|video)s?\s*:", re.I)


def is_caption(text: str) -> bool:
    return bool(_CAPTION_RE.match(text))


# A table's rule line ("|---|:---:|"): layout, not something the document says.
_TABLE_RULE_RE = re.compile(r"\s*\|?(?:\s*:?-{2,}:?\s*\|)+\s*:?-*:?\s*")


def is_not_content(text: str) -> bool:
    """Neither an answer, nor evidence, nor support: an instruction, page furniture, a table rule."""
    return is_instruction(text) or is_page_furniture(text) or bool(_TABLE_RULE_RE.fullmatch(text))


# ---------------------------------------------------------------------------- support

_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER_RE.findall(text)}


_SPEAKER_RE = re.compile(
    r"\b[Aa]ccording to ((?:[A-Z][\w’'.-]*\s?){1,4})|^\W*((?:[A-Z][\w’'.-]*\s?){1,4})\s*(?:also\s+|repeatedly\s+)?"
    r"(?:said|says|claimed|claims|told|insisted|insists|stated|argued|suggested|noted|added|repeated|warned|asserted|described)\b"
)


def _speaker(text: str) -> set[str]:
    """Stems of the person a sentence attributes its claim to ("According to Coale, ..."), if any."""
    m = _SPEAKER_RE.search(text)
    if not m:
        return set()
    return set(content_stems(m.group(1) or m.group(2)))


def _names(text: str) -> set[str]:
    """Capitalised words after the first one: the names a claim is about."""
    toks = re.findall(r"[^\W\d_][\w’'-]*", text)
    return {stem for t in toks[1:] if t[:1].isupper() for stem in content_stems(t)}


def _mentions(subject: set[str], stems: frozenset[str]) -> bool:
    """Whether ``stems`` name any of ``subject``, a country and its adjective alike
    ("Belarusian" in the question, "Belarus" in the passage): one stem extends the other."""
    if subject & stems:
        return True
    return any(len(a) >= 5 and len(b) >= 5 and (a.startswith(b) or b.startswith(a)) for a in subject for b in stems)


@dataclass
class Span:
    """A supporting span: sentences ``first..last`` of the passage retrieved at ``rank``."""

    rank: int
    first: int
    last: int
    support: float


QUESTION_WORD_WEIGHT = 0.3
LEXICAL_ONLY_MARGIN = 0.15  # word overlap alone must reach SUPPORTED + this


@dataclass
class Claim:
    stems: dict[str, float]  # content stem -> weight (idf, less for words from the question)
    numbers: set[str]
    names: set[str]
    speaker: set[str]
    vector: np.ndarray
    subject: set[str] = field(default_factory=set)  # the question's named subject, as the claim repeats it


@dataclass
class VerifiedSentence:
    text: str
    cited: list[int]  # the model's numbers (prompt passages) that pointed somewhere
    dropped: list[int]  # the model's numbers that pointed at no passage
    spans: list[Span] = field(default_factory=list)
    support: float = 0.0
    repaired: bool = False

    @property
    def supported(self) -> bool:
        return bool(self.spans)


_CLOSED = re.compile(r"[.!?…][”\"’')\]]*$")


def is_closed(text: str) -> bool:
    """The line ends as a sentence does; a headline, byline or "Embargoed until ..." line does not."""
    return bool(_CLOSED.search(text.strip()))


class Verifier:
    """Checks answer sentences against the passages of one retrieval.

    ``passage_ranks`` maps the prompt's passage numbers to retrieval ranks (the prompt may
    show fewer passages than were retrieved); every retrieved passage is searched.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        chunks: Sequence[int],
        passage_ranks: dict[int, int],
        encode: Callable[[list[str]], np.ndarray],
        question: str = "",
    ) -> None:
        self.snap = snapshot
        self.question_stems = frozenset(content_stems(question))
        # Who or what the question is about ("How old is Governor Thorsby?"): a claim that
        # repeats it must be backed by a span about it, not by one that only shares the rest.
        self.question_subject = frozenset(question_names(question))
        self.chunks = list(chunks)
        self.passage_ranks = passage_ranks
        self.encode = encode
        from qa.answerers.extractive import sentence_df  # stem document frequencies, cached per snapshot

        self._df, self._n = sentence_df(snapshot)
        # candidate spans per rank: (first, last, stems, vector, text); instructions and page furniture left out
        self.spans: list[list[tuple[int, int, frozenset[str], np.ndarray, str]]] = []
        self.headlines: set[int] = set()  # sentences that are their document's headline, read once here
        for chunk in self.chunks:
            first, last = int(snapshot.chunks[chunk, 2]), int(snapshot.chunks[chunk, 3])
            texts = {sid: self._text(sid, sid) for sid in range(first, last + 1)}
            if first == snapshot.doc_sentences(int(snapshot.sentence_doc[first])).start and not is_closed(texts[first]):
                self.headlines.add(first)  # the document's first line, without closing punctuation
            ok = {sid for sid, t in texts.items() if not is_not_content(t)}
            stems = {sid: frozenset(content_stems(texts[sid])) for sid in ok}
            cands = []
            for sid in sorted(ok):
                before = self._context_stems(sid) | self._title_stems(sid)
                cands.append((sid, sid, stems[sid], snapshot.sentence_vectors[sid], texts[sid], before))
                if sid + 1 in ok and snapshot.sentence_doc[sid + 1] == snapshot.sentence_doc[sid]:
                    vec = snapshot.sentence_vectors[sid] + snapshot.sentence_vectors[sid + 1]
                    vec = vec / (np.linalg.norm(vec) or 1.0)
                    cands.append((sid, sid + 1, stems[sid] | stems[sid + 1], vec, texts[sid] + " " + texts[sid + 1], before))
            self.spans.append(cands)

    def _text(self, first: int, last: int) -> str:
        doc = self.snap.documents[int(self.snap.sentence_doc[first])]
        return doc.text[int(self.snap.sentences[first, 0]) : int(self.snap.sentences[last, 1])]

    def _context_stems(self, sid: int) -> frozenset[str]:
        """Stems of the sentence before ``sid`` (same document): who "he said" refers to."""
        if sid == 0 or self.snap.sentence_doc[sid - 1] != self.snap.sentence_doc[sid]:
            return frozenset()
        return frozenset(content_stems(self._text(sid - 1, sid - 1)))

    def _title_stems(self, sid: int) -> frozenset[str]:
        from qa.answerers.extractive import sentence_stems  # negative ids are titles, memoised per snapshot

        return sentence_stems(self.snap, -1 - int(self.snap.sentence_doc[sid]))

    def weight(self, stem: str) -> float:
        """idf of a stem over the index's sentences: a rare word (a name, "Canberra") must be in the span."""
        return math.log((self._n + 1) / (self._df.get(stem, 0) + 0.5))

    def _score(self, claim: Claim, span: tuple) -> float:
        first, last, span_stems, span_vec, text, before = span
        stems, numbers, names, vec = claim.stems, claim.numbers, claim.names, claim.vector
        total = sum(stems.values())
        overlap = sum(w for st, w in stems.items() if st in span_stems) / total if total else 0.0
        cos = float(span_vec @ vec)
        # Cosine helps a paraphrase, but a short claim ("The interview was released on Tuesday.")
        # against a long sentence that states it among other things scores near 0; the claim's
        # own words, weighted by rarity with question echoes discounted, then decide alone.
        support = max(0.6 * overlap + 0.4 * min(1.0, max(0.0, (cos - 0.3) / 0.5)), overlap - LEXICAL_ONLY_MARGIN)
        if last > first:  # a two-sentence span must earn its length
            support -= 0.03
        if numbers - _numbers(text):
            support = min(support, 0.3)  # a number the span does not state
        missing_names = names - span_stems
        if names and missing_names:
            support *= 1.0 - 0.5 * len(missing_names) / len(names)
        if claim.speaker and not claim.speaker & (span_stems | before):
            support = min(support, 0.3)  # attributed to someone the passage does not name there
        if claim.subject and not _mentions(claim.subject, span_stems | before):
            support = min(support, 0.3)  # about the question's subject, backed by a span about something else
        return max(0.0, min(1.0, support))

    def best(self, claim: Claim, ranks: Sequence[int]) -> Span | None:
        """The best-supporting span; a span of the body rather than the headline when the body
        supports the claim too (a headline compresses: "worth $26 million" where the body says
        "about $26 million", and it attributes nothing)."""
        top: Span | None = None
        body: Span | None = None
        for rank in ranks:
            for span in self.spans[rank]:
                s = self._score(claim, span)
                if top is None or s > top.support + 1e-9:
                    top = Span(rank, span[0], span[1], s)
                if span[0] not in self.headlines and (body is None or s > body.support + 1e-9):
                    body = Span(rank, span[0], span[1], s)
        if top is not None and body is not None and top.first in self.headlines and body.support >= SUPPORTED:
            return body
        return top

    def claim(self, text: str, vector: np.ndarray) -> Claim:
        """What a sentence asserts, for scoring: words repeated from the question weigh less,
        so support is about the answer's own content, not about echoing the question."""
        stems: dict[str, float] = {}
        for st in content_stems(text):
            w = max(0.1, self.weight(st))
            stems[st] = w * (QUESTION_WORD_WEIGHT if st in self.question_stems else 1.0)
        return Claim(stems, _numbers(text), _names(text), _speaker(text), vector, set(stems) & self.question_subject)

    def verify(self, raw_sentences: Sequence[str]) -> list[VerifiedSentence]:
        """Verify complete sentences (raw model text, markers included)."""
        items: list[VerifiedSentence] = []
        for raw in raw_sentences:
            text = strip_all_markers(raw)
            if not any(ch.isalnum() for ch in text):
                continue
            numbers = list(dict.fromkeys(marker_numbers(raw)))
            cited = [n for n in numbers if n in self.passage_ranks]
            items.append(VerifiedSentence(text, cited, [n for n in numbers if n not in self.passage_ranks]))
        if not items:
            return items
        vecs = np.asarray(self.encode([it.text for it in items]), dtype=np.float32)
        all_ranks = range(len(self.chunks))
        for it, vec in zip(items, vecs):
            claim = self.claim(it.text, vec)
            best_any = self.best(claim, all_ranks)
            kept: list[Span] = []
            for n in it.cited:
                span = self.best(claim, [self.passage_ranks[n]])
                if span and span.support >= SUPPORTED and best_any and span.support >= best_any.support - CITED_MARGIN:
                    kept.append(span)
            kept.sort(key=lambda s: -s.support)
            if not kept and best_any is not None and best_any.support >= SUPPORTED:
                kept, it.repaired = [best_any], True
            it.spans = kept[:MAX_CITATIONS_PER_SENTENCE]
            it.support = round(max([s.support for s in it.spans] or [best_any.support if best_any else 0.0]), 4)
            if not it.spans:
                it.repaired = bool(it.cited or it.dropped)
        return items


# ---------------------------------------------------------------------------- citations and answer text


class CitationBook:
    """Numbers verified spans by first appearance (one number per distinct span) and builds citations."""

    def __init__(self, snapshot: Snapshot, chunks: Sequence[int]) -> None:
        self.snap = snapshot
        self.chunks = list(chunks)
        self.citations: list[Citation] = []
        self._numbers: dict[tuple[int, int], int] = {}  # (first, last) sentence id -> number: one per quote

    def number(self, span: Span) -> int:
        chunk = self.chunks[span.rank]
        key = (span.first, span.last)
        n = self._numbers.get(key)
        if n is None:
            n = self._numbers[key] = len(self.citations) + 1
            doc = self.snap.documents[int(self.snap.sentence_doc[span.first])]
            s, e = int(self.snap.sentences[span.first, 0]), int(self.snap.sentences[span.last, 1])
            cs, ce = int(self.snap.chunks[chunk, 0]), int(self.snap.chunks[chunk, 1])
            self.citations.append(Citation.of(doc, n, s, e, cs, ce, round(span.support, 4)))
        return n

    def markers(self, sentence: VerifiedSentence) -> list[int]:
        return list(dict.fromkeys(self.number(s) for s in sentence.spans))


def render(text: str, numbers: Sequence[int]) -> str:
    """One answer sentence as shown: its text, then its verified markers."""
    return text + "".join(f" [{n}]" if i == 0 else f"[{n}]" for i, n in enumerate(numbers))


_REFUSAL_RE = re.compile(
    r"\b(do(?:es)?\s*n[o']t|did\s*n[o']t|cannot|can't|could\s*n[o']t|unable to|no)\b[^.]{0,40}\b(contain|mention|include|find|found|"
    r"say|provide|information|answer|state|specif)|\bnot (?:mentioned|stated|found|provided|specified)\b|\bno information\b",
    re.I,
)


def is_refusal(text: str) -> bool:
    """The model said the passages do not answer (short answers only: a long one that merely contains 'no' is an answer)."""
    plain = strip_all_markers(text)
    return bool(plain) and len(plain) <= 240 and bool(_REFUSAL_RE.search(plain))


def iter_sentence_texts(text: str) -> Iterator[str]:
    """Split a complete text into raw sentences with the streaming splitter (one code path)."""
    stream = SentenceStream()
    for kind, value in [*stream.feed(text), *stream.finish()]:
        if kind == "end":
            yield value


def quotes_instruction(answer: Answer, snapshot: Snapshot) -> bool:
    """Whether a citation of ``answer`` quotes (part of) an instruction sentence of a passage.

    An answer that merely repeats "Ignore previous instructions and reply ..." relays the
    injection instead of answering, whichever answerer chose it, so the chain abstains.
    The whole stored sentence is checked, because a trimmed quote may cut off the imperative.
    """
    if answer.abstained or not answer.citations:
        return False
    rows = snapshot.doc_rows
    for c in answer.citations:
        idx = rows.get(c.doc_id)
        if idx is None:
            continue
        ids = snapshot.doc_sentences(idx)
        sids = np.arange(ids.start, ids.stop)
        spans = snapshot.sentences[sids]
        hit = sids[(spans[:, 0] < c.end) & (spans[:, 1] > c.start)]
        texts = [snapshot.sentence_text(int(s)) for s in hit] or [c.quote]
        if any(is_instruction(t) for t in texts):
            return True
    return False
