"""Evaluation behind ``qa eval``: how often answers and, above all, citations are right.

Citations are the product, so the instrument scores them directly against gold
evidence spans rather than trusting the answerer's own confidence. Everything here
works on the public :class:`~qa.answer.Answer` schema only, so the same numbers are
comparable across answering backends (extractive today, LLMs later) and gold sets
(the team-written seed set, SQuAD 2.0 samples).

Layout:

* gold I/O: :func:`load_gold` (our JSONL format, see ``eval/README.md``) and
  :func:`squad_to_gold` (SQuAD 2.0 JSON -> documents on disk + gold items);
* pure metric functions (:func:`normalize_answer`, :func:`answer_correct`,
  :func:`resolve_support`, :func:`citation_correct`, :func:`citation_intact`,
  :func:`retrieval_rank`, :func:`sentence_support`, :func:`score_answer`,
  :func:`aggregate`, :func:`abstention_sweep`), testable on hand-made answers;
* drivers: :func:`evaluate` (ask + score with an open assistant) and :func:`run_eval`
  (open or build the index, evaluate, write reports);
* output: :func:`write_reports` (report.json / report.md / metrics.png / sweep.png)
  and :func:`format_summary` (the CLI's table).

Undefined rates (an empty denominator, e.g. citation precision when no answer cited
anything) are ``None`` rather than 0 or 1, so a gate cannot pass or fail on nothing.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import string
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from qa.answer import MARKER_RE, Answer, Citation, Passage, strip_markers
from qa.citations import is_sentence_end
from qa.lexical import content_stems

if TYPE_CHECKING:  # the Assistant pulls in torch; metric functions must not need it
    from qa.assistant import Assistant
    from qa.store import DocumentRecord

#: An answer longer than this (markers stripped) never scores as correct: containment
#: scoring would otherwise reward dumping a whole chunk. Fixed, not a setting, so that
#: figures stay comparable when ``max_answer_chars`` changes.
MAX_ANSWER_CHARS = 400
#: Sentence support (ALCE-style without NLI): share of the sentence's content stems the
#: cited quote must contain, or the embedding cosine that counts as a paraphrase.
SUPPORT_OVERLAP = 0.5
SUPPORT_COSINE = 0.7
#: Thresholds of the abstention sweep: 0.00, 0.05, ..., 1.00.
SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))

#: Overall keys in report order; these names are a stable interface (CI gates, README).
OVERALL_KEYS: tuple[str, ...] = (
    "answer_accuracy",
    "citation_precision",
    "citation_recall",
    "citation_integrity",
    "sentence_support",
    "abstention",
    "false_abstention",
    "retrieval_recall_at_1",
    "retrieval_recall_at_5",
    "retrieval_mrr",
    "latency_p50_ms",
    "latency_p95_ms",
    "n",
    "answerable",
    "unanswerable",
    "errors",
)
#: The rates plotted in metrics.png (latency and counts have other scales).
QUALITY_KEYS: tuple[str, ...] = OVERALL_KEYS[:10]
#: Lower is better for these; everything else in QUALITY_KEYS is higher-is-better.
LOWER_IS_BETTER = frozenset({"false_abstention"})

Embed = Callable[[list[str]], np.ndarray]
Progress = Callable[[int, int, str], None]


# =========================================================================== gold


@dataclass
class GoldItem:
    """One gold question. ``answers == []`` means the documents do not answer it."""

    id: str
    question: str
    answers: list[str]
    support: list[str | dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    history: list[Any] = field(default_factory=list)
    type: str | None = None
    paragraph: int | None = None
    #: SQuAD 2.0 ``plausible_answers`` of an unanswerable question, kept for reading
    #: the report (they are what a system that fails to abstain tends to say).
    plausible_answers: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, []) or k in ("answers", "support")}


class GoldFormatError(ValueError):
    """A malformed gold file; the message names the file and line."""


def _gold_item(data: Any, where: str) -> GoldItem:
    if not isinstance(data, dict):
        raise GoldFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise GoldFormatError(f"{where}: 'question' must be a non-empty string")
    if "answers" not in data:
        # A missing list would silently turn the item into an unanswerable one.
        raise GoldFormatError(f"{where}: 'answers' is required ([] for unanswerable questions)")
    answers = data["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise GoldFormatError(f"{where}: 'answers' must be a list of strings")
    support = data.get("support") or []
    if not isinstance(support, list):
        raise GoldFormatError(f"{where}: 'support' must be a list")
    for s in support:
        if isinstance(s, str):
            continue
        if not (
            isinstance(s, dict)
            and isinstance(s.get("start"), int)
            and isinstance(s.get("end"), int)
            and isinstance(s.get("source", ""), str)
        ):
            raise GoldFormatError(f"{where}: support items are exact strings or {{'source', 'start', 'end'}} objects, got {s!r}")
    history = data.get("history") or []
    if not isinstance(history, list):
        raise GoldFormatError(f"{where}: 'history' must be a list of [user, assistant] pairs")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise GoldFormatError(f"{where}: 'source' must be a file name")
    plausible = data.get("plausible_answers") or []
    return GoldItem(
        id=str(data.get("id") or where),
        question=question,
        answers=list(answers),
        support=list(support),
        source=source,
        history=history,
        type=data.get("type"),
        paragraph=data.get("paragraph"),
        plausible_answers=[p if isinstance(p, str) else str(p.get("text", "")) for p in plausible],
    )


def load_gold(path: str | Path) -> list[GoldItem]:
    """Read a gold JSONL file (one object per line; blank lines ignored).

    Fails loudly on malformed lines and duplicate ids: a silently skipped question
    would change the denominator of every metric.
    """
    p = Path(path)
    items: list[GoldItem] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{p.name}:{lineno}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GoldFormatError(f"{where}: invalid JSON ({exc.msg})") from None
            item = _gold_item(data, where)
            if item.id in seen:
                raise GoldFormatError(f"{where}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
    return items


def _safe_name(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", title, flags=re.UNICODE).strip("._") or "article"
    name, i = f"{base}.txt", 2
    while name.lower() in taken:
        name, i = f"{base}-{i}.txt", i + 1
    taken.add(name.lower())
    return name


def squad_to_gold(squad_json_path: str | Path, out_dir: str | Path) -> tuple[list[GoldItem], Path]:
    """Turn a SQuAD 2.0 file into documents on disk plus gold items.

    One ``.txt`` per article, paragraphs joined by a blank line, so the assistant
    indexes the article like any other document. The support of an answerable
    question is its paragraph's exact span in that file (SQuAD's evidence unit; the
    answer sentence would be a stricter, different benchmark). Unanswerable questions
    get ``answers == []`` and ``support == []``; their ``plausible_answers`` are kept.
    Returns the items and the folder to index.
    """
    data = json.loads(Path(squad_json_path).read_text(encoding="utf-8"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items: list[GoldItem] = []
    taken: set[str] = set()
    seen_ids: set[str] = set()
    for article in data.get("data", []):
        name = _safe_name(str(article.get("title") or "article"), taken)
        parts: list[str] = []
        offset = 0
        for pi, para in enumerate(article.get("paragraphs", [])):
            context = para["context"]
            if parts:
                offset += 2  # the "\n\n" separator
            start, end = offset, offset + len(context)
            parts.append(context)
            offset = end
            for qa in para.get("qas", []):
                impossible = bool(qa.get("is_impossible")) or not qa.get("answers")
                answers = [] if impossible else list(dict.fromkeys(a["text"].strip() for a in qa["answers"] if a["text"].strip()))
                plausible = list(dict.fromkeys(a["text"].strip() for a in qa.get("plausible_answers", []) if a["text"].strip()))
                qid = str(qa.get("id") or f"{name}-{pi}-{len(items)}")
                if qid in seen_ids:
                    qid = f"{qid}-{len(items)}"
                seen_ids.add(qid)
                items.append(
                    GoldItem(
                        id=qid,
                        question=qa["question"].strip(),
                        answers=answers,
                        support=[] if impossible else [{"source": name, "start": start, "end": end}],
                        source=name,
                        type="unanswerable" if impossible else "answerable",
                        paragraph=pi,
                        plausible_answers=plausible,
                    )
                )
        # newline="" keeps offsets exact on every platform (no \n -> \r\n translation).
        with (out / name).open("w", encoding="utf-8", newline="") as fh:
            fh.write("\n\n".join(parts))
    return items, out


# =========================================================================== metrics


class GoldSpan(NamedTuple):
    """A piece of gold evidence: ``[start, end)`` in the document with this doc id."""

    doc_id: str
    start: int
    end: int


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalization plus accent folding and Unicode punctuation.

    Gold strings are written by hand (or come from SQuAD) while answers quote the
    document, so “curly” vs "straight" quotes, ’ vs ', and "Nicolás" vs "Nicolas" must
    not decide correctness. Markers are stripped first so "[1]" never becomes "1".
    """
    text = strip_markers(text)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and not _is_punct(ch))
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def answer_correct(answer: Answer, gold_answers: Sequence[str]) -> bool:
    """Correct = not abstained, at most MAX_ANSWER_CHARS long, and a gold answer contained.

    Containment (not exact match) because the extractive answerer answers with a
    sentence; the length cap keeps that from rewarding a dumped chunk.
    """
    if answer.abstained or not gold_answers:
        return False
    plain = strip_markers(answer.answer)
    if len(plain) > MAX_ANSWER_CHARS:
        return False
    norm = normalize_answer(plain)
    return any(g and g in norm for g in (normalize_answer(a) for a in gold_answers))


def _file_name(source: str) -> str:
    return Path(source.removeprefix("upload:")).name


def _docs_named(documents: Sequence[DocumentRecord], name: str) -> list[DocumentRecord]:
    return [d for d in documents if name in (d.doc_id, d.source) or _file_name(d.source) == name]


def resolve_support(item: GoldItem, documents: Sequence[DocumentRecord], warnings: list[str] | None = None) -> list[GoldSpan]:
    """Gold evidence as spans in indexed documents.

    A support string yields a span for every exact occurrence, in the document whose
    file name is the item's ``source`` (any document when it has none): the gold
    author wrote a sentence, not an offset, and a repeated sentence is equally good
    evidence wherever it appears. Span objects are taken as given. Evidence that
    cannot be found is reported through ``warnings`` (a gold or index problem).
    """
    spans: list[GoldSpan] = []
    scope = _docs_named(documents, item.source) if item.source else list(documents)
    if item.source and not scope and warnings is not None:
        warnings.append(f"{item.id}: source {item.source!r} is not in the index")
    for sup in item.support:
        found = False
        if isinstance(sup, str):
            if not sup:
                continue
            for doc in scope:
                pos = doc.text.find(sup)
                while pos >= 0:
                    spans.append(GoldSpan(doc.doc_id, pos, pos + len(sup)))
                    found = True
                    pos = doc.text.find(sup, pos + 1)
        else:
            name = sup.get("source") or item.source
            docs = _docs_named(documents, name) if name else list(documents)
            start, end = int(sup["start"]), int(sup["end"])
            for doc in docs:
                if 0 <= start < end <= len(doc.text):
                    spans.append(GoldSpan(doc.doc_id, start, end))
                    found = True
        if not found and warnings is not None:
            shown = sup if isinstance(sup, dict) else (sup[:60] + "…" if len(sup) > 60 else sup)
            warnings.append(f"{item.id}: support {shown!r} not found in the indexed documents")
    return spans


def _overlaps(doc_id: str, start: int, end: int, spans: Iterable[GoldSpan]) -> bool:
    return any(doc_id == g.doc_id and start < g.end and g.start < end for g in spans)


def citation_correct(citation: Citation, spans: Sequence[GoldSpan]) -> bool:
    """Any character overlap with gold evidence in the same document.

    Overlap rather than containment: a citation trimmed to a clause of the gold
    sentence, or one spanning two sentences, still points the reader at the evidence.
    """
    return _overlaps(citation.doc_id, citation.start, citation.end, spans)


def citation_intact(citation: Citation, docs_by_id: dict[str, DocumentRecord]) -> bool:
    """The quote is exactly the document's text at the cited offsets (the product promise)."""
    doc = docs_by_id.get(citation.doc_id)
    return doc is not None and 0 <= citation.start <= citation.end <= len(doc.text) and doc.text[citation.start : citation.end] == citation.quote


def retrieval_rank(passages: Sequence[Passage], spans: Sequence[GoldSpan]) -> int | None:
    """1-based rank of the first retrieved passage that overlaps gold evidence, or None."""
    for i, p in enumerate(passages, 1):
        if _overlaps(p.doc_id, p.start, p.end, spans):
            return i
    return None


_SENTENCE_END_RE = re.compile(r"""(?:\.{3}|…|[.!?])["'”’»)\]]*(?:\s*\[\d+\])*(?=\s|$)""")


def split_answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Answer sentences as ``(text without markers, cited numbers)``.

    A marker belongs to the sentence it follows, also when it comes after the period
    ("... in 2020. [1]"), which is where both our answerer and most LLMs put it.
    A period followed by a lower-case word ("U.S. officials") or after an abbreviation or
    an initial ("Dr. Amara Quillfeather") does not end a sentence (the answer stream's rule).
    """
    pieces: list[str] = []
    start = 0
    for m in _SENTENCE_END_RE.finditer(text):
        if not is_sentence_end(text, m):
            continue
        pieces.append(text[start : m.end()])
        start = m.end()
    pieces.append(text[start:])
    out: list[tuple[str, list[int]]] = []
    for piece in pieces:
        markers = [int(n) for n in MARKER_RE.findall(piece)]
        claim = strip_markers(piece)
        if any(ch.isalnum() for ch in claim):
            out.append((claim, markers))
        elif markers and out:  # a stray "[2]" on its own: attach to the sentence before
            out[-1][1].extend(markers)
    return out


def sentence_support(answer: Answer, embed: Embed | None = None) -> tuple[int, int]:
    """``(supported, total)`` answer sentences, ALCE-style but without an NLI model.

    A sentence is supported when one of the citations it carries has a quote holding
    at least half of the sentence's content stems, or (if ``embed`` is given) an
    embedding cosine of at least 0.7. Verbatim extractive answers pass trivially; the
    metric exists for generated answers, where a marker can sit on a claim its quote
    does not make. Abstentions make no claims and count ``(0, 0)``.
    """
    if answer.abstained:
        return 0, 0
    by_n = {c.n: c for c in answer.citations}
    sentences = split_answer_sentences(answer.answer)
    supported = 0
    pending: list[tuple[str, list[str]]] = []  # lexically unsupported: try embeddings
    for claim, markers in sentences:
        quotes = [by_n[n].quote for n in dict.fromkeys(markers) if n in by_n]
        if not quotes:
            continue
        claim_stems = set(content_stems(claim))
        if claim_stems and any(
            len(claim_stems & set(content_stems(q))) / len(claim_stems) >= SUPPORT_OVERLAP for q in quotes
        ):
            supported += 1
        else:
            pending.append((claim, quotes))
    if pending and embed is not None:
        texts = [t for claim, quotes in pending for t in (claim, *quotes)]
        vectors = np.asarray(embed(texts), dtype=np.float32)
        i = 0
        for _, quotes in pending:
            claim_vec, quote_vecs = vectors[i], vectors[i + 1 : i + 1 + len(quotes)]
            i += 1 + len(quotes)
            if float(np.max(quote_vecs @ claim_vec)) >= SUPPORT_COSINE:
                supported += 1
    return supported, len(sentences)


# =========================================================================== per question


@dataclass
class QuestionResult:
    """One gold item, the answer it got, and every per-question score."""

    item: GoldItem
    answer: Answer
    spans: list[GoldSpan]
    answer_correct: bool
    citation_ok: list[bool]
    citation_intact: list[bool]
    retrieval_rank: int | None
    supported_sentences: int
    sentences: int
    first_support: str | None = None
    error: str | None = None

    @property
    def answerable(self) -> bool:
        return self.item.answerable

    @property
    def correct(self) -> bool:
        """Handled right: the answer is correct, or an unanswerable question was declined."""
        return self.answer_correct if self.answerable else self.answer.abstained

    @property
    def failures(self) -> list[str]:
        """Why this question shows up in the report's failure list (empty = passed)."""
        out: list[str] = []
        abst = self.answer.abstained
        if self.error:
            out.append("error")
        if self.answerable:
            if abst:
                out.append("false abstention")
            else:
                if not self.answer_correct:
                    out.append("wrong answer")
                if not any(self.citation_ok):
                    out.append("missing citation")
        elif not abst:
            out.append("missed abstention")
        if self.answerable and any(not ok for ok in self.citation_ok):
            out.append("wrong citation")
        if not all(self.citation_intact):
            out.append("broken citation")
        return out

    def to_dict(self) -> dict[str, Any]:
        a = self.answer
        return {
            "id": self.item.id,
            "question": self.item.question,
            "read_as": a.read_as,  # the question as searched, if a typing mistake was read (qa/spelling.py)
            "type": self.item.type,
            "history": self.item.history,
            "answers": self.item.answers,
            "answerable": self.answerable,
            "answer": a.answer,
            "abstained": a.abstained,
            "answerability": None if a.answerability is None else round(float(a.answerability), 4),
            "fallback": a.fallback,
            "check": None if a.check is None else round(float(a.check), 4),
            "note": a.note,
            "correct": self.correct,
            "answer_correct": self.answer_correct,
            "citations": [
                {
                    "n": c.n,
                    "source": c.source,
                    "doc_id": c.doc_id,
                    "start": c.start,
                    "end": c.end,
                    "quote": c.quote,
                    "correct": ok,
                    "intact": intact,
                }
                for c, ok, intact in zip(a.citations, self.citation_ok, self.citation_intact)
            ],
            "retrieval_rank": self.retrieval_rank,
            "sentence_support": [self.supported_sentences, self.sentences],
            "latency_ms": round(float(a.latency_ms), 2),
            "first_support": self.first_support,
            "plausible_answers": self.item.plausible_answers,
            "failures": self.failures,
            "error": self.error,
        }


def score_answer(
    item: GoldItem,
    answer: Answer,
    documents: Sequence[DocumentRecord],
    *,
    embed: Embed | None = None,
    warnings: list[str] | None = None,
    error: str | None = None,
) -> QuestionResult:
    """All per-question scores of one answer against one gold item."""
    docs_by_id = {d.doc_id: d for d in documents}
    spans = resolve_support(item, documents, warnings)
    first = None
    if spans:
        g = spans[0]
        first = docs_by_id[g.doc_id].text[g.start : g.end]
    elif item.support:
        first = item.support[0] if isinstance(item.support[0], str) else json.dumps(item.support[0])
    supported, total = sentence_support(answer, embed)
    return QuestionResult(
        item=item,
        answer=answer,
        spans=spans,
        answer_correct=answer_correct(answer, item.answers),
        # Citations on an unanswerable question have no gold span, so they count wrong.
        citation_ok=[citation_correct(c, spans) for c in answer.citations],
        citation_intact=[citation_intact(c, docs_by_id) for c in answer.citations],
        retrieval_rank=retrieval_rank(answer.passages, spans) if item.answerable else None,
        supported_sentences=supported,
        sentences=total,
        first_support=first,
        error=error,
    )


# =========================================================================== aggregate


def _rate(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def aggregate(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """The overall metrics (keys :data:`OVERALL_KEYS`) over a set of question results."""
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    n_cit = sum(len(r.citation_ok) for r in results)
    ranks = [r.retrieval_rank for r in ans]
    lat = [float(r.answer.latency_ms) for r in results if r.error is None]
    return {
        "answer_accuracy": _rate(sum(r.answer_correct for r in ans), len(ans)),
        "citation_precision": _rate(sum(sum(r.citation_ok) for r in results), n_cit),
        "citation_recall": _rate(sum(any(r.citation_ok) for r in ans), len(ans)),
        "citation_integrity": _rate(sum(sum(r.citation_intact) for r in results), n_cit),
        "sentence_support": _rate(sum(r.supported_sentences for r in results), sum(r.sentences for r in results)),
        "abstention": _rate(sum(r.answer.abstained for r in una), len(una)),
        "false_abstention": _rate(sum(r.answer.abstained for r in ans), len(ans)),
        "retrieval_recall_at_1": _rate(sum(k == 1 for k in ranks), len(ans)),
        "retrieval_recall_at_5": _rate(sum(k is not None and k <= 5 for k in ranks), len(ans)),
        "retrieval_mrr": _rate(sum(1.0 / k for k in ranks if k), len(ans)),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
        "n": len(results),
        "answerable": len(ans),
        "unanswerable": len(una),
        "errors": sum(r.error is not None for r in results),
    }


def aggregate_by_type(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    """The same metrics per gold ``type`` (items without one are ``untyped``)."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        groups.setdefault(r.item.type or "untyped", []).append(r)
    return {t: aggregate(rs) for t, rs in groups.items()}


def abstention_sweep(results: Sequence[QuestionResult], thresholds: Sequence[float] = SWEEP_THRESHOLDS) -> dict[str, Any]:
    """What each abstention threshold would give, from one run at threshold 0.

    Re-asking per threshold would cost 21 runs and let retrieval noise creep in; the
    answer text does not depend on the threshold, only whether it is shown, so an
    answer counts as given at ``t`` when it was not abstained and its answerability
    is at least ``t``. An answer without an answerability counts as 0.
    """

    def p(r: QuestionResult) -> float:
        return float(r.answer.answerability) if r.answer.answerability is not None else 0.0

    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    rows = []
    for t in thresholds:
        given = [r for r in results if not r.answer.abstained and p(r) >= t]
        given_ids = {id(r) for r in given}
        correct = sum(r.answer_correct for r in ans if id(r) in given_ids)
        declined_una = sum(id(r) not in given_ids for r in una)
        rows.append(
            {
                "threshold": round(float(t), 2),
                "accuracy": _rate(correct, len(ans)),
                "coverage": _rate(len(given), len(results)),
                "abstention": _rate(declined_una, len(una)),
                "false_abstention": _rate(sum(id(r) not in given_ids for r in ans), len(ans)),
                # SQuAD 2.0-style: right answer or rightly declined, over all questions.
                "overall": _rate(correct + declined_una, len(results)),
            }
        )
    auroc = None
    if ans and una:
        from sklearn.metrics import roc_auc_score

        labels = [1] * len(ans) + [0] * len(una)
        scores = [p(r) for r in ans] + [p(r) for r in una]
        auroc = round(float(roc_auc_score(labels, scores)), 4)
    return {"answerability_auroc": auroc, "rows": rows}


# =========================================================================== drivers


@dataclass
class EvalResult:
    overall: dict[str, Any]
    by_type: dict[str, dict[str, Any]]
    questions: list[QuestionResult]
    config: dict[str, Any] = field(default_factory=dict)
    sweep: dict[str, Any] | None = None
    #: Gold evidence that could not be located (wrong index, edited document, typo).
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "overall": self.overall,
            "by_type": self.by_type,
            "questions": [q.to_dict() for q in self.questions],
            "config": self.config,
            "warnings": self.warnings,
        }
        if self.sweep is not None:
            out["sweep"] = self.sweep
        return out


def _settings_dump(assistant: Assistant) -> dict[str, Any]:
    return json.loads(assistant.settings.model_dump_json())


def evaluate(
    assistant: Assistant,
    gold: Sequence[GoldItem],
    *,
    progress: Progress | None = None,
    own_history: bool = False,
    session: str | None = None,
) -> EvalResult:
    """Ask every gold question (with its history) and score the answers.

    ``own_history``: a follow-up's last history answer is the assistant's own answer to that
    question, as in the chat, instead of the gold file's written one (which is always right
    and usually a few words). A wrong or abstained previous answer then costs the follow-up
    too, as it does a user.

    ``session``: the questions are asked as one chat. A question without a history of its
    own is asked after the question asked before it and the assistant's answer to it:
    ``"ordered"`` in the file's order (a reader asking about one article after another),
    ``"shuffled"`` in a fixed random order (every turn about another document, most
    likely). The chat passes its history with every question, and a short question with
    nothing of its own to search for borrows the turn before's words; the gold questions,
    asked alone, never show what that does.

    A question that raises is recorded as an error and scored as a wrong, empty,
    non-abstained answer instead of aborting a run of hundreds of questions; the
    ``errors`` count makes it visible. An unreachable model server is the exception: it
    would fail every question (each after a timeout, if the host does not answer) and
    measure nothing, so it stops the run with its own error.
    """
    from qa.answerers.backends import BackendUnavailableError
    from qa.chain import normalize_history

    documents = assistant.documents()
    threads = assistant.settings.query_threads

    def embed(texts: list[str]) -> np.ndarray:
        return assistant.embedder.encode(texts, threads=threads)

    if session not in (None, "ordered", "shuffled"):
        raise ValueError(f"session must be 'ordered' or 'shuffled', not {session!r}")
    order = list(range(len(gold)))
    if session == "shuffled":
        random.Random(0).shuffle(order)
    warnings: list[str] = []
    scored: dict[int, QuestionResult] = {}
    last_turn: list[str] | None = None
    for step, i in enumerate(order):
        item = gold[i]
        t0 = time.perf_counter()
        error = None
        try:
            history = item.history or []
            if own_history and history:
                history = [list(turn) for turn in normalize_history(history)]
                earlier = history[:-1]
                history[-1][1] = assistant.ask(history[-1][0], history=earlier or None).answer
            elif session and not history and last_turn is not None:
                history = [last_turn]
            answer = assistant.ask(item.question, history=history or None, id=item.id)
        except BackendUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded and counted, see docstring
            error = f"{type(exc).__name__}: {exc}"
            answer = Answer(item.id, item.question, "", False, latency_ms=round((time.perf_counter() - t0) * 1000, 2))
        if not answer.latency_ms:
            answer.latency_ms = round((time.perf_counter() - t0) * 1000, 2)
        scored[i] = score_answer(item, answer, documents, embed=embed, warnings=warnings, error=error)
        last_turn = [item.question, answer.answer]
        if progress is not None:
            progress(step + 1, len(gold), item.id)
    results = [scored[i] for i in range(len(gold))]  # the file's order, however asked
    backends = sorted({r.answer.backend for r in results if r.error is None}) or [assistant.settings.llm]
    config = {
        "index": str(assistant.store.root),
        "backend": ", ".join(backends),
        "documents": len(documents),
        "model": assistant.embedder.name,
        "settings": _settings_dump(assistant),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return EvalResult(aggregate(results), aggregate_by_type(results), results, config, None, list(dict.fromkeys(warnings)))


def run_eval(
    gold_path: str | Path | None = None,
    *,
    squad: str | Path | None = None,
    index: str | Path | None = None,
    report_dir: str | Path | None = None,
    settings_overrides: dict[str, Any] | None = None,
    sweep_abstention: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    own_history: bool = False,
    session: str | None = None,
) -> EvalResult:
    """The function behind ``qa eval``.

    With ``squad`` the SQuAD file's articles are indexed into a temporary folder that
    is removed afterwards (``index`` and ``gold_path`` must not be given then);
    otherwise ``gold_path`` is scored against the existing index ``index`` (default:
    the configured one; it is never created or modified). ``sweep_abstention`` asks
    once with ``abstain_threshold=0`` so every answer and its answerability is seen,
    then derives all thresholds (see :func:`abstention_sweep`); the headline metrics
    of such a run are therefore those of threshold 0. ``limit`` keeps the first N
    gold items (for smoke runs). ``own_history``, ``session``: see :func:`evaluate`.
    """
    from qa.assistant import Assistant
    from qa.settings import load_settings

    if squad is not None and (gold_path is not None or index is not None):
        raise ValueError("--squad builds its own temporary index and gold set; do not pass a gold file or --index with it")
    if squad is None and gold_path is None:
        raise ValueError("give a gold JSONL file or --squad FILE")
    overrides = dict(settings_overrides or {})
    configured_threshold = load_settings(**overrides).abstain_threshold
    if sweep_abstention:
        overrides["abstain_threshold"] = 0.0

    tmp: Path | None = None
    try:
        if squad is not None:
            tmp = Path(tempfile.mkdtemp(prefix="qa-eval-squad-"))
            gold, docs_dir = squad_to_gold(squad, tmp / "docs")
            assistant = Assistant.open(tmp / "index", create=True, **overrides)
            assistant.add([docs_dir])
        else:
            gold = load_gold(gold_path)  # type: ignore[arg-type]
            assistant = Assistant.open(index, create=False, **overrides)
        if not assistant.documents():
            raise ValueError(f"the index {assistant.store.root} has no documents")
        if limit is not None:
            gold = gold[: max(0, int(limit))]
        result = evaluate(assistant, gold, progress=progress, own_history=own_history, session=session)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    result.config.update(
        {
            "gold": str(Path(gold_path).resolve()) if gold_path is not None else None,
            "squad": str(Path(squad).resolve()) if squad is not None else None,
            "limit": limit,
            "sweep_abstention": sweep_abstention,
            "history": "own" if own_history else "gold",
            "session": session,
        }
    )
    if squad is not None:
        result.config["index"] = "(temporary, removed)"
    if sweep_abstention:
        result.sweep = abstention_sweep(result.questions)
        result.sweep["configured_threshold"] = configured_threshold
    if report_dir is not None:
        write_reports(result, report_dir)
    return result


# =========================================================================== reports


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key.endswith("_ms"):
        return f"{value:.0f} ms"
    if key in ("n", "answerable", "unanswerable", "errors") or isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if key == "retrieval_mrr" or key == "answerability_auroc":
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _markdown(result: EvalResult, sweep: dict[str, Any] | None) -> str:
    cfg = result.config
    lines = ["# Evaluation report", ""]
    what = cfg.get("squad") or cfg.get("gold") or "(gold items)"
    lines += [
        f"- gold: `{what}`",
        f"- index: `{cfg.get('index')}` ({cfg.get('documents')} documents)",
        f"- backend: {cfg.get('backend')}; model: {cfg.get('model')}",
        f"- abstain threshold: {cfg.get('settings', {}).get('abstain_threshold')}"
        + (f" (sweep run: asked once at 0; configured {sweep.get('configured_threshold')})" if sweep else ""),
        f"- run: {cfg.get('timestamp')}",
        "",
        "## Overall",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for k in OVERALL_KEYS:
        note = " (lower is better)" if k in LOWER_IS_BETTER else ""
        lines.append(f"| {k}{note} | {_fmt(k, result.overall.get(k))} |")
    cols = ["n", "answer_accuracy", "citation_precision", "citation_recall", "abstention", "false_abstention", "retrieval_recall_at_5"]
    lines += ["", "## By type", "", "| type | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t, m in result.by_type.items():
        lines.append(f"| {_md_cell(t)} | " + " | ".join(_fmt(c, m.get(c)) for c in cols) + " |")
    if sweep:
        lines += [
            "",
            "## Abstention sweep",
            "",
            f"Answerability AUROC (answerable vs unanswerable): {_fmt('answerability_auroc', sweep.get('answerability_auroc'))}; "
            f"configured threshold: {sweep.get('configured_threshold')}. Accuracy is over all answerable questions; "
            "coverage is the share of all questions answered; overall = correct answers plus correct abstentions over all questions.",
            "",
            "| threshold | accuracy | coverage | abstention | false_abstention | overall |",
            "|---|---|---|---|---|---|",
        ]
        for row in sweep["rows"]:
            lines.append(
                f"| {row['threshold']:.2f} | "
                + " | ".join(_fmt(k, row[k]) for k in ("accuracy", "coverage", "abstention", "false_abstention", "overall"))
                + " |"
            )
    if result.warnings:
        lines += ["", "## Gold warnings", ""] + [f"- {_md_cell(w)}" for w in result.warnings]
    failed = [q for q in result.questions if q.failures]
    lines += ["", f"## Failed questions ({len(failed)} of {len(result.questions)})", ""]
    for q in failed:
        a = q.answer
        lines += [f"### {_md_cell(q.item.id)} — {', '.join(q.failures)}", ""]
        lines.append(f"- **question** ({q.item.type or 'untyped'}): {_short(q.item.question)}")
        if a.read_as:
            lines.append(f"- **read as**: {_short(a.read_as)}")
        if q.item.history:
            lines.append(f"- **history**: {_short(json.dumps(q.item.history, ensure_ascii=False))}")
        ab = "" if a.answerability is None else f" (answerability {a.answerability:.3f})"
        lines.append(f"- **answer**{' [abstained]' if a.abstained else ''}{ab}: {_short(a.answer, 500)}")
        for c, ok in zip(a.citations, q.citation_ok):
            lines.append(f"  - [{c.n}] {'✓' if ok else '✗'} `{_file_name(c.source)}` {c.start}–{c.end}: {_short(c.quote, 200)}")
        gold = ", ".join(f"“{g}”" for g in q.item.answers) or "(unanswerable)"
        if not q.item.answers and q.item.plausible_answers:
            gold += " — plausible: " + ", ".join(f"“{g}”" for g in q.item.plausible_answers)
        lines.append(f"- **gold**: {gold}")
        if q.first_support:
            lines.append(f"- **support**: {_short(q.first_support, 300)}")
        if q.retrieval_rank is not None or q.answerable:
            lines.append(f"- **retrieval rank of gold**: {q.retrieval_rank if q.retrieval_rank is not None else 'not retrieved'}")
        if q.error:
            lines.append(f"- **error**: {_md_cell(q.error)}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _plot_metrics(overall: dict[str, Any], path: Path, title: str) -> None:
    # Figure without pyplot: no global backend switch, safe inside the UI/CLI process.
    from matplotlib.figure import Figure

    keys = list(QUALITY_KEYS)
    values = [overall.get(k) for k in keys]
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.subplots()
    colors = ["#c0504d" if k in LOWER_IS_BETTER else "#4f81bd" for k in keys]
    bars = ax.bar(range(len(keys)), [v or 0.0 for v in values], color=colors)
    for bar, v in zip(bars, values):
        label = "n/a" if v is None else f"{v:.2f}"
        ax.text(bar.get_x() + bar.get_width() / 2, (v or 0.0) + 0.01, label, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(keys)), [k.replace("_", "\n", 1) for k in keys], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("rate (red: lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)


def _plot_sweep(sweep: dict[str, Any], path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    rows = sweep["rows"]
    t = [r["threshold"] for r in rows]
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    for key, style in (("accuracy", "-o"), ("abstention", "-s"), ("false_abstention", "--"), ("coverage", ":"), ("overall", "-.")):
        ax.plot(t, [r[key] if r[key] is not None else np.nan for r in rows], style, label=key, markersize=3)
    thr = sweep.get("configured_threshold")
    if thr is not None:
        ax.axvline(thr, color="grey", lw=0.8, ls="--", label=f"configured ({thr})")
    ax.set_xlabel("abstain threshold (answerability)")
    ax.set_ylabel("rate")
    ax.set_ylim(0, 1.02)
    auroc = sweep.get("answerability_auroc")
    ax.set_title(f"{title} — answerability AUROC {auroc if auroc is not None else 'n/a'}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def write_reports(result: EvalResult, report_dir: str | Path, *, sweep: dict[str, Any] | None = None) -> None:
    """report.json (machine-readable), report.md (for people), metrics.png, and sweep.png with a sweep."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    sweep = sweep if sweep is not None else result.sweep
    data = result.to_dict()
    if sweep is not None:
        data["sweep"] = sweep
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(result, sweep), encoding="utf-8")
    name = Path(str(result.config.get("squad") or result.config.get("gold") or "eval")).name
    title = f"{name}: n={result.overall.get('n')}, backend {result.config.get('backend', '?')}"
    _plot_metrics(result.overall, out / "metrics.png", title)
    if sweep is not None:
        _plot_sweep(sweep, out / "sweep.png", name)


def format_summary(result: EvalResult) -> str:
    """A plain-text table of the overall metrics (and the sweep's AUROC) for the terminal."""
    width = max(len(k) for k in OVERALL_KEYS) + 2
    lines = [f"{'metric':<{width}}value", f"{'-' * (width - 2):<{width}}-----"]
    for k in OVERALL_KEYS:
        suffix = "  (lower is better)" if k in LOWER_IS_BETTER else ""
        lines.append(f"{k:<{width}}{_fmt(k, result.overall.get(k))}{suffix}")
    if result.sweep is not None:
        lines.append(f"{'answerability_auroc':<{width}}{_fmt('answerability_auroc', result.sweep.get('answerability_auroc'))}")
    if result.warnings:
        lines.append(f"{len(result.warnings)} gold warning(s); see report.md")
    failed = [q for q in result.questions if q.error]
    if failed:
        lines.append(f"{len(failed)} of {len(result.questions)} question(s) failed (scored as wrong); first: {failed[0].item.id}: {failed[0].error}")
    return "\n".join(lines)
