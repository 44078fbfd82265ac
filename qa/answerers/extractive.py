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
    FEATURES,
    QuestionTerms,
    coverage,
    idf_weights,
    question_type,
    sentence_features,
)
from qa.lexical import content_stems
from qa.retrieval import Retrieval
from qa.settings import ABSTAIN_MESSAGE, Settings
from qa.store import Snapshot

WEIGHTS_PATH = Path(__file__).with_name("weights.json")


@lru_cache(maxsize=4)
def load_weights(path: str = str(WEIGHTS_PATH)) -> dict[str, dict[str, float]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for section, names in (("ranker", FEATURES), ("answerability", ANSWERABILITY_FEATURES)):
        missing = set(names) - set(data[section]["weights"])
        if missing:
            raise ValueError(f"{path}: {section} weights lack {sorted(missing)}")
    return data


_DF_CACHE: "weakref.WeakKeyDictionary[Snapshot, tuple[Counter[str], int]]" = weakref.WeakKeyDictionary()


def sentence_df(snapshot: Snapshot) -> tuple[Counter[str], int]:
    """Document frequency of stems over sentences: the idf that weighs question words."""
    cached = _DF_CACHE.get(snapshot)
    if cached is None:
        df: Counter[str] = Counter()
        for i in range(len(snapshot.sentences)):
            doc = snapshot.documents[int(snapshot.sentence_doc[i])]
            s, e = snapshot.sentences[i]
            df.update(set(content_stems(doc.text[int(s) : int(e)])))
        cached = (df, len(snapshot.sentences))
        _DF_CACHE[snapshot] = cached
    return cached


@dataclass
class Candidate:
    sentence: int
    chunk: int
    passage_rank: int
    features: np.ndarray
    score: float = 0.0


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


class ExtractiveAnswerer:
    """Ranks candidate sentences from the retrieved passages with learned weights."""

    name = "extractive"

    def __init__(self, settings: Settings, weights_path: Path | None = None) -> None:
        self.settings = settings
        w = load_weights(str(weights_path or WEIGHTS_PATH))
        self.rank_w = np.array([w["ranker"]["weights"][f] for f in FEATURES])
        self.ans_w = np.array([w["answerability"]["weights"][f] for f in ANSWERABILITY_FEATURES])

    def terms(self, question: str, context: str, snapshot: Snapshot) -> QuestionTerms:
        df, n = sentence_df(snapshot)
        stems = content_stems(question)
        ctx = set(content_stems(context)) - set(stems)
        return QuestionTerms(stems=stems, weights=idf_weights(stems, df, n), context_stems=ctx)

    def candidates(self, question: str, retrieval: Retrieval, terms: QuestionTerms) -> list[Candidate]:
        snap = retrieval.snapshot
        qtype = question_type(question)
        seen: set[int] = set()
        out: list[Candidate] = []
        for rank, hit in enumerate(retrieval.hits):
            first, last = int(snap.chunks[hit.chunk, 2]), int(snap.chunks[hit.chunk, 3])
            doc = snap.documents[int(snap.chunk_doc[hit.chunk])]
            ids = [i for i in range(first, last + 1) if i not in seen]
            if not ids:
                continue
            vecs = snap.sentence_vectors[ids]
            cos = vecs @ retrieval.vector
            for j, sid in enumerate(ids):
                seen.add(sid)
                s, e = int(snap.sentences[sid, 0]), int(snap.sentences[sid, 1])
                prev_sid = sid - 1 if sid > 0 and snap.sentence_doc[sid - 1] == snap.sentence_doc[sid] else None
                prev_text = ""
                cos_ctx = float(cos[j])
                if prev_sid is not None:
                    ps, pe = snap.sentences[prev_sid]
                    prev_text = doc.text[int(ps) : int(pe)]
                    ctx_vec = snap.sentence_vectors[prev_sid] + vecs[j]
                    cos_ctx = float(ctx_vec @ retrieval.vector / (np.linalg.norm(ctx_vec) or 1.0))
                feats = sentence_features(
                    terms=terms, qtype=qtype, question=question, text=doc.text[s:e], prev_text=prev_text,
                    title=doc.title, cos=float(cos[j]), cos_ctx=cos_ctx, passage_score=hit.score,
                    passage_rank=rank, first_in_passage=sid == first,
                )
                out.append(Candidate(sid, hit.chunk, rank, feats))
        for c in out:
            c.score = float(c.features @ self.rank_w)
        out.sort(key=lambda c: -c.score)
        return out

    def answerability(self, candidates: list[Candidate], retrieval: Retrieval, terms: QuestionTerms, snapshot: Snapshot) -> float:
        if not candidates:
            return 0.0
        idx = {f: i for i, f in enumerate(FEATURES)}
        best = candidates[0]
        second = candidates[1].score if len(candidates) > 1 else best.score - 1.0
        evidence: set[str] = set()
        for hit in retrieval.hits:
            evidence |= set(content_stems(snapshot.chunk_text(hit.chunk)))
        df, _ = sentence_df(snapshot)
        corpus_cov = sum(w for s, w in terms.weights.items() if df.get(s, 0) > 0) / terms.total
        missing = [w for s, w in terms.weights.items() if s not in evidence]
        max_w = max(terms.weights.values(), default=1.0)
        f = np.array(
            [
                1.0,
                best.score,
                best.score - second,
                best.features[idx["cos"]],
                best.features[idx["lex"]],
                coverage(terms, evidence),
                corpus_cov,
                (max(missing) / max_w) if missing else 0.0,
                best.features[idx["type_match"]],
                retrieval.hits[0].score if retrieval.hits else 0.0,
                max((h.dense for h in retrieval.hits), default=0.0),
            ]
        )
        return _sigmoid(float(f @ self.ans_w))

    def answer(self, question: str, retrieval: Retrieval, *, context: str = "", threshold: float | None = None) -> Answer:
        snap = retrieval.snapshot
        terms = self.terms(question, context, snap)
        cands = self.candidates(question, retrieval, terms)
        prob = self.answerability(cands, retrieval, terms, snap)
        passages = [self._passage(snap, h.chunk, h.score) for h in retrieval.hits]
        threshold = self.settings.abstain_threshold if threshold is None else threshold
        if not cands or prob < threshold:
            return Answer(None, question, ABSTAIN_MESSAGE, True, [], passages, self.name, answerability=prob)
        best = cands[0]
        doc = snap.documents[int(snap.sentence_doc[best.sentence])]
        s, e = _trim_span(doc.text, int(snap.sentences[best.sentence, 0]), int(snap.sentences[best.sentence, 1]), terms, self.settings.max_answer_chars - 5)
        cs, ce = int(snap.chunks[best.chunk, 0]), int(snap.chunks[best.chunk, 1])
        citation = Citation(
            n=1, doc_id=doc.doc_id, source=doc.source, title=doc.title, page=doc.page_of(s), published=doc.published,
            start=s, end=e, quote=doc.text[s:e], chunk_start=cs, chunk_end=ce, score=round(_sigmoid(best.score), 4),
        )
        text = " ".join(doc.text[s:e].split())
        return Answer(None, question, f"{text} [1]", False, [citation], passages, self.name, answerability=prob)

    @staticmethod
    def _passage(snap: Snapshot, chunk: int, score: float) -> Passage:
        doc = snap.documents[int(snap.chunk_doc[chunk])]
        s, e = int(snap.chunks[chunk, 0]), int(snap.chunks[chunk, 1])
        return Passage(doc.doc_id, doc.source, doc.title, s, e, round(score, 4), doc.text[s:e], doc.page_of(s))
