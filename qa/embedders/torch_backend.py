"""The ``torch`` backend: sentence-transformers on torch, the reference the others are measured against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qa.embeddings import Embedder


class TorchEmbedder(Embedder):
    backend = "torch"

    def __init__(self, model_path: str | Path | None = None) -> None:
        super().__init__(model_path)
        self._model: Any = None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a per-load weights bar is noise in CLI output
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            return self._model

    def _encode(self, texts: list[str], *, threads: int, batch_size: int, progress: bool = False) -> np.ndarray:
        import torch

        model = self.model
        with self._lock:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return model.encode(
                    texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress
                )
            finally:
                torch.set_num_threads(previous)
