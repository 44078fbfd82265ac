"""Our side of bench/bench_vs_langchain.py; each command runs as its own process.

    python bench/ours.py query INDEX QUESTIONS.json [--repeat N]
    python bench/ours.py precomputed CORPUS_DIR INDEX_DIR CHUNKS_OUT
    python bench/ours.py dense-build N OUT_DIR
    python bench/ours.py dense-query OUT_DIR QUESTIONS.json

``precomputed`` builds the index exactly as ``qa index`` does, except that each distinct
sentence is embedded once and looked up afterwards (a synthetic corpus repeats its
sentences; with the int8 backend a text's vector does not depend on its batch, so the
vectors are the ones ``qa index`` would compute). It also writes the chunk texts and
vectors (``chunks.jsonl``, ``vectors.npy``) that the baseline loads for the same rows.

``dense-build``/``dense-query`` are the million-chunk row: synthetic chunk vectors (the
normalised mean of 3-6 random real sentence vectors, as our chunk vectors are made),
an IVF index as ``qa index`` writes it above QA_IVF_MIN_CHUNKS, and recall@10 of IVF
against exact search for real questions. Each command prints one JSON object last.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def query(index: str, questions_path: str, repeat: int = 1) -> dict[str, Any]:
    from qa import Assistant
    from qa.answer import Passage
    from qa.evaluation import GoldItem, resolve_support, retrieval_rank
    from qa.retrieval import search

    t = time.perf_counter()
    a = Assistant.open(index, create=False)
    a.embedder.warm_up()
    snap = a.snapshot()
    docs = a.documents()
    s = a.settings
    questions = json.loads(Path(questions_path).read_text(encoding="utf-8"))
    a.ask(questions[0]["question"])  # builds the answerer's per-snapshot tables
    load_s = time.perf_counter() - t
    for q in questions[:5]:
        a.ask(q["question"])
    retrieval_ms: list[float] = []
    answer_ms: list[float] = []
    hits = answerable = 0
    for r in range(repeat):
        for q in questions:
            t = time.perf_counter()
            search(snap, a.embedder, q["question"], k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k, threads=s.query_threads)
            retrieval_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            ans = a.ask(q["question"])
            answer_ms.append((time.perf_counter() - t) * 1000)
            if r == 0 and q["support"]:
                answerable += 1
                item = GoldItem(id=q["id"], question=q["question"], answers=["x"], support=q["support"], source=q["support"][0]["source"])
                spans = resolve_support(item, docs)
                passages: list[Passage] = ans.passages
                hits += retrieval_rank(passages[:5], spans) is not None
    return {
        "chunks": snap.n_chunks,
        "index_type": snap.faiss_index.kind,
        "backend": snap.model.backend if snap.model else None,
        "load_s": load_s,
        "retrieval_ms": retrieval_ms,
        "answer_ms": answer_ms,
        "recall_at_5": hits / answerable if answerable else None,
        "answerable": answerable,
    }


class MemoEmbedder:
    """Delegates to an embedder, embedding each distinct text once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memo: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            for t, v in zip(missing, self.inner.encode(missing, **kwargs)):
                self.memo[t] = v
        return np.stack([self.memo[t] for t in texts]) if texts else self.inner.encode([], **kwargs)


def precomputed(corpus: str, index: str, chunks_out: str) -> dict[str, Any]:
    import numpy as np

    from qa.embeddings import get_embedder
    from qa.ingest import index_paths
    from qa.settings import load_settings
    from qa.store import IndexStore

    settings = load_settings()
    embedder = MemoEmbedder(get_embedder(None, settings.embedding_backend))
    t = time.perf_counter()
    report = index_paths(IndexStore(index), [corpus], embedder, settings, fresh=True)  # type: ignore[arg-type]
    build_s = time.perf_counter() - t
    snap = IndexStore(index).load()
    out = Path(chunks_out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "vectors.npy", np.ascontiguousarray(snap.chunk_vectors(), dtype=np.float32))
    with open(out / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for i in range(snap.n_chunks):
            doc = snap.documents[int(snap.chunk_doc[i])]
            rec = {"text": snap.chunk_text(i), "source": Path(doc.source).name, "start": int(snap.chunks[i, 0])}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return {"chunks": report.chunks, "build_s": build_s, "distinct_texts_embedded": len(embedder.memo),
            "index_type": snap.faiss_index.kind}  # type: ignore[union-attr]


def _sentence_vectors() -> tuple[list[str], Any]:
    from corpus import sentence_pool

    from qa.embeddings import get_embedder

    texts = sentence_pool()
    return texts, get_embedder(None, "onnx-int8").encode(texts, threads=2)


def dense_build(n: int, out_dir: str) -> dict[str, Any]:
    import numpy as np

    from qa import vector_index

    texts, pool = _sentence_vectors()
    rng = np.random.default_rng(1)
    vectors = np.empty((n, pool.shape[1]), dtype=np.float32)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = 100_000
    with open(out / "chunks.jsonl", "w", encoding="utf-8") as fh:  # the chunk texts, for the baseline's docstore
        for lo in range(0, n, step):
            m = min(step, n - lo)
            k = rng.integers(3, 7, size=m)
            picks = rng.integers(0, len(pool), size=(m, 6))
            mask = np.arange(6)[None, :] < k[:, None]
            v = (pool[picks] * mask[:, :, None]).sum(axis=1)
            vectors[lo : lo + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
            for j in range(m):
                text = " ".join(texts[p] for p in picks[j, : k[j]])
                fh.write(json.dumps({"text": text, "source": f"synthetic-{lo + j}", "start": 0}) + "\n")
    t = time.perf_counter()
    info = vector_index.write(out, vectors, None, vectors.shape[1], vector_index.DenseConfig("ivf", explicit=True), None, None)
    build_s = time.perf_counter() - t
    (out / "dense.json").write_text(json.dumps(info))
    np.save(out / "vectors.npy", vectors)  # the exact reference, and the baseline's vectors
    return {"chunks": n, "build_s": build_s, **info}


def dense_query(out_dir: str, questions_path: str) -> dict[str, Any]:
    import numpy as np

    from qa import vector_index
    from qa.embeddings import get_embedder

    out = Path(out_dir)
    questions = json.loads(Path(questions_path).read_text(encoding="utf-8"))
    emb = get_embedder(None, "onnx-int8")
    emb.warm_up()
    qv = emb.encode([q["question"] for q in questions], threads=1)
    before = current_rss_mb()
    t = time.perf_counter()
    dense = vector_index.load(out, json.loads((out / "dense.json").read_text()))
    load_s = time.perf_counter() - t
    for v in qv[:5]:
        dense.search(v, 10)
    lat = []
    found = []
    for v in qv:
        t = time.perf_counter()
        _, rows = dense.search(v, 10)
        lat.append((time.perf_counter() - t) * 1000)
        found.append(rows[0])
    after = current_rss_mb()
    n = dense.ntotal
    # exact reference, outside the timed loop
    flat = np.load(out / "vectors.npy", mmap_mode="r")
    exact_top = []
    for lo in range(0, len(qv), 64):
        scores = np.asarray(flat @ qv[lo : lo + 64].T)  # [n, 64]
        for j in range(scores.shape[1]):
            part = np.argpartition(-scores[:, j], 10)[:10]
            exact_top.append(set(part.tolist()))
    recall = [len(ex & set(rows.tolist())) / 10 for ex, rows in zip(exact_top, found)]
    curve = {}  # recall@10 and p50 latency for other nprobe values (how the default was chosen)
    for nprobe in (8, 16, 32, 64, 128, 256):
        if nprobe > dense.index.nlist:
            break
        dense.index.nprobe = nprobe
        ms, rec = [], []
        for v, ex in zip(qv, exact_top):
            t = time.perf_counter()
            _, rows = dense.search(v, 10)
            ms.append((time.perf_counter() - t) * 1000)
            rec.append(len(ex & set(rows[0].tolist())) / 10)
        curve[nprobe] = {"recall_at_10": float(np.mean(rec)), "p50_ms": float(np.median(ms))}
    dense.index.nprobe = dense.nprobe
    disk = sum(f.stat().st_size for f in out.iterdir() if f.name in ("chunks.faiss", "chunks.npy", "chunk_ids.npy"))
    return {
        "chunks": n, "nlist": dense.index.nlist, "nprobe": dense.nprobe, "load_s": load_s,
        "dense_ms": lat, "recall_at_10_vs_flat": float(np.mean(recall)),
        "rss_delta_mb": after - before, "ram_bytes_per_chunk": (after - before) * 1024 * 1024 / n,
        "disk_bytes_per_chunk": disk / n, "nprobe_curve": curve,
    }


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cmd, *args = sys.argv[1:]
    if cmd == "query":
        repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1
        result = query(args[0], args[1], repeat)
    elif cmd == "precomputed":
        result = precomputed(args[0], args[1], args[2])
    elif cmd == "dense-build":
        result = dense_build(int(args[0]), args[1])
    elif cmd == "dense-query":
        result = dense_query(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {cmd}")
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
