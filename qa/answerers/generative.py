"""LLM answerer: prompt -> LangChain chat model -> verified citations, streamed sentence by sentence.

The model writes a fluent answer with ``[n]`` markers; :mod:`qa.citations` then decides
which markers the passages actually back. Tokens are shown as they arrive, without the
model's markers; when a sentence ends it is verified and its (repaired) markers follow it,
so the streamed text is exactly the final answer text unless the answer falls back.

The extractive answerer runs first (a few ms): it ranks the sentences that go into the
prompt, and it is the fallback when the generated answer is unsupported as a whole, when
the model refuses although the extractive evidence is strong, or when the model answers
although the extractive answerability model is confident there is no answer.

Last, the model is asked whether the shown answer's quotes answer the question
(:mod:`qa.answer_check`): verification proves a sentence is stated in a passage, not that
it answers. A withdrawn answer is replaced by the extractive one if that passes the same
check, else by an abstention.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel

from qa.answer import Answer, Citation, Sentence, Status
from qa.answer_check import answer_support
from qa.answerers.backends import display_name, reaching
from qa.answerers.extractive import ExtractiveAnswerer
from qa.answerers.features import addresses, question_type, type_match
from qa.citations import CitationBook, SentenceStream, Span, VerifiedSentence, Verifier, is_instruction, is_refusal, render
from qa.embeddings import Embedder
from qa.lexical import STOPWORDS, content_stems, words
from qa.prompts import PromptPassage, answer_messages, condense_messages, select_passages
from qa.retrieval import Retrieval
from qa.settings import ABSTAIN_MESSAGE, Settings

# Extractive answerability above which a refusal is overruled. On the train/ questions
# (348, extractive answerer) 39 of 283 answerable questions reach 0.9 (34 of them answered
# right) and 9 of 65 unanswerable ones do (up to 0.94): above it, an answer is usually right.
STRONG_EVIDENCE = 0.9
NO_EVIDENCE = 0.1  # extractive answerability below which an answer is overruled


class GenerativeAnswerer:
    """Answers with a chat model; every shown citation is verified against the passages."""

    def __init__(
        self,
        settings: Settings,
        chat_model: BaseChatModel,
        *,
        spec: str | None = None,
        embedder: Embedder | None = None,
        extractive: ExtractiveAnswerer | None = None,
    ) -> None:
        self.settings = settings
        self.model = chat_model
        self.embedder = embedder
        self.extractive = extractive or ExtractiveAnswerer(settings, embedder=embedder)
        self.name = display_name(spec or settings.llm)
        self.last_usage: dict[str, Any] = {}  # token counts of the last answer (for the benchmark)
        self.last_raw = ""  # the model's own text of the last answer, markers included (for debugging)

    # ------------------------------------------------------------------ prompt
    def prompt(self, question: str, retrieval: Retrieval, context: str = "", previous: str = "") -> tuple[list, list[PromptPassage]]:
        """The chat messages and the passages they show (numbered as the model sees them)."""
        analysis = self.extractive.analyze(question, retrieval, context, previous)
        ranked = [(c.sentence, c.passage_rank) for c in analysis.candidates]
        if retrieval.overview:  # a summary reads the opening in order, not what matches "article"
            snap, candidates = retrieval.snapshot, {c.sentence for c in analysis.candidates}
            ranked = [
                (sid, rank) for rank, h in enumerate(retrieval.hits)
                for sid in range(int(snap.chunks[h.chunk, 2]), int(snap.chunks[h.chunk, 3]) + 1)
                if sid in candidates
            ]
        passages = select_passages(retrieval.snapshot, retrieval.hits, ranked, self.settings.llm_prompt_tokens)
        return answer_messages(retrieval.snapshot, passages, question), passages

    def condense(self, question: str, history: list[tuple[str, str]]) -> str | None:
        """A standalone version of a follow-up, or ``None`` when the model's reply is unusable."""
        with reaching(self.name, self.model):
            reply = self.model.invoke(condense_messages(history, question))
        text = str(reply.content).strip().splitlines()[0].strip() if str(reply.content).strip() else ""
        text = re.sub(r"^(standalone question|question)\s*:\s*", "", text, flags=re.I).strip().strip("\"'“”")
        if not text or len(text) > 2 * len(question) + 200 or is_refusal(text) or not content_stems(text):
            return None
        return text

    # ------------------------------------------------------------------ answering
    def answer(self, question: str, retrieval: Retrieval, *, context: str = "", previous: str = "") -> Answer:
        final: Answer | None = None
        for piece in self.stream(question, retrieval, context=context, previous=previous):
            if isinstance(piece, Answer):
                final = piece
        assert final is not None
        return final

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            raise RuntimeError("citation verification needs the embedding model")
        return self.embedder.encode(texts, threads=self.settings.query_threads)

    def stream(self, question: str, retrieval: Retrieval, *, context: str = "", previous: str = "") -> Iterator[str | Status | Answer]:
        """Text pieces as the model writes them (markers once verified), a :class:`Status` while
        the answer check runs, then the :class:`Answer`."""
        with reaching(self.name, self.model):
            yield from self._stream(question, retrieval, context, previous)

    def _stream(self, question: str, retrieval: Retrieval, context: str, previous: str = "") -> Iterator[str | Status | Answer]:
        ext = self.extractive.answer(question, retrieval, context=context, previous=previous)
        if not retrieval.hits:
            ext.backend = self.name
            yield ext
            return
        snap = retrieval.snapshot
        messages, passages = self.prompt(question, retrieval, context, previous)
        chunks = [h.chunk for h in retrieval.hits]
        verifier = Verifier(snap, chunks, {p.n: p.rank for p in passages}, self._encode, question)
        book = CitationBook(snap, chunks)
        held_words = _instruction_words(verifier, question)
        splitter = SentenceStream()
        sentences: list[Sentence] = []
        verified: list[VerifiedSentence] = []
        raw_parts: list[str] = []
        cur: dict[str, Any] = {"text": "", "pending": "", "sticky": False}  # the sentence being written
        self.last_usage = {}

        def on_event(kind: str, value: str) -> Iterator[str]:
            if kind == "text":
                if not cur["text"] and sentences:
                    value = " " + value
                cur["text"] += value
                cur["pending"] += value
                if held_words and not cur["sticky"]:
                    done_words = words(cur["text"] if not cur["text"][-1:].isalnum() else cur["text"].rsplit(" ", 1)[0])
                    cur["sticky"] = bool(held_words & set(done_words))
                hold = cur["sticky"] or _may_become(cur["text"], held_words)
                if not hold and cur["pending"]:
                    yield cur["pending"]
                    cur["pending"] = ""
                return
            items = verifier.verify([value]) if self.settings.llm_verify else _unverified(verifier, value)
            pending, sticky = cur["pending"], cur["sticky"]
            cur.update(text="", pending="", sticky=False)
            if not items or (sticky and not items[0].supported):
                return  # nothing to say, or it echoes an instruction from a passage that nothing else backs
            item = items[0]
            numbers = book.markers(item)
            sentences.append(Sentence(item.text, numbers, item.support))
            verified.append(item)
            if pending or numbers:
                yield pending + render("", numbers)

        for chunk in self.model.stream(messages):
            token = chunk.content if isinstance(chunk.content, str) else ""
            if getattr(chunk, "usage_metadata", None):
                self.last_usage = dict(chunk.usage_metadata)
            if not token:
                continue
            raw_parts.append(token)
            for kind, value in splitter.feed(token):
                yield from on_event(kind, value)
        for kind, value in splitter.finish():
            yield from on_event(kind, value)

        text = " ".join(render(s.text, s.citations) for s in sentences)
        self.last_raw = "".join(raw_parts)
        final = self._final(question, "".join(raw_parts), text, sentences, verified, book.citations, ext)
        if self._checks(final):
            yield Status(CHECKING)
        yield self._checked(question, final, ext)

    def _checks(self, answer: Answer) -> bool:
        s = self.settings
        return bool(s.llm_check and s.llm_verify and not answer.abstained and answer.citations)

    def _checked(self, question: str, answer: Answer, ext: Answer) -> Answer:
        """The answer if the model judges that its quotes answer the question; else the
        extractive answer if that one passes the same check; else an abstention."""
        s = self.settings
        if not self._checks(answer):
            return answer
        answer.check = answer_support(self.model, question, answer.answer, [c.quote for c in answer.citations])
        if answer.check is None or answer.check >= s.llm_check_threshold:
            return answer
        if not answer.fallback and not ext.abstained and ext.citations and ext.answer != answer.answer:
            second = answer_support(self.model, question, ext.answer, [c.quote for c in ext.citations])
            if second is not None and second >= s.llm_check_threshold:
                fallback = _fallback(ext, f"the generated answer failed the answer check ({answer.check:.2f}); the extractive answer passed it")
                fallback.check = second
                return fallback
        return Answer(
            None, question, ABSTAIN_MESSAGE, True, [], answer.passages, self.name, answerability=answer.answerability, check=answer.check,
            note=f"the generated answer was withdrawn: the model judged that its quotes do not answer the question ({answer.check:.2f})",
        )

    def _final(
        self,
        question: str,
        raw: str,
        text: str,
        sentences: list[Sentence],
        verified: list[VerifiedSentence],
        citations: list[Citation],
        ext: Answer,
    ) -> Answer:
        prob = ext.answerability if ext.answerability is not None else 0.0
        strong = not ext.abstained and prob >= STRONG_EVIDENCE
        if is_refusal(raw) and not any(v.supported for v in verified):  # "not in the documents", and nothing else
            if strong:
                return _fallback(ext)
            return Answer(None, question, ABSTAIN_MESSAGE, True, [], ext.passages, self.name, answerability=ext.answerability)
        if self.settings.llm_verify:
            if not any(v.supported for v in verified):
                return _fallback(ext)
            if ext.abstained and prob < NO_EVIDENCE:
                return _fallback(ext)
            if not any(v.supported and addresses(question, v.text) for v in verified):
                return _fallback(ext, NOT_AN_ANSWER)
        if not text:
            return _fallback(ext)
        if self.settings.llm_verify:
            sentences, citations = focus(question, sentences, citations)
            text = " ".join(render(s.text, s.citations) for s in sentences)
        return Answer(
            None, question, text, False, citations, ext.passages, self.name, answerability=ext.answerability, sentences=sentences
        )


def focus(question: str, sentences: list[Sentence], citations: list[Citation]) -> tuple[list[Sentence], list[Citation]]:
    """Drop cited background sentences when others answer: a small model pads its answer
    with true sentences about something else ("The plan will be paid for with ..." before
    "City finance director Owen Parrish ..."), and each such citation points at text that
    does not answer the question. A sentence stays if it shares a content word with the
    question or holds what the question type asks for (a name for "who", a date for "when").
    Citations are renumbered in order of first use.
    """
    qstems = set(content_stems(question))
    qtype = question_type(question)

    relevant = [bool(qstems & set(content_stems(s.text))) or type_match(qtype, s.text, question) > 0 for s in sentences]
    cited = [r for s, r in zip(sentences, relevant) if s.citations]
    if all(cited) or not any(cited):  # nothing to drop, or nothing would be left to answer
        return sentences, citations
    kept = [s for s, r in zip(sentences, relevant) if not s.citations or r]
    by_n = {c.n: c for c in citations}
    renumber: dict[int, int] = {}
    for s in kept:
        for n in s.citations:
            renumber.setdefault(n, len(renumber) + 1)
    new_citations = [replace(by_n[n], n=m) for n, m in renumber.items()]
    return [replace(s, citations=[renumber[n] for n in s.citations]) for s in kept], new_citations


def _may_become(text: str, held: set[str]) -> bool:
    """The word being typed could still turn into a held word ("HACK" before "ED")."""
    m = re.search(r"(\w+)$", text)
    if not held or not m:
        return False
    partial = words(m.group(1))
    return bool(partial) and any(w.startswith(partial[-1]) for w in held)


CHECKING = "checking whether the quoted passages answer the question…"
NOT_SUPPORTED = "the generated answer was not supported by the documents; the extractive answer is shown"
NOT_AN_ANSWER = "no supported sentence of the generated answer says what the question asks; the extractive answer is shown"


def _fallback(ext: Answer, note: str = NOT_SUPPORTED) -> Answer:
    ext.fallback = True
    ext.note = note
    ext.sentences = extractive_sentences(ext)
    return ext


def extractive_sentences(answer: Answer) -> list[Sentence]:
    """Sentences of an extractive answer: verbatim quotes, so fully supported."""
    if answer.abstained or answer.sentences:
        return answer.sentences
    from qa.citations import iter_sentence_texts, marker_numbers, strip_all_markers

    out = []
    for raw in iter_sentence_texts(answer.answer):
        text = strip_all_markers(raw)
        if text:
            nums = marker_numbers(raw)
            out.append(Sentence(text, nums, 1.0 if nums else 0.0))
    return out


def _instruction_words(verifier: Verifier, question: str) -> set[str]:
    """Words found only in instruction sentences of the passages ("HACKED"): a sentence using
    one is held back until verification has shown that something other than the instruction backs it."""
    instr: set[str] = set()
    other: set[str] = set(words(question))
    for chunk in verifier.chunks:
        first, last = int(verifier.snap.chunks[chunk, 2]), int(verifier.snap.chunks[chunk, 3])
        for sid in range(first, last + 1):
            text = verifier._text(sid, sid)
            (instr if is_instruction(text) else other).update(words(text))
    return {w for w in instr - other if w not in STOPWORDS and len(w) > 2}


def _unverified(verifier: Verifier, raw: str) -> list[VerifiedSentence]:
    """Verification off (for measuring only): trust the model's numbers, cite whole passages."""
    from qa.citations import marker_numbers, strip_all_markers

    text = strip_all_markers(raw)
    if not any(ch.isalnum() for ch in text):
        return []
    nums = list(dict.fromkeys(marker_numbers(raw)))
    item = VerifiedSentence(text, [n for n in nums if n in verifier.passage_ranks], [n for n in nums if n not in verifier.passage_ranks])
    for n in item.cited:
        rank = verifier.passage_ranks[n]
        chunk = verifier.chunks[rank]
        item.spans.append(Span(rank, int(verifier.snap.chunks[chunk, 2]), int(verifier.snap.chunks[chunk, 3]), 0.0))
    return [item]
