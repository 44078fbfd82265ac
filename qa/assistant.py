"""Assistant: the one facade the UI, the CLI and the Python API use.

It owns the embedding model, the index store and the chain, and reloads the index
when another process (the CLI, another UI session) has written a newer generation.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer import Answer, Status
from qa.embeddings import Embedder, embedder_for_index
from qa.ingest import IngestReport, check_model, index_paths, model_info, rebuild, remove_sources
from qa.settings import Settings, load_settings
from qa.store import DocumentRecord, IndexNotFoundError, IndexStore, Snapshot, empty_snapshot

if TYPE_CHECKING:
    from qa.retrieval import HybridRetriever


class QuestionError(ValueError):
    """A question we cannot take (empty, too long); the message is meant for the user."""


class Assistant:
    def __init__(self, store: IndexStore, settings: Settings, embedder: Embedder) -> None:
        self.store = store
        self.settings = settings
        self.embedder = embedder
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._chains: dict[tuple[str, bool], Any] = {}
        if settings.llm != "extractive":
            self.chain_for(settings.llm)  # a bad spec or a missing extra fails here, when the assistant opens

    @property
    def chain(self) -> Any:
        """The LCEL chain of the configured backend. Built on first use: ``qa index`` never
        needs it, and importing LangChain's runnables costs ~1 s of a command's start-up."""
        return self.chain_for(None)

    @property
    def backends(self) -> list[str]:
        """Answering backends this assistant offers: the configured one, and always extractive."""
        return list(dict.fromkeys([self.settings.llm, "extractive"]))

    def chain_for(self, backend: str | None = None, check: bool | None = None) -> Any:
        """The chain for ``backend`` (a ``--llm`` spec; default: the configured one) with the
        answer check on or off (default: the setting), built once per combination."""
        backend = backend or self.settings.llm
        check = self.settings.llm_check if check is None else check
        with self._lock:
            chain = self._chains.get((backend, check))
        if chain is None:
            from qa.chain import build_chain

            chain = build_chain(self.snapshot, self.embedder, self.settings.model_copy(update={"llm": backend, "llm_check": check}))
            with self._lock:
                chain = self._chains.setdefault((backend, check), chain)
        return chain

    @classmethod
    def open(
        cls,
        index: str | Path | None = None,
        settings: Settings | None = None,
        *,
        create: bool = True,
        llm: str | None = None,
        validate: bool = True,
        **overrides: Any,
    ) -> "Assistant":
        """Open (or, with ``create``, start) an index; fails early on a model mismatch or damage.

        ``validate=False`` skips loading the index now: for ``qa index --fresh``, which replaces
        it entirely and so must work on a damaged index (the fix the damage errors suggest).

        ``llm`` picks the answering backend (``extractive``, ``llamacpp:PATH.gguf``, ``ollama:MODEL``,
        ``openai:MODEL``); a bad spec or a missing extra raises ``BackendError`` here.
        """
        settings = settings or load_settings(**overrides)
        if llm is not None:
            settings = settings.model_copy(update={"llm": llm})
        root = Path(index) if index is not None else settings.index
        store = IndexStore(root)
        if not create and not store.exists():
            raise IndexNotFoundError(f"no index at {root}; create it with `qa index --index {root} PATH...`")
        # An existing index is always embedded with the backend recorded in its manifest.
        assistant = cls(store, settings, embedder_for_index(root, settings))
        if validate:
            assistant.snapshot()  # validate now, not at the first question
        return assistant

    # ------------------------------------------------------------------ index state
    def snapshot(self) -> Snapshot:
        """The newest generation; a stat() per call notices writes by other processes."""
        stamp = self.store.manifest_stamp()
        with self._lock:
            if self._snapshot is None or stamp != self._stamp:
                if stamp is None:
                    snap = empty_snapshot()
                else:
                    snap = self.store.load()
                    check_model(snap, model_info(self.embedder), self.store.root)
                self._snapshot, self._stamp = snap, stamp
            return self._snapshot

    def documents(self) -> list[DocumentRecord]:
        return list(self.snapshot().documents)

    def document(self, key: str) -> DocumentRecord:
        """Find a document by id, source, path or file name."""
        docs = self.documents()
        resolved = str(Path(key).resolve()) if not key.startswith("upload:") else key
        for d in docs:
            if key in (d.doc_id, d.source) or d.source == resolved:
                return d
        matches = [d for d in docs if Path(d.source.removeprefix("upload:")).name == key]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise KeyError(f"{key!r} matches {len(matches)} documents; use the doc id or full path")
        raise KeyError(f"no document {key!r} in index {self.store.root}")

    def info(self) -> dict[str, Any]:
        snap = self.snapshot()
        return {
            "index": str(self.store.root),
            "generation": snap.generation,
            "documents": len(snap.documents),
            "chunks": snap.n_chunks,
            "sentences": len(snap.sentences),
            "model": snap.model.name if snap.model else self.embedder.name,
            "backend": snap.model.backend if snap.model else self.embedder.backend,
            "dimension": snap.model.dimension if snap.model else self.embedder.dimension,
            "index_type": str((snap.dense_info or {}).get("type", "flat")),
        }

    @property
    def retriever(self) -> "HybridRetriever":
        s = self.settings
        from qa.retrieval import HybridRetriever

        return HybridRetriever(
            snapshot=self.snapshot, embedder=self.embedder, k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k, threads=s.query_threads
        )

    # ------------------------------------------------------------------ writing
    def add(
        self,
        paths: Iterable[str | Path],
        *,
        sources: dict[str, str] | None = None,
        fresh: bool = False,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> IngestReport:
        base = None if fresh else self.snapshot()
        return index_paths(
            self.store, list(paths), self.embedder, self.settings, sources=sources, fresh=fresh, progress=progress, base=base
        )

    def remove(self, keys: Iterable[str | Path]) -> list[str]:
        sources = []
        for key in keys:
            try:
                sources.append(self.document(str(key)).source)
            except KeyError:
                sources.append(str(Path(key).resolve()) if not str(key).startswith("upload:") else str(key))
        return remove_sources(self.store, sources, self.settings, self.snapshot())

    def rebuild(self, progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
        return rebuild(self.store, self.embedder, self.settings, progress)

    # ------------------------------------------------------------------ asking
    def _inputs(self, question: str, history: Sequence[Any] | None, documents: Sequence[str] | None, id: str | None) -> dict[str, Any]:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("Please type a question.")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"That question is {len(question)} characters long; the limit is {self.settings.max_question_chars} "
                "(QA_MAX_QUESTION_CHARS). Please ask something shorter."
            )
        return {"question": question.strip(), "history": history or [], "documents": list(documents) if documents else None, "id": id}

    def ask(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        documents: Sequence[str] | None = None,
        id: str | None = None,
        *,
        backend: str | None = None,
        check: bool | None = None,
    ) -> Answer:
        return self.chain_for(backend, check).invoke(self._inputs(question, history, documents, id))

    def ask_many(self, questions: Iterable[str | dict[str, Any]]) -> list[Answer]:
        """Batch through the chain; dicts may carry ``id``, ``history`` and ``documents``."""
        inputs = []
        for q in questions:
            if isinstance(q, str):
                inputs.append(self._inputs(q, None, None, None))
            else:
                inputs.append(self._inputs(q.get("question", ""), q.get("history"), q.get("documents"), q.get("id")))
        return self.chain.batch(inputs, config={"max_concurrency": 1})

    def stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        documents: Sequence[str] | None = None,
        *,
        backend: str | None = None,
        check: bool | None = None,
    ) -> Iterator[str | Status | Answer]:
        """Yield text pieces as they are produced, then the complete :class:`Answer`.

        A generative backend streams the model's tokens (markers appear once each sentence is
        verified); the final Answer is authoritative: when it has ``fallback`` set, its text
        replaces what was streamed. The extractive answer arrives whole and is cut into words.
        With the answer check on, a :class:`Status` comes between the text and the Answer
        while the model judges its quotes: show it, do not add it to the text.
        """
        streamed = False
        for piece in self.chain_for(backend, check).stream(self._inputs(question, history, documents, None)):
            if isinstance(piece, Answer):
                if not streamed:
                    for word in re.split(r"(?<=\s)", piece.answer):
                        if word:
                            yield word
                yield piece
                return
            streamed = streamed or isinstance(piece, str)
            yield piece
