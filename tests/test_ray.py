"""`qa index --ray` and `qa batch --ray` against a real two-node Ray cluster on loopback.

The session fixture starts its own cluster: a head on 127.0.0.2 and a second node on
127.0.0.3 (Ray rewrites 127.0.0.1 and localhost to the machine's network address, so
those two would not stay on loopback), one CPU each, with token authentication (Ray's
ports listen on all interfaces) and its own temp folder. Each `ray start --block` runs
as the leader of a new session, and teardown kills exactly the processes of those
sessions, whatever happened: `ray stop` would kill every Ray cluster on the machine.

Everything Ray runs in subprocesses (`qa ...`), never in the pytest process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, SEEDS

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HEAD_IP, NODE_IP = "127.0.0.2", "127.0.0.3"
START_TIMEOUT_S = 120  # both nodes; ~15 s on a quiet 2-core machine
QA_TIMEOUT_S = 300
#: int8 embeds one text per session run, so a vector does not depend on its batch: equal bits.
#: fp32 batches (masked padding), and batches differ between a local and a Ray run: measured 3e-8.
FP32_TOLERANCE = 1e-6


def _require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        msg = 'ray is not installed; install the extra with `pip install -e ".[ray]"`'
        if CI:
            pytest.fail(msg + " (CI must run these tests)")
        pytest.skip(msg)


@dataclass
class Cluster:
    address: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))  # Ray's GCS listens on all interfaces
        return int(s.getsockname()[1])


def _session_pids(sid: int) -> list[int]:
    """Processes of one session (Ray's workers change process group, never session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _kill_sessions(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each `ray start --block` (it stops its node), then SIGKILL whatever of their sessions is left.

    A worker node stops in ~2 s; a head that ran jobs can take 15 s or more, which a
    throw-away test cluster does not need.
    """
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_session_pids(p.pid) for p in procs):
        time.sleep(0.5)
    for p in procs:
        for pid in _session_pids(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _start_node(args: list[str], env: dict[str, str], log: Path, deadline: float, procs: list[subprocess.Popen[bytes]]) -> None:
    """`ray start --block` as the leader of a new session, registered in ``procs`` before anything can fail."""
    ray = str(Path(sys.executable).parent / "ray")
    with open(log, "wb") as fh:
        proc = subprocess.Popen([ray, "start", "--block", *args], stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    procs.append(proc)
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Ray runtime started" in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"`ray start {' '.join(args)}` exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"`ray start {' '.join(args)}` not up after {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def loopback_cluster(cpus_per_node: int = 1) -> Iterator[Cluster]:
    """A head on 127.0.0.2 and a second node on 127.0.0.3, token-protected; always stopped (bench/bench_ray.py uses it too)."""
    # Short and private: Ray's Unix socket paths live under it and must fit in 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="qa-ray-", dir="/tmp"))
    port = _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("QA_RAY_ADDRESS", None)
    common = ["--num-cpus", str(cpus_per_node), f"--temp-dir={temp}", "--disable-usage-stats"]
    procs: list[subprocess.Popen[bytes]] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        head = ["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", "--include-dashboard=false", *common]
        _start_node(head, env, temp / "head.log", deadline, procs)
        _start_node([f"--address={HEAD_IP}:{port}", f"--node-ip-address={NODE_IP}", *common], env, temp / "node.log", deadline, procs)
        yield Cluster(address=f"{HEAD_IP}:{port}", env=env)
    finally:
        _kill_sessions(procs)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    _require_ray()
    with loopback_cluster() as cluster:
        yield cluster


def qa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = env or {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=QA_TIMEOUT_S)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seeds/ and the training articles, a Markdown and an HTML file, and one empty file (skipped)."""
    root = tmp_path_factory.mktemp("ray-corpus")
    shutil.copytree(SEEDS, root / "seeds")
    shutil.copytree(REPO / "train" / "docs", root / "train")
    (root / "notes.md").write_text("# Field notes\n\nThe bridge in Calderon Falls reopened on Monday. Traffic was light.\n", encoding="utf-8")
    (root / "page.html").write_text(
        "<html><head><title>Harbour report</title></head><body><article><p>The harbour at Port Alder handled "
        "a record 2.1 million tonnes of cargo last year, the port authority said.</p><p>Officials expect "
        "growth to slow.</p></article></body></html>",
        encoding="utf-8",
    )
    (root / "empty.txt").write_text("")
    return root


def _documents(corpus: Path) -> int:
    """Files the index should take: all but the empty one."""
    return sum(1 for p in corpus.rglob("*") if p.is_file() and p.stat().st_size > 0)


def _summary(stdout: str) -> str:
    return stdout.strip().splitlines()[-1].rsplit(" in ", 1)[0]  # without the seconds


def _nodes_line(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("ray: ")]
    assert lines, stderr[-3000:]
    return lines[-1]


def _snapshot(index: Path):  # noqa: ANN202
    from qa import Assistant

    return Assistant.open(index, create=False).snapshot()


def _assert_same_index(local: Path, remote: Path, tolerance: float) -> None:
    a, b = _snapshot(local), _snapshot(remote)
    fields = lambda d: {k: v for k, v in d.__dict__.items() if k != "indexed_at"}  # noqa: E731
    assert [fields(d) for d in a.documents] == [fields(d) for d in b.documents]
    for name in ("chunks", "chunk_doc", "sentences", "sentence_doc"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert [a.chunk_text(i) for i in range(a.n_chunks)] == [b.chunk_text(i) for i in range(b.n_chunks)]
    assert a.model == b.model
    for va, vb in ((a.sentence_vectors, b.sentence_vectors), (a.chunk_vectors(), b.chunk_vectors())):
        assert va.shape == vb.shape
        if tolerance == 0:
            assert np.array_equal(va, vb)
        else:
            assert float(np.abs(va - vb).max()) <= tolerance


def _build_both(corpus: Path, tmp: Path, cluster: Cluster, backend: str) -> tuple[Path, Path]:
    local, remote = tmp / f"local-{backend}", tmp / f"ray-{backend}"
    r_local = qa("index", str(corpus), "--index", str(local), "--embedding-backend", backend, "-q")
    r_ray = qa("index", str(corpus), "--index", str(remote), "--embedding-backend", backend, "-q", "--ray", cluster.address, env=cluster.env)
    for r in (r_local, r_ray):
        assert r.returncode == 1, r.stderr[-3000:]  # the empty file is skipped, in both modes
        assert "skipped" in r.stderr and "empty.txt" in r.stderr
    assert _summary(r_ray.stdout) == _summary(r_local.stdout)
    assert _summary(r_ray.stdout).startswith(f"{_documents(corpus)} added, 0 updated, 0 unchanged, 0 removed, 1 skipped; ")
    # Work ran on both nodes.
    assert f"on 2 nodes ({HEAD_IP}: " in _nodes_line(r_ray.stderr) and f", {NODE_IP}: " in _nodes_line(r_ray.stderr)
    return local, remote


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_index_on_ray_int8_is_bit_identical_to_local(ray_cluster: Cluster, corpus: Path, tmp_path: Path) -> None:
    local, remote = _build_both(corpus, tmp_path, ray_cluster, "onnx-int8")
    _assert_same_index(local, remote, tolerance=0)
    # Unchanged files are recognised by the workers and cost no embedding; the index stays as it was.
    before = json.loads((remote / "manifest.json").read_text())["generation"]
    r = qa("index", str(corpus), "--index", str(remote), "-q", "--ray", ray_cluster.address, env=ray_cluster.env)
    assert r.returncode == 1 and _summary(r.stdout) == f"0 added, 0 updated, {_documents(corpus)} unchanged, 0 removed, 1 skipped; 0 chunks", r.stderr[-3000:]
    assert json.loads((remote / "manifest.json").read_text())["generation"] == before


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_index_and_batch_on_ray_fp32_give_the_same_answers(ray_cluster: Cluster, corpus: Path, tmp_path: Path) -> None:
    local, remote = _build_both(corpus, tmp_path, ray_cluster, "onnx")
    _assert_same_index(local, remote, tolerance=FP32_TOLERANCE)

    gold = [json.loads(x) for x in (REPO / "eval" / "seed.jsonl").read_text(encoding="utf-8").splitlines()[:10]]
    lines = [json.dumps({"id": g["id"], "question": g["question"]}) for g in gold]
    lines[2:2] = [
        "{not json",
        json.dumps({"id": "empty", "question": ""}),
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"question": "Where did she travel last week?", "history": [["Tell me about Machado", "She won the Nobel Peace Prize."]]}),
        json.dumps({"id": "bridge", "question": "When did the bridge in Calderon Falls reopen?"}),
    ]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_local, out_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    r_local = qa("batch", str(questions), "--out", str(out_local), "--index", str(local))
    r_ray = qa("batch", str(questions), "--out", str(out_ray), "--index", str(remote), "--ray", ray_cluster.address, env=ray_cluster.env)
    for r in (r_local, r_ray):
        assert r.returncode == 1, r.stderr[-3000:]  # three lines fail, in both modes
        assert "answered 13 lines, 3 failed" in r.stderr
    got_local = [json.loads(x) for x in out_local.read_text(encoding="utf-8").splitlines()]
    got_ray = [json.loads(x) for x in out_ray.read_text(encoding="utf-8").splitlines()]
    for rec in got_local + got_ray:
        rec.pop("latency_ms", None)
    assert [r.get("id") for r in got_ray] == ["seed-01", "seed-02", 3, "empty", 6, 7, "bridge", *[g["id"] for g in gold[2:]]]
    assert [r for r in got_ray if "error" in r] == [r for r in got_local if "error" in r] and len([r for r in got_ray if "error" in r]) == 3
    assert got_ray == got_local  # same answers, citations, scores and order
    line = _nodes_line(r_ray.stderr)
    assert line.startswith("ray: 15 lines on 2 nodes") and f"{HEAD_IP}: " in line and f"{NODE_IP}: " in line

    # a model server nobody can reach stops the batch at its first line, on Ray as locally
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    out_dead = tmp_path / "dead.jsonl"
    r = qa("batch", str(questions), "--out", str(out_dead), "--index", str(remote), "--ray", ray_cluster.address,
           "--llm", "ollama:m", env={**ray_cluster.env, "QA_LLM_BASE_URL": f"http://127.0.0.1:{dead}"})
    assert r.returncode == 2 and "stopped at line 1;" in r.stderr and "could not reach the model server" in r.stderr, r.stderr[-3000:]
    assert len(out_dead.read_text(encoding="utf-8").splitlines()) == 1


def test_ray_missing_gives_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qa.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    for args in (["index", str(SEEDS)], ["batch", str(REPO / "eval" / "seed.jsonl"), "--out", str(tmp_path / "o.jsonl")]):
        r = CliRunner().invoke(app, [*args, "--index", str(tmp_path / "idx"), "--ray", "127.0.0.2:6379"])
        assert r.exit_code == 2, r.output
        assert 'pip install -e ".[ray]"' in " ".join(r.output.split())
    assert not (tmp_path / "idx").exists() and not (tmp_path / "o.jsonl").exists()  # nothing started


def test_bad_ray_address_fails_fast_with_the_fix(tmp_path: Path) -> None:
    _require_ray()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "QA_RAY_ADDRESS")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    started = time.monotonic()
    r = qa("index", str(SEEDS), "--index", str(tmp_path / "idx"), "--ray", f"127.0.0.1:{closed}", env=env)
    assert r.returncode == 2 and f"no Ray cluster at 127.0.0.1:{closed}" in r.stderr, r.stderr
    assert time.monotonic() - started < 60  # ray.init alone retries for minutes
    r = qa("batch", str(REPO / "eval" / "seed.jsonl"), "--out", str(tmp_path / "o.jsonl"), "--ray", "auto", env=env)
    assert r.returncode == 2 and "RAY_ADDRESS" in r.stderr
