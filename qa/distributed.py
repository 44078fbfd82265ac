"""Ray backend of ``qa index --ray ADDRESS`` and ``qa batch --ray ADDRESS`` (docs/cluster.md).

Why Ray (issue 9): users who outgrow one machine should point the same commands at an
existing distributed engine rather than at a home-made worker pool. Ray Data gives
streaming, back-pressure and actor pools built for batch inference, so this module only
says *what* runs on the cluster:

* ingestion: files are listed on the driver (by :func:`qa.ingest.index_paths`); loading,
  chunking and embedding run in a ``map_batches`` stage on an actor pool whose actors load
  the embedding model once each; the payloads come back to the driver, which merges and
  writes the index atomically under its lock exactly as a local run does;
* batch Q&A: question lines are spread over actors that each open the index read-only;
  every line goes through the CLI's own per-line function, so errors read as in local mode.

Requirements this implies (checked where cheap, documented in docs/cluster.md): every node
runs the same code and the ``[ray]`` extra with the same Python; the files to index and the
index folder must be readable at the same absolute path on every node (shared storage);
the model is the packaged one (or ``QA_MODEL_PATH`` valid on every node): an actor whose
model differs from the index's refuses to start rather than write incomparable vectors.

``ray`` is an optional extra and is imported only here, only when ``--ray`` is given.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from qa.settings import Settings
from qa.store import DocumentPayload, DocumentRecord, ModelInfo

EXTRA_HINT = 'pip install -e ".[ray]"'
#: Environment every Ray worker gets (workers inherit the environment of `ray start`, not ours).
WORKER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
#: How long an actor pool may take to start all its actors (model load included) before the job fails.
ACTORS_START_TIMEOUT_S = 300
#: One CLI batch line -> its output record, or None (blank, or already answered with --resume).
AnswerLine = Callable[[Any, int, str, set[str]], "dict[str, Any] | None"]


class DistributedError(RuntimeError):
    """Anything that stops a ``--ray`` run; the message says what to do and is meant for the user."""


class RayUnavailable(DistributedError):
    """The ``[ray]`` extra is not installed."""


class RayConnectError(DistributedError):
    """No usable Ray cluster at the address given."""


def _ray() -> ModuleType:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise RayUnavailable(
            f"--ray needs the optional Ray extra, which is not installed ({e}); install it with `{EXTRA_HINT}` "
            "(on every node of the cluster, with the same Python)"
        ) from e
    return ray


def resolve_address(address: str | None) -> tuple[str, int]:
    """``auto`` means ``RAY_ADDRESS``; otherwise ``HOST:PORT`` of the head node's GCS (``ray start --port``)."""
    given = (address or "").strip()
    if given.lower() == "auto":
        given = os.environ.get("RAY_ADDRESS", "").strip()
        if not given:
            raise RayConnectError("--ray auto reads RAY_ADDRESS, which is not set; give the head's HOST:PORT (e.g. --ray 10.0.0.5:6379)")
    if "://" in given:
        raise RayConnectError(
            f"--ray {given}: give the head's HOST:PORT (as printed by `ray start --head`), not a URL; Ray Client (ray://) is not supported"
        )
    host, sep, port = given.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayConnectError(f"--ray {given!r}: expected auto or HOST:PORT of the Ray head node (e.g. 127.0.0.2:6379)")
    return host, int(port)


def connect(address: str | None) -> str:
    """Join the Ray cluster at ``address`` as a driver; returns ``HOST:PORT``. Idempotent.

    A TCP probe comes first: ``ray.init`` retries an address where nothing listens for
    minutes before failing, and a typo deserves an answer in seconds.
    """
    ray = _ray()
    host, port = resolve_address(address)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if ray.is_initialized():
        return target
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as e:
        raise RayConnectError(
            f"no Ray cluster at {target} ({e.strerror or e}); start one with `ray start --head --port {port} ...` "
            "(docs/cluster.md) or check the address"
        ) from e
    env = {**WORKER_ENV, **{k: os.environ[k] for k in ("QA_CACHE_DIR",) if k in os.environ}}
    try:
        ray.init(address=target, runtime_env={"env_vars": env}, logging_level="warning", log_to_driver=False)
    except Exception as e:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, AuthenticationError...
        # Measured: a missing or wrong token looks like this too (a ConnectionError after ~20 s).
        raise RayConnectError(
            f"could not join the Ray cluster at {target}: {type(e).__name__}: {e}. If the cluster uses token "
            "authentication, this command needs RAY_AUTH_MODE=token and the cluster's RAY_AUTH_TOKEN (or "
            "RAY_AUTH_TOKEN_PATH) in its environment too; Ray and Python versions must match the cluster's"
        ) from e
    return target


def _quiet_data_context(ray: ModuleType) -> None:
    """Ray Data settings for a CLI run: our own progress bar only, and a bounded wait for the actors.

    Waiting for the whole pool before dispatching also spreads the first batches over every
    node instead of letting the first actor up take them all. Ray Data's own log lines still
    go to ``ray-data.log`` in the session folder; only its console handler is quietened.
    """
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.wait_for_min_actors_s = ACTORS_START_TIMEOUT_S
    for handler in logging.getLogger("ray.data").handlers:
        if type(handler).__name__ == "PlainRayHandler":  # the console one (ray/data/_internal/logging.py)
            handler.setLevel(logging.ERROR)


def _default_actors(ray: ModuleType, cpus_per_actor: float) -> int:
    """One actor per ``cpus_per_actor`` CPUs of the whole cluster (Ray schedules them across nodes)."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(1, int(cpus // cpus_per_actor))


def _node_label() -> str:
    import ray

    return ray.util.get_node_ip_address()


def _worker_settings(settings: Settings, **update: Any) -> Settings:
    """Settings for the actors: relative paths mean nothing in a worker's current folder."""
    if settings.model_path and not os.path.isabs(settings.model_path):
        update["model_path"] = str(Path(settings.model_path).resolve())
    return settings.model_copy(update=update)


def _object_column(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _run_failed(e: Exception) -> DistributedError:
    return DistributedError(f"the Ray job failed: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")


# ------------------------------------------------------------------ ingestion


@dataclass
class RayIngestResult:
    """What :func:`prepare_documents_on_ray` hands back to :func:`qa.ingest.index_paths`, plus where it ran."""

    payloads: list[DocumentPayload] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Documents handled per node (node IP), to show (and test) that the whole cluster worked.
    nodes: Counter[str] = field(default_factory=Counter)
    actors: int = 0
    seconds: float = 0.0


class _Preparer:
    """A Ray Data actor: loads, chunks and embeds documents; the model loads once per actor."""

    def __init__(self, settings: Settings, info: ModelInfo, threads: int) -> None:
        from qa.embeddings import get_embedder
        from qa.ingest import model_info

        self.settings = settings.model_copy(update={"index_threads": threads})
        # The index's backend, never a fallback: vectors of another backend would not compare.
        self.embedder = get_embedder(settings.model_path, info.backend, fallback=False)
        mine = model_info(self.embedder)
        self.node = _node_label()
        if mine != info:
            raise RuntimeError(
                f"node {self.node} embeds with {mine}, but the index expects {info}: install the same model and code on every node"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from qa.documents import DocumentError, load_document
        from qa.ingest import prepare_documents, record_from

        max_bytes = int(self.settings.max_file_mb * 1024 * 1024)
        n = len(batch["i"])
        status, detail = [""] * n, [""] * n
        records: list[DocumentRecord] = []
        slots: list[int] = []
        for k in range(n):
            source = str(batch["source"][k])
            try:
                doc = load_document(str(batch["path"][k]), max_bytes=max_bytes, source=source)
            except DocumentError as e:
                status[k], detail[k] = "skipped", e.reason
                continue
            if doc.content_hash == str(batch["known"][k]):
                status[k], detail[k] = "unchanged", doc.source
                continue
            status[k] = "new"
            records.append(record_from(doc))
            slots.append(k)
        # One call for the whole batch: its sentences are embedded in length-sorted runs.
        payloads = prepare_documents(records, self.embedder, self.settings)
        cols: dict[str, list[Any]] = {key: [b""] * n for key in ("chunks", "sentences", "chunk_vectors", "sentence_vectors")}
        record_json = [""] * n
        for k, p in zip(slots, payloads):
            record_json[k] = json.dumps(asdict(p.record), ensure_ascii=False)
            cols["chunks"][k] = np.ascontiguousarray(p.chunks, dtype=np.int64).tobytes()
            cols["sentences"][k] = np.ascontiguousarray(p.sentences, dtype=np.int64).tobytes()
            cols["chunk_vectors"][k] = np.ascontiguousarray(p.chunk_vectors, dtype=np.float32).tobytes()
            cols["sentence_vectors"][k] = np.ascontiguousarray(p.sentence_vectors, dtype=np.float32).tobytes()
        return {
            "i": np.asarray(batch["i"], dtype=np.int64),
            "status": _object_column(status),
            "detail": _object_column(detail),
            "record": _object_column(record_json),
            **{key: _object_column(values) for key, values in cols.items()},
            "node": _object_column([self.node] * n),
        }


def _payload_from_row(row: dict[str, Any], dimension: int) -> DocumentPayload:
    """Rebuild a payload from the plain columns it travelled in (bytes and JSON: nothing is unpickled)."""
    data = json.loads(row["record"])
    data["pages"] = [tuple(p) for p in data.get("pages") or []]
    record = DocumentRecord(**data)
    chunks = np.frombuffer(row["chunks"], dtype=np.int64).reshape(-1, 4).copy()
    return DocumentPayload(
        record=record,
        chunks=chunks,
        sentences=np.frombuffer(row["sentences"], dtype=np.int64).reshape(-1, 2).copy(),
        chunk_texts=[record.text[int(s) : int(e)] for s, e in chunks[:, :2]],
        chunk_vectors=np.frombuffer(row["chunk_vectors"], dtype=np.float32).reshape(-1, dimension).copy(),
        sentence_vectors=np.frombuffer(row["sentence_vectors"], dtype=np.float32).reshape(-1, dimension).copy(),
    )


def prepare_documents_on_ray(
    files: list[tuple[Path, str]],
    settings: Settings,
    address: str | None,
    *,
    known: dict[str, str],
    info: ModelInfo,
    progress: Callable[[int, int, str], None] | None = None,
    actors: int | None = None,
    cpus_per_actor: int = 1,
) -> RayIngestResult:
    """Load, chunk and embed ``files`` ((path, source) pairs) on the cluster; results in listing order.

    Returns the same :class:`DocumentPayload` objects :func:`qa.ingest.prepare_documents`
    makes locally, plus the sources whose content hash equals ``known`` (unchanged) and the
    files that could not be loaded. Files are sent largest first so that batches hold
    documents of similar length (less padding, even batch times) and the longest batches do
    not start last; every actor uses ``cpus_per_actor`` embedding threads.
    """
    ray = _ray()
    connect(address)
    started = time.perf_counter()
    result = RayIngestResult()
    if not files:
        return result
    items = []
    for i, (path, source) in enumerate(files):
        absolute = Path(path).resolve()
        try:
            size = absolute.stat().st_size
        except OSError:
            size = 0
        items.append({"i": i, "path": str(absolute), "shown": str(path), "source": source, "known": known.get(source, ""), "size": size})
    items.sort(key=lambda it: -it["size"])
    _quiet_data_context(ray)
    n_actors = actors or _default_actors(ray, cpus_per_actor)
    # Several batches per actor keep every actor busy to the end, but each batch pays one Ray task.
    batch_size = max(1, min(32, math.ceil(len(items) / (n_actors * 4))))
    ds = ray.data.from_items(
        [{k: it[k] for k in ("i", "path", "source", "known")} for it in items], override_num_blocks=math.ceil(len(items) / batch_size)
    )
    ds = ds.map_batches(
        _Preparer,
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=cpus_per_actor,
        fn_constructor_kwargs={"settings": _worker_settings(settings), "info": info, "threads": cpus_per_actor},
    )
    shown = {it["i"]: it["shown"] for it in items}
    rows: dict[int, dict[str, Any]] = {}
    if progress:
        progress(0, len(items), "documents")
    try:
        for row in ds.iter_rows():
            rows[int(row["i"])] = row
            result.nodes[str(row["node"])] += 1
            if progress:
                progress(len(rows), len(items), "documents")
    except ray.exceptions.RayError as e:
        raise _run_failed(e) from e
    for i in range(len(files)):  # back to listing order: the index must not depend on scheduling
        row = rows[i]
        if row["status"] == "skipped":
            result.skipped.append((shown[i], str(row["detail"])))
        elif row["status"] == "unchanged":
            result.unchanged.append(str(row["detail"]))
        else:
            result.payloads.append(_payload_from_row(row, info.dimension))
    result.actors = n_actors
    result.seconds = time.perf_counter() - started
    return result


class RayIngest:
    """The ``prepare`` hook of :func:`qa.ingest.index_paths` that runs on Ray; keeps the last run's figures."""

    def __init__(self, address: str | None, settings: Settings, *, actors: int | None = None) -> None:
        self.address = address
        self.settings = settings
        self.actors = actors
        self.last = RayIngestResult()

    def __call__(
        self,
        files: list[tuple[Path, str]],
        known: dict[str, str],
        info: ModelInfo,
        progress: Callable[[int, int, str], None] | None,
    ) -> tuple[list[DocumentPayload], list[str], list[tuple[str, str]]]:
        self.last = prepare_documents_on_ray(
            files, self.settings, self.address, known=known, info=info, progress=progress, actors=self.actors
        )
        return self.last.payloads, self.last.unchanged, self.last.skipped


def describe_nodes(nodes: Counter[str], what: str, result: RayIngestResult | None = None) -> str:
    """One line for stderr: how many items each node handled (tests and bench/bench_ray.py read it)."""
    parts = ", ".join(f"{node}: {count}" for node, count in sorted(nodes.items()))
    line = f"ray: {sum(nodes.values())} {what} on {len(nodes)} node{'s' if len(nodes) != 1 else ''} ({parts})"
    if result is not None:
        line += f"; {result.actors} actors, {result.seconds:.1f} s on the cluster"
    return line


# ------------------------------------------------------------------ batch Q&A


class AnsweredLine(NamedTuple):
    lineno: int
    #: The output line exactly as local mode writes it (``json.dumps(record, ensure_ascii=False)``).
    json: str
    failed: bool
    node: str


class _Answerer:
    """A Ray Data actor: opens the index read-only once and answers lines with the CLI's own function."""

    def __init__(self, index: str, settings: Settings, answer_line: AnswerLine, done: set[str]) -> None:
        from qa.assistant import Assistant

        self.assistant = Assistant.open(index, settings, create=False)
        self.answer_line = answer_line
        self.done = done
        self.node = _node_label()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out, failed = [], []
        for lineno, line in zip(batch["lineno"], batch["line"]):
            record = self.answer_line(self.assistant, int(lineno), str(line), self.done)
            out.append("" if record is None else json.dumps(record, ensure_ascii=False))
            failed.append(record is not None and "error" in record)
        return {
            "lineno": np.asarray(batch["lineno"], dtype=np.int64),
            "json": _object_column(out),
            "failed": np.array(failed, dtype=bool),
            "node": _object_column([self.node] * len(out)),
        }


def answer_lines_on_ray(
    lines: list[str],
    index: Path,
    settings: Settings,
    address: str | None,
    *,
    answer_line: AnswerLine,
    done: set[str] | None = None,
    actors: int | None = None,
    batch_size: int = 4,
) -> Iterator[AnsweredLine]:
    """Answer JSONL ``lines`` on the cluster; yields the non-empty outputs in input order.

    ``index`` must be readable at that absolute path on every node. Each actor opens it
    once (model and index load per actor, per job) and reuses it for all its lines; small
    batches keep the work spread and let the driver write results as they arrive.
    """
    ray = _ray()
    connect(address)
    items = [{"lineno": n, "line": line} for n, line in enumerate(lines, start=1) if line.strip()]
    if not items:
        return
    _quiet_data_context(ray)
    n_actors = actors or _default_actors(ray, 1)
    ds = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / batch_size))
    ds = ds.map_batches(
        _Answerer,
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=1,
        fn_constructor_kwargs={
            "index": str(Path(index).resolve()),
            "settings": _worker_settings(settings),
            "answer_line": answer_line,
            "done": set(done or ()),
        },
    )
    pending: dict[int, AnsweredLine] = {}
    order = iter(item["lineno"] for item in items)
    want = next(order)
    try:
        for row in ds.iter_rows():
            pending[int(row["lineno"])] = AnsweredLine(int(row["lineno"]), str(row["json"]), bool(row["failed"]), str(row["node"]))
            while want in pending:  # a small reorder buffer: output follows input order
                answered = pending.pop(want)
                if answered.json:
                    yield answered
                want = next(order, None)
    except ray.exceptions.RayError as e:
        raise _run_failed(e) from e
