"""Loaders: one file in, one :class:`LoadedDocument` out.

Everything downstream (chunking, retrieval, citations) quotes the user's documents by
Python ``str`` offsets into :attr:`LoadedDocument.text`. So this module's one promise is
that ``text`` is exactly what we will ever show or quote, and that it is stable: the same
bytes always give the same text. For plain text and Markdown that means the *raw* file
contents (no newline translation, no whitespace clean-up) so a citation can be checked
against the file on disk; for HTML, PDF and DOCX it is the extracted text, because the
raw markup is not something a reader can quote.

Files that cannot be indexed raise :class:`DocumentError` with a one-line reason meant for
the user, never a traceback.
"""

from __future__ import annotations

import bisect
import codecs
import errno
import hashlib
import io
import logging
import os
import re
import stat
import threading
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from qa.pdf_pages import page_separator, strip_running_lines

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentError",
    "LoadedDocument",
    "PageSpan",
    "iter_files",
    "load_document",
    "page_of",
]

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
)

#: Bumped when the text a reader makes of the same file changes (PDF: running heads and feet
#: left out, pages joined where a sentence runs on). Part of a document's content hash, so
#: that ``qa index`` reads such files again rather than calling them unchanged.
READER_REVISIONS: dict[str, str] = {"pdf": "2"}

_KIND_BY_SUFFIX: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

#: One "MB" in size messages; the caller turns ``QA_MAX_FILE_MB`` into bytes with the same unit.
MB = 1024 * 1024
TITLE_MAX_CHARS = 120


class DocumentError(Exception):
    """A file that cannot be indexed; ``str(err)`` is a one-line reason fit to show a user."""

    def __init__(self, path: Path | str, reason: str) -> None:
        # One line, always: reasons end up in CLI tables and UI toasts.
        reason = " ".join(reason.split()) or "unknown error"
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class PageSpan:
    page: int  # 1-based
    start: int
    end: int  # offsets into LoadedDocument.text


@dataclass
class LoadedDocument:
    source: str
    text: str
    title: str
    kind: str
    content_hash: str
    body_end: int
    author: str | None = None
    published: str | None = None
    pages: list[PageSpan] = field(default_factory=list)


# --------------------------------------------------------------------------- furniture

#: Lines that saved web articles carry after the article body (comment widgets, share
#: bars, newsletter boxes). Matched case-insensitively against the whole stripped line.
#: Only a trailing run made *entirely* of these (and blank lines) is cut, so a sentence
#: that happens to say "Comments" mid-document is never lost.
FURNITURE_PATTERNS: list[re.Pattern[str]] = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(\d+\s+)?comments?(\s*\(\d+\))?:?",
        r"(show|view|load|hide|read)\s+(all\s+)?(\d+\s+)?comments?",
        r"(leave|post|add|write)\s+a\s+(comment|reply)\.?",
        r"join\s+the\s+(conversation|discussion)\.?",
        r"please\s+let\s+us\s+know\s+if\s+you['’]?re\s+having\s+(issues|trouble|problems)\s+with\s+commenting\.?",
        r"share(\s+this)?(\s+(article|story|post|page))?(\s+on\s+[\w ]{1,30})?:?",
        r"(subscribe|follow\s+us)(\s+(now|today))?(\s+(to|on|for)\b.{0,80})?[.!:]?",
        r"sign\s+up\s+(for|to)\s+.{0,60}newsletters?.{0,40}",
        r"(related|recommended|trending|popular)(\s+(articles?|stories|posts|content|news|reading|for\s+you))?:?",
        r"(read\s+more|more\s+stories|you\s+(may|might)\s+also\s+like)[.:]?",
        r"advertisements?|sponsored(\s+content)?",
    )
]
_FURNITURE_MAX_LINE = 160


def _is_furniture(line: str) -> bool:
    if len(line) > _FURNITURE_MAX_LINE:
        return False
    return any(p.fullmatch(line) for p in FURNITURE_PATTERNS)


def _body_end(text: str) -> int:
    """End of the real content: cuts a trailing furniture block, else ``len(text)``.

    Furniture in an index is worse than noise: "Subscribe to our newsletter" would be
    retrieved for questions about subscriptions and quoted as if the author wrote it.
    """
    lines = text.splitlines(keepends=True)
    offset = len(text)
    cut: int | None = None
    for line in reversed(lines):
        offset -= len(line)
        stripped = line.strip()
        if not stripped:
            continue
        if _is_furniture(stripped):
            cut = offset
            continue
        break
    if cut is None:
        return len(text)
    content = text[:cut].rstrip()
    if not content:  # a "document" that is only furniture keeps everything
        return len(text)
    return len(content)


# --------------------------------------------------------------------------- text decoding

_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"%PDF-", "PDF document"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document"),
    (b"SQLite format 3\x00", "SQLite database"),
]

# UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]

#: When the detector has no evidence to tell single-byte encodings apart (common for
#: short files), Western ones are the likeliest; without this "café" comes back as "cafﻠ".
_WESTERN = ("cp1252", "latin_1", "iso8859_15")
_OK_CONTROLS = frozenset("\t\n\r\f\v\x1c\x1d\x1e\x85")


def _sniff_binary(raw: bytes) -> str | None:
    """Name of the binary format if ``raw`` is clearly not text (BOM-less bytes only)."""
    for magic, name in _MAGIC:
        if raw.startswith(magic):
            # "MZ" is also how some prose starts; only call it binary with NULs present.
            if magic == b"MZ" and b"\x00" not in raw[:1024]:
                continue
            return name
    if b"\x00" in raw:
        return "contains NUL bytes"
    return None


def _looks_binary(text: str) -> bool:
    """Guards against a detector 'successfully' decoding arbitrary bytes as some codepage."""
    sample = text[:100_000]
    if not sample:
        return False
    controls = sum(
        1 for ch in sample if ch not in _OK_CONTROLS and unicodedata.category(ch) == "Cc"
    )
    return controls / len(sample) > 0.05


def _decode_text(path: Path | str, raw: bytes) -> str:
    """Bytes -> str with no normalisation beyond dropping the BOM (offsets stay honest)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                if encoding == "utf-32-le" and raw.startswith(codecs.BOM_UTF16_LE):
                    continue  # UTF-16-LE whose first character is U+0000; try that next
                raise DocumentError(path, f"cannot decode text: invalid {encoding.upper()} data") from None
            break
    else:
        kind = _sniff_binary(raw)
        if kind is not None:
            raise DocumentError(path, f"binary file ({kind})")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = _detect_and_decode(path, raw)
    if text.startswith("\ufeff"):  # a detector may leave a BOM in place
        text = text[1:]
    if _looks_binary(text):
        raise DocumentError(path, "binary file (control characters)")
    return text


def _detect_and_decode(path: Path | str, raw: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = from_bytes(raw)
    best = matches.best()
    if best is None:
        raise DocumentError(path, "cannot decode text: unknown encoding (not UTF-8)")
    choice = best
    for match in matches:
        if (
            match.encoding in _WESTERN
            and match.chaos <= best.chaos
            and match.coherence >= best.coherence
        ):
            choice = match
            break
    try:
        return raw.decode(choice.encoding)
    except (UnicodeDecodeError, LookupError):
        return str(choice)


# --------------------------------------------------------------------------- titles & dates


def _clip_title(line: str) -> str:
    line = " ".join(line.split())
    if len(line) <= TITLE_MAX_CHARS:
        return line
    cut = line.rfind(" ", 0, TITLE_MAX_CHARS + 1)
    head = line[:cut] if cut > 0 else line[:TITLE_MAX_CHARS]
    return head.rstrip(" ,;:-–—")


def _first_line_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return _clip_title(line.strip())
    return None


_MD_H1 = re.compile(r" {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")


def _markdown_title(text: str) -> str | None:
    in_fence = False
    for line in text.splitlines():  # line-wise so "\r\n" never leaks into the title
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence  # "# install deps" in a shell block is no title
            continue
        match = None if in_fence else _MD_H1.fullmatch(line)
        if match and match.group(1).strip():
            return _clip_title(match.group(1))
    line = _first_line_title(text)
    if line:
        return _clip_title(line.lstrip("#").strip()) or None
    return None


_MEANINGLESS_TITLES = frozenset({"untitled", "untitled document", "document", "title", "none", "null"})
_FILENAME_TITLE = re.compile(r".*\.(pdf|docx?|odt|rtf|txt|tex|indd|qxd|ps|eps|html?)$", re.IGNORECASE)


def _meaningful(value: object) -> str | None:
    """Metadata titles are often tool junk ("Microsoft Word - draft3.doc"); drop those."""
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", "").split())
    value = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", value)
    if not value or value.lower() in _MEANINGLESS_TITLES or _FILENAME_TITLE.fullmatch(value):
        return None
    return _clip_title(value)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        match = _ISO_DATE.match(value.strip())
        if match:
            try:
                return date.fromisoformat(match.group(0)).isoformat()
            except ValueError:
                return None
    return None


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    msg = first or type(exc).__name__
    return msg if len(msg) <= 120 else msg[:117] + "..."


# --------------------------------------------------------------------------- per-format loaders


@dataclass
class _Extracted:
    text: str
    title: str | None = None
    author: str | None = None
    published: str | None = None
    pages: list[PageSpan] = field(default_factory=list)


def _load_plain(path: Path | str, raw: bytes, kind: str) -> _Extracted:
    text = _decode_text(path, raw)
    if not text.strip():
        raise DocumentError(path, "empty file")
    title = _markdown_title(text) if kind == "md" else _first_line_title(text)
    return _Extracted(text=text, title=title)


def _load_html(path: Path | str, raw: bytes) -> _Extracted:
    """Main text via trafilatura so menus, scripts and cookie banners never get indexed."""
    import trafilatura

    html = _decode_text(path, raw)
    if not html.strip():
        raise DocumentError(path, "empty file")
    doc = None
    try:
        for favor_recall in (False, True):  # short pages only survive the recall pass
            doc = trafilatura.bare_extraction(
                html,
                with_metadata=True,
                include_comments=False,
                include_tables=True,
                include_images=False,
                include_links=False,
                favor_recall=favor_recall,
            )
            if doc is not None and (doc.text or "").strip():
                break
    except Exception as exc:  # lxml/trafilatura internals; the file is at fault
        raise DocumentError(path, f"malformed HTML: {_short(exc)}") from None
    text = (doc.text or "") if doc is not None else ""
    if not text.strip():
        raise DocumentError(path, "HTML has no main text")
    return _Extracted(
        text=text,
        title=_meaningful(doc.title),
        author=_meaningful(doc.author),
        published=_iso_date(doc.date),
    )


_PYPDF_QUIET_LOCK = threading.Lock()
_pypdf_quiet = {"readers": 0, "level": logging.NOTSET}


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs its repairs ("EOF marker not found") to stderr as bare lines naming no
    file; the user gets our one-line reason (or the recovered text) instead.

    Counted, so that PDFs read at once in several threads leave the level as they found it
    (the last reader out restores it)."""
    log = logging.getLogger("pypdf")
    with _PYPDF_QUIET_LOCK:
        if _pypdf_quiet["readers"] == 0:
            _pypdf_quiet["level"] = log.level
            log.setLevel(logging.ERROR)
        _pypdf_quiet["readers"] += 1
    try:
        yield
    finally:
        with _PYPDF_QUIET_LOCK:
            _pypdf_quiet["readers"] -= 1
            if _pypdf_quiet["readers"] == 0:
                log.setLevel(_pypdf_quiet["level"])


def _load_pdf(path: Path | str, raw: bytes) -> _Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted:
                # Many PDFs are "encrypted" with an empty user password just to set permissions.
                try:
                    opened = reader.decrypt("")
                except DependencyError:
                    raise DocumentError(
                        path, "encrypted PDF (AES; needs the 'cryptography' package to open)"
                    ) from None
                if not opened:
                    raise DocumentError(path, "encrypted PDF")
            page_texts = [page.extract_text() or "" for page in reader.pages]
            metadata = reader.metadata
            meta_title = _meaningful(metadata.title) if metadata else None
            meta_author = _meaningful(metadata.author) if metadata else None
            try:
                created = _iso_date(metadata.creation_date) if metadata else None
            except Exception:  # unparseable date strings are common and harmless
                created = None
        except DocumentError:
            raise
        except FileNotDecryptedError:
            raise DocumentError(path, "encrypted PDF") from None
        except Exception as exc:  # pypdf raises a zoo of types on bad input
            raise DocumentError(path, f"malformed PDF: {_short(exc)}") from None

    if not any(t.strip() for t in page_texts):
        raise DocumentError(path, "PDF has no text layer (scanned?)")
    page_texts = strip_running_lines(page_texts)
    pages: list[PageSpan] = []
    parts: list[str] = []
    pos = 0
    for number, page_text in enumerate(page_texts, start=1):
        if parts:
            parts.append(page_separator(parts[-1], page_text))
            pos += len(parts[-1])
        pages.append(PageSpan(page=number, start=pos, end=pos + len(page_text)))
        parts.append(page_text)
        pos += len(page_text)
    return _Extracted(
        text="".join(parts),
        title=meta_title,
        author=meta_author,
        published=created,
        pages=pages,
    )


def _content_hash(raw: bytes, kind: str) -> str:
    """The file's sha256; for a kind whose reader changed, of the file and the reader's revision."""
    revision = READER_REVISIONS.get(kind)
    return hashlib.sha256(raw if revision is None else raw + f"\0{kind}-reader-{revision}".encode()).hexdigest()


def _load_docx(path: Path | str, raw: bytes) -> _Extracted:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
        blocks: list[str] = []
        # Document order, tables included: a fact in a table is still a fact to cite.
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = [c.text.strip() for c in row.cells]
                    # merged cells repeat; keep each distinct cell once
                    row_text = " | ".join(dict.fromkeys(c for c in cells if c))
                    if row_text:
                        blocks.append(row_text)
            else:
                blocks.append(item.text)
        props = document.core_properties
        title, author, created = props.title, props.author, props.created
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(path, f"malformed DOCX: {_short(exc)}") from None
    except Exception as exc:  # python-docx / lxml on a broken package
        raise DocumentError(path, f"malformed DOCX: {_short(exc)}") from None
    text = "\n".join(blocks)
    if not text.strip():
        raise DocumentError(path, "DOCX has no text")
    return _Extracted(
        text=text,
        title=_meaningful(title),
        author=_meaningful(author),
        published=_iso_date(created),
    )


# --------------------------------------------------------------------------- public API


def load_document(path: Path | str, *, max_bytes: int, source: str | None = None) -> LoadedDocument:
    """Load one supported file.

    Text and Markdown are returned byte-for-byte decoded: ``\\r\\n`` stays ``\\r\\n``
    (unlike ``open()``'s default newline translation), so for a UTF-8 file
    ``open(path, encoding="utf-8", newline="").read() == doc.text``. Offsets into
    ``text`` are therefore valid against the file itself, minus only a BOM.
    """
    p = Path(path)
    kind = _KIND_BY_SUFFIX.get(p.suffix.lower())
    if kind is None:
        raise DocumentError(path, _unsupported_reason(p))
    # Size first, from stat, so a 5 GB file is refused without reading it.
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise DocumentError(path, "no such file") from None
    except OSError as exc:
        raise DocumentError(path, f"cannot read file: {exc.strerror or _short(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError(path, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):  # reading a FIFO would block forever
        raise DocumentError(path, "not a regular file")
    if st.st_size > max_bytes:
        raise DocumentError(
            path,
            f"file is {_mb(st.st_size)} MB, over the {_mb(max_bytes, exact=True)} MB limit (QA_MAX_FILE_MB)",
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"cannot read file: {exc.strerror or _short(exc)}") from None
    if len(raw) > max_bytes:  # grew between stat and read
        raise DocumentError(
            path,
            f"file is {_mb(len(raw))} MB, over the {_mb(max_bytes, exact=True)} MB limit (QA_MAX_FILE_MB)",
        )
    if not raw.strip():
        raise DocumentError(path, "empty file")

    if kind in ("txt", "md"):
        extracted = _load_plain(path, raw, kind)
    elif kind == "html":
        extracted = _load_html(path, raw)
    elif kind == "pdf":
        extracted = _load_pdf(path, raw)
    else:
        extracted = _load_docx(path, raw)

    text = extracted.text
    title = extracted.title or _first_line_title(text) or p.stem
    return LoadedDocument(
        source=source if source is not None else str(p.resolve()),
        text=text,
        title=title,
        kind=kind,
        content_hash=_content_hash(raw, kind),
        body_end=_body_end(text),
        author=extracted.author,
        published=extracted.published,
        pages=extracted.pages,
    )


def _mb(n: int, *, exact: bool = False) -> str:
    value = n / MB
    if exact:  # the limit: "20", not "20.0"
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.1f}"


def _unsupported_reason(p: Path) -> str:
    return f"unsupported file type {p.suffix.lower()}" if p.suffix else "unsupported file type (no extension)"


def page_of(pages: list[PageSpan], offset: int) -> int | None:
    """Page holding ``offset``; the blank separator after a page counts as that page.

    An exclusive end offset equal to a page's ``end`` still maps to that page, so a
    citation ``[start, end)`` can be labelled with ``page_of(pages, start)`` and
    ``page_of(pages, end)`` without an off-by-one jump to the next page.
    """
    if not pages or offset < 0 or offset > pages[-1].end:
        return None
    starts = [span.start for span in pages]
    index = bisect.bisect_right(starts, offset) - 1
    if index < 0:
        return None
    return pages[index].page


def _not_a_file_reason(p: Path) -> str:
    """Why a directory entry that is neither a folder nor a regular file cannot be indexed."""
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if os.path.islink(p):
            return "broken symbolic link (its target does not exist)"
        return f"cannot read file: {exc.strerror or _short(exc)}"
    if stat.S_ISFIFO(st.st_mode):
        return "not a regular file (a FIFO)"
    if stat.S_ISSOCK(st.st_mode):
        return "not a regular file (a socket)"
    return "not a regular file"


def iter_files(paths: Iterable[Path | str]) -> Iterator[tuple[Path, str | None]]:
    """Expand files and folders into ``(path, skip_reason)``; ``None`` means "load it".

    Explicit arguments get a reason when they cannot be used, because the user named them
    and deserves to know; unsupported files met while walking a folder are not news.
    Folders are walked depth-first in name order so index builds are reproducible;
    hidden entries are skipped (``.git``, ``.venv``, editor swap files); symlinks are
    followed, but each real directory is entered once (no loops) and each real file is
    yielded once, however many links or arguments point at it. A supported file name that
    is a broken or looping link, a FIFO or a socket is reported with its reason.
    """
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    reported: set[str] = set()

    def report(p: Path, reason: str) -> Iterator[tuple[Path, str | None]]:
        key = os.path.abspath(p)
        if key not in reported:
            reported.add(key)
            yield p, reason

    def walk(folder: Path) -> Iterator[tuple[Path, str | None]]:
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                return
            seen_dirs.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield from report(folder, f"cannot read folder: {exc.strerror or _short(exc)}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child = folder / entry.name
            try:
                is_dir = entry.is_dir()  # follows symlinks
                is_file = entry.is_file()
            except OSError:  # a symlink loop raises ELOOP here; reported below when the name is supported
                is_dir = is_file = False
            if is_dir:
                yield from walk(child)
            elif not is_file and child.suffix.lower() in SUPPORTED_SUFFIXES:
                # A supported name that is no regular file: a broken or looping link, a FIFO,
                # a socket. The user pointed at this folder and expects ``notes.txt`` to be
                # indexed, so say why it was not (and never open it: a FIFO blocks forever).
                yield from report(child, _not_a_file_reason(child))
            elif is_file and child.suffix.lower() in SUPPORTED_SUFFIXES:
                try:
                    st = entry.stat()
                except OSError:
                    continue  # vanished or broken link: nothing to index
                key = (st.st_dev, st.st_ino)
                if key not in seen_files:
                    seen_files.add(key)
                    yield child, None

    for raw_path in paths:
        p = Path(raw_path)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            yield from report(p, "no such file")
            continue
        except OSError as exc:
            yield from report(p, f"cannot read file: {exc.strerror or _short(exc)}")
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p)
            continue
        if p.suffix.lower() not in SUPPORTED_SUFFIXES:
            yield from report(p, _unsupported_reason(p))
        elif not stat.S_ISREG(st.st_mode):
            yield from report(p, "not a regular file")
        elif not os.access(p, os.R_OK):
            yield from report(p, "cannot read file: permission denied")
        else:
            key = (st.st_dev, st.st_ino)
            if key not in seen_files:
                seen_files.add(key)
                yield p, None
