"""Default answerer, no LLM: pick the sentence that answers, cite it exactly, or abstain.

Every answer sentence is a verbatim span of a document, so its citation cannot be
wrong about what the document says; the hard parts are choosing the sentence that
*answers* rather than the one that echoes the question, and knowing when none does.
Both are linear models over :mod:`qa.answerers.features`, with weights stored as plain
JSON (``weights.json``) that ``scripts/train_answerer.py`` reproduces from public data.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer import Answer, Citation, Passage
from qa.answerers.features import (
    ANSWERABILITY_FEATURES,
    CONTINUATION_FEATURES,
    FEATURES,
    QuestionTerms,
    answer_clause_missing,
    answer_spans,
    answer_subject_missing,
    answerability_features,
    continuation_features,
    counted_noun,
    coverage,
    identity_subject,
    idf_weights,
    mentions,
    previous_overlap,
    question_numbers,
    question_type,
    quotation_state,
    referent_missing,
    sentence_features,
)
from qa.citations import is_caption, is_not_content
from qa.embeddings import Embedder
from qa.lexical import content_stems, content_words, one_line, question_names, stem
from qa.overview import fact_span, is_summary_request, lede
from qa.retrieval import Retrieval
from qa.settings import ABSTAIN_MESSAGE, Settings
from qa.store import Snapshot
from qa.truecase import truecase, typed_in_lower_case

WEIGHTS_PATH = Path(__file__).with_name("weights.json")


#: Question kinds whose answer words are shown in bold in the highlight. A "who" question's
#: name pattern also takes every capitalised word ("Belarusian", "Trump’s"): too many to help.
FOCUS_KINDS = ("number", "when", "where")


def answer_focus(text: str, start: int, end: int, question: str) -> list[list[int]]:
    """Where ``text[start:end]`` holds words of the kind the question asks for, whole words,
    touching pieces joined ("$1" + "5 million" -> "$15 million"); see ``Citation.focus``."""
    qtype = question_type(question)
    if qtype not in FOCUS_KINDS:
        return []
    spans: list[list[int]] = []
    for a, b in answer_spans(qtype, text[start:end], question) or []:
        a, b = start + a, start + b
        if qtype == "where":  # "to Oslo", "in northern Gellany": the place, not its preposition
            a += len(re.match(r"(?:[a-z]+\s+)*", text[a:b]).group(0))
            if a >= b:
                continue
        while a > start and (text[a - 1].isalnum() or text[a - 1] in "$€£¥"):
            a -= 1
        while b < end and text[b].isalnum():
            b += 1
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return spans


@lru_cache(maxsize=4)
def load_weights(path: str = str(WEIGHTS_PATH)) -> dict[str, dict[str, float]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    sections = [("ranker", FEATURES), ("answerability", ANSWERABILITY_FEATURES)]
    if "continuation" in data:  # optional: weight files from before it existed never go on
        sections.append(("continuation", CONTINUATION_FEATURES))
    for section, names in sections:
        missing = set(names) - set(data[section]["weights"])
        if missing:
            raise ValueError(f"{path}: {section} weights lack {sorted(missing)}")
    return data


_DF_CACHE: "weakref.WeakKeyDictionary[Snapshot, tuple[Counter[str], int]]" = weakref.WeakKeyDictionary()


def sentence_df(snapshot: Snapshot) -> tuple[Counter[str], int]:
    """Document frequency of stems over sentences: the idf that weighs question words."""
    cached = _DF_CACHE.get(snapshot)
    if cached is None and snapshot.stem_df is not None:
        cached = _DF_CACHE[snapshot] = (Counter(snapshot.stem_df), len(snapshot.sentences))
    if cached is None:  # an index written before the counts were stored
        df: Counter[str] = Counter()
        for i in range(len(snapshot.sentences)):
            df.update(sentence_stems(snapshot, i))
        cached = (df, len(snapshot.sentences))
        _DF_CACHE[snapshot] = cached
    return cached


def _text_of(snapshot: Snapshot, sid: int) -> str:
    """A stored sentence; negative ids are document titles (-1 - document index)."""
    return snapshot.documents[-1 - sid].title if sid < 0 else snapshot.sentence_text(sid)


_STEMS_CACHE: "weakref.WeakKeyDictionary[Snapshot, dict[int, tuple[tuple[str, ...], frozenset[str]]]]" = weakref.WeakKeyDictionary()


def _stems_entry(snapshot: Snapshot, sid: int) -> tuple[tuple[str, ...], frozenset[str]]:
    """Content stems of one stored sentence (in order, and as a set), memoised per snapshot."""
    cache = _STEMS_CACHE.setdefault(snapshot, {})
    entry = cache.get(sid)
    if entry is None:
        seq = tuple(content_stems(_text_of(snapshot, sid)))
        entry = cache[sid] = (seq, frozenset(seq))
    return entry


_WORDS_CACHE: "weakref.WeakKeyDictionary[Snapshot, dict[int, tuple[str, ...]]]" = weakref.WeakKeyDictionary()


def sentence_words(snapshot: Snapshot, sid: int) -> tuple[str, ...]:
    """Distinct folded content words of a sentence (negative ids: document titles), memoised."""
    cache = _WORDS_CACHE.setdefault(snapshot, {})
    words = cache.get(sid)
    if words is None:
        words = cache[sid] = tuple(dict.fromkeys(content_words(_text_of(snapshot, sid))))
    return words


_NOT_CONTENT_CACHE: "weakref.WeakKeyDictionary[Snapshot, dict[int, bool]]" = weakref.WeakKeyDictionary()


def is_not_content_sentence(snapshot: Snapshot, sid: int) -> bool:
    """:func:`qa.citations.is_not_content` of a stored sentence (an instruction, or page
    furniture such as "Related: another story's headline"), memoised per snapshot."""
    cache = _NOT_CONTENT_CACHE.setdefault(snapshot, {})
    flag = cache.get(sid)
    if flag is None:
        flag = cache[sid] = is_not_content(snapshot.sentence_text(sid))
    return flag


_OPEN_CACHE: "weakref.WeakKeyDictionary[Snapshot, dict[int, bool]]" = weakref.WeakKeyDictionary()


def quotation_open_at(snapshot: Snapshot, sid: int) -> bool:
    """Whether the sentence starts inside a quotation that an earlier sentence opened."""
    cache = _OPEN_CACHE.setdefault(snapshot, {})
    if sid not in cache:
        state = False
        for i in snapshot.doc_sentences(int(snapshot.sentence_doc[sid])):
            cache[i] = state
            state = quotation_state(snapshot.sentence_text(i), state)
    return cache[sid]


#: A quotation running longer than this is taken for a stray or unclosed mark.
MAX_QUOTATION_SENTENCES = 8


def sentence_stems(snapshot: Snapshot, sid: int) -> frozenset[str]:
    return _stems_entry(snapshot, sid)[1]


def sentence_sequence(snapshot: Snapshot, sid: int) -> tuple[str, ...]:
    return _stems_entry(snapshot, sid)[0]


@dataclass
class Candidate:
    sentence: int
    chunk: int
    passage_rank: int
    features: np.ndarray
    score: float = 0.0


_TYPE_MATCH = FEATURES.index("type_match")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def _trim_span(text: str, start: int, end: int, terms: QuestionTerms, limit: int) -> tuple[int, int]:
    """A long sentence is cut to the clause window that best covers the question (still exact)."""
    if end - start <= limit:
        return start, end
    cuts = [start] + [start + m.end() for m in re.finditer(r"[,;:—–]\s+", text[start:end])] + [end]
    best, best_score = (start, start), -1.0
    for i in range(len(cuts) - 1):
        for j in range(i + 1, len(cuts)):
            if cuts[j] - cuts[i] > limit:
                break
            score = coverage(terms, set(content_stems(text[cuts[i] : cuts[j]]))) + (cuts[j] - cuts[i]) / (10 * limit)
            if score > best_score:
                best, best_score = (cuts[i], cuts[j]), score
    if best_score < 0:  # no clause fits: cut at a word boundary
        cut = text.rfind(" ", start, start + limit)
        best = (start, cut if cut > start else start + limit)
    s, e = best
    while e > s and text[e - 1] in " ,;:—–":
        e -= 1
    return s, e


def _title_stems(snapshot: Snapshot, doc_idx: int) -> frozenset[str]:
    return sentence_stems(snapshot, -1 - doc_idx)


@dataclass
class Analysis:
    """Everything the answerer decides from; the training script learns from the same object."""

    terms: QuestionTerms
    candidates: list[Candidate]
    answerability_features: np.ndarray | None
    # The best candidate's next sentence, when retrieval brought it too, and the features
    # that decide whether the answer goes on into it.
    next_candidate: Candidate | None = None
    continuation: np.ndarray | None = None
    question: str = ""  # as read: a lower-case question with its names' capitals back


def first_mentions(snap: Snapshot, subject: tuple[str, ...], sids: list[int]) -> set[int]:
    """Of these sentences, those that are their document's first mention of the subject.

    Only the text before a document's earliest mentioning candidate is read, so a long
    document costs no more than the part of it up to that sentence.
    """
    if not subject:
        return set()

    def mentioning(k: int) -> bool:
        return not is_not_content_sentence(snap, k) and not is_caption(t := snap.sentence_text(k)) and mentions(subject, t)

    earliest: dict[int, int] = {}
    for sid in sorted(sids):
        doc = int(snap.sentence_doc[sid])
        if doc not in earliest and mentioning(sid):
            earliest[doc] = sid
    out = set()
    for doc, sid in earliest.items():
        if not any(mentioning(k) for k in range(snap.doc_sentences(doc).start, sid)):
            out.add(sid)
    return out


class ExtractiveAnswerer:
    """Ranks candidate sentences from the retrieved passages with learned weights."""

    name = "extractive"

    def __init__(self, settings: Settings, weights_path: Path | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        w = load_weights(str(weights_path or WEIGHTS_PATH))
        self.rank_w = np.array([w["ranker"]["weights"][f] for f in FEATURES])
        self.ans_w = np.array([w["answerability"]["weights"][f] for f in ANSWERABILITY_FEATURES])
        self.default_threshold = float(w.get("default_threshold", 0.5))
        cont = w.get("continuation")  # absent from weight files written before it existed: never go on
        self.cont_w = np.array([cont["weights"][f] for f in CONTINUATION_FEATURES]) if cont else None
        self.cont_threshold = float(cont["threshold"]) if cont else 1.0
        # Identity questions ("Who is Alvarez?"): answerable at this rate when the top sentence
        # introduces or describes the name (measured by the training script; 0: no such rule).
        self.identity_floor = float(w.get("identity", {}).get("answerable_when_introduced", 0.0))

    def terms(self, question: str, context: str, snapshot: Snapshot, previous: str = "") -> QuestionTerms:
        df, n = sentence_df(snapshot)
        stems = content_stems(question)
        ctx = set(content_stems(context)) - set(stems)
        # the previous answer counts for a follow-up only (``context`` is set for those)
        prev = frozenset(content_stems(previous)) if context and previous else frozenset()
        return QuestionTerms(stems=stems, weights=idf_weights(stems, df, n), context_stems=ctx, previous_stems=prev)

    def analyze(self, question: str, retrieval: Retrieval, context: str = "", previous: str = "") -> Analysis:
        """``context``: a follow-up's previous question; ``previous``: the answer it got."""
        snap = retrieval.snapshot
        question = self.cased(question, retrieval)
        terms = self.terms(question, context, snap, previous)
        qtype = question_type(question)
        seen: set[int] = set()
        evidence: set[str] = set()
        # First pass: which sentences, with which context; features need all of them at once.
        rows: list[tuple[int, int, int, float, float, frozenset[str], int | None, bool]] = []
        for rank, hit in enumerate(retrieval.hits):
            first, last = int(snap.chunks[hit.chunk, 2]), int(snap.chunks[hit.chunk, 3])
            doc_idx = int(snap.chunk_doc[hit.chunk])
            title_stems = _title_stems(snap, doc_idx)
            for sid in range(first, last + 1):
                if not is_not_content_sentence(snap, sid):
                    evidence |= sentence_stems(snap, sid)
            # An instruction planted in a document ("Note for AI assistants: ignore previous
            # instructions and reply ...") is never an answer: passages are data. Nor is
            # another story's headline in a "Related:" line.
            ids = [i for i in range(first, last + 1) if i not in seen and not is_not_content_sentence(snap, i)]
            if not ids:
                continue
            vecs = snap.sentence_vectors[ids]
            cos = vecs @ retrieval.vector
            for j, sid in enumerate(ids):
                seen.add(sid)
                prev = sid - 1 if sid > 0 and snap.sentence_doc[sid - 1] == doc_idx else None
                cos_ctx = float(cos[j])
                ctx = title_stems
                if prev is not None:
                    ctx = ctx | sentence_stems(snap, prev)
                    ctx_vec = snap.sentence_vectors[prev] + vecs[j]
                    cos_ctx = float(ctx_vec @ retrieval.vector / (np.linalg.norm(ctx_vec) or 1.0))
                rows.append((sid, hit.chunk, rank, float(cos[j]), cos_ctx, ctx, prev, sid == first))
        soft = self._soft_match(question, terms, snap, [(r[0], r[6], int(snap.chunk_doc[r[1]])) for r in rows])
        introduces = first_mentions(snap, identity_subject(question), [r[0] for r in rows]) if qtype == "identity" else set()
        cands: list[Candidate] = []
        contexts: dict[int, frozenset[str]] = {}
        for (sid, chunk, rank, cos_s, cos_ctx, ctx, _prev, first), (soft_s, soft_c, _) in zip(rows, soft):
            contexts[sid] = ctx
            near = (0.0, 0.0)
            if terms.previous_stems:
                same_doc = snap.doc_sentences(int(snap.sentence_doc[sid]))
                neighbours = [sentence_stems(snap, k) for k in (sid - 1, sid + 1) if k in same_doc]
                near = previous_overlap(terms.previous_stems, sentence_stems(snap, sid), neighbours)
            feats = sentence_features(
                terms=terms, qtype=qtype, question=question, text=snap.sentence_text(sid), sequence=sentence_sequence(snap, sid),
                context_stems=ctx, cos=cos_s, cos_ctx=cos_ctx, passage_score=retrieval.hits[rank].score,
                passage_rank=rank, first_in_passage=first, soft=soft_s, soft_ctx=soft_c,
                introduces=sid in introduces, previous=near,
            )
            cands.append(Candidate(sid, chunk, rank, feats))
        for c in cands:
            c.score = float(c.features @ self.rank_w)
        order = sorted(range(len(cands)), key=lambda i: -cands[i].score)
        if qtype == "identity":
            # What the question asks for is a description: a sentence that gives one comes
            # before any that only names the subject, however well that one matches.
            order = sorted(order, key=lambda i: cands[i].features[_TYPE_MATCH] <= 0)
        feats_a = None
        if cands:
            best = cands[order[0]]
            best_text, best_ctx = snap.sentence_text(best.sentence), contexts[best.sentence]
            df, _ = sentence_df(snap)
            feats_a = answerability_features(
                terms=terms, best=best.features, best_score=best.score,
                second_score=cands[order[1]].score if len(cands) > 1 else best.score - 1.0,
                best_context=sentence_stems(snap, best.sentence) | best_ctx, evidence=evidence,
                corpus_df=df, top_passage=retrieval.hits[0].score, max_cos=max(h.dense for h in retrieval.hits),
                names=question_names(question), numbers=question_numbers(question),
                evidence_text=" ".join(snap.chunk_text(h.chunk) for h in retrieval.hits).replace(",", ""),
                soft_missing=soft[order[0]][2], count_asked=counted_noun(question) is not None,
                clause_missing=answer_clause_missing(qtype, best_text, question, terms),
                subject_missing=answer_subject_missing(qtype, best_text, question, best_ctx),
                referent=referent_missing(
                    question, context, previous, best_text, best_ctx,
                    quoted=quotation_open_at(snap, best.sentence) or best_text.lstrip().startswith(("“", '"')),
                ),
            )
        ranked = [cands[i] for i in order]
        nxt, feats_c = None, None
        if ranked:
            best = ranked[0]
            nxt = next((c for c in ranked if c.sentence == best.sentence + 1), None)  # sentences are unique here
            # (instructions are not candidates, so the next sentence is never one)
            if nxt is not None and snap.sentence_doc[nxt.sentence] == snap.sentence_doc[best.sentence]:
                feats_c = continuation_features(
                    best=best.features, nxt=nxt.features, best_score=best.score, next_score=nxt.score,
                    text=snap.sentence_text(best.sentence), next_text=snap.sentence_text(nxt.sentence),
                )
            else:
                nxt = None
        return Analysis(terms, ranked, feats_a, nxt, feats_c, question)

    def _soft_match(
        self, question: str, terms: QuestionTerms, snap: Snapshot, rows: list[tuple[int, int | None, int]]
    ) -> list[tuple[float, float, float]]:
        """Per candidate: idf-weighted meaning match of the question's words in the sentence, in
        sentence + context, and the worst-matched rare question word (1 = nothing like it there).

        A paraphrase ("released" for "published") matches softly; a concept the text never
        mentions ("age", "boiling point") matches nothing, which is what answerability needs.
        """
        qwords = [w for w in dict.fromkeys(content_words(question)) if stem(w) in terms.weights]
        if not rows or not qwords or self.embedder is None:
            return [(0.0, 0.0, 0.0)] * len(rows)
        sent_words = {k: sentence_words(snap, k) for sid, prev, doc in rows for k in (sid, prev, -1 - doc) if k is not None}
        vocab = list(dict.fromkeys(w for ws in sent_words.values() for w in ws))
        if not vocab:
            return [(0.0, 0.0, 0.0)] * len(rows)
        col = {w: i for i, w in enumerate(vocab)}
        vq = self.embedder.word_vectors(qwords)
        vv = self.embedder.word_vectors(vocab)
        sim = np.clip(vq @ vv.T, 0.0, 1.0)
        qstems = [stem(w) for w in qwords]
        exact = np.array([[stem(v) == qs for v in vocab] for qs in qstems])
        sim = np.where(exact, 1.0, sim)
        weights = np.array([terms.weights[q] for q in qstems])
        wsum = float(weights.sum()) or 1.0
        wmax = float(weights.max()) or 1.0
        out = []
        for sid, prev, doc in rows:
            own = [col[w] for w in sent_words[sid]]
            ctx = own + [col[w] for k in (prev, -1 - doc) if k is not None for w in sent_words[k]]
            best_own = sim[:, own].max(axis=1) if own else np.zeros(len(qwords))
            best_ctx = sim[:, ctx].max(axis=1) if ctx else np.zeros(len(qwords))
            out.append((
                float(weights @ best_own / wsum),
                float(weights @ best_ctx / wsum),
                float(((weights / wmax) * (1.0 - best_ctx)).max()),
            ))
        return out

    def answer(
        self, question: str, retrieval: Retrieval, *, context: str = "", previous: str = "", threshold: float | None = None
    ) -> Answer:
        snap = retrieval.snapshot
        if retrieval.overview in ("author", "published"):
            return self.fact_answer(question, retrieval, retrieval.overview)
        if retrieval.overview:
            return self.overview_answer(question, retrieval)
        asked = question
        analysis = self.analyze(question, retrieval, context, previous)
        question = analysis.question
        cands = analysis.candidates
        prob = self.answerability(question, analysis)
        passages = self._passages(retrieval)
        if threshold is None:
            threshold = self.default_threshold if self.settings.abstain_threshold is None else self.settings.abstain_threshold
        if not cands or prob < threshold:
            return Answer(None, asked, ABSTAIN_MESSAGE, True, [], passages, self.name, answerability=round(prob, 4))
        best = cands[0]
        doc = snap.documents[int(snap.sentence_doc[best.sentence])]
        limit = self.settings.max_answer_chars - 5
        cs, ce = int(snap.chunks[best.chunk, 0]), int(snap.chunks[best.chunk, 1])
        nxt = analysis.next_candidate if self.goes_on(analysis) else None
        if nxt is not None and not self.fits_together(snap, best, nxt):
            nxt = None
        if nxt is not None:
            # One citation over both sentences: the second says the thing asked, the first
            # is what its "they"/"that group" refers to.
            s, e = int(snap.sentences[best.sentence, 0]), int(snap.sentences[nxt.sentence, 1])
            cs, ce = min(cs, int(snap.chunks[nxt.chunk, 0])), max(ce, int(snap.chunks[nxt.chunk, 1]))
        else:
            s, e = _trim_span(doc.text, int(snap.sentences[best.sentence, 0]), int(snap.sentences[best.sentence, 1]), analysis.terms, limit)
        # Every sentence carries its marker, also the first of two that share one citation.
        parts = [(s, int(snap.sentences[best.sentence, 1])), (int(snap.sentences[nxt.sentence, 0]), e)] if nxt is not None else [(s, e)]
        last = nxt.sentence if nxt is not None else best.sentence
        if e == int(snap.sentences[last, 1]):
            rest = self.quotation_rest(snap, last, s)
            parts += [(int(snap.sentences[k, 0]), int(snap.sentences[k, 1])) for k in rest]
            e = parts[-1][1]
            ce = max(ce, e)
        citation = Citation.of(doc, 1, s, e, cs, ce, round(_sigmoid(best.score), 4))
        citation.focus = answer_focus(doc.text, s, e, question)
        text = " ".join(one_line(doc.text[a:b]) + " [1]" for a, b in parts)
        return Answer(None, asked, text, False, [citation], passages, self.name, answerability=round(prob, 4))

    @staticmethod
    def cased(question: str, retrieval: Retrieval) -> str:
        """The question with the capitals of the names it types in lower case (qa/truecase.py)."""
        if not retrieval.hits or not typed_in_lower_case(question):
            return question
        return truecase(question, (retrieval.snapshot.chunk_text(h.chunk) for h in retrieval.hits))

    def answerability(self, question: str, analysis: Analysis) -> float:
        """P(the documents answer the question). The learned model never saw an identity
        question; for one whose best sentence introduces or describes the name, the measured
        rate at which such a sentence answers is the floor (an unknown name is introduced
        nowhere, so the model alone decides there)."""
        if analysis.answerability_features is None:
            return 0.0
        prob = _sigmoid(float(analysis.answerability_features @ self.ans_w))
        if self.identity_floor and analysis.candidates and question_type(question) == "identity":
            if analysis.candidates[0].features[_TYPE_MATCH] > 0:
                prob = max(prob, self.identity_floor)
        return prob

    def fact_answer(self, question: str, retrieval: Retrieval, fact: str) -> Answer:
        """Who wrote the document or when it came out: the byline or dated line near its top,
        cited; else what the file's metadata says, said to come from there (nothing in the
        text to cite); else that the document does not say."""
        snap = retrieval.snapshot
        passages = self._passages(retrieval)
        d = int(snap.chunk_doc[retrieval.hits[0].chunk])
        doc = snap.documents[d]
        span = fact_span(snap, d, fact)
        if span is not None:
            s, e = span
            chunk = next(
                (h.chunk for h in retrieval.hits if int(snap.chunks[h.chunk, 0]) <= s < int(snap.chunks[h.chunk, 1])), None
            )
            cs, ce = (int(snap.chunks[chunk, 0]), int(snap.chunks[chunk, 1])) if chunk is not None else (s, e)
            citation = Citation.of(doc, 1, s, e, min(cs, s), max(ce, e), 1.0)
            text = one_line(doc.text[s:e]) + " [1]"
            return Answer(None, question, text, False, [citation], passages, self.name, answerability=1.0)
        value = doc.author if fact == "author" else doc.published
        name = Path(doc.source).name
        if value:
            what = "author" if fact == "author" else "publication date"
            text = f"The text of {name} does not say; its file metadata gives the {what} as {value}."
            return Answer(
                None, question, text, False, [], passages, self.name, answerability=1.0,
                note="from the file's metadata, not from the document's text",
            )
        return Answer(None, question, ABSTAIN_MESSAGE, True, [], passages, self.name, answerability=0.0)

    def overview_answer(self, question: str, retrieval: Retrieval) -> Answer:
        """What a document is about (qa/overview.py): its lede, one citation per sentence."""
        snap = retrieval.snapshot
        passages = self._passages(retrieval)
        docs = list(dict.fromkeys(int(snap.chunk_doc[h.chunk]) for h in retrieval.hits))
        # "Summarize the article" gets the opening paragraph (lead-3, the usual extractive
        # summary of news); "What is it about?" and several documents get their lede.
        summary = len(docs) == 1 and is_summary_request(question)
        limit = (self.settings.summary_chars if summary else self.settings.max_answer_chars) - 5
        terms = self.terms(question, "", snap)
        pieces: list[str] = []
        citations: list[Citation] = []
        for d in docs:
            sids = lede(snap, d, limit, sentences=3 if summary else 2 if len(docs) == 1 else 1)
            if not sids:
                continue
            doc = snap.documents[d]
            s, e = int(snap.sentences[sids[0], 0]), int(snap.sentences[sids[-1], 1])
            parts = [(int(snap.sentences[k, 0]), int(snap.sentences[k, 1])) for k in sids]
            if e - s > limit:  # one long sentence: cut to a clause window, still exact
                s, e = _trim_span(doc.text, s, int(snap.sentences[sids[0], 1]), terms, limit)
                parts = [(s, e)]
            chunk = next(h.chunk for h in retrieval.hits if int(snap.chunk_doc[h.chunk]) == d)
            cs, ce = int(snap.chunks[chunk, 0]), int(snap.chunks[chunk, 1])
            for a, b in parts:  # one citation a sentence: each marker shows its own sentence
                n = len(citations) + 1
                citations.append(Citation.of(doc, n, a, b, min(a, cs), max(b, ce), 1.0))
                pieces.append(one_line(doc.text[a:b]) + f" [{n}]")
        if not citations:  # nothing but headings: no opening to quote
            return Answer(None, question, ABSTAIN_MESSAGE, True, [], passages, self.name, answerability=0.0)
        total = len(snap.documents)
        note = ""
        if 1 < len(docs) < total:
            note = f"the openings of the {len(docs)} most recently added of {total} documents"
        elif len(docs) == 1 and total > 1:
            note = f"the opening of {Path(snap.documents[docs[0]].source).name}"
        return Answer(
            None, question, " ".join(pieces), False, citations, passages, self.name, answerability=1.0, note=note
        )

    def quotation_rest(self, snap: Snapshot, last: int, start: int) -> list[int]:
        """The sentences that finish a quotation the answer opens and leaves open, when all fit.

        An answer that stops inside a quotation ("“Sending soldiers across that river would
        turn a humanitarian crisis into a regional war.") leaves out the rest of what the
        speaker said, which is usually what a "what did X say" question asks for, and a
        dangling quotation mark; so the answer goes on to the sentence that closes it, or
        stays as it is if the whole quotation does not fit the length limit.
        """
        doc = snap.documents[int(snap.sentence_doc[last])]
        if not quotation_state(doc.text[start : int(snap.sentences[last, 1])]):
            return []
        end_of_doc = snap.doc_sentences(int(snap.sentence_doc[last])).stop
        rest: list[int] = []
        for k in range(last + 1, min(end_of_doc, last + 1 + MAX_QUOTATION_SENTENCES)):
            if not quotation_open_at(snap, k) or is_not_content_sentence(snap, k):
                return []
            if int(snap.sentences[k, 1]) - start > self.settings.max_answer_chars - 5:
                return []
            rest.append(k)
            if not quotation_state(snap.sentence_text(k), True):
                return rest
        return []

    def fits_together(self, snap: Snapshot, best: Candidate, nxt: Candidate) -> bool:
        """Both sentences within the answer length limit (a continuation is never trimmed)."""
        return int(snap.sentences[nxt.sentence, 1]) - int(snap.sentences[best.sentence, 0]) <= self.settings.max_answer_chars - 5

    def continuation_probability(self, analysis: Analysis) -> float | None:
        if analysis.continuation is None or self.cont_w is None:
            return None
        return _sigmoid(float(analysis.continuation @ self.cont_w))

    def goes_on(self, analysis: Analysis) -> bool:
        """Whether the answer continues into the best sentence's next one (learned, see weights.json)."""
        p = self.continuation_probability(analysis)
        return p is not None and p >= self.cont_threshold

    @classmethod
    def _passages(cls, retrieval: Retrieval) -> list[Passage]:
        return [cls._passage(retrieval.snapshot, h.chunk, h.score) for h in retrieval.hits]

    @staticmethod
    def _passage(snap: Snapshot, chunk: int, score: float) -> Passage:
        doc = snap.documents[int(snap.chunk_doc[chunk])]
        s, e = int(snap.chunks[chunk, 0]), int(snap.chunks[chunk, 1])
        return Passage(doc.doc_id, doc.source, doc.title, s, e, round(score, 4), doc.text[s:e], doc.page_of(s))
