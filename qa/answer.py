"""The answer object: one schema for the API, ``qa ask --json``, ``qa batch`` and the UI.

Front ends only render it. Citations are structured evidence (document, exact character
span, quote); the ``[n]`` markers in ``answer`` are just references to them, numbered by
first appearance.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

MARKER_RE = re.compile(r"\[(\d+)\]")


@dataclass
class Citation:
    n: int
    doc_id: str
    source: str
    title: str
    page: int | None
    published: str | None
    start: int
    end: int
    quote: str
    chunk_start: int
    chunk_end: int
    score: float
    # Where, inside [start, end), the quote holds a word of the kind the question asks for (the
    # date of a "when" question, the place of a "where", the amount of a "how much"), as
    # [start, end] pairs into the document; shown in bold inside the highlight, so that a long
    # sentence shows at a glance which words answer. Empty for other questions.
    focus: list[list[int]] = field(default_factory=list)

    def pieces(self) -> list[tuple[str, bool]]:
        """The quote cut at its focus: (text, is focus) in order, for showing the focus in bold."""
        out: list[tuple[str, bool]] = []
        at = 0
        for a, b in sorted((a - self.start, b - self.start) for a, b in self.focus if self.start <= a < b <= self.end):
            if a < at:
                continue
            out += [(self.quote[at:a], False), (self.quote[a:b], True)]
            at = b
        return [p for p in [*out, (self.quote[at:], False)] if p[0]]

    @classmethod
    def of(cls, doc: Any, n: int, start: int, end: int, chunk_start: int, chunk_end: int, score: float) -> Citation:
        """Citation ``n`` quoting ``doc.text[start:end]`` exactly (``doc``: a stored document)."""
        return cls(
            n=n, doc_id=doc.doc_id, source=doc.source, title=doc.title, page=doc.page_of(start), published=doc.published,
            start=start, end=end, quote=doc.text[start:end], chunk_start=chunk_start, chunk_end=chunk_end, score=score,
        )


@dataclass
class Passage:
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    score: float
    text: str = ""
    page: int | None = None


@dataclass
class Sentence:
    """One answer sentence, its (verified) citation numbers and how well the documents support it (0..1)."""

    text: str
    citations: list[int] = field(default_factory=list)
    support: float = 0.0


@dataclass
class Answer:
    id: str | None
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    backend: str = "extractive"
    latency_ms: float = 0.0
    answerability: float | None = None
    # Generated answers: per-sentence verification, and whether the extractive answer replaced
    # an answer the documents did not support (see qa/citations.py).
    sentences: list[Sentence] = field(default_factory=list)
    fallback: bool = False
    # The model's own judgment that the cited quotes answer the question (qa/answer_check.py), 0..1,
    # and, when the shown answer is not the model's draft, why (for the UI and CLI).
    check: float | None = None
    note: str = ""
    # The question as it was searched when a typing mistake in it was read as the documents'
    # word ("miliatry" -> "military", qa/spelling.py); empty when it was searched as asked.
    read_as: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Answer":
        data = dict(data)
        data["citations"] = [Citation(**c) for c in data.get("citations", [])]
        data["passages"] = [Passage(**p) for p in data.get("passages", [])]
        data["sentences"] = [Sentence(**s) if isinstance(s, dict) else s for s in data.get("sentences", [])]
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Status:
    """What the answerer is doing between the streamed text and the final answer (the answer
    check takes a second on a CPU): shown to the user, never part of the answer text."""

    message: str


def strip_markers(text: str) -> str:
    """Answer text without ``[n]`` markers, for scoring and for plain-text display."""
    return re.sub(r"\s+", " ", MARKER_RE.sub("", text)).strip()
