"""Shared fixtures: real embedding model, real indexes built in temporary folders.

Offline flags are set before anything imports the model stack, exactly as the app does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_FILE = SEEDS / "lukashenko-maduro-newsmax.txt"


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real index over seeds/, built once per test session; copy it before mutating."""
    from qa import Assistant

    root = tmp_path_factory.mktemp("seed") / "index"
    report = Assistant.open(root).add([SEEDS])
    assert report.added and not report.skipped
    return root


@pytest.fixture(scope="session")
def seed_assistant(seed_index: Path):
    from qa import Assistant

    return Assistant.open(seed_index, create=False)


def one_document_assistant(tmp_path_factory: pytest.TempPathFactory, name: str, text: str):
    """An index over one document written for a test (module fixtures build theirs with it)."""
    from qa import Assistant

    root = tmp_path_factory.mktemp(Path(name).stem)
    (root / name).write_text(text, encoding="utf-8")
    a = Assistant.open(root / "idx")
    a.add([root / name])
    return a


@pytest.fixture
def index_copy(seed_index: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "index"
    shutil.copytree(seed_index, dest)
    return dest
