"""Embedding backends: agreement with torch, reproducibility, fallback, and the backend an index keeps."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant
from qa.embeddings import EmbeddingError, get_embedder
from tests.conftest import REPO, SEED_FILE, SEEDS

TEXTS = [
    "Lukashenko met the American envoy in Minsk on Saturday.",
    "The prisoners were released after talks.",
    "Computational complexity theory classifies problems by their inherent difficulty.",
    "A short one.",
    "Venezuela's opposition leader travelled to Oslo to receive the Nobel Peace Prize, her first public appearance in months.",
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return get_embedder(backend="torch").encode(TEXTS, threads=1)


def test_onnx_fp32_matches_torch(torch_vectors: np.ndarray) -> None:
    vecs = get_embedder(backend="onnx").encode(TEXTS, threads=1, batch_size=2)
    assert vecs.shape == torch_vectors.shape and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert (vecs * torch_vectors).sum(axis=1).min() > 0.9999


def test_onnx_int8_is_close_to_torch(torch_vectors: np.ndarray) -> None:
    vecs = get_embedder(backend="onnx-int8").encode(TEXTS, threads=1)
    cos = (vecs * torch_vectors).sum(axis=1)
    # Quantization costs a little (measured: mean 0.99 over real sentences); ranking survives it.
    assert cos.min() > 0.95 and cos.mean() > 0.98
    sims_int8, sims_torch = vecs @ vecs.T, torch_vectors @ torch_vectors.T
    assert np.abs(sims_int8 - sims_torch).max() < 0.06


def test_int8_vector_does_not_depend_on_the_batch() -> None:
    emb = get_embedder(backend="onnx-int8")
    alone = np.stack([emb.encode([t])[0] for t in TEXTS])
    in_batch = emb.encode(TEXTS, threads=2, batch_size=32)  # two sessions side by side, each its own shard
    np.testing.assert_array_equal(alone, in_batch)  # same text, same vector: queries match the index exactly


def test_backends_agree_on_model_identity() -> None:
    embs = [get_embedder(backend=b) for b in ("onnx-int8", "onnx", "torch")]
    assert {e.backend for e in embs} == {"onnx-int8", "onnx", "torch"}
    for attr in ("name", "dimension", "fingerprint", "max_tokens"):
        assert len({getattr(e, attr) for e in embs}) == 1, attr
    assert len({e.count_tokens(TEXTS[4]) for e in embs}) == 1
    assert embs[0].word_vectors(["prisoner", "envoy"]).shape == (2, embs[0].dimension)


def test_onnx_files_go_to_the_cache_folder_not_site_packages() -> None:
    emb = get_embedder(backend="onnx-int8")
    from qa.embedders.onnx_backend import cache_root

    assert emb.model_file.is_file() and cache_root() in emb.model_file.parents  # type: ignore[attr-defined]
    assert emb.path not in emb.model_file.parents  # type: ignore[attr-defined]


def test_failed_export_falls_back_to_torch_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import qa.embedders.onnx_export as export
    import qa.embeddings as embeddings

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated exporter failure")

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(export, "export_fp32", broken)
    monkeypatch.setattr(embeddings, "_CACHE", {})
    with caplog.at_level(logging.WARNING, logger="qa.embeddings"):
        emb = get_embedder(backend="onnx-int8")
    assert emb.backend == "torch" and "simulated exporter failure" in (emb.fallback_reason or "")
    assert "using torch instead" in caplog.text
    # Querying an index built with ONNX never falls back silently: it is an error naming the fix.
    with pytest.raises(EmbeddingError, match="qa rebuild --embedding-backend torch"):
        get_embedder(backend="onnx-int8", fallback=False)


def test_index_records_its_backend_and_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "idx"
    a = Assistant.open(root, embedding_backend="onnx")
    a.add([SEED_FILE])
    assert json.loads((root / "manifest.json").read_text())["model"]["backend"] == "onnx"
    # Another backend asked for later (env or flag) does not change how this index is embedded.
    monkeypatch.setenv("QA_EMBEDDING_BACKEND", "onnx-int8")
    b = Assistant.open(root, create=False)
    assert b.embedder.backend == "onnx" and b.info()["backend"] == "onnx"
    assert not b.ask("What did Coale say about prisoners?").abstained
    c = Assistant.open(root, create=False, embedding_backend="torch")
    assert c.embedder.backend == "onnx"


def test_new_index_uses_the_default_backend(tmp_path: Path) -> None:
    a = Assistant.open(tmp_path / "idx")
    a.add([SEED_FILE])
    assert a.info()["backend"] == "onnx-int8"


def test_chunk_vector_is_normalised_mean_of_its_sentences() -> None:
    from qa.chunking import Chunk
    from qa.ingest import sentence_mean_vectors

    rng = np.random.default_rng(0)
    sv = rng.standard_normal((5, 8)).astype(np.float32)
    sv /= np.linalg.norm(sv, axis=1, keepdims=True)
    chunks = [Chunk(0, 0, 0, 1), Chunk(0, 0, 1, 2)]  # doc 1: sentences 0-2, overlapping chunks
    chunks2 = [Chunk(0, 0, 0, 0)]  # doc 2: sentences 3-4, one chunk of its first sentence
    out = sentence_mean_vectors(sv, [(3, chunks), (2, chunks2)])
    want = sv[0] + sv[1]
    np.testing.assert_allclose(out[0], want / np.linalg.norm(want), atol=1e-6)
    want = sv[1] + sv[2]
    np.testing.assert_allclose(out[1], want / np.linalg.norm(want), atol=1e-6)
    np.testing.assert_allclose(out[2], sv[3], atol=1e-6)


def test_indexing_and_answering_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from qa import Assistant; "
        f"a = Assistant.open({str(tmp_path / 'idx')!r}); a.add([{str(SEEDS)!r}]); "
        "ans = a.ask('What did Coale say about prisoners?'); assert not ans.abstained; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_cli_backend_flag_and_rebuild_switch(tmp_path: Path) -> None:
    idx = str(tmp_path / "idx")

    def qa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, cwd=REPO, timeout=300)

    assert qa("index", "-q", "--embedding-backend", "onnx", "-i", idx, str(SEED_FILE)).returncode == 0
    info = json.loads(qa("info", "-i", idx, "--json").stdout)
    assert info["backend"] == "onnx"
    assert qa("rebuild", "-i", idx).returncode == 0  # keeps its backend
    assert json.loads(qa("info", "-i", idx, "--json").stdout)["backend"] == "onnx"
    assert qa("rebuild", "-i", idx, "--embedding-backend", "onnx-int8").returncode == 0  # switches on purpose
    assert json.loads(qa("info", "-i", idx, "--json").stdout)["backend"] == "onnx-int8"
    bad = qa("index", "-q", "--embedding-backend", "cuda", "-i", idx, str(SEED_FILE))
    assert bad.returncode == 2
