"""A thin LangChain chat model over llama-cpp-python: a local GGUF file, in-process, offline.

Why not ``langchain_community.chat_models.ChatLlamaCpp``: it drags in langchain-community
(and its many dependencies) for ~40 lines of glue, and it does not share a loaded model
between chat-model instances or serialise access to it. Here one ``Llama`` per model file
and settings is loaded once per process and guarded by a lock, because a llama.cpp context
must not run two generations at once (the UI serves several users). The GGUF file's own
chat template formats the messages, so any instruction-tuned GGUF works.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_MODELS: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def load_llama(model_path: str, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The process-wide ``Llama`` for these settings and the lock that serialises its use."""
    key = (model_path, n_ctx, n_threads)
    with _MODELS_LOCK:
        entry = _MODELS.get(key)
        if entry is None:
            from llama_cpp import Llama

            from qa.answerers.backends import BackendError

            try:
                llm = Llama(
                    model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, n_batch=512, seed=0, verbose=False
                )
            except (ValueError, RuntimeError, OSError) as e:  # llama.cpp says only "Failed to load model from file"
                raise BackendError(
                    f"llamacpp: could not load {model_path} ({e}); the file may be truncated or damaged, or need a newer "
                    "llama.cpp: download it again (`qa model install NAME` checks its sha256)"
                ) from e
            entry = _MODELS[key] = (llm, threading.Lock())
        return entry


_FORMATTERS: dict[int, Any] = {}  # id(Llama) -> its chat formatter; the Llama objects live as long as _MODELS
_PROBES: dict[tuple[int, str], list[int]] = {}  # (id(Llama), system message) -> tokens of a prompt with an empty user turn
_STATES: dict[tuple[int, tuple[int, ...]], bytes] = {}  # (id(Llama), system tokens) -> the context state after them
_MAX_STATES = 4  # a few system prompts (answer, check, condense); ~6 MB each for a 1.5B model
_YES = ("yes", "Yes", " yes", " Yes", "YES")
_NO = ("no", "No", " no", " No", "NO")


def _formatter(llm: Any) -> Any:
    """The GGUF's chat template, compiled once per loaded model (Jinja compilation is not free)."""
    formatter = _FORMATTERS.get(id(llm))
    if formatter is None:
        template = (llm.metadata or {}).get("tokenizer.chat_template")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llm.token_eos(), llm.token_bos()
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
            )
        _FORMATTERS[id(llm)] = formatter or False
    return formatter or None


def _prompt_tokens(llm: Any, messages: list[dict[str, str]]) -> list[int] | None:
    """The tokens ``create_chat_completion`` will evaluate, formatted by the GGUF's own template."""
    formatter = _formatter(llm)
    if formatter is None:
        return None
    result = formatter(messages=messages)
    return [int(t) for t in llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)]


def _system_prefix(llm: Any, messages: list[dict[str, str]]) -> list[int]:
    """Leading tokens this prompt shares with any prompt that has the same system message."""
    if len(messages) < 2 or messages[0]["role"] != "system":
        return []
    try:
        full = _prompt_tokens(llm, messages)
        key = (id(llm), messages[0]["content"])
        probe = _PROBES.get(key)
        if probe is None:  # the same few system prompts come back for every question
            probe = _PROBES[key] = _prompt_tokens(llm, [messages[0], {"role": "user", "content": "\u2063"}]) or []
    except Exception:  # noqa: BLE001 - an unusual template: fall back to a fresh context
        return []
    if not full or not probe:
        return []
    n = 0
    for a, b in zip(full, probe):
        if a != b:
            break
        n += 1
    return full[: min(n, len(full) - 1)]  # at least one token is left for generate() to evaluate


def _save_state(llm: Any) -> bytes:
    """The context's KV state (only the cells in use, a few MB), without llama-cpp-python's
    copy of the logits that ``Llama.save_state`` adds (~130 MB for a long prefix)."""
    import ctypes

    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    buf = (ctypes.c_uint8 * int(size))()
    n = llama_cpp.llama_state_get_data(llm._ctx.ctx, buf, size)
    return bytes(buf[: int(n)])


def _load_state(llm: Any, state: bytes, tokens: list[int]) -> bool:
    import ctypes

    import llama_cpp

    buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(state)) != len(state):
        return False
    llm.input_ids[: len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    return True


_VERDICT_IDS: dict[int, tuple[list[int], list[int]]] = {}  # id(Llama) -> token ids of (yes, no) spellings


def _verdict_ids(llm: Any) -> tuple[list[int], list[int]]:
    """First token of each spelling of yes and no, once per loaded model; a word the
    vocabulary splits is still found by its first piece."""
    ids = _VERDICT_IDS.get(id(llm))
    if ids is None:
        first = lambda v: llm.tokenize(v.encode("utf-8"), add_bos=False, special=False)[0]  # noqa: E731
        ids = _VERDICT_IDS[id(llm)] = (sorted({first(v) for v in _YES}), sorted({first(v) for v in _NO}))
    return ids


class LlamaCppChat(BaseChatModel):
    """Chat completion with a local GGUF model; greedy (temperature 0) unless told otherwise."""

    model_path: str
    temperature: float = 0.0
    max_tokens: int = 256
    n_ctx: int = 4096
    n_threads: int | None = None

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "temperature": self.temperature, "max_tokens": self.max_tokens, "n_ctx": self.n_ctx}

    def _llama(self) -> tuple[Any, threading.Lock]:
        # llama-cpp-python defaults to half the cores; on a 2-core machine that halves speed
        return load_llama(self.model_path, self.n_ctx, self.n_threads or os.cpu_count() or 1)

    # _settle_cache: llama-cpp-python reuses the longest common token prefix of the previous
    # call, so a repeated question evaluated only its last prompt token; the logits then came
    # from a different batch shape, differed in the last bits, and greedy decoding diverged
    # (the same question gave two different answers). Instead, the context is always cut
    # back to the system prompt's tokens, which are evaluated on their own, once: every
    # prompt is then computed the same way (system part, then the rest in one go), so
    # temperature-0 answers are reproducible, and the rules are not re-read per question.
    # Each system prompt's state is kept (a few MB): the answer check uses its own system
    # prompt, and switching back to the answer prompt would otherwise re-read its ~226
    # tokens (1.4 s) before every question. A restored state is the same computation as the
    # prefix evaluated alone, so answers stay reproducible.

    def _settle_cache(self, llm: Any, messages: list[dict[str, str]]) -> None:
        prefix = _system_prefix(llm, messages)
        if prefix and llm.n_tokens >= len(prefix) and [int(t) for t in llm.input_ids[: len(prefix)]] == prefix:
            llm.n_tokens = len(prefix)  # generate() drops the cached rest and evaluates from here
            return
        key = (id(llm), tuple(prefix))
        state = _STATES.get(key)
        if state is not None and _load_state(llm, state, prefix):
            return
        llm.reset()
        if prefix:
            llm.eval(prefix)
            if len(_STATES) >= _MAX_STATES:
                _STATES.pop(next(iter(_STATES)))
            _STATES[key] = _save_state(llm)

    def yes_probability(self, messages: list[BaseMessage]) -> float:
        """P(yes) / (P(yes) + P(no)) for the reply's first token: a graded answer to a yes/no
        question, so a threshold can trade answers for precision (a reply only gives 0 or 1)."""
        import numpy as np

        llm, lock = self._llama()
        chat = self._messages(messages)
        with lock:
            self._settle_cache(llm, chat)
            tokens = _prompt_tokens(llm, chat)
            if tokens is None:
                raise RuntimeError(f"{self.model_path}: the GGUF file has no chat template")
            start = llm.n_tokens if [int(t) for t in llm.input_ids[: llm.n_tokens]] == tokens[: llm.n_tokens] else 0
            if start == 0:
                llm.reset()
            llm.eval(tokens[start:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        yes_ids, no_ids = _verdict_ids(llm)
        yes, no = logits[yes_ids], logits[no_ids]
        top = max(yes.max(), no.max())
        p_yes, p_no = np.exp(yes - top).sum(), np.exp(no - top).sum()
        return float(p_yes / (p_yes + p_no))

    @staticmethod
    def _messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _params(self, stop: list[str] | None, **kwargs: Any) -> dict[str, Any]:
        return {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "stop": stop or [],
            "repeat_penalty": 1.0,
            "seed": 0,
        }

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> ChatResult:
        llm, lock = self._llama()
        chat = self._messages(messages)
        with lock:
            self._settle_cache(llm, chat)
            out = llm.create_chat_completion(messages=chat, **self._params(stop, **kwargs))
        usage = out.get("usage") or {}
        message = AIMessage(
            content=out["choices"][0]["message"].get("content") or "",
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", 0)),
                "output_tokens": int(usage.get("completion_tokens", 0)),
                "total_tokens": int(usage.get("total_tokens", 0)),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        llm, lock = self._llama()
        chat = self._messages(messages)
        with lock:  # held for the whole generation: the context is shared
            self._settle_cache(llm, chat)
            generated = 0
            for part in llm.create_chat_completion(messages=chat, stream=True, **self._params(stop, **kwargs)):
                token = part["choices"][0].get("delta", {}).get("content")
                if not token:
                    continue
                generated += 1
                if run_manager is not None:
                    run_manager.on_llm_new_token(token)
                yield ChatGenerationChunk(message=AIMessageChunk(content=token))
            # llama.cpp does not report usage when streaming; its context holds prompt + answer
            prompt = max(0, int(llm.n_tokens) - generated)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="", usage_metadata={"input_tokens": prompt, "output_tokens": generated, "total_tokens": prompt + generated}
                )
            )
