"""The code passes pyflakes and import-order checks (the rules in pyproject.toml's [tool.ruff.lint]).

An unused import or an undefined name in a branch no test reaches is a bug waiting; this keeps
the whole tree, scripts and benchmarks included, clean of them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_ruff_finds_nothing() -> None:
    ruff = shutil.which("ruff") or str(REPO / ".venv" / "bin" / "ruff")
    if not shutil.which(ruff):
        pytest.fail("ruff is missing: it is in the [test] extra (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "--no-cache", "qa", "scripts", "bench", "tests", "train", "app.py"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
