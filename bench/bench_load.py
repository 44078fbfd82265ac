"""Load benchmark of the web UI: concurrent API users while a document is being uploaded.

Builds a fresh index of ``seeds/``, starts ``qa serve`` on 127.0.0.1 in a separate process
(so the clients do not share its interpreter), then runs ``--users`` gradio_client users at
once, each asking ``--questions`` questions through the ``/ask`` API, while one more client
uploads a document through the same HTTP calls the browser's upload widget makes. Prints
latency percentiles (p50/p95/max), errors and throughput. Not a test: the numbers depend on
the machine; ``tests/test_reliability.py`` runs the same code and asserts only correctness.

    python bench/bench_load.py [--users 20] [--questions 10] [--no-upload]

Only loopback addresses are ever targeted (``--url`` refuses anything else): a load
generator pointed at someone else's server is an attack.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parent.parent

#: (question, answerable): the answerable ones must come back cited, the others abstained.
LOAD_QUESTIONS: list[tuple[str, bool]] = [
    ("What did Coale say about prisoners?", True),
    ("Where did Machado travel last week?", True),
    ("Who is Trump's special envoy to Belarus?", True),
    ("What did Lukashenko say about Belarus's doors?", True),
    ("When was Lukashenko re-elected?", True),
    ("What percentage of the vote did the opposition candidate receive?", True),
    ("What reward is offered for Maduro?", True),
    ("Who actually won Venezuela's 2024 presidential race?", True),
    ("What is the capital of Australia?", False),
    ("Who won the 2022 FIFA World Cup?", False),
]

UPLOAD_TEXT = (
    "Zorblax observatory log\n\n"
    "The Zorblax telescope was installed on Mount Kenya in 1997 by the engineer Wanjiru Otieno. "
    "It observes the southern sky every clear night. "
)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a latency that happened)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def assert_loopback(url: str) -> None:
    from qa.exposure import is_loopback

    host = urlparse(url).hostname or ""
    if not is_loopback(host):
        raise SystemExit(f"refusing to load-test {url}: only loopback addresses (127.0.0.1, ::1, localhost) may be targeted")


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (question, answer object)
    wall_s: float = 0.0
    started: float = 0.0
    finished: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + len(self.errors)

    def summary(self) -> str:
        lat = self.latencies_ms
        return (
            f"{self.requests} requests in {self.wall_s:.1f} s ({len(lat) / self.wall_s if self.wall_s else 0:.1f} answers/s), "
            f"{len(self.errors)} errors; latency p50 {pct(lat, 0.5):.0f} ms, p95 {pct(lat, 0.95):.0f} ms, max {max(lat, default=0):.0f} ms"
        )


def ask_users(
    url: str,
    users: int = 20,
    per_user: int = 10,
    questions: Sequence[tuple[str, bool]] = LOAD_QUESTIONS,
    auth: tuple[str, str] | None = None,
    timeout_s: float = 600.0,
    during: Callable[[], None] | None = None,
) -> LoadResult:
    """``users`` gradio_client clients ask ``per_user`` questions each, all starting together.

    Each user starts at a different question so that every question is in flight at once.
    ``during`` (e.g. an upload) starts at the same moment as the users, in its own thread,
    so it really overlaps the load; it is joined before returning.
    """
    from gradio_client import Client

    assert_loopback(url)
    clients = [Client(url, auth=auth, verbose=False) for _ in range(users)]  # connect first, then start together
    result = LoadResult()
    lock = threading.Lock()
    start = threading.Barrier(users + (1 if during else 0))

    def user(u: int) -> None:
        start.wait(timeout=timeout_s)
        for i in range(per_user):
            question = questions[(u + i) % len(questions)][0]
            t = time.perf_counter()
            try:
                answer = clients[u].predict(question, [], api_name="/ask")
            except Exception as e:  # the point of a load test: count every failure, never stop
                with lock:
                    result.errors.append(f"user {u}, {question!r}: {type(e).__name__}: {e}")
                continue
            ms = (time.perf_counter() - t) * 1000
            with lock:
                result.latencies_ms.append(ms)
                result.answers.append((question, answer))

    def side_task() -> None:
        start.wait(timeout=timeout_s)
        assert during is not None
        during()

    result.started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users + 1) as pool:
        futures = [pool.submit(user, u) for u in range(users)]
        if during is not None:
            futures.append(pool.submit(side_task))
        for f in futures:
            f.result(timeout=timeout_s)
    result.finished = time.perf_counter()
    result.wall_s = result.finished - result.started
    for c in clients:
        try:
            c.close()
        except Exception:
            pass
    return result


class UploadError(RuntimeError):
    pass


def upload_document(
    url: str, path: Path, auth: tuple[str, str] | None = None, timeout_s: float = 600.0, name: str | None = None
) -> dict[str, Any]:
    """Upload ``path`` the way the browser's upload widget does, bypassing the widget itself.

    ``POST /gradio_api/upload`` (Gradio's file endpoint, which enforces the size limit), then
    the upload event through the queue (``/gradio_api/queue/join`` + the SSE stream). Returns
    ``{"status": the UI's status text, "seconds", "started", "finished"}``; raises
    :class:`UploadError` with the server's message when the server refuses. ``name`` sends
    another file name than the path's (a hostile client can send ``../../x.txt``).
    """
    import httpx

    assert_loopback(url)
    started = time.perf_counter()
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s) as http:
        if auth is not None:
            r = http.post("/login", data={"username": auth[0], "password": auth[1]})
            if r.status_code != 200:
                raise UploadError(f"login failed: HTTP {r.status_code} {r.text[:200]}")
        config = http.get("/config")
        if config.status_code != 200:
            raise UploadError(f"GET /config: HTTP {config.status_code}")
        cfg = config.json()
        upload_ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "qa-upload"}
        deps = [d for d in cfg["dependencies"] if any(t[0] in upload_ids and t[1] == "upload" for t in d.get("targets", []))]
        if not deps:
            raise UploadError("this server has no upload (read-only?)")
        dep = deps[0]
        with open(path, "rb") as fh:
            r = http.post("/gradio_api/upload", files=[("files", (name or path.name, fh, "application/octet-stream"))])
        if r.status_code != 200:
            raise UploadError(f"upload refused: HTTP {r.status_code} {r.text[:300]}")
        server_path = r.json()[0]
        session = uuid.uuid4().hex[:12]
        file_data = {"path": server_path, "orig_name": name or path.name, "meta": {"_type": "gradio.FileData"}}
        r = http.post(
            "/gradio_api/queue/join",
            json={"data": [[file_data]], "fn_index": dep["id"], "session_hash": session, "event_data": None, "trigger_id": dep["targets"][0][0]},
        )
        if r.status_code != 200:
            raise UploadError(f"queue/join: HTTP {r.status_code} {r.text[:300]}")
        with http.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "unexpected_error":
                    raise UploadError(str(msg.get("message")))
                if msg.get("msg") == "process_completed":
                    if not msg.get("success", False):
                        raise UploadError(str(msg.get("output", {}).get("error")))
                    finished = time.perf_counter()
                    status = msg["output"]["data"][0]
                    return {"status": status, "seconds": finished - started, "started": started, "finished": finished}
    raise UploadError("the event stream ended without a result")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(url + "/config", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not come up in {timeout_s:.0f} s")


def run(users: int, per_user: int, upload: bool, url: str | None) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with tempfile.TemporaryDirectory(prefix="qa-bench-load-") as tmp:
        server: subprocess.Popen[bytes] | None = None
        if url is None:
            index = Path(tmp) / "index"
            subprocess.run([sys.executable, "-m", "qa", "index", str(REPO / "seeds"), "--index", str(index), "-q"], env=env, check=True)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            server = subprocess.Popen(
                [sys.executable, "-m", "qa", "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        assert_loopback(url)
        try:
            wait_ready(url, server)
            ask_users(url, users=1, per_user=len(LOAD_QUESTIONS))  # warm-up: first-call allocations
            upload_result: dict[str, Any] = {}
            doc = Path(tmp) / "zorblax-log.txt"
            doc.write_text(UPLOAD_TEXT * 40, encoding="utf-8")

            def do_upload() -> None:
                try:
                    upload_result.update(upload_document(url, doc))  # type: ignore[arg-type]
                except Exception as e:
                    upload_result["error"] = f"{type(e).__name__}: {e}"

            result = ask_users(url, users=users, per_user=per_user, during=do_upload if upload else None)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    expected = dict(LOAD_QUESTIONS)
    uncited = sum(1 for q, a in result.answers if expected.get(q) and (a["abstained"] or not a["citations"]))
    wrong_abstain = sum(1 for q, a in result.answers if expected.get(q) is False and not a["abstained"])
    print(f"server: qa serve on {url}; {users} users x {per_user} questions; cpus: {os.cpu_count()}")
    print(result.summary())
    print(f"answerable questions without a citation: {uncited}; unanswerable questions answered: {wrong_abstain}")
    if upload:
        if "error" in upload_result:
            print(f"upload failed: {upload_result['error']}")
        else:
            overlap = upload_result["started"] < result.finished and upload_result["finished"] > result.started
            print(f"upload during the load: {upload_result['seconds']:.1f} s ({'overlapped the questions' if overlap else 'did not overlap'}): "
                  f"{upload_result['status'].splitlines()[0]}")
    for e in result.errors[:5]:
        print("error:", e)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--questions", type=int, default=10, help="Questions per user.")
    parser.add_argument("--no-upload", action="store_true", help="Do not upload a document during the load.")
    parser.add_argument("--url", help="An already running server on this machine (loopback only) instead of starting one.")
    args = parser.parse_args()
    if args.users < 1 or args.users > 200 or args.questions < 1 or args.questions > 100:
        raise SystemExit("keep it bounded: 1-200 users, 1-100 questions each")
    run(args.users, args.questions, not args.no_upload, args.url.rstrip("/") if args.url else None)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
