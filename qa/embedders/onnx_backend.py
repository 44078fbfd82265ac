"""The ``onnx`` and ``onnx-int8`` backends: onnxruntime + ``tokenizers``, no torch at run time.

The model is exported once per machine (:mod:`qa.embedders.onnx_export`) into
``QA_CACHE_DIR`` (default ``$XDG_CACHE_HOME/qa-cite`` or ``~/.cache/qa-cite``), in a
folder named after the model's fingerprint, so a changed model is exported anew and
site-packages is never written to.

onnxruntime ignores ``OMP_NUM_THREADS``: the thread count is a session option, so there
is one session per thread count asked for (1 on the query path, 2 while indexing).

int8 note: dynamic quantization scales activations per input tensor, so a text's int8
vector depends slightly on what else is in its batch (cosine ~0.99 between a text alone
and in a batch of 32). This backend therefore runs int8 one text at a time
(``batch_size`` is ignored), always in a one-thread session, so every vector is
reproducible: the same text gets the same vector at indexing and at query time. To use
more cores it runs ``threads`` such sessions side by side on interleaved shards of the
texts (onnxruntime releases the GIL). Measured on 2 cores (AVX2): one text per call with
two intra-op threads 169 texts/s; two one-thread sessions side by side 321 texts/s;
length-sorted batches of 8 with two threads 326 texts/s but batch-dependent vectors.
fp32 batches normally (padding is masked out exactly).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from qa.embedders.onnx_export import EXPORT_VERSION
from qa.embeddings import Embedder, log


class OnnxUnavailable(RuntimeError):
    """onnxruntime is missing or the model could not be exported; the caller may fall back to torch."""


def cache_root() -> Path:
    explicit = os.environ.get("QA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa-cite"


_EXPORT_LOCK = threading.Lock()


class OnnxEmbedder(Embedder):
    #: Texts per onnxruntime call for int8 (see the module docstring); fp32 uses the caller's batch size.
    int8_batch = 1

    def __init__(self, model_path: str | Path | None = None, *, quantized: bool = True) -> None:
        super().__init__(model_path)
        self.quantized = quantized
        self.backend = "onnx-int8" if quantized else "onnx"
        self._sessions: dict[int, Any] = {}
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise OnnxUnavailable(f"onnxruntime is not installed ({e})") from e
        self.model_file = self._ensure_exported()

    # ------------------------------------------------------------------ files
    @property
    def cache_dir(self) -> Path:
        return cache_root() / "onnx" / f"{self.path.name}-{self.fingerprint}-v{EXPORT_VERSION}"

    def _ensure_exported(self) -> Path:
        folder = self.cache_dir
        fp32, int8 = folder / "model.onnx", folder / "model-int8.onnx"
        target = int8 if self.quantized else fp32
        if target.is_file():
            return target
        with _EXPORT_LOCK:
            if target.is_file():
                return target
            try:
                folder.mkdir(parents=True, exist_ok=True)
                from qa.embedders.onnx_export import export_fp32, quantize_int8

                if not fp32.is_file():
                    log.warning("exporting the embedding model to ONNX once, into %s (takes ~30 s)", folder)
                    export_fp32(self.path, fp32)
                if self.quantized and not int8.is_file():
                    quantize_int8(fp32, int8)
            except Exception as e:  # noqa: BLE001 - any failure means: this machine cannot run ONNX
                raise OnnxUnavailable(f"ONNX export into {folder} failed: {type(e).__name__}: {e}") from e
        return target

    # ------------------------------------------------------------------ runtime
    @property
    def model(self) -> Any:
        """The onnxruntime session for one thread (loads it)."""
        return self._session(1)

    def _session(self, threads: int) -> Any:
        session = self._sessions.get(threads)
        if session is None:
            session = self._sessions[threads] = self._new_session(threads)
        return session

    def _new_session(self, threads: int) -> Any:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        return ort.InferenceSession(str(self.model_file), opts, providers=["CPUExecutionProvider"])

    @property
    def _batch_tokenizer(self) -> Any:
        tok = self.__dict__.get("_batch_tok")
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.enable_truncation(self.max_tokens)
            pad = tok.padding or {}
            tok.enable_padding(pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]")))
            self.__dict__["_batch_tok"] = tok
        return tok

    def _encode(self, texts: list[str], *, threads: int, batch_size: int, progress: bool = False) -> np.ndarray:
        threads = max(1, int(threads))
        if self.quantized and self.int8_batch == 1:
            return self._encode_int8_single(texts, threads)
        with self._lock:
            session = self._session(threads)
            step = self.int8_batch if self.quantized else max(1, int(batch_size))
            order = np.argsort([len(t) for t in texts], kind="stable") if step > 1 else np.arange(len(texts))
            out = np.empty((len(texts), self.dimension), dtype=np.float32)
            for lo in range(0, len(texts), step):
                idx = order[lo : lo + step]
                out[idx] = self._run(session, [texts[i] for i in idx])
            return out

    def _run(self, session: Any, texts: list[str]) -> np.ndarray:
        enc = self._batch_tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        }
        if "token_type_ids" in self._input_names(session):
            feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        return session.run(["sentence_embedding"], feed)[0]

    @staticmethod
    def _input_names(session: Any) -> set[str]:
        return {i.name for i in session.get_inputs()}

    def _worker_sessions(self, n: int) -> list[Any]:
        """``n`` independent one-thread sessions (slot 0 is the query path's own session)."""
        pool: list[Any] = self.__dict__.setdefault("_workers", [])
        while len(pool) < n:
            pool.append(self._new_session(1) if pool else self._session(1))
        return pool[:n]

    def _encode_int8_single(self, texts: list[str], threads: int) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with self._lock:
            workers = self._worker_sessions(min(threads, len(texts)) or 1)

            def shard(k: int) -> None:
                session = workers[k]
                for i in range(k, len(texts), len(workers)):
                    out[i] = self._run(session, [texts[i]])[0]

            if len(workers) == 1:
                shard(0)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(len(workers)) as ex:
                    list(ex.map(shard, range(len(workers))))  # list(): re-raise a worker's error
        return out
