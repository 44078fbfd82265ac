"""The IVF index for large corpora: chosen by size or flag, updated on removal, close to exact search.

Real model, small data: the IVF code paths are forced on a few documents with
``index_type="ivf"`` or a tiny ``ivf_min_chunks``; recall against exact search is checked
on structured synthetic vectors (no timing here: speed is measured by bench/).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant
from qa.store import IndexCorruptError, IndexStore
from qa.vector_index import DenseConfig, DenseIndex, load, write
from tests.conftest import REPO, SEEDS

TRAIN_DOCS = REPO / "train" / "docs"


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


@pytest.fixture(scope="module")
def ivf_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ivf") / "index"
    Assistant.open(root, index_type="ivf").add([SEEDS, TRAIN_DOCS])
    return root


def test_ivf_index_answers_like_flat(ivf_index: Path, seed_index: Path) -> None:
    assert _manifest(ivf_index)["dense"]["type"] == "ivf"
    a = Assistant.open(ivf_index, create=False)
    snap = a.snapshot()
    assert isinstance(snap.faiss_index, DenseIndex) and snap.faiss_index.kind == "ivf"
    assert isinstance(snap.sentence_vectors, np.memmap)  # large arrays are memory-mapped, not read
    assert a.info()["index_type"] == "ivf"
    ans = a.ask("What did Coale say about prisoners?")
    flat = Assistant.open(seed_index, create=False).ask("What did Coale say about prisoners?")
    assert not ans.abstained and ans.citations[0].quote == flat.citations[0].quote
    # A document filter is searched exactly over that document's chunks.
    only = a.ask("Who was convicted?", documents=["court_redmere_fraud_verdict.txt"])
    assert all(p.source.endswith("court_redmere_fraud_verdict.txt") for p in only.passages)


def test_remove_and_add_update_the_ivf_index_without_retraining(ivf_index: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    shutil.copytree(ivf_index, root)
    before = _manifest(root)
    a = Assistant.open(root, create=False)
    n0 = a.info()["chunks"]
    doc = TRAIN_DOCS / "court_redmere_fraud_verdict.txt"
    assert a.remove([doc]) == [str(doc.resolve())]
    after = _manifest(root)
    assert after["dense"]["type"] == "ivf" and after["dense"]["trained_on"] == before["dense"]["trained_on"]
    snap = a.snapshot()
    assert snap.faiss_index.ntotal == snap.n_chunks < n0
    assert np.all(np.diff(snap.chunk_ids) > 0)
    assert all("Redmere" not in snap.chunk_text(h.chunk) for h in
               __import__("qa.retrieval", fromlist=["search"]).search(snap, a.embedder, "Redmere fraud verdict", k=5, candidate_k=30, rrf_k=60).hits)
    # Re-adding gives new ids after the old ones; vectors still line up with their chunks.
    a.add([doc])
    snap = a.snapshot()
    assert snap.n_chunks == n0 and np.all(np.diff(snap.chunk_ids) > 0)
    vecs = snap.chunk_vectors()
    _, rows = snap.faiss_index.search(vecs[-1], 1)
    assert rows[0, 0] == snap.n_chunks - 1
    # The re-added document is found again (whether the answerer then dares to answer is
    # the abstention threshold's business, not the index's).
    again = a.ask("Which company's finance chief was convicted of fraud?")
    assert again.passages[0].source.endswith("court_redmere_fraud_verdict.txt") and "Redmere" in again.passages[0].text


def test_auto_switches_to_ivf_above_the_threshold_and_flag_wins(tmp_path: Path) -> None:
    root = tmp_path / "index"
    a = Assistant.open(root, ivf_min_chunks=40)
    a.add([SEEDS])  # 11 chunks: flat
    assert _manifest(root)["dense"] == {"type": "flat", "requested": "auto"}
    a.add([TRAIN_DOCS])  # ~80 chunks: IVF
    assert _manifest(root)["dense"]["type"] == "ivf"
    Assistant.open(root, create=False, index_type="flat").remove([TRAIN_DOCS / "court_redmere_fraud_verdict.txt"])
    assert _manifest(root)["dense"]["type"] == "flat"
    assert not Assistant.open(root, create=False).ask("What did Coale say about prisoners?").abstained


def test_damaged_ivf_vectors_give_clear_error(ivf_index: Path, tmp_path: Path) -> None:
    root = tmp_path / "index"
    shutil.copytree(ivf_index, root)
    path = root / _manifest(root)["generation_dir"] / "chunks.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(IndexCorruptError, match="qa rebuild"):
        IndexStore(root).load()


def _clustered(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Like real chunk vectors: means of a few 'sentence' vectors drawn from topical clusters
    (the topics are fixed; ``seed`` draws other sentences and chunks from them)."""
    topics = np.random.default_rng(42).standard_normal((50, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    sentences = topics[rng.integers(0, 50, 2000)] + 0.7 * rng.standard_normal((2000, dim)).astype(np.float32)
    picks = sentences[rng.integers(0, 2000, (n, 4))].mean(axis=1)
    return (picks / np.linalg.norm(picks, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_recall_at_10_against_exact_search(tmp_path: Path) -> None:
    vectors = _clustered(20_000)
    # nprobe 32 of 141 lists; the default for real chunk vectors is chosen in docs/benchmarks.md.
    info = write(tmp_path, vectors, None, vectors.shape[1], DenseConfig("ivf", nprobe=32, explicit=True), None, None)
    assert info["nprobe"] == 32
    dense = load(tmp_path, info)
    queries = _clustered(100, seed=1)
    recall = []
    for q in queries:
        _, rows = dense.search(q, 10)
        exact = np.argsort(-(vectors @ q))[:10]
        recall.append(len(set(rows[0].tolist()) & set(exact.tolist())) / 10)
    assert np.mean(recall) >= 0.95
    # Exact re-scoring: returned scores are the true inner products.
    scores, rows = dense.search(queries[0], 5)
    np.testing.assert_allclose(scores[0], vectors[rows[0]] @ queries[0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_query_thread_cap_gives_the_same_hits_and_restores_faiss_threads(kind: str, ivf_index: Path, seed_index: Path) -> None:
    """The query path caps FAISS's OpenMP threads per call; results must not change, nor the global setting."""
    import faiss

    snap = IndexStore(ivf_index if kind == "ivf" else seed_index).load()
    assert snap.faiss_index.kind == kind
    x = snap.chunk_vectors()[:3]
    faiss.omp_set_num_threads(2)
    free = snap.faiss_index.search(x, 5)
    capped = snap.faiss_index.search(x, 5, threads=1)
    np.testing.assert_array_equal(free[1], capped[1])
    np.testing.assert_allclose(free[0], capped[0], rtol=1e-6)
    assert faiss.omp_get_max_threads() == 2
