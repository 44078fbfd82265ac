"""Gradio web UI: chat with clickable, exact citations, and a Documents tab.

``python app.py`` or ``qa serve`` call :func:`launch`; tests and embedders use
:func:`build_ui` and :func:`serve`.

Safety rules followed throughout this module:

* Everything that comes from a document, an upload name or a question is passed through
  :func:`html.escape` before it reaches HTML (the sources panel is raw HTML; the chatbot
  is Markdown, so its text is additionally escaped for Markdown). A document containing
  ``<script>`` shows as text and never runs.
* Upload type and size limits are enforced in the server-side handler, not only by the
  widget; uploaded files are copied under sanitized names into a private temp folder.
* With ``read_only`` the upload and remove handlers are never registered, so they cannot
  be called through the API either.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from qa.answer import MARKER_RE, Answer, Citation, Passage, Status
from qa.answerers.backends import BackendError, display_name, is_extractive
from qa.assistant import Assistant, QuestionError
from qa.exposure import auth_checker, check_exposure, is_loopback
from qa.settings import ABSTAIN_MESSAGE, REPO_ROOT, Settings, load_settings
from qa.store import DocumentRecord, IndexNotFoundError

log = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_SUFFIXES",
    "DEFAULT_INDEX",
    "EXAMPLE_QUESTIONS",
    "build_ui",
    "launch",
    "open_assistant",
    "render_answer_markdown",
    "render_sources",
    "safe_filename",
    "serve",
    "warm_up",
    "warm_up_llm",
]

DEFAULT_INDEX = REPO_ROOT / "indexes" / "default"
SEEDS_DIR = REPO_ROOT / "seeds"
SEED_ARTICLE = "lukashenko-maduro-newsmax.txt"
ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
WARM_UP_QUESTION = "What is this document about?"
EXAMPLE_QUESTIONS = (
    "What did Coale say about prisoners?",
    "What reward is offered for Maduro?",
    "Where did Machado travel last week?",
)
EMPTY_QUESTION_MESSAGE = "Please type a question about your documents, e.g. “What did Coale say about prisoners?”"

# --------------------------------------------------------------------------- escaping


_MD_INLINE = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*_[]|~$"})
_MD_LINE_START = re.compile(r"(?m)^(\s*)([#=+-]|\d+(?=[.)]))")


def md_text(text: str) -> str:
    """Plain text -> Markdown that renders exactly as that text (HTML- and Markdown-escaped)."""
    escaped = html.escape(text, quote=True).translate(_MD_INLINE)
    # block syntax only matters at the start of a line: headings, lists, setext underlines
    return _MD_LINE_START.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


def h(text: object) -> str:
    """HTML-escape anything for the raw-HTML sources panel (``$`` too, belt and braces)."""
    return html.escape(str(text), quote=True).replace("$", "&#36;")


# --------------------------------------------------------------------------- rendering


def cite_href(turn: int, n: int) -> str:
    return f"#cite-{turn}-{n}"


def render_answer_markdown(text: str, turn: int, citations: Sequence[int] | None = None) -> str:
    """Answer text for the chatbot: escaped, with each ``[n]`` marker a link to its citation.

    ``citations`` (the numbers that exist) limits which markers become links; ``None``
    (while streaming) links all of them.
    """
    out: list[str] = []
    pos = 0
    for m in MARKER_RE.finditer(text):
        out.append(md_text(text[pos : m.start()]))
        n = int(m.group(1))
        if citations is None or n in citations:
            out.append(f'<a href="{cite_href(turn, n)}" class="qa-cite" title="Show source {n}">[{n}]</a>')
        else:
            out.append(md_text(m.group(0)))
        pos = m.end()
    out.append(md_text(text[pos:]))
    return "".join(out)


def _fmt_meta(title: str, published: str | None, start: int, end: int, page: int | None, source: str) -> str:
    bits = []
    if published:
        bits.append(f"published {h(published)}")
    bits.append(f"chars {start:,}–{end:,}")
    if page is not None:
        bits.append(f"page {page}")
    bits.append(f'<span class="qa-src">{h(_short_source(source))}</span>')
    return " · ".join(bits)


def _short_source(source: str) -> str:
    return source if source.startswith("upload:") else Path(source).name


def _focused(c: Citation) -> str:
    """The quote, escaped, with the words that answer the question's kind in bold."""
    return "".join(f'<strong class="qa-focus">{h(t)}</strong>' if bold else h(t) for t, bold in c.pieces())


def _citation_card(turn: int, c: Citation, doc: DocumentRecord | None) -> str:
    text = doc.text if doc is not None else None
    if text is not None and 0 <= c.start <= c.end <= len(text) and text[c.start : c.end] == c.quote:
        lo, hi = min(c.chunk_start, c.start), max(c.chunk_end, c.end)
        lo, hi = max(lo, 0), min(hi, len(text))
        body = f"{h(text[lo : c.start])}<mark>{_focused(c)}</mark>{h(text[c.end : hi])}"
        if lo > 0:
            body = "… " + body
        if hi < len(text):
            body += " …"
    else:  # the document changed or was removed since the answer: show the quote alone
        body = f"<mark>{_focused(c)}</mark>"
    return (
        f'<article class="qa-card" id="cite-{turn}-{c.n}">'
        f'<header><a class="qa-n" href="{cite_href(turn, c.n)}">[{c.n}]</a> <span class="qa-title">{h(c.title)}</span></header>'
        f'<div class="qa-meta">{_fmt_meta(c.title, c.published, c.start, c.end, c.page, c.source)}'
        f' · <a class="qa-open" href="#doc-{h(c.doc_id)}-{c.start}-{c.end}" title="Open the whole document at this quote">open document</a></div>'
        f'<div class="qa-passage">{body}</div>'
        "</article>"
    )


def _passage_item(p: Passage, doc: DocumentRecord | None) -> str:
    text = p.text or (doc.text[p.start : p.end] if doc is not None else "")
    published = doc.published if doc is not None else None
    return (
        '<div class="qa-uncited">'
        f'<div class="qa-title">{h(p.title)}</div>'
        f'<div class="qa-meta">{_fmt_meta(p.title, published, p.start, p.end, p.page, p.source)} · score {p.score:.2f}</div>'
        f'<div class="qa-passage">{h(text)}</div>'
        "</div>"
    )


def _turn_section(turn: int, question: str, answer: Answer | None, docs: dict[str, DocumentRecord], active: bool) -> str:
    cls = "qa-turn qa-active" if active else "qa-turn"
    parts = [
        f'<section class="{cls}" data-turn="{turn}" id="qa-turn-{turn}">',
        f'<div class="qa-q">Sources for <q>{h(question)}</q></div>',
    ]
    if answer is None:
        parts.append('<p class="qa-muted">Searching the documents…</p>')
    else:
        if answer.abstained:
            parts.append(
                '<p class="qa-abstain">No passage in the documents answers this question, so there is no answer and nothing is cited.</p>'
            )
        for c in answer.citations:
            parts.append(_citation_card(turn, c, docs.get(c.doc_id)))
        cited = {(c.doc_id, c.chunk_start, c.chunk_end) for c in answer.citations}
        others = [p for p in answer.passages if (p.doc_id, p.start, p.end) not in cited]
        if others:
            label = "Closest passages" if answer.abstained else "Other retrieved passages (not cited)"
            parts.append(f'<details class="qa-more"><summary>{label} ({len(others)})</summary>')
            parts.extend(_passage_item(p, docs.get(p.doc_id)) for p in others)
            parts.append("</details>")
        timing = f"{h(answer.backend)} · {answer.latency_ms:.0f} ms"
        if answer.read_as:
            timing += f" · read as “{h(answer.read_as)}”"
        if answer.note:
            timing += f" · {h(answer.note)}"
        elif answer.sentences and not answer.abstained and answer.backend != "extractive":
            verified = sum(1 for s in answer.sentences if s.citations)
            timing += f" · {verified} of {len(answer.sentences)} sentences verified"
            if answer.check is not None:
                timing += f" · answer check {answer.check:.2f}"
        parts.append(f'<div class="qa-foot">{timing}</div>')
    parts.append("</section>")
    return "".join(parts)


def render_document(doc: DocumentRecord, start: int, end: int) -> str:
    """The whole document, escaped, with ``[start, end)`` highlighted (``id="qa-doc-mark"``)."""
    text = doc.text
    start = max(0, min(int(start), len(text)))
    end = max(start, min(int(end), len(text)))
    meta = [f"<b>{h(doc.title)}</b>", h(_short_source(doc.source))]
    if doc.published:
        meta.append(f"published {h(doc.published)}")
    page = doc.page_of(start)
    if page is not None:
        meta.append(f"quote on page {page}")
    meta.append(f"chars {start:,}–{end:,} of {len(text):,}")
    return (
        f'<div class="qa-doc-head">{" · ".join(meta)}</div>'
        f'<div class="qa-doc-text">{h(text[:start])}<mark id="qa-doc-mark">{h(text[start:end])}</mark>{h(text[end:])}</div>'
    )


def render_sources(turns: Sequence[tuple[str, Answer | None]], docs: Sequence[DocumentRecord], active: int | None = None) -> str:
    """The sources panel for a whole conversation; only the ``active`` turn (default: last) is shown.

    Every turn stays in the page so that clicking ``[2]`` in an older answer shows that
    answer's citation 2, not the latest one's.
    """
    if not turns:
        return (
            '<div class="qa-empty">Sources appear here. Ask a question, then click a marker such as '
            "<b>[1]</b> in the answer to see the exact passage it came from, with the quote highlighted.</div>"
        )
    by_id = {d.doc_id: d for d in docs}
    active = len(turns) - 1 if active is None else active
    return "".join(_turn_section(i, q, a, by_id, i == active) for i, (q, a) in enumerate(turns))


def render_chat(turns: Sequence[tuple[str, Answer | None]], partial: str | None = None, status: str = "") -> list[dict[str, str]]:
    """``partial``: the unfinished answer being streamed; ``status``: what happens meanwhile (the answer check)."""
    messages: list[dict[str, str]] = []
    for i, (question, answer) in enumerate(turns):
        messages.append({"role": "user", "content": md_text(question)})
        if answer is not None:
            messages.append({"role": "assistant", "content": _answer_content(answer, i)})
        elif partial is not None:
            content = render_answer_markdown(partial, i) if partial else "…"
            if status:
                content += f'\n\n<span class="qa-status">{md_text(status[:1].upper() + status[1:])}</span>'
            messages.append({"role": "assistant", "content": content})
    return messages


def _answer_content(answer: Answer, turn: int) -> str:
    if answer.abstained:
        text = answer.answer or ABSTAIN_MESSAGE
        return f"**Not found.** {md_text(text)} Try rephrasing, or check which documents are indexed."
    return render_answer_markdown(answer.answer, turn, [c.n for c in answer.citations])


# --------------------------------------------------------------------------- uploads

_UNSAFE = re.compile(r"[^\w. -]+")


def safe_filename(name: str, max_len: int = 120) -> str:
    """A file name that cannot escape a folder: last path part only, tame characters, no dot-files."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    base = re.sub(r"\s+", " ", base)
    if not base or set(base) <= {"_", "."}:
        base = "upload"
    stem, dot, suffix = base.rpartition(".")
    if dot and len(base) > max_len:
        base = stem[: max_len - len(suffix) - 1] + "." + suffix
    return base[:max_len].lstrip(".") or "upload"


def _upload_name(path: str) -> str:
    """Original name of a Gradio upload (Gradio keeps it as the file's base name)."""
    return Path(path).name


# --------------------------------------------------------------------------- the app

CSS = """
.qa-sources-panel { font-size: 0.92rem; line-height: 1.45; }
.qa-sources-panel .qa-turn { display: none; }
.qa-sources-panel .qa-turn.qa-active { display: block; }
.qa-sources-panel .qa-q { color: var(--body-text-color-subdued); margin-bottom: 0.5rem; }
.qa-sources-panel .qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.6rem 0.75rem;
  margin: 0 0 0.7rem 0; background: var(--background-fill-secondary); scroll-margin-top: 1rem; transition: box-shadow 0.3s; }
.qa-sources-panel .qa-card.qa-flash { box-shadow: 0 0 0 3px var(--color-accent); }
.qa-sources-panel .qa-card header { font-weight: 600; margin-bottom: 0.2rem; }
.qa-sources-panel .qa-n { color: var(--color-accent); text-decoration: none; margin-right: 0.25rem; }
.qa-sources-panel .qa-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); margin-bottom: 0.35rem; }
.qa-sources-panel .qa-passage { white-space: pre-wrap; overflow-wrap: anywhere; }
.qa-sources-panel mark { background: #ffe28a; color: #1f2328; padding: 0 0.1em; border-radius: 3px; }
.qa-sources-panel details.qa-more { margin-top: 0.4rem; }
.qa-sources-panel details.qa-more summary { cursor: pointer; color: var(--body-text-color-subdued); }
.qa-sources-panel .qa-uncited { border-left: 3px solid var(--border-color-primary); padding: 0.2rem 0 0.2rem 0.6rem; margin: 0.5rem 0; }
.qa-sources-panel .qa-abstain { font-weight: 600; }
.qa-sources-panel .qa-muted, .qa-sources-panel .qa-empty, .qa-sources-panel .qa-foot { color: var(--body-text-color-subdued); }
.qa-sources-panel .qa-foot { font-size: 0.75rem; text-align: right; }
.qa-sources-panel a.qa-open { color: var(--color-accent); }
#qa-doc-overlay { position: fixed; inset: 0; z-index: 1000; background: rgba(0, 0, 0, 0.45); display: flex;
  align-items: center; justify-content: center; }
#qa-doc-overlay .qa-doc-box { background: var(--background-fill-primary); color: var(--body-text-color); width: min(900px, 92vw);
  height: 85vh; border-radius: 10px; display: flex; flex-direction: column; box-shadow: 0 10px 40px rgba(0, 0, 0, 0.3); }
#qa-doc-overlay .qa-doc-bar { display: flex; justify-content: space-between; align-items: center; gap: 1rem;
  padding: 0.6rem 1rem; border-bottom: 1px solid var(--border-color-primary); font-size: 0.9rem; }
#qa-doc-overlay .qa-doc-body { overflow-y: auto; padding: 1rem 1.2rem; }
#qa-doc-overlay .qa-doc-head { font-size: 0.85rem; color: var(--body-text-color-subdued); margin-bottom: 0.6rem; }
#qa-doc-overlay .qa-doc-text { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.5; }
#qa-doc-overlay mark { background: #ffe28a; color: #1f2328; border-radius: 3px; }
#qa-doc-overlay button { padding: 0.25rem 0.8rem; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; }
a.qa-cite { display: inline-block; padding: 0 0.3em; margin: 0 0.05em; border-radius: 4px; font-size: 0.85em; font-weight: 600;
  text-decoration: none !important; background: var(--color-accent-soft); color: var(--color-accent) !important; cursor: pointer; }
.qa-status { font-size: 0.85em; font-style: italic; color: var(--body-text-color-subdued); }
a.qa-cite:hover, a.qa-cite:focus { background: var(--color-accent); color: white !important; }
"""

# Runs when the sources panel mounts; installs (once per page) document-level click
# handlers: ``#cite-<turn>-<n>`` links (in the chat and the panel) show that turn's
# citation n; ``#doc-<id>-<start>-<end>`` links open the whole document in an overlay,
# scrolled to the quote (fetched through the panel's ``open_document`` server function).
# Plain hrefs because Gradio's chatbot sanitizer keeps href and class but strips data-*.
CITE_JS = """
if (typeof server !== 'undefined' && server) { window.__qaServer = server; }
if (!window.__qaCiteHandler) {
  window.__qaCiteHandler = true;
  window.qaCloseDocument = function () {
    var o = document.getElementById('qa-doc-overlay');
    if (o) { o.remove(); }
  };
  window.qaOpenDocument = function (docId, start, end) {
    if (!window.__qaServer) { return; }
    window.qaCloseDocument();
    var o = document.createElement('div');
    o.id = 'qa-doc-overlay';
    o.setAttribute('role', 'dialog');
    o.setAttribute('aria-modal', 'true');
    o.innerHTML = '<div class="qa-doc-box"><div class="qa-doc-bar"><span>Document</span>' +
      '<button type="button" class="qa-doc-close">Close</button></div><div class="qa-doc-body">Loading…</div></div>';
    o.addEventListener('click', function (ev) {
      if (ev.target === o || (ev.target.closest && ev.target.closest('.qa-doc-close'))) { window.qaCloseDocument(); }
    });
    document.body.appendChild(o);
    o.querySelector('.qa-doc-close').focus();
    window.__qaServer.open_document(docId, start, end).then(function (html) {
      var body = o.querySelector('.qa-doc-body');
      body.innerHTML = html;  // built server-side from html.escape()d text
      var m = body.querySelector('mark');
      if (m) { m.scrollIntoView({block: 'center'}); }
    }, function (err) {
      o.querySelector('.qa-doc-body').textContent = 'Could not open the document: ' + err;
    });
  };
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') { window.qaCloseDocument(); } });
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    var a = t && t.closest ? t.closest('a[href^="#doc-"]') : null;
    if (!a) { return; }
    var m = /^#doc-([0-9A-Za-z_-]+)-(\\d+)-(\\d+)$/.exec(a.getAttribute('href') || '');
    if (!m) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    window.qaOpenDocument(m[1], parseInt(m[2], 10), parseInt(m[3], 10));
  }, true);
  window.qaShowCitation = function (turn, n) {
    var sections = document.querySelectorAll('.qa-sources-panel .qa-turn');
    var found = false;
    sections.forEach(function (s) {
      var on = s.getAttribute('data-turn') === String(turn);
      s.classList.toggle('qa-active', on);
      found = found || on;
    });
    var card = document.getElementById('cite-' + turn + '-' + n);
    document.querySelectorAll('.qa-card.qa-flash').forEach(function (c) { c.classList.remove('qa-flash'); });
    if (!card) { return false; }
    card.classList.add('qa-flash');
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    return true;
  };
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    var a = t && t.closest ? t.closest('a[href^="#cite-"]') : null;
    if (!a) { return; }
    var m = /^#cite-(\\d+)-(\\d+)$/.exec(a.getAttribute('href') || '');
    if (!m) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    window.qaShowCitation(parseInt(m[1], 10), parseInt(m[2], 10));
  }, true);
}
"""

THEME_FONTS = {
    "font": ["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
    "font_mono": ["ui-monospace", "Menlo", "monospace"],
}


def _doc_label(d: DocumentRecord) -> str:
    title = d.title.strip() or _short_source(d.source)
    return title if len(title) <= 90 else title[:87] + "…"


def _doc_choices(docs: Sequence[DocumentRecord], with_source: bool = False) -> list[tuple[str, str]]:
    labels = [_doc_label(d) for d in docs]
    dupes = {lbl for lbl in labels if labels.count(lbl) > 1}
    out = []
    for d, lbl in zip(docs, labels):
        if with_source or lbl in dupes:
            lbl = f"{lbl} — {_short_source(d.source)}"
        out.append((lbl, d.doc_id))
    return out


def _doc_rows(assistant: Assistant) -> list[list[Any]]:
    snap = assistant.snapshot()
    counts = [0] * len(snap.documents)
    for i in snap.chunk_doc.tolist():
        counts[int(i)] += 1
    return [
        [_doc_label(d), _short_source(d.source), d.kind, counts[i], d.published or "", d.doc_id]
        for i, d in enumerate(snap.documents)
    ]


def build_ui(assistant: Assistant, *, read_only: bool = False, max_upload_mb: float | None = None) -> gr.Blocks:
    """The whole app as a :class:`gr.Blocks` (CSS and JS included); start it with :func:`serve`.

    ``max_upload_mb`` defaults to ``settings.max_file_mb``; with ``read_only`` there is no
    Documents tab and no upload/remove handler at all.
    """
    settings = assistant.settings
    limit_mb = float(max_upload_mb if max_upload_mb is not None else settings.max_file_mb)
    write_lock = threading.Lock()  # one index write at a time from this UI (the store lock covers other processes)
    seed_present = any(Path(d.source.removeprefix("upload:")).name == SEED_ARTICLE for d in assistant.documents())

    # ---------------------------------------------------------------- chat handlers
    def _history(turns: Sequence[tuple[str, Answer | None]]) -> list[list[str]]:
        return [[q, a.answer] for q, a in turns if a is not None]

    def _filter(selected: Sequence[str] | None) -> list[str] | None:
        if not selected:
            return None
        present = {d.doc_id for d in assistant.documents()}
        chosen = [s for s in selected if s in present]
        if not chosen:
            gr.Warning("The selected documents are no longer in the index; searching all documents.")
            return None
        return chosen

    def respond(*inputs: Any) -> Iterator[tuple[Any, ...]]:
        """``_respond``'s outputs (chat, sources, conversation, question box) plus the Stop
        button, enabled only while answering, and the question being answered (for Stop to
        give back); the inputs are ``_respond``'s."""
        last: tuple[Any, ...] | None = None
        for last in _respond(*inputs):
            yield (*last, gr.update(interactive=True), inputs[0])
        if last is not None:
            yield (*last, gr.update(interactive=False), "")

    def _respond(
        message: str,
        turns: list[tuple[str, Answer | None]],
        selected: list[str] | None,
        backend: str | None = None,
        check: bool | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        turns = list(turns or [])
        docs = assistant.documents()
        if not isinstance(message, str) or not message.strip():
            gr.Warning(EMPTY_QUESTION_MESSAGE)
            yield render_chat(turns), render_sources(turns, docs), turns, message
            return
        question = message.strip()
        history = _history(turns)
        pending = turns + [(question, None)]
        yield render_chat(pending, ""), render_sources(pending, docs), turns, ""
        text = ""
        answer: Answer | None = None
        try:
            for piece in assistant.stream(question, history, _filter(selected), backend=backend or None, check=check):
                if isinstance(piece, Answer):
                    answer = piece
                elif isinstance(piece, Status):
                    yield render_chat(pending, text, piece.message), gr.skip(), turns, ""
                else:
                    text += piece
                    yield render_chat(pending, text), gr.skip(), turns, ""
        except QuestionError as e:
            gr.Warning(str(e))
            yield render_chat(turns), render_sources(turns, docs), turns, message
            return
        except Exception as e:
            log.exception("answering failed")
            gr.Warning(f"Sorry, answering failed: {e}")
            yield render_chat(turns), render_sources(turns, docs), turns, message
            return
        assert answer is not None
        turns = turns + [(question, answer)]
        yield render_chat(turns), render_sources(turns, assistant.documents()), turns, ""

    def stopped(turns: list[tuple[str, Answer | None]], asked: str, box: str) -> tuple[Any, ...]:
        """The stopped question goes back into the box, to edit or send again, unless the
        user has already typed a new one."""
        gr.Info("Stopped. The unfinished answer was dropped.")
        question = asked if asked and not (box or "").strip() else gr.skip()
        return render_chat(turns), render_sources(turns, assistant.documents()), gr.update(interactive=False), question, ""

    def new_chat() -> tuple[Any, ...]:
        return [], render_sources([], []), [], ""

    # ---------------------------------------------------------------- API
    def ask(message: str, history: list, documents: list | None = None) -> dict:
        """Answer a question; returns the answer object (text with [n] markers, citations, passages) as JSON.

        ``history`` is a list of ``[user, assistant]`` pairs (or role/content messages);
        ``documents`` optionally restricts the search to these doc ids.
        """
        try:
            return assistant.ask(message, history or [], documents or None).to_dict()
        except QuestionError as e:
            raise gr.Error(str(e)) from None

    def open_document(args: Any) -> str:
        """Whole document with the quote highlighted, for the "open document" links (escaped HTML).

        Called from the browser as ``server.open_document(docId, start, end)``; Gradio hands
        a component server function its JS arguments as one list.
        """
        try:
            doc_id, start, end = args
            start, end = int(start), int(end)
        except (TypeError, ValueError):
            return '<p class="qa-muted">Bad document request.</p>'
        doc = next((d for d in assistant.documents() if d.doc_id == str(doc_id)), None)
        if doc is None:
            return '<p class="qa-muted">This document is no longer in the index.</p>'
        return render_document(doc, start, end)

    # ---------------------------------------------------------------- documents handlers
    def doc_lists() -> tuple[Any, ...]:
        docs = assistant.documents()
        filt = gr.update(choices=_doc_choices(docs))
        if read_only:
            return (filt,)
        return filt, _doc_rows(assistant), gr.update(choices=_doc_choices(docs, with_source=True), value=[])

    def index_uploads(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        files = [f for f in (files or []) if f]
        if not files:
            return ("No files received.", *doc_lists(), None)
        errors: list[str] = []
        batch = Path(tempfile.mkdtemp(prefix="qa-upload-"))  # private (0700); removed once indexed
        paths: list[str] = []
        sources: dict[str, str] = {}
        names: dict[str, str] = {}
        for f in files:
            original = _upload_name(f)
            name = safe_filename(original)
            suffix = Path(name).suffix.lower()
            if suffix not in ALLOWED_SUFFIXES:
                errors.append(f"{original}: unsupported file type {suffix or '(none)'}; allowed: {', '.join(ALLOWED_SUFFIXES)}")
                continue
            try:
                size = Path(f).stat().st_size
            except OSError as e:
                errors.append(f"{original}: cannot read the upload ({e.strerror})")
                continue
            if size > limit_mb * 1024 * 1024:
                errors.append(f"{original}: {size / 1048576:.1f} MB is over the {limit_mb:g} MB limit")
                continue
            if name in names.values():
                errors.append(f"{original}: another file in this upload has the same name")
                continue
            dest = batch / name
            shutil.copyfile(f, dest)
            paths.append(str(dest))
            sources[str(dest)] = f"upload:{name}"
            names[str(dest)] = original
        report = None
        if paths:

            def on_progress(done: int, total: int, stage: str) -> None:
                progress((done, total) if total else None, desc=stage or "indexing")

            progress(0, desc="indexing")
            try:
                with write_lock:
                    report = assistant.add(paths, sources=sources, progress=on_progress)
            except Exception as e:
                log.exception("indexing uploads failed")
                errors.append(f"indexing failed: {e}")
            finally:
                shutil.rmtree(batch, ignore_errors=True)  # the index keeps the extracted text
        else:
            shutil.rmtree(batch, ignore_errors=True)
        for f in files:  # don't leave the raw upload in Gradio's cache either
            try:
                Path(f).unlink()
            except OSError:
                pass
        lines: list[str] = []
        if report is not None:
            for src in report.added:
                lines.append(f"✓ indexed **{md_text(src.removeprefix('upload:'))}**")
            for src in report.updated:
                lines.append(f"✓ updated **{md_text(src.removeprefix('upload:'))}**")
            for src in report.unchanged:
                lines.append(f"– **{md_text(src.removeprefix('upload:'))}** is already indexed (unchanged)")
            for path, reason in report.skipped:
                errors.append(f"{names.get(path, Path(path).name)}: {reason}")
            if report.documents:
                lines.append(f"{report.chunks} chunks in {report.seconds:.1f} s.")
        lines.extend(f"✗ {md_text(e)}" for e in errors)
        return ("\n\n".join(lines) or "Nothing to do.", *doc_lists(), None)

    def remove_docs(selected: list[str] | None) -> tuple[Any, ...]:
        if not selected:
            return ("Select one or more documents to remove.", *doc_lists())
        with write_lock:
            removed = assistant.remove(list(selected))
        if not removed:
            msg = "Nothing removed (already gone?)."
        else:
            msg = "Removed " + ", ".join(f"**{md_text(_short_source(s))}**" for s in removed) + "."
        return (msg, *doc_lists())

    # ---------------------------------------------------------------- layout
    with gr.Blocks(title="Document Q&A with exact citations", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        turns_state = gr.State([])
        asked_state = gr.State("")  # the question being answered, while it is
        gr.Markdown("## Ask your documents\nAnswers quote the documents exactly; click a marker like **[1]** to see the source.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=520,
                        latex_delimiters=[],
                        sanitize_html=True,
                        feedback_options=None,
                        buttons=["copy", "copy_all"],
                        elem_id="qa-chat",
                        placeholder="Ask a question about the indexed documents.",
                    )
                    with gr.Row():
                        msg = gr.Textbox(
                            placeholder="Ask a question…",
                            show_label=False,
                            scale=5,
                            autofocus=True,
                            max_length=settings.max_question_chars,
                            elem_id="qa-question",
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="qa-ask")
                    with gr.Row():
                        new = gr.Button("New chat", size="sm", elem_id="qa-new-chat")
                        # A generated answer can run for seconds; an extractive one never needs stopping.
                        stop = gr.Button(
                            "Stop", size="sm", variant="stop", elem_id="qa-stop", visible=len(assistant.backends) > 1, interactive=False
                        )
                    doc_filter = gr.Dropdown(
                        choices=_doc_choices(assistant.documents()),
                        value=[],
                        multiselect=True,
                        label="Search only these documents (leave empty to search all)",
                        elem_id="qa-filter",
                    )
                    # Extractive or the configured LLM, when one is configured (--llm / QA_LLM).
                    backend_choice: Any = gr.State(None)
                    if len(assistant.backends) > 1:
                        backend_choice = gr.Radio(
                            choices=[(display_name(b), b) for b in assistant.backends],
                            value=assistant.settings.llm,
                            label="Answer with",
                            elem_id="qa-backend",
                        )
                    # The answer check (docs/llm.md): only for generated answers; opt-in.
                    check_choice: Any = gr.State(None)
                    if len(assistant.backends) > 1:
                        check_choice = gr.Checkbox(
                            value=assistant.settings.llm_check,
                            label="Check generated answers: the model judges whether the quotes answer the question (slower, fewer but more precise answers)",
                            elem_id="qa-check",
                        )
                    if seed_present:
                        gr.Examples(examples=[[q] for q in EXAMPLE_QUESTIONS], inputs=[msg], label="Example questions")
                with gr.Column(scale=2, min_width=320):
                    sources = gr.HTML(
                        render_sources([], []),
                        label="Sources",
                        show_label=True,
                        html_template="<style>" + CSS + "</style>${value}",
                        js_on_load=CITE_JS,
                        server_functions=[open_document],
                        elem_id="qa-sources",
                        elem_classes=["qa-sources-panel"],
                        max_height=640,
                        container=True,
                        padding=True,
                    )
            if not read_only:
                with gr.Tab("Documents", id="documents") as docs_tab:
                    gr.Markdown(
                        f"Upload {', '.join(ALLOWED_SUFFIXES)} files (up to {limit_mb:g} MB each). "
                        "They are indexed right away and then searchable in the chat."
                    )
                    upload = gr.File(
                        file_count="multiple",
                        file_types=list(ALLOWED_SUFFIXES),
                        label="Upload documents",
                        elem_id="qa-upload",
                    )
                    status = gr.Markdown(elem_id="qa-upload-status")
                    table = gr.Dataframe(
                        value=_doc_rows(assistant),
                        headers=["Title", "Source", "Kind", "Chunks", "Published", "Doc id"],
                        datatype="str",
                        interactive=False,
                        wrap=True,
                        column_widths=["38%", "24%", "7%", "8%", "11%", "12%"],
                        label="Indexed documents",
                        elem_id="qa-doc-table",
                    )
                    with gr.Row():
                        to_remove = gr.Dropdown(
                            choices=_doc_choices(assistant.documents(), with_source=True),
                            value=[],
                            multiselect=True,
                            label="Documents to remove",
                            scale=4,
                            elem_id="qa-remove-select",
                        )
                        remove_btn = gr.Button("Remove", variant="stop", scale=1, min_width=100, elem_id="qa-remove")
                        refresh_btn = gr.Button("Refresh", scale=1, min_width=100)

        # ---------------------------------------------------------------- events
        private = {"api_visibility": "private"}
        asking = gr.on(
            triggers=[msg.submit, send.click],
            fn=respond,
            inputs=[msg, turns_state, doc_filter, backend_choice, check_choice],
            outputs=[chatbot, sources, turns_state, msg, stop, asked_state],
            show_progress="hidden",
            concurrency_limit=4,
            **private,
        )
        # Cancelling drops the answer being written (its unfinished sentence was never verified)
        # and, with it, the model's stream, which frees the model for the next question. The
        # chat is redrawn only after the cancel: drawn with it, a last streamed piece could land
        # after the redraw and leave the draft on screen.
        stop.click(None, cancels=[asking], **private).then(
            stopped, inputs=[turns_state, asked_state, msg], outputs=[chatbot, sources, stop, msg, asked_state], **private
        )
        new.click(new_chat, outputs=[chatbot, sources, turns_state, msg], **private)
        chatbot.clear(new_chat, outputs=[chatbot, sources, turns_state, msg], **private)  # the chatbot's own trash icon
        gr.api(ask, api_name="ask", concurrency_limit=4)

        list_outputs: list[Any] = [doc_filter] if read_only else [doc_filter, table, to_remove]
        demo.load(doc_lists, outputs=list_outputs, **private)
        if not read_only:
            docs_tab.select(doc_lists, outputs=list_outputs, **private)
            refresh_btn.click(doc_lists, outputs=list_outputs, **private)
            upload.upload(
                index_uploads,
                inputs=[upload],
                outputs=[status, *list_outputs, upload],
                concurrency_limit=1,
                concurrency_id="index-write",
                **private,
            )
            remove_btn.click(
                remove_docs,
                inputs=[to_remove],
                outputs=[status, *list_outputs],
                concurrency_limit=1,
                concurrency_id="index-write",
                **private,
            )

    demo.qa_max_upload_mb = limit_mb  # type: ignore[attr-defined]  # read by serve()
    return demo


# --------------------------------------------------------------------------- starting


def open_assistant(
    index: Path | str | None = None, settings: Settings | None = None, *, build_default_from_seeds: bool = True
) -> Assistant:
    """Open the index for the UI.

    The default index (``indexes/default`` under the repository) is created from
    ``seeds/`` when missing and refreshed when the seeds changed (unchanged files cost
    nothing). Any other index must exist.
    """
    settings = settings or load_settings()
    if index is None:
        index = settings.index
    index = Path(index)
    if index == Path("indexes/default"):
        index = DEFAULT_INDEX
    index = index.expanduser().resolve()
    if index == DEFAULT_INDEX.resolve():
        assistant = Assistant.open(index, settings, create=True)
        if build_default_from_seeds and SEEDS_DIR.is_dir():
            report = assistant.add([SEEDS_DIR])
            if report.documents or report.skipped:
                print(f"Default index {index}: {report.summary()}", flush=True)
        return assistant
    if not (index / "manifest.json").exists():
        raise IndexNotFoundError(f"no index at {index}; create it with `qa index --index {index} PATH...`")
    return Assistant.open(index, settings, create=False)


def warm_up(assistant: Assistant) -> None:
    """Load the embedding model and the index now so the first real question is fast."""
    try:
        assistant.embedder.encode(["warm up"])
        if assistant.documents():
            assistant.ask("warm up", backend="extractive")  # not a whole LLM generation at start-up
    except Exception:
        log.exception("warm-up failed")


def warm_up_llm(assistant: Assistant) -> threading.Thread | None:
    """Answer one question with the configured LLM in the background, so the first user does
    not also wait for the model to load and read the answer prompt's rules (Qwen2.5-Coder-1.5B
    here: first token 3.8 s cold, 1.5 s after). A server that cannot be reached is reported now."""
    if is_extractive(assistant.settings.llm) or not assistant.documents():
        return None

    def run() -> None:
        try:
            assistant.ask(WARM_UP_QUESTION)
        except BackendError as e:
            print(f"WARNING: {e}. Answers with it fail until this is fixed; the extractive answerer still works.", flush=True)
        except Exception:
            log.exception("LLM warm-up failed")

    thread = threading.Thread(target=run, name="qa-llm-warm-up", daemon=True)
    thread.start()
    return thread


def serve(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    block: bool = True,
    quiet: bool = True,
    auth: object = None,
    insecure_public: bool = False,
) -> str:
    """Start a built UI; returns the local URL (``block=False`` returns at once, for tests).

    ``auth`` is ``"USER:PASSWORD"`` (or a pair); a non-loopback ``host`` needs it unless
    ``insecure_public`` (see :mod:`qa.exposure`). Checked here, the one place every way of
    starting the UI passes through, so no caller can forget it.
    """
    credentials = check_exposure(host, auth, insecure_public)
    if credentials is None and not is_loopback(host):
        print(f"WARNING: serving on {host} with no login (--insecure-public): anyone who can reach it can use it.", flush=True)
    max_mb = getattr(demo, "qa_max_upload_mb", None)
    _, url, _ = demo.launch(
        auth=auth_checker(credentials) if credentials else None,
        auth_message="Log in to ask your documents." if credentials else None,
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=True,
        inbrowser=False,
        show_error=True,
        quiet=quiet,
        ssr_mode=False,
        max_file_size=int(max_mb * 1024 * 1024) + 1 if max_mb else None,
        theme=gr.themes.Default(**THEME_FONTS),  # system fonts: no request to a font CDN
        footer_links=["api"],
        mcp_server=False,
    )
    print(f"Document Q&A is running at {url} (press Ctrl+C to stop)", flush=True)
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return url


def launch(
    index: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    read_only: bool | None = None,
    settings: Settings | None = None,
    build_default_from_seeds: bool = True,
    auth: object = None,
    insecure_public: bool | None = None,
) -> None:
    """Open (or build) the index, warm the model, and serve the UI until interrupted.

    Arguments left as None come from ``settings`` (``QA_HOST``, ``QA_PORT``, ``QA_READ_ONLY``,
    ``QA_AUTH``, ``QA_INSECURE_PUBLIC``). The exposure check runs before the index is opened,
    so a refused configuration fails at once, not after the model has loaded.
    """
    settings = settings or load_settings()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    read_only = settings.read_only if read_only is None else read_only
    auth = settings.auth if auth is None else auth
    insecure_public = settings.insecure_public if insecure_public is None else insecure_public
    check_exposure(host, auth, insecure_public)
    assistant = open_assistant(index, settings, build_default_from_seeds=build_default_from_seeds)
    info = assistant.info()
    print(f"Index {info['index']}: {info['documents']} documents, {info['chunks']} chunks; loading the model…", flush=True)
    warm_up(assistant)
    demo = build_ui(assistant, read_only=read_only)
    warm_up_llm(assistant)  # in the background: the UI is up meanwhile
    serve(demo, host, port, block=True, auth=auth, insecure_public=insecure_public)
