"""The LCEL chain every front end runs: condense -> retrieve -> answer.

Input is a dict ``{"question", "history", "documents", "id"}``; output is an
:class:`~qa.answer.Answer`. Because it is a LangChain runnable, ``invoke``, ``batch``
and ``stream`` come for free and behave the same for the CLI, the API and the UI.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from qa.answer import Answer
from qa.answerers.extractive import ExtractiveAnswerer
from qa.embeddings import Embedder
from qa.retrieval import search
from qa.settings import Settings
from qa.store import Snapshot

Turn = tuple[str, str]
_FOLLOW_UP = re.compile(
    r"\b(he|she|him|her|his|hers|they|them|their|theirs|it|its|this|that|these|those|there|then|the same|"
    r"the former|the latter|else|also|too|other)\b|^\s*(and|but|so|what about|how about|why|and then)\b",
    re.I,
)


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
    from qa.lexical import content_stems

    return bool(_FOLLOW_UP.search(question)) or len(content_stems(question)) <= 2


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


def build_chain(
    snapshot: Callable[[], Snapshot], embedder: Embedder, settings: Settings, answerer: Any | None = None
) -> Runnable[dict[str, Any], Answer]:
    answerer = answerer or ExtractiveAnswerer(settings, embedder=embedder)

    # Each step returns the dict with one more key; plain lambdas, not RunnablePassthrough.assign,
    # which would start a thread pool per step and cost more than the steps themselves.
    def _start(inputs: dict[str, Any]) -> dict[str, Any]:
        return {**inputs, "t0": time.perf_counter()}

    def _condense(inputs: dict[str, Any]) -> dict[str, Any]:
        query, context = condense(inputs["question"], normalize_history(inputs.get("history")))
        return {**inputs, "condensed": {"query": query, "context": context}}

    def _retrieve(inputs: dict[str, Any]) -> dict[str, Any]:
        retrieval = search(
            snapshot(), embedder, inputs["condensed"]["query"], k=settings.top_k, candidate_k=settings.candidate_k,
            rrf_k=settings.rrf_k, threads=settings.query_threads, documents=inputs.get("documents"),
        )
        return {**inputs, "retrieval": retrieval}

    def _answer(inputs: dict[str, Any]) -> Answer:
        answer = answerer.answer(inputs["question"], inputs["retrieval"], context=inputs["condensed"]["context"])
        answer.id = inputs.get("id")
        answer.latency_ms = round((time.perf_counter() - inputs["t0"]) * 1000, 2)
        return answer

    return (
        RunnableLambda(_start, name="start")
        | RunnableLambda(_condense, name="condense")
        | RunnableLambda(_retrieve, name="retrieve")
        | RunnableLambda(_answer, name="answer")
    ).with_config(run_name="qa")
