"""The `qa` command end to end, as a user runs it (subprocess, real model, real index)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SEED_FILE


def qa(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_index_then_ask_show_info(tmp_path: Path) -> None:
    idx = str(tmp_path / "idx")
    bad = tmp_path / "in" / "empty.txt"
    bad.parent.mkdir()
    bad.write_text("")
    shutil.copy(SEED_FILE, bad.parent / "article.txt")
    r = qa("index", str(bad.parent), "--index", idx, "--quiet")
    assert r.returncode == 1, r.stderr  # one file skipped
    assert "empty.txt" in r.stderr and "1 added" in r.stdout and "1 skipped" in r.stdout
    r = qa("index", str(bad.parent / "article.txt"), "--index", idx, "-q")
    assert r.returncode == 0 and "1 unchanged" in r.stdout

    r = qa("ask", "What did Coale say about prisoners?", "--index", idx, "--json")
    assert r.returncode == 0, r.stderr
    ans = json.loads(r.stdout)
    assert not ans["abstained"] and ans["citations"] and "prisoners" in ans["citations"][0]["quote"]
    c = ans["citations"][0]

    r = qa("show", "article.txt", "--index", idx, "--start", str(c["start"]), "--end", str(c["end"]))
    assert r.returncode == 0 and r.stdout.rstrip("\n") == c["quote"]

    r = qa("info", "--index", idx, "--json")
    info = json.loads(r.stdout)
    assert info["documents"] == 1 and info["model"].endswith("all-MiniLM-L6-v2")

    r = qa("ask", "What is the capital of Australia?", "--index", idx)
    assert r.returncode == 0 and "could not find" in r.stdout

    r = qa("remove", "article.txt", "--index", idx)
    assert r.returncode == 0 and "removed" in r.stdout
    assert json.loads(qa("info", "--index", idx, "--json").stdout)["documents"] == 0


def test_batch_in_order_with_errors_and_resume(seed_index: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "question": "What did Coale say about prisoners?"}),
                "{not json",
                json.dumps({"question": "Where did she travel last week?", "history": [["Tell me about Machado", "She won the Nobel Peace Prize."]]}),
                json.dumps({"id": "d", "question": ""}),
                json.dumps({"id": "e", "question": "What is the capital of Australia?"}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    r = qa("batch", str(questions), "--out", str(out), "--index", str(seed_index))
    assert r.returncode == 1, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x.get("id") for x in lines] == ["a", 2, 3, "d", "e"]
    assert "error" in lines[1] and lines[1]["line"] == 2
    assert "Oslo" in lines[2]["answer"]
    assert "error" in lines[3]
    assert lines[4]["abstained"] is True
    r = qa("batch", str(questions), "--out", str(out), "--index", str(seed_index), "--resume")
    again = out.read_text().splitlines()
    # Answered ids are not asked again; only the failed lines are retried.
    assert len(again) == len(lines) + 2


def test_missing_index_is_a_usage_error(tmp_path: Path) -> None:
    r = qa("ask", "anything?", "--index", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no index" in r.stderr.lower()


def test_eval_session_it_does_not_know_is_a_usage_error(seed_index: Path) -> None:
    """``qa eval --session random``: one clear line naming the kinds there are, exit 2."""
    r = qa("eval", "eval/seed.jsonl", "--index", str(seed_index), "--session", "random")
    assert r.returncode == 2, r.stderr
    assert "ordered" in r.stderr and "shuffled" in r.stderr and "Traceback" not in r.stderr


def test_module_and_console_script_agree() -> None:
    # The venv's bin folder is not on PATH when tests run as `.venv/bin/python -m pytest`.
    beside = Path(sys.executable).with_name("qa")
    exe = str(beside) if beside.is_file() else shutil.which("qa")
    if exe is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("console script `qa` is not installed in CI")
        pytest.skip("console script not installed (pip install -e .)")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "index" in r.stdout and "batch" in r.stdout


def test_document_text_that_looks_like_console_markup_prints_as_it_is(tmp_path: Path) -> None:
    """Answers, quotes and titles come from documents: "[/b]" or "[bold]" in them is text, not
    a style for the terminal (a closing tag with no opening one used to crash `qa ask`)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "forum [archive].txt").write_text(
        "Forum rules [bold] and [/b] tags\n"
        "The moderators said the forum would close on May 3 because the hosting bill [/b] had doubled.\n",
        encoding="utf-8",
    )
    idx = str(tmp_path / "idx")
    assert qa("index", str(docs), "--index", idx, "-q").returncode == 0
    for extra in ([], ["--stream"]):
        r = qa("ask", "Why will the forum close?", "--index", idx, *extra)
        assert r.returncode == 0, r.stderr
        assert "hosting bill [/b] had doubled" in r.stdout
    # a "when" question's date is printed in bold inside the quote, the rest still as text
    r = qa("ask", "When will the forum close?", "--index", idx, "--json")
    (focus,) = json.loads(r.stdout)["citations"][0]["focus"]
    r = qa("ask", "When will the forum close?", "--index", idx)
    assert r.returncode == 0, r.stderr
    assert "would close on May 3 because the hosting bill [/b] had doubled" in r.stdout
    r = qa("info", "--index", idx)
    assert r.returncode == 0 and "forum [archive].txt" in r.stdout


def test_a_quote_from_wrapped_text_prints_on_one_line(tmp_path: Path) -> None:
    """The quote of a PDF or of text wrapped at 72 columns holds line breaks; the human output
    shows it on one line, `--json` keeps the exact characters."""
    import textwrap

    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [
        "Harbour notes",
        "The harbour board met on Monday and agreed that the old crane on the north quay would stay where it is "
        "until a survey of the quay wall, ordered after last winter's storms, has been finished by engineers.",
        "The survey is expected to cost about 40,000 pounds and to take six weeks, the board's chair said after the meeting.",
        "Ferry services will not be affected while the work goes on, the operator said in a statement on Tuesday morning.",
    ]
    (docs / "notes.txt").write_text("\n\n".join(textwrap.fill(p, 60) for p in paragraphs) + "\n", encoding="utf-8")
    idx = str(tmp_path / "idx")
    assert qa("index", str(docs), "--index", idx, "-q").returncode == 0
    r = qa("ask", "How much will the survey cost?", "--index", idx)
    assert r.returncode == 0, r.stderr
    assert "“The survey is expected to cost about 40,000 pounds and to take six weeks, the board's chair said" in r.stdout
    quote = json.loads(qa("ask", "How much will the survey cost?", "--index", idx, "--json").stdout)["citations"][0]["quote"]
    assert "\n" in quote and " ".join(quote.split()).startswith("The survey is expected to cost")
