"""Tests for qa.documents: real files on disk, real parsers, exact offsets."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qa.documents import (
    FURNITURE_PATTERNS,
    MB,
    SUPPORTED_SUFFIXES,
    DocumentError,
    LoadedDocument,
    PageSpan,
    iter_files,
    load_document,
    page_of,
)
from tests.formats import pdf_file

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "seeds" / "lukashenko-maduro-newsmax.txt"
LIMIT = 20 * MB


def load(path: Path, **kw: object) -> LoadedDocument:
    return load_document(path, max_bytes=kw.pop("max_bytes", LIMIT), **kw)  # type: ignore[arg-type]


def reason_of(path: Path, **kw: object) -> str:
    with pytest.raises(DocumentError) as info:
        load(path, **kw)
    err = info.value
    assert str(err) == err.reason
    assert "\n" not in str(err)
    assert err.path == path
    return str(err)


# --------------------------------------------------------------------------- helpers


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal hand-written PDF with one Helvetica text run per page."""
    objs: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        objs.append(
            (
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
            ).encode()
        )
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode() if text else b""
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    if title is not None:
        objs.append(f"<< /Title ({title}) >>".encode())
    return pdf_file(objs, info=title is not None)


def write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- plain text


def test_utf8_exact_round_trip_keeps_crlf_and_non_ascii(tmp_path: Path) -> None:
    content = "Première ligne\r\nZweite Zeile: Größe – “quotes” 日本語\r\n\r\nlast\rline\n  trailing  \n"
    path = write(tmp_path / "notes.txt", content)
    doc = load(path)
    assert doc.text == content
    assert open(path, encoding="utf-8", newline="").read() == doc.text
    assert doc.kind == "txt"
    assert doc.title == "Première ligne"
    assert doc.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.source == str(path.resolve())
    assert doc.body_end == len(content)
    assert doc.pages == []


def test_source_override(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "hello")
    assert load(path, source="upload:a.txt").source == "upload:a.txt"


def test_utf8_bom_is_stripped_only(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfTitle here\r\nbody")
    doc = load(path)
    assert doc.text == "Title here\r\nbody"
    assert doc.title == "Title here"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32"])
def test_utf16_and_utf32_with_bom(tmp_path: Path, encoding: str) -> None:
    content = "Héllo wörld\r\nsecond line ✓\n"
    if encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + content.encode("utf-16-be")
    else:
        data = content.encode(encoding)  # native order, with BOM
    assert b"\x00" in data
    doc = load(write(tmp_path / "wide.txt", data))
    assert doc.text == content
    assert doc.title == "Héllo wörld"


def test_latin1_decoded_correctly(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "latin.txt", "café naïve", encoding="latin-1"))
    assert doc.text == "café naïve"
    longer = "Le café est très naïve, à côté de l'hôtel.\r\nÇa va? Größe, straße.\n"
    doc = load(write(tmp_path / "latin2.txt", longer, encoding="cp1252"))
    assert doc.text == longer


def test_western_preference_does_not_override_clear_cyrillic(tmp_path: Path) -> None:
    content = "Привет, как дела? Это тестовый текст на русском языке.\n"
    doc = load(write(tmp_path / "ru.txt", content, encoding="cp1251"))
    assert doc.text == content


def test_invalid_utf8_does_not_crash(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt", b"valid start \xff\xfe\xfd then \xc3\x28 more text\n")
    try:
        doc = load(path)
    except DocumentError as err:
        assert "decode" in str(err) or "binary" in str(err)
    else:
        assert "valid start" in doc.text and "more text" in doc.text


def test_invalid_utf16_after_bom_is_clear_error(tmp_path: Path) -> None:
    # odd length + lone surrogate: not decodable as UTF-16
    path = write(tmp_path / "bad16.txt", b"\xff\xfeA\x00\x00\xd8B")
    assert "decode" in reason_of(path)


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf", b"\xff\xfe \x00\n\x00"])
def test_empty_and_whitespace_only(tmp_path: Path, data: bytes) -> None:
    assert reason_of(write(tmp_path / "empty.txt", data)) == "empty file"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(50), "PNG image"),
        (b"\x7fELF\x02\x01\x01" + bytes(60), "ELF executable"),
        (b"PK\x03\x04\x14\x00\x00\x00" + bytes(30), "ZIP archive"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
        (b"plain looking text\x00with a NUL", "contains NUL bytes"),
    ],
)
def test_binary_files_rejected(tmp_path: Path, data: bytes, name: str) -> None:
    assert reason_of(write(tmp_path / "thing.txt", data)) == f"binary file ({name})"


def test_control_character_soup_is_binary(tmp_path: Path) -> None:
    data = bytes(b % 31 + 1 for b in range(2000))  # C0 controls and no NUL, valid UTF-8
    assert reason_of(write(tmp_path / "ctl.txt", data)) == "binary file (control characters)"


def test_text_starting_with_mz_is_not_binary(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "mz.txt", "MZ is the abbreviation here.\n"))
    assert doc.text.startswith("MZ is")


def test_over_size_limit_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as fh:  # sparse: cheap to create
        fh.truncate(25 * MB + 300 * 1024)

    def boom(self: Path) -> bytes:
        raise AssertionError("file was read before the size check")

    monkeypatch.setattr(Path, "read_bytes", boom)
    reason = reason_of(path, max_bytes=20 * MB)
    assert reason == "file is 25.3 MB, over the 20 MB limit (QA_MAX_FILE_MB)"


def test_small_limit_message(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "x" * 2000)
    reason = reason_of(path, max_bytes=1000)
    assert "over the" in reason and "limit" in reason and "QA_MAX_FILE_MB" in reason
    assert load(path, max_bytes=2000).text == "x" * 2000  # exactly at the limit is fine


def test_missing_folder_and_unreadable(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "nope.txt") == "no such file"
    (tmp_path / "dir.txt").mkdir()
    assert "folder" in reason_of(tmp_path / "dir.txt")
    assert reason_of(write(tmp_path / "x.xyz", "hi")) == "unsupported file type .xyz"


def test_os_error_while_reading_is_document_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "locked.txt", "words")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert reason_of(path) == "cannot read file: Permission denied"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores file modes")
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", "hidden words")
    path.chmod(0)
    try:
        assert reason_of(path).startswith("cannot read file:")
        assert list(iter_files([path])) == [(path, "cannot read file: permission denied")]
    finally:
        path.chmod(0o644)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        alphabet=st.characters(
            blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"
        )
        | st.sampled_from(["\n", "\r", "\t"]),
        min_size=1,
        max_size=200,
    )
)
def test_property_utf8_text_is_exact(tmp_path: Path, text: str) -> None:
    assume(text.strip())
    assume(not text.startswith(("GIF8", "%PDF-", "PK")))
    path = write(tmp_path / "prop.txt", text)
    doc = load(path)
    assert doc.text == text
    assert 0 < doc.body_end <= len(text)
    assert len(doc.title) <= 120


# --------------------------------------------------------------------------- titles / markdown


def test_title_cut_at_word_boundary(tmp_path: Path) -> None:
    first = " ".join(f"word{i:03d}" for i in range(40))  # 319 chars
    doc = load(write(tmp_path / "long.txt", f"\n\n   {first}\nbody\n"))
    assert len(doc.title) <= 120
    assert first.startswith(doc.title)
    assert first[len(doc.title)] == " "  # cut between words, not inside one


def test_title_falls_back_to_stem_for_pdf_without_title(tmp_path: Path) -> None:
    # PDF first line is the title fallback; stem is used only when there's no text line
    doc = load(write(tmp_path / "report 2024.pdf", make_pdf(["Quarterly numbers"])))
    assert doc.title == "Quarterly numbers"


def test_markdown_title_and_raw_text(tmp_path: Path) -> None:
    content = "Intro line before heading\r\n\r\n#  The *Real* Title  ##\r\n\r\nSome `code` and [a link](http://x).\r\n"
    doc = load(write(tmp_path / "readme.md", content))
    assert doc.kind == "md"
    assert doc.text == content
    assert doc.title == "The *Real* Title"
    assert load(write(tmp_path / "b.markdown", "no heading\n\n##not h1\n")).title == "no heading"
    assert load(write(tmp_path / "c.md", "## Sub only\ntext\n")).title == "Sub only"
    fenced = "Project notes\n\n```bash\n# install deps\npip install x\n```\n\n# Usage\n"
    assert load(write(tmp_path / "d.md", fenced)).title == "Usage"


# --------------------------------------------------------------------------- HTML

ARTICLE_HTML = """<!DOCTYPE html>
<html><head>
<title>Boring Site | Tidal Power Expands</title>
<meta property="og:title" content="Tidal Power Expands">
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2024-03-05T10:00:00Z">
<script>var secret = "SCRIPT_SECRET_HEAD";</script>
</head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article>
<h1>Tidal Power Expands</h1>
<p>The new tidal power station produced 320 megawatts in its first month of operation,
according to the operator, which said output exceeded every forecast made last year.</p>
<script>document.write("SCRIPT_SECRET_BODY")</script>
<p>Engineers said the turbines would be inspected every six months, and that a second
array of forty turbines is planned for the northern channel by the end of 2026.</p>
</article>
<footer>Copyright 2024 Boring Site</footer>
</body></html>"""


def test_html_article_with_metadata(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "article.html", ARTICLE_HTML))
    assert doc.kind == "html"
    assert doc.title == "Tidal Power Expands"
    assert doc.author == "Jane Doe"
    assert doc.published == "2024-03-05"
    assert "320 megawatts" in doc.text
    assert "second\narray" in doc.text or "second array" in doc.text
    assert "SCRIPT_SECRET" not in doc.text
    assert "var secret" not in doc.text
    assert doc.body_end == len(doc.text)


def test_html_only_scripts_is_error(tmp_path: Path) -> None:
    html = "<html><head><script>var a = 'only script here';</script></head><body><script>x()</script></body></html>"
    assert reason_of(write(tmp_path / "js.htm", html)) == "HTML has no main text"


def test_short_html_page_still_loads(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "note.html", "<html><body><p>A short note.</p></body></html>"))
    assert doc.text == "A short note."
    assert doc.title == "A short note."


@pytest.mark.parametrize(
    "html",
    [
        "<html><body><p>Unclosed <b>bold <div>weird</p></span> text in a broken document that goes on",
        "<<<>>> </html> <p <p <p> &&&& &#xZZZ; <body>",
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>Declared XML prolog in a string.</p></body></html>',
    ],
)
def test_malformed_html_does_not_crash(tmp_path: Path, html: str) -> None:
    path = write(tmp_path / "broken.html", html)
    try:
        doc = load(path)
    except DocumentError as err:
        assert str(err) in {"HTML has no main text"} or str(err).startswith("malformed HTML")
    else:
        assert doc.text.strip()
        assert "<p" not in doc.text and "<body" not in doc.text


def test_html_binary_rejected(tmp_path: Path) -> None:
    assert reason_of(write(tmp_path / "pic.html", b"\x89PNG\r\n\x1a\n" + bytes(20))) == "binary file (PNG image)"


# --------------------------------------------------------------------------- PDF


def test_pdf_pages_and_page_of(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "two.pdf", make_pdf(["Hello world", "Second page"], title="A Real Title")))
    assert doc.kind == "pdf"
    assert doc.text == "Hello world\n\nSecond page"
    assert doc.title == "A Real Title"
    assert doc.pages == [PageSpan(1, 0, 11), PageSpan(2, 13, 24)]
    for span in doc.pages:
        assert doc.text[span.start : span.end] in {"Hello world", "Second page"}
    assert page_of(doc.pages, 0) == 1
    assert page_of(doc.pages, 10) == 1
    assert page_of(doc.pages, 11) == 1  # exclusive end of page 1
    assert page_of(doc.pages, 12) == 1  # separator belongs to the page before it
    assert page_of(doc.pages, doc.text.index("Second")) == 2
    assert page_of(doc.pages, len(doc.text)) == 2
    assert page_of(doc.pages, len(doc.text) + 1) is None
    assert page_of(doc.pages, -1) is None
    assert page_of([], 0) is None


def test_pdf_empty_middle_page_keeps_numbering(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "three.pdf", make_pdf(["Alpha", "", "Gamma"])))
    assert [p.page for p in doc.pages] == [1, 2, 3]
    assert doc.text[doc.pages[2].start : doc.pages[2].end] == "Gamma"
    assert page_of(doc.pages, doc.text.index("Gamma")) == 3


def test_pdf_meaningless_metadata_title_ignored(tmp_path: Path) -> None:
    doc = load(write(tmp_path / "m.pdf", make_pdf(["Body first line"], title="Microsoft Word - draft3.doc")))
    assert doc.title == "Body first line"


def test_malformed_pdf(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.pdf", b"%PDF-1.7\n" + os.urandom(64) + b"\x00garbage garbage")
    assert reason_of(path).startswith("malformed PDF: ")


def test_malformed_pdf_reason_replaces_pypdf_log_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """pypdf's repair messages ("EOF marker not found") name no file; ours does."""
    path = write(tmp_path / "cut.pdf", b"%PDF-1.4\n%garbage")
    with caplog.at_level(logging.DEBUG):
        assert reason_of(path).startswith("malformed PDF: ")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []
    assert logging.getLogger("pypdf").level == logging.NOTSET  # restored for everyone else


def test_overlapping_pdf_reads_restore_the_pypdf_level_once_both_are_done() -> None:
    """Two threads reading PDFs at once: the first one out must not restore the level (the
    second still reads) nor leave it at ERROR for good (the interleaving, replayed in order)."""
    from qa.documents import _quiet_pypdf

    log = logging.getLogger("pypdf")
    log.setLevel(logging.INFO)
    try:
        first, second = _quiet_pypdf(), _quiet_pypdf()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert log.level == logging.ERROR  # the second reader is still inside
        second.__exit__(None, None, None)
        assert log.level == logging.INFO
    finally:
        log.setLevel(logging.NOTSET)


def test_truncated_pdf(tmp_path: Path) -> None:
    data = make_pdf(["Hello world"])
    try:
        doc = load(write(tmp_path / "cut.pdf", data[: len(data) // 3]))
    except DocumentError as err:
        assert str(err).startswith("malformed PDF") or "no text layer" in str(err)
    else:  # pypdf may recover the page; then the text must be real
        assert "Hello" in doc.text


def test_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    assert reason_of(write(tmp_path / "locked.pdf", buf.getvalue())) == "encrypted PDF"


def test_pdf_encrypted_with_empty_user_password_opens(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Open sesame"]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    doc = load(write(tmp_path / "perm.pdf", buf.getvalue()))
    assert doc.text == "Open sesame"


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    assert reason_of(write(tmp_path / "scan.pdf", buf.getvalue())) == "PDF has no text layer (scanned?)"


# --------------------------------------------------------------------------- DOCX


def test_docx(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("First paragraph of the memo.")
    d.add_paragraph("Second paragraph: budget is 4,200 euros.")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Owner"
    table.rows[0].cells[1].text = "Ana"
    d.add_paragraph("After the table.")
    d.core_properties.title = "Budget Memo"
    d.core_properties.author = "Ana Lima"
    d.core_properties.created = datetime(2023, 7, 14, 9, 30, tzinfo=timezone.utc)
    path = tmp_path / "memo.docx"
    d.save(str(path))
    doc = load(path)
    assert doc.kind == "docx"
    assert doc.text == (
        "First paragraph of the memo.\nSecond paragraph: budget is 4,200 euros.\nOwner | Ana\nAfter the table."
    )
    assert doc.title == "Budget Memo"
    assert doc.author == "Ana Lima"
    assert doc.published == "2023-07-14"


def test_docx_without_title_uses_first_line(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("")
    d.add_paragraph("Meeting notes")
    path = tmp_path / "notes.docx"
    d.save(str(path))
    assert load(path).title == "Meeting notes"


def test_malformed_docx(tmp_path: Path) -> None:
    assert reason_of(write(tmp_path / "bad.docx", b"PK\x03\x04 not really a zip")).startswith("malformed DOCX: ")
    assert reason_of(write(tmp_path / "bad2.docx", b"hello, I am text")).startswith("malformed DOCX: ")


# --------------------------------------------------------------------------- furniture


def test_furniture_patterns_are_module_level_regexes() -> None:
    assert FURNITURE_PATTERNS and all(hasattr(p, "fullmatch") for p in FURNITURE_PATTERNS)


def test_trailing_comments_block_excluded(tmp_path: Path) -> None:
    body = "Headline\nThe article body ends here."
    content = body + "\n\nCOMMENTS\nPlease let us know if you're having issues with commenting."
    doc = load(write(tmp_path / "web.txt", content))
    assert doc.text == content  # text itself untouched
    assert doc.body_end == len(body)
    assert doc.text[: doc.body_end] == body


def test_other_furniture_lines_and_trailing_whitespace(tmp_path: Path) -> None:
    body = "Title\nReal content sentence.   "
    content = body + "\n\nShare this article\n\nSubscribe to our newsletter\nSign up for our daily newsletter\n\nRelated Articles\nAdvertisement\n\n"
    doc = load(write(tmp_path / "web2.txt", content))
    assert doc.body_end == len(body.rstrip())


def test_comments_mid_text_not_cut(tmp_path: Path) -> None:
    content = "Title\nIntro paragraph.\n\nCOMMENTS\nReaders wrote in with many thoughtful replies about the policy.\n"
    doc = load(write(tmp_path / "mid.txt", content))
    assert doc.body_end == len(content)


def test_furniture_then_content_not_cut(tmp_path: Path) -> None:
    content = "Title\nBody.\nAdvertisement\nThe story continues after the ad.\n"
    assert load(write(tmp_path / "ad.txt", content)).body_end == len(content)


def test_long_line_resembling_furniture_not_cut(tmp_path: Path) -> None:
    content = "Title\nBody.\nSubscribe to " + "x" * 300
    assert load(write(tmp_path / "long.txt", content)).body_end == len(content)


def test_document_of_only_furniture_keeps_everything(tmp_path: Path) -> None:
    content = "Comments\nAdvertisement\n"
    assert load(write(tmp_path / "f.txt", content)).body_end == len(content)


def test_seed_file() -> None:
    doc = load(SEED)
    raw = open(SEED, encoding="utf-8", newline="").read()
    assert doc.text == raw
    assert doc.title.startswith("Communist dictator")
    assert len(doc.title) <= 120
    assert "COMMENTS" not in doc.text[: doc.body_end]
    assert doc.text[: doc.body_end].endswith("Coale updated.")
    assert "Please let us know if you're having issues with commenting." in doc.text[doc.body_end :]
    assert doc.body_end == len(raw[: raw.rindex("COMMENTS")].rstrip())


# --------------------------------------------------------------------------- iter_files


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"})


def test_iter_files_folder_walk(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    write(root / "b.txt", "b")
    write(root / "a.md", "a")
    write(root / "sub" / "c.PDF", b"%PDF")
    write(root / "sub" / "deeper" / "d.html", "<p>d</p>")
    write(root / "sub" / "image.png", b"\x89PNG")
    write(root / "notes.xyz", "ignored")
    write(root / ".hidden.txt", "hidden")
    write(root / ".git" / "config.txt", "hidden dir")
    write(root / "zz café file.txt", "unicode name")
    got = list(iter_files([root]))
    assert got == [
        (root / "a.md", None),
        (root / "b.txt", None),
        (root / "sub" / "c.PDF", None),
        (root / "sub" / "deeper" / "d.html", None),
        (root / "zz café file.txt", None),
    ]


def test_iter_files_explicit_arguments(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    inside = write(folder / "x.txt", "x")
    unsupported = write(tmp_path / "data.xyz", "?")
    no_ext = write(tmp_path / "Makefile", "all:")
    hidden = write(tmp_path / ".explicit.txt", "asked for by name")
    missing = tmp_path / "missing.txt"
    got = list(iter_files([unsupported, folder, missing, no_ext, inside, str(hidden), unsupported]))
    assert got == [
        (unsupported, "unsupported file type .xyz"),
        (inside, None),
        (missing, "no such file"),
        (no_ext, "unsupported file type (no extension)"),
        (hidden, None),
    ]
    assert all(isinstance(p, Path) for p, _ in got)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_iter_files_symlink_loop_and_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    real = write(root / "a" / "real.txt", "real")
    os.symlink(root, root / "a" / "loop")  # a/loop -> root: a cycle
    os.symlink(root / "a", root / "b")  # b -> a: same directory again
    os.symlink(real, root / "c.txt")  # a second name for the same file
    os.symlink(tmp_path / "nowhere.txt", root / "d.txt")  # broken link
    self_loop = root / "e"
    os.symlink(self_loop, self_loop)  # ELOOP
    result: list[tuple[Path, str | None]] = []
    worker = threading.Thread(target=lambda: result.extend(iter_files([root, real])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "iter_files did not terminate on a symlink loop"
    # The broken d.txt is named (a supported file the user would expect indexed); the
    # self-loop "e" has no supported suffix, so it is not news.
    assert result == [(real, None), (root / "d.txt", "broken symbolic link (its target does not exist)")]


def test_iter_then_load_file_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    path = write(tmp_path / "my folder" / "résumé été 2024.txt", "Résumé\nCurriculum text")
    [(found, reason)] = list(iter_files([tmp_path / "my folder"]))
    assert reason is None and found == path
    doc = load(found)
    assert doc.title == "Résumé"
    assert doc.source == str(path.resolve())


def test_pdf_running_heads_feet_and_page_numbers_are_not_text(tmp_path: Path) -> None:
    """A page printed from a browser: date and title above, address and "n/m" below every page.
    Left in, they split the sentence a page break cuts and put a URL in its middle."""
    import random

    from tests.formats import wrapped_pdf

    rng = random.Random(3)
    nouns = "crane quay ferry berth pier dock tug barge buoy slipway warehouse lighthouse".split()
    sentence = "The harbour board met on day {} and agreed that the {} would stay where it is for now."
    paragraphs = ["Harbour notes"] + [
        " ".join(sentence.format(f"{i}.{j}", " and the ".join(rng.sample(nouns, 3))) for j in range(5)) for i in range(30)
    ]
    pdf = wrapped_pdf(paragraphs, "Harbour notes", printed_from="https://ledger.example/news/harbour")
    doc = load(write(tmp_path / "printed.pdf", pdf))
    assert len(doc.pages) >= 3
    assert "ledger.example" not in doc.text and "28/11/2026" not in doc.text
    for span in doc.pages:  # page spans still index the text
        assert doc.text[span.start : span.end].strip()
    # Every sentence is whole, also those a page break cut: the pages run on with a line break.
    from qa.chunking import split_sentences

    sentences = [" ".join(doc.text[s:e].split()) for s, e in split_sentences(doc.text)]
    assert sentences[0] == "Harbour notes" and len(sentences) == 1 + 30 * 5
    whole = r"The harbour board met on day \d+\.\d+ and agreed that the [a-z ]+ would stay where it is for now\."
    assert [s for s in sentences[1:] if not re.fullmatch(whole, s)] == []


def test_running_lines_need_most_pages_and_lone_numbers_need_an_edge() -> None:
    from qa.pdf_pages import page_separator, strip_running_lines

    pages = ["Annual report 2025\nFirst page text.\n1", "Annual report 2025\nSecond page text.\nPage 2 of 3", "Third page text."]
    assert strip_running_lines(pages) == ["First page text.", "Second page text.", "Third page text."]
    # One page: nothing repeats; a year at its foot is content, a page number is not.
    assert strip_running_lines(["Founded in\n2026"]) == ["Founded in\n2026"]
    assert strip_running_lines(["Some text.\n- 4 -"]) == ["Some text."]
    assert page_separator("the cost rose to 3.4", "billion dinars") == "\n"
    assert page_separator("The cost rose.", "billion dinars") == "\n\n"
    assert page_separator("the cost rose to", "Billion Dinars Ltd") == "\n\n"


def test_a_pdf_read_by_an_older_reader_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same file gives other text when the PDF reader improves; `qa index` must notice."""
    from qa import Assistant, documents

    write(tmp_path / "docs" / "two.pdf", make_pdf(["Hello world", "Second page"]))
    a = Assistant.open(tmp_path / "idx")
    assert len(a.add([tmp_path / "docs"]).added) == 1
    assert len(a.add([tmp_path / "docs"]).unchanged) == 1
    monkeypatch.setitem(documents.READER_REVISIONS, "pdf", "999")
    assert len(a.add([tmp_path / "docs"]).updated) == 1
    text = write(tmp_path / "docs" / "plain.txt", "Hello.")
    assert load(text).content_hash == hashlib.sha256(b"Hello.").hexdigest()  # text files: the file's own hash
