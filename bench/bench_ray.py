"""Local vs Ray: ingestion (`qa index`) and batch Q&A (`qa batch`) on a 2-node loopback cluster.

Starts its own cluster exactly as tests/test_ray.py does (head 127.0.0.2, node 127.0.0.3,
``--num-cpus`` each, token auth, private temp folder, always stopped), builds the same
corpus (bench/corpus.py) locally and with ``--ray``, then answers the same questions both
ways. Every step is its own ``qa`` process, timed from start to exit, as a user sees it.
It also prints the figures of the scaling model in docs/cluster.md: the cluster-side
seconds of a one-file job (actor start and model load), the per-actor throughput, and
the driver's serial share (start, listing, merge, atomic write).

Not a test: on a 2-core machine both "nodes" share the same two cores (and whatever else
runs there), so Ray can only add overhead here; the point is to measure how much.

    python bench/bench_ray.py [--chunks 1000] [--questions 200] [--cpus-per-node 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from corpus import make_corpus  # noqa: E402  (bench/ is on sys.path, as for the other benchmarks)

from tests.test_ray import loopback_cluster  # noqa: E402


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "qa", *args], cwd=REPO, env=env or dict(os.environ), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if r.returncode not in (0, 1):
        raise SystemExit(f"qa {' '.join(args)} failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return seconds, r


def chunks_of(stdout: str) -> int:
    m = re.search(r"; (\d+) chunks in", stdout)
    assert m, stdout
    return int(m.group(1))


def cluster_seconds(stderr: str) -> tuple[int, float, str]:
    """Actors, cluster-side seconds and the per-node split from the `ray: ...` line of `qa index --ray`."""
    m = re.search(r"^(ray: .*); (\d+) actors, ([\d.]+) s on the cluster$", stderr, re.M)
    assert m, stderr[-3000:]
    return int(m.group(2)), float(m.group(3)), m.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1000, help="Corpus size (bench/corpus.py make_corpus).")
    parser.add_argument("--questions", type=int, default=200, help="Questions for the batch comparison (SQuAD sample).")
    parser.add_argument("--cpus-per-node", type=int, default=1)
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp_name:
        tmp = Path(tmp_name)
        corpus, gold = make_corpus(tmp / "corpus", args.chunks)
        questions = tmp / "q.jsonl"
        questions.write_text(
            "".join(json.dumps({"id": g.id, "question": g.question}) + "\n" for g in gold[: args.questions]), encoding="utf-8"
        )
        n_questions = min(args.questions, len(gold))
        local_idx, ray_idx, tiny_idx = tmp / "local", tmp / "ray", tmp / "tiny"

        local_s, r = run(["index", str(corpus), "--index", str(local_idx), "-q"])
        chunks = chunks_of(r.stdout)
        batch_local_s, _ = run(["batch", str(questions), "--out", str(tmp / "a-local.jsonl"), "--index", str(local_idx)])

        t = time.perf_counter()
        with loopback_cluster(args.cpus_per_node) as cluster:
            start_s = time.perf_counter() - t
            # One-file jobs first. The first job on a fresh cluster also starts Ray Data's own
            # long-lived actors; the second shows what every job pays before its first chunk
            # (actors start, each loads the model).
            tiny = []
            for k in range(2):
                _, r = run(["index", str(REPO / "seeds"), "--index", str(tiny_idx / str(k)), "-q", "--ray", cluster.address], cluster.env)
                tiny.append(cluster_seconds(r.stderr)[1])
            first_job_s, tiny_cluster_s = tiny
            ray_s, r = run(["index", str(corpus), "--index", str(ray_idx), "-q", "--ray", cluster.address], cluster.env)
            actors, ray_cluster_s, split = cluster_seconds(r.stderr)
            assert chunks_of(r.stdout) == chunks
            batch_ray_s, rb = run(
                ["batch", str(questions), "--out", str(tmp / "a-ray.jsonl"), "--index", str(local_idx), "--ray", cluster.address],
                cluster.env,
            )
            batch_split = [x for x in rb.stderr.splitlines() if x.startswith("ray: ")][-1]
        strip = lambda rec: {k: v for k, v in rec.items() if k != "latency_ms"}  # noqa: E731
        same = [strip(json.loads(x)) for x in (tmp / "a-local.jsonl").read_text().splitlines()] == [
            strip(json.loads(x)) for x in (tmp / "a-ray.jsonl").read_text().splitlines()
        ]
    load_after = os.getloadavg()

    work_s = ray_cluster_s - tiny_cluster_s
    per_actor = f"{chunks / work_s / actors:.1f} chunks/s per actor after start-up" if work_s > 0 else "start-up dominates: use more --chunks"
    driver_s = ray_s - ray_cluster_s
    rows = [
        ("cluster start (2 nodes, `ray start`)", "", f"{start_s:.0f}", ""),
        (f"ingestion, whole process (s), {chunks} chunks", f"{local_s:.0f}", f"{ray_s:.0f}", f"{ray_s / local_s:.2f}"),
        ("ingestion chunks/s", f"{chunks / local_s:.1f}", f"{chunks / ray_s:.1f}", f"{local_s / ray_s:.2f}"),
        (f"batch Q&A, whole process (s), {n_questions} questions", f"{batch_local_s:.0f}", f"{batch_ray_s:.0f}", f"{batch_ray_s / batch_local_s:.2f}"),
        ("batch Q&A questions/s", f"{n_questions / batch_local_s:.1f}", f"{n_questions / batch_ray_s:.1f}", f"{batch_local_s / batch_ray_s:.2f}"),
    ]
    print(f"| measure | local | Ray, 2 loopback nodes x {args.cpus_per_node} CPU | Ray / local |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"ingestion: {split}")
    print(f"batch: {batch_split}; answers identical to local (latency aside): {same}")
    print(
        f"scaling model inputs: one-file job {tiny_cluster_s:.1f} s on the cluster (actor start + model load; "
        f"the first job on the fresh cluster {first_job_s:.1f} s); {actors} actors, {ray_cluster_s:.1f} s on the cluster "
        f"for {chunks} chunks -> {per_actor}; driver's serial share (start, listing, merge, write) {driver_s:.1f} s"
    )
    print(f"load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
