"""One typed settings object for the whole package.

Every knob lives here so that the CLI, the UI, the Python API and the tests agree on
defaults. Values come from ``QA_*`` environment variables; CLI flags override them by
passing keyword arguments to :func:`load_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Offline by construction: set before anything imports huggingface/transformers/gradio.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = REPO_ROOT / "prompts"
ABSTAIN_MESSAGE = "I could not find this in the documents."


class Settings(BaseSettings):
    """Runtime configuration; env prefix ``QA_`` (e.g. ``QA_INDEX=indexes/news``)."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    index: Path = Field(default=Path("indexes/default"), description="Index folder.")
    model_path: str | None = Field(
        default=None,
        description="Local sentence-transformers model folder; default: the packaged all-MiniLM-L6-v2.",
    )
    embedding_backend: str = Field(default="torch", description="Embedding backend that builds new indexes.")
    query_threads: int = Field(default=1, ge=1, description="Torch threads on the query path (1 avoids collapse on 2 cores).")
    index_threads: int = Field(default=2, ge=1, description="Torch threads while bulk indexing.")
    embed_batch_size: int = Field(default=32, ge=1)

    max_file_mb: float = Field(default=20.0, gt=0, description="Files larger than this are refused.")
    chunk_max_tokens: int = Field(default=160, ge=16, le=256, description="Word pieces per chunk (model limit 256).")
    chunk_overlap_sentences: int = Field(default=1, ge=0, le=5)

    top_k: int = Field(default=5, ge=1, description="Passages handed to the answerer.")
    candidate_k: int = Field(default=30, ge=1, description="Candidates per retriever before fusion.")
    rrf_k: int = Field(default=60, ge=1)

    abstain_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Abstain when answerability is below this; default: the trained model's."
    )
    max_answer_chars: int = Field(default=400, ge=50)
    max_question_chars: int = Field(default=2000, ge=10)

    llm: str = Field(default="extractive", description="Answering backend spec.")
    lock_timeout_s: float = Field(default=60.0, ge=0.0, description="How long a writer waits for the index lock.")


def load_settings(**overrides: Any) -> Settings:
    """Environment first, then explicit overrides (CLI flags); ``None`` means 'not given'."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
