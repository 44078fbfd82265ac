"""The LCEL chain every front end runs: condense -> retrieve -> answer.

Input is a dict ``{"question", "history", "documents", "id"}``; output is an
:class:`~qa.answer.Answer`. Because it is a LangChain runnable, ``invoke``, ``batch``
and ``stream`` come for free and behave the same for the CLI, the API and the UI.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from qa import spelling
from qa.answer import Answer, Status, strip_markers
from qa.answerers.extractive import ExtractiveAnswerer, sentence_df
from qa.answerers.features import identity_subject
from qa.embeddings import Embedder
from qa.lexical import STOPWORDS, content_stems, question_names
from qa.overview import document_fact, overview_documents
from qa.phrasing import asked_part, plain
from qa.retrieval import opening_passages, search
from qa.settings import ABSTAIN_MESSAGE, Settings
from qa.store import Snapshot
from qa.truecase import unshout

Turn = tuple[str, str]
_FOLLOW_UP = re.compile(
    r"\b(this|these|those|there|then|the same|the former|the latter|else|also|too|other)\b"
    # "that night", "about that?"; not the "that" of "the outlet that did the interview"
    r"|\bthat\b(?!\s+(?:is|are|was|were|did|does|do|has|have|had|will|would|can|could|should|may|might|must|"
    r"he|she|they|it|we|i|you|the|a|an|his|her|its|their|there)\b|(?-i:\s+[A-Z]))"
    r"|^\s*(and|but|so|what about|how about|and then)\b",
    re.I,
)
#: "his", "her", "it" and the like point back to the conversation unless the question
#: names someone or something before them ("What did Fennimore say about his
#: knees and his memory?", "When did Tamsin list its shares?" stand alone)
_PRONOUN = re.compile(r"\b(him|her|his|hers|them|their|theirs|it(?!\s+(?:\w+ly\s+)?(?:costs?|took|takes?|matters?)\b)|its)\b", re.I)
#: "he", "she", "they" point back to the conversation, except as the subject of a clause
#: that follows a name ("How much rent did Sandovic pay when she started out?", "Had Maduro
#: signalled that he wanted to leave?"); in "What does Olsavan claim he admitted?" "he" is
#: someone else
_SUBJECT = re.compile(r"\b(he|she|they)\b", re.I)
_CLAUSE_OPENER = re.compile(r"\b(?:when|that|why|how|if|because|after|before|while|as|where|whether|since|until|once)\s+$", re.I)


def normalize_history(history: Sequence[Any] | None) -> list[Turn]:
    """Accept ``[[user, assistant], ...]`` pairs or ``[{"role", "content"}, ...]`` messages."""
    if not history:
        return []
    turns: list[Turn] = []
    pending_user: str | None = None
    for item in history:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if not isinstance(content, str):
                continue
            if role == "user":
                if pending_user is not None:
                    turns.append((pending_user, ""))
                pending_user = content
            elif role == "assistant":
                turns.append((pending_user or "", content))
                pending_user = None
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            turns.append((str(item[0] or ""), str(item[1] or "")))
        else:
            raise ValueError(f"history items must be [user, assistant] pairs or role/content messages, got {item!r}")
    if pending_user is not None:
        turns.append((pending_user, ""))
    return turns


def is_follow_up(question: str) -> bool:
    """Does the question lean on the turn before? A lead-in ("And ...", "What about ..."), a
    word that points back ("that night", "there", "else"), a pronoun nothing in the question
    names first (not the "it" of "How much did it cost to build the vault?"; "he", "she",
    "they" unless they open a clause after a name), or too few words to stand alone ("Why?",
    "How many?"). Measured with ``qa eval --session`` (README, fifteenth session)."""
    if _FOLLOW_UP.search(question):
        return True
    if any(not question_names(question[: m.start()]) for m in _PRONOUN.finditer(question)):
        return True
    for m in _SUBJECT.finditer(question):
        before = question[: m.start()]
        if not (question_names(before) and _CLAUSE_OPENER.search(before)):
            return True
    return len(content_stems(question)) <= 2


def condense(question: str, history: list[Turn]) -> tuple[str, str]:
    """Without an LLM: a follow-up borrows the previous question's words for retrieval.

    Returns ``(retrieval_query, context)``; ``context`` holds the borrowed words, which
    the answerer weighs less than the question's own.
    """
    if not history or not is_follow_up(question):
        return question, ""
    previous = next((u for u, _ in reversed(history) if u.strip()), "")
    if not previous:
        return question, ""
    return f"{previous} {question}", previous


def previous_answer(history: list[Turn]) -> str:
    """The last answer of the conversation, markers off; "" when it found nothing.

    A follow-up is usually answered where that answer was, or right next to it
    (``previous_overlap`` in qa/answerers/features.py)."""
    answer = next((a for u, a in reversed(history) if u.strip()), "")
    if not answer.strip() or ABSTAIN_MESSAGE[:30].lower() in answer.lower():
        return ""
    return strip_markers(answer)


_WHO_IS_PRONOUN = re.compile(r"^\W*(?:and\s+)?(who)(?:[’']s|\s+(is|was))\s+(?:he|she|him|her)\W*$", re.I)
_BARE_TITLE = re.compile(r"(?:Dr|Mr|Mrs|Ms|Prof|Professor|President|Governor|Mayor|Minister|Judge|Chief|General|Captain)")
_NAME_IN_TEXT = re.compile(r"(?<![.!?“\"]\s)(?<!^)\b[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")


def resolve_identity_pronoun(question: str, history: list[Turn]) -> str | None:
    """"Who is he?" after "What did Coale say about prisoners?" asks "Who is Coale?": the name
    the previous question asked about; after a "who" question, the first one its answer gave.
    The identity question is then answered as such (a sentence that introduces the name),
    which borrowing the previous question's words for retrieval cannot do."""
    m = _WHO_IS_PRONOUN.match(question.strip())
    if not m or not history:
        return None
    user, answer = next(((u, a) for u, a in reversed(history) if u.strip()), ("", ""))
    answer = re.sub(r"\s*\[\d+\]", "", answer)
    # After "Who won the prize?" the person is the one the answer names, not one the question did.
    text = answer if re.match(r"^\W*who\b", user, re.I) else user
    # a run of capitals that is a name once its title is off ("President" alone is none)
    names = [
        n for n in _NAME_IN_TEXT.findall(text.strip())
        if n.split()[0].lower() not in STOPWORDS and identity_subject(f"Who is {n}?") and not _BARE_TITLE.fullmatch(n)
    ]
    return f"{m.group(1).capitalize()} {m.group(2) or 'is'} {names[0]}?" if names else None


def read_question(question: str, snapshot: Snapshot) -> str:
    """The question with its typing mistakes read as the documents' words (qa/spelling.py)."""
    df, _ = sentence_df(snapshot)
    return spelling.correct(unshout(plain(question)), snapshot, df)


def read_turn(question: str, history: list[Turn], snapshot: Snapshot) -> tuple[str, list[Turn]]:
    """The question and the earlier questions of the conversation, typing mistakes read: a
    follow-up borrows the previous question's words for retrieval."""
    return read_question(question, snapshot), [(read_question(u, snapshot), a) for u, a in history]


def make_answerer(settings: Settings, embedder: Embedder) -> Any:
    """The answerer ``settings.llm`` names: extractive, or a chat model with verified citations.

    Raises :class:`qa.answerers.backends.BackendError` (bad spec, missing extra, missing file)
    here, when the assistant is opened, rather than at the first question.
    """
    from qa.answerers.backends import make_chat_model

    extractive = ExtractiveAnswerer(settings, embedder=embedder)
    chat_model = make_chat_model(settings.llm, settings)
    if chat_model is None:
        return extractive
    from qa.answerers.generative import GenerativeAnswerer

    return GenerativeAnswerer(settings, chat_model, spec=settings.llm, embedder=embedder, extractive=extractive)


def build_chain(
    snapshot: Callable[[], Snapshot], embedder: Embedder, settings: Settings, answerer: Any | None = None
) -> Runnable[dict[str, Any], Answer]:
    """``answerer`` defaults to the one ``settings.llm`` names. A generative answerer's last step
    is a generator: ``stream`` yields text pieces then the Answer, ``invoke``/``batch`` the Answer."""
    answerer = answerer or make_answerer(settings, embedder)
    generative = hasattr(answerer, "stream")

    # Each step returns the dict with one more key; plain lambdas, not RunnablePassthrough.assign,
    # which would start a thread pool per step and cost more than the steps themselves.
    def _start(inputs: dict[str, Any]) -> dict[str, Any]:
        return {**inputs, "t0": time.perf_counter()}

    def _spell(inputs: dict[str, Any]) -> dict[str, Any]:
        snap = snapshot()
        read_as, history = read_turn(inputs["question"], normalize_history(inputs.get("history")), snap)
        return {**inputs, "snapshot": snap, "question": read_as, "asked": inputs["question"], "history": history}

    def _condense(inputs: dict[str, Any]) -> dict[str, Any]:
        history = inputs["history"]  # normalized (and read for typos) by _spell
        if generative and history and is_follow_up(inputs["question"]):
            standalone = answerer.condense(inputs["question"], history)
            if standalone:  # the model's rewrite replaces the borrowed words
                return {**inputs, "condensed": {"query": standalone, "context": "", "question": standalone}}
        resolved = resolve_identity_pronoun(inputs["question"], history)
        if resolved:
            return {**inputs, "condensed": {"query": resolved, "context": "", "question": resolved}}
        asked = asked_part(inputs["question"])
        previous = previous_answer(history)
        if generative or asked == inputs["question"]:
            query, context = condense(inputs["question"], history)
            return {**inputs, "condensed": {"query": query, "context": context, "previous": previous}}
        # "I read that the bridge will cost $48 million. Who voted against it?": the sentence
        # that asks is the question; what comes with it is searched for too when it names
        # something or gives a number. Otherwise its words ("I'm reading the article about
        # this.", "I have a question.") only pull in passages about reading or questions.
        query, context = condense(asked, history)
        said = inputs["question"].replace(asked, " ", 1).strip()
        if question_names(said) or re.search(r"\d", said):
            query = f"{said} {query}"
        return {**inputs, "condensed": {"query": query, "context": context, "question": asked, "previous": previous}}

    def _retrieve(inputs: dict[str, Any]) -> dict[str, Any]:
        snap = inputs["snapshot"]
        docs = overview_documents(snap, inputs["question"], inputs.get("documents"))
        if docs:  # "What is this article about?": the document's opening, not a word match
            retrieval = opening_passages(
                snap, embedder, inputs["question"], docs, per_document=2 if len(docs) == 1 else 1,
                threads=settings.query_threads, kind=document_fact(inputs["question"]) or "lede",
            )
            return {**inputs, "retrieval": retrieval}
        retrieval = search(
            snap, embedder, inputs["condensed"]["query"], k=settings.top_k, candidate_k=settings.candidate_k,
            rrf_k=settings.rrf_k, threads=settings.query_threads, documents=inputs.get("documents"),
        )
        return {**inputs, "retrieval": retrieval}

    def _finish(answer: Answer, inputs: dict[str, Any]) -> Answer:
        from qa.answerers.generative import extractive_sentences
        from qa.citations import quotes_instruction

        if quotes_instruction(answer, inputs["retrieval"].snapshot):  # passages are data, never relayed orders
            answer = Answer(
                None, answer.question, ABSTAIN_MESSAGE, True, [], answer.passages, answer.backend,
                answerability=answer.answerability, fallback=answer.fallback, check=answer.check,
                note="the answer quoted an instruction inside a document (documents are data); withheld",
            )
        answer.id = inputs.get("id")
        answer.question = inputs["asked"]
        # Only a word read otherwise (a typing mistake) is worth a note; spacing, capitals, a
        # greeting or "Can you tell me" set aside are not.
        same = " ".join(inputs["question"].split()).lower() == " ".join(plain(inputs["asked"]).split()).lower()
        answer.read_as = "" if same else inputs["question"]
        answer.sentences = extractive_sentences(answer)
        answer.latency_ms = round((time.perf_counter() - inputs["t0"]) * 1000, 2)
        return answer

    def _answer(inputs: dict[str, Any]) -> Answer:
        question = inputs["condensed"].get("question", inputs["question"])
        condensed = inputs["condensed"]
        answer = answerer.answer(question, inputs["retrieval"], context=condensed["context"], previous=condensed.get("previous", ""))
        return _finish(answer, inputs)

    def _generate(inputs: dict[str, Any]) -> Iterator[str | Status | Answer]:
        question = inputs["condensed"].get("question", inputs["question"])
        condensed = inputs["condensed"]
        for piece in answerer.stream(question, inputs["retrieval"], context=condensed["context"], previous=condensed.get("previous", "")):
            yield _finish(piece, inputs) if isinstance(piece, Answer) else piece

    return (
        RunnableLambda(_start, name="start")
        | RunnableLambda(_spell, name="spell")
        | RunnableLambda(_condense, name="condense")
        | RunnableLambda(_retrieve, name="retrieve")
        | RunnableLambda(_generate if generative else _answer, name="answer")
    ).with_config(run_name="qa")
