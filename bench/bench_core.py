"""Benchmark of the core path on the seed article: index time and time to answer.

Prints a table. The baseline, measured in the same run on the same index, is a plain
dense similarity search (FAISS top-k, what a tutorial pipeline does per query); the
ratio column is ours / baseline. Not a test: numbers depend on the machine.

    python bench/bench_core.py [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="Passes over the seed questions.")
    parser.add_argument("--questions", type=Path, default=REPO / "eval" / "seed.jsonl")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from qa import Assistant
    from qa.retrieval import search

    import_s = time.perf_counter() - t0
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        a = Assistant.open(Path(tmp) / "idx")
        a.embedder.encode(["warm up"])
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        report = a.add([REPO / "seeds"])
        index_s = time.perf_counter() - t
        snap = a.snapshot()
        s = a.settings
        for q in questions[:5]:  # warm caches (idf table, first-call allocations)
            a.ask(q)

        def timed(fn) -> list[float]:  # type: ignore[no-untyped-def]
            out = []
            for _ in range(args.repeat):
                for q in questions:
                    t = time.perf_counter()
                    fn(q)
                    out.append((time.perf_counter() - t) * 1000)
            return out

        def dense_only(q: str) -> None:
            v = a.embedder.encode([q], threads=s.query_threads)
            snap.faiss_index.search(v, s.top_k)  # type: ignore[union-attr]

        rows = [
            ("dense top-k search (baseline)", timed(dense_only)),
            ("hybrid retrieval (dense + BM25, RRF)", timed(lambda q: search(snap, a.embedder, q, k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k, threads=s.query_threads))),
            ("full extractive answer", timed(a.ask)),
        ]
    base = statistics.median(rows[0][1])
    print(f"corpus: seeds/ ({len(report.added)} document, {report.chunks} chunks); {len(questions)} questions x {args.repeat}; "
          f"torch threads on the query path: {s.query_threads}; cpus: {os.cpu_count()}")
    print(f"import qa: {import_s:.2f} s; model load: {load_s:.2f} s; index build: {index_s:.2f} s")
    print()
    print(f"| {'path':<38} | {'p50 ms':>8} | {'p95 ms':>8} | {'p50 / baseline':>14} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 10}|{'-' * 16}|")
    for name, values in rows:
        p50 = statistics.median(values)
        print(f"| {name:<38} | {p50:8.2f} | {pct(values, 0.95):8.2f} | {p50 / base:14.2f} |")


if __name__ == "__main__":
    main()
