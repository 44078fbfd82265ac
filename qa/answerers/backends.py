"""The one place that knows the answering backends: ``--llm SPEC`` / ``QA_LLM`` -> a chat model.

``SPEC`` is ``extractive`` (no model), ``llamacpp:PATH.gguf``, ``ollama:MODEL`` or
``openai:MODEL``. Each backend is one function from the part after the colon and the
settings to a LangChain chat model; the generative answerer only ever sees that chat model,
so adding a backend means adding one function to :data:`BACKENDS`. Client libraries are
optional extras and imported here, lazily, so a missing one costs nothing until it is
asked for and then says exactly what to install.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from langchain_core.language_models import BaseChatModel

from qa.settings import Settings

EXTRACTIVE = "extractive"
OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"


class BackendError(ValueError):
    """A backend spec we cannot serve (unknown, missing extra, missing model file); the message says what to do."""


class BackendUnavailableError(BackendError):
    """The model server did not answer (not running, wrong URL, firewall): nothing we can retry our way out of."""


def _in_chain(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of ``types`` in an exception's chain, if any.

    Client libraries wrap transport errors differently (openai: APIConnectionError from
    httpx.ConnectError; ollama: httpx's own), but each chain holds the socket's or httpx's.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, types):
            return e
        e = e.__cause__ or e.__context__
    return None


def server_url(model: BaseChatModel) -> str | None:
    """Where a served chat model lives (``None`` for in-process models)."""
    for attr in ("base_url", "openai_api_base"):
        url = getattr(model, attr, None)
        if isinstance(url, str) and url:
            return url
    return None


@contextmanager
def reaching(name: str, model: BaseChatModel) -> Iterator[None]:
    """Turns "cannot connect" from any client library into one :class:`BackendUnavailableError`,
    and an HTTP error reply (unknown model, bad key) or a reply that never comes into a
    :class:`BackendError`, each naming the backend and the URL, instead of a client library's
    traceback."""
    try:
        yield
    except BackendError:
        raise
    except Exception as e:
        url = server_url(model) or "its default address"
        status = getattr(e, "status_code", None)
        clients = {c.__module__.split(".")[0] for c in type(e).__mro__}  # langchain wraps openai's own types
        if isinstance(status, int) and clients & {"openai", "ollama", "httpx"}:
            detail = " ".join(str(e).split())
            raise BackendError(
                f"{name}: the model server at {url} refused the request (HTTP {status}): "
                f"{detail[:300] + '…' if len(detail) > 300 else detail}"
            ) from e
        import httpx

        cause = _in_chain(e, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout))
        if cause is None:
            if _in_chain(e, (httpx.TimeoutException, TimeoutError)) is not None:
                raise BackendError(
                    f"{name}: the model server at {url} accepted the request but did not answer in time "
                    "(QA_LLM_TIMEOUT_S); it may be overloaded or still loading the model"
                ) from e
            raise
        raise BackendUnavailableError(
            f"{name}: could not reach the model server at {url} ({type(cause).__name__}: {cause}). "
            "Is the server running? Set its address with QA_LLM_BASE_URL (or OLLAMA_HOST / OPENAI_BASE_URL), "
            "or answer without it: --llm extractive"
        ) from e


def _require(module: str, extra: str) -> ModuleType:
    """Import an optional client library or fail with the install command for its extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendError(
            f"the {extra!r} backend needs the optional package {module.split('.')[0]!r}, which is not installed: "
            f'run `pip install -e ".[{extra}]"` in the repository (or `pip install "qa-cite[{extra}]"`)'
        ) from e


def _llamacpp(arg: str, settings: Settings) -> BaseChatModel:
    """A local GGUF file (or an installed model's name, see ``qa model list``) run in-process by llama.cpp (extra ``[llm]``)."""
    from qa.llm_models import resolve

    path = resolve(arg) or Path(arg).expanduser()
    if not arg or not path.is_file():
        raise BackendError(
            f"llamacpp: no GGUF model file at {arg!r}; give a path (`--llm llamacpp:/path/model.gguf`), "
            "or install one with `qa model install qwen2.5-coder-1.5b` and use `--llm llamacpp:qwen2.5-coder-1.5b`"
        )
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":  # fail when the assistant opens, not at the first question
        raise BackendError(
            f"llamacpp: {arg!r} is not a GGUF model file (it starts with {magic!r}, not b'GGUF'); "
            "give a .gguf file, or install one with `qa model install qwen2.5-coder-1.5b`"
        )
    _require("llama_cpp", "llm")
    from qa.answerers.llamacpp_chat import LlamaCppChat

    return LlamaCppChat(
        model_path=str(path.resolve()),
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        n_ctx=settings.llm_context,
        n_threads=settings.llm_threads,
    )


def _ollama(arg: str, settings: Settings) -> BaseChatModel:
    """A model served by Ollama (extra ``[ollama]``); ``QA_LLM_BASE_URL`` points at the server."""
    if not arg:
        raise BackendError("ollama: name the model, e.g. `--llm ollama:qwen2.5:1.5b`")
    mod = _require("langchain_ollama", "ollama")
    return mod.ChatOllama(
        model=arg,
        base_url=settings.llm_base_url or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_URL,
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        num_ctx=settings.llm_context,
        seed=0,
        client_kwargs={"timeout": settings.llm_timeout_s},
    )


def _openai(arg: str, settings: Settings) -> BaseChatModel:
    """Any OpenAI-compatible server (extra ``[openai]``); URL and key from settings or ``OPENAI_*``."""
    if not arg:
        raise BackendError("openai: name the model, e.g. `--llm openai:gpt-4o-mini`")
    mod = _require("langchain_openai", "openai")
    base_url = settings.llm_base_url or os.environ.get("OPENAI_BASE_URL")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else os.environ.get("OPENAI_API_KEY")
    if not key:
        if not base_url:
            raise BackendError("openai: set OPENAI_API_KEY (or QA_LLM_API_KEY), or QA_LLM_BASE_URL for a local server")
        key = "not-needed"  # local OpenAI-compatible servers usually take any key
    return mod.ChatOpenAI(
        model=arg,
        base_url=base_url,
        api_key=key,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=1,
        seed=0,
    )


BACKENDS: dict[str, Callable[[str, Settings], BaseChatModel]] = {
    "llamacpp": _llamacpp,
    "ollama": _ollama,
    "openai": _openai,
}


def parse_spec(spec: str | None) -> tuple[str, str]:
    """``"llamacpp:/m.gguf"`` -> ``("llamacpp", "/m.gguf")``; ``extractive`` -> ``("extractive", "")``."""
    spec = (spec or EXTRACTIVE).strip()
    if spec == EXTRACTIVE:
        return EXTRACTIVE, ""
    kind, sep, arg = spec.partition(":")
    if not sep or kind not in BACKENDS:
        raise BackendError(
            f"unknown answering backend {spec!r}; use extractive, "
            + ", ".join(f"{k}:{'PATH.gguf' if k == 'llamacpp' else 'MODEL'}" for k in BACKENDS)
        )
    return kind, arg.strip()


def is_extractive(spec: str | None) -> bool:
    return parse_spec(spec)[0] == EXTRACTIVE


def make_chat_model(spec: str, settings: Settings) -> BaseChatModel | None:
    """The chat model behind a spec (``None`` for ``extractive``); raises :class:`BackendError`."""
    kind, arg = parse_spec(spec)
    if kind == EXTRACTIVE:
        return None
    return BACKENDS[kind](arg, settings)


def display_name(spec: str) -> str:
    """Short label for a spec (the file name instead of a long GGUF path), for the UI and reports."""
    kind, _, arg = (spec or EXTRACTIVE).strip().partition(":")
    return f"llamacpp:{Path(arg.strip()).name}" if kind == "llamacpp" else (spec or EXTRACTIVE).strip()
