"""Copies of a gold set's documents in other file formats, to measure what loading costs.

    python -m tests.formats pdf eval/dev/questions.jsonl eval/dev/docs /tmp/dev-pdf
    python -m tests.formats wrapped eval/dev/questions.jsonl eval/dev/docs /tmp/dev-wrapped
    python -m tests.formats hyphenated-pdf eval/dev/questions.jsonl eval/dev/docs /tmp/dev-hyphenated
    python -m tests.formats printed-pdf eval/dev/questions.jsonl eval/dev/docs /tmp/dev-printed
    python -m tests.formats columns-pdf eval/dev/questions.jsonl eval/dev/docs /tmp/dev-columns

The gold sets are one paragraph per line in ``.txt`` files; people drop in PDFs and
e-mails whose lines are wrapped in mid-sentence. ``pdf`` writes each document as a PDF of
95-character lines (Helvetica, WinAnsi encoding, 55 lines a page, no blank line between
paragraphs, as PDF text extraction gives them); ``hyphenated-pdf`` the same with long words
split across lines by a hyphen, as justified typesetting does; ``printed-pdf`` as a browser
prints a web page (date and title above each page, address and page number below, page
breaks in mid-paragraph); ``columns-pdf`` in two hyphenated columns of 45 characters, as
newspapers and journals are set; ``wrapped`` as plain text wrapped at 72
columns with a blank line between paragraphs. The gold questions are kept, and each
support sentence becomes the character span where the loaded document holds it (its line
breaks included), so ``qa eval OUT/questions.jsonl`` scores citations as for the originals.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from qa.documents import load_document
from qa.evaluation import GoldItem, load_gold

PDF_WIDTH, PDF_LINES = 95, 55
COLUMN_WIDTH = 45
TEXT_WIDTH = 72
#: The one character of the gold documents that Helvetica's WinAnsi encoding lacks.
_NOT_WINANSI = str.maketrans({"−": "-"})


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def hyphenated(paragraph: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, a long word split with a hyphen to fill a line
    (as justified typesetting does: "inter-" / "national"), never two letters alone."""
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        if not line or len(line) + 1 + len(word) <= width:
            line = f"{line} {word}" if line else word
            continue
        room = width - len(line) - 2  # a space and the hyphen
        if word.isalpha() and len(word) >= 8 and room >= 4:
            cut = min(room, len(word) - 3)
            lines.append(f"{line} {word[:cut]}-")
            line = word[cut:]
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def wrapped_pdf(
    paragraphs: list[str], title: str, hyphenate: bool = False, printed_from: str | None = None, columns: bool = False
) -> bytes:
    """A PDF whose text layer breaks every paragraph into lines, as typeset PDFs do.

    ``printed_from``: as a browser prints a page, with the date and title above each page and
    the address and page number below it, 40 lines a page (page breaks fall mid-paragraph).
    ``columns``: two columns of 45 characters a page, as newspapers and journals set text,
    each column drawn top to bottom before the next (the order their text layers keep)."""
    width = COLUMN_WIDTH if columns else PDF_WIDTH
    lines: list[str] = []
    for p in paragraphs:
        lines += hyphenated(p, width) if hyphenate else textwrap.wrap(p, width, break_on_hyphens=False)
    per_page = PDF_LINES if printed_from is None else 40
    per_page *= 2 if columns else 1
    pages = [lines[i : i + per_page] for i in range(0, len(lines), per_page)]
    if printed_from is not None:
        pages = [
            [f"28/11/2026, 10:15    {title[:60]}", *page, f"{printed_from}    {n}/{len(pages)}"]
            for n, page in enumerate(pages, start=1)
        ]
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in pages:
        kids.append(len(objs) + 1)
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {len(objs) + 2} 0 R >>".encode()
        )
        blocks = [(60, page[:PDF_LINES]), (320, page[PDF_LINES:])] if columns else [(60, page)]
        stream = " ".join(
            f"BT /F1 10 Tf 12 TL {x} 740 Td " + " ".join(f"({_escape(line)}) Tj T*" for line in block) + " ET"
            for x, block in blocks
            if block
        ).encode("cp1252")
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    objs.append(f"<< /Title ({_escape(title)}) >>".encode("cp1252"))
    return pdf_file(objs, info=True)


def pdf_file(objs: list[bytes], info: bool) -> bytes:
    """Numbered objects (1 the catalog; the last the document info if ``info``) as a PDF file."""
    out = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []
    for number, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b" /Info %d 0 R" % len(objs) if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, trailer, xref)
    return bytes(out)


def hard_wrapped(paragraphs: list[str]) -> str:
    return "\n\n".join("\n".join(textwrap.wrap(p, TEXT_WIDTH, break_on_hyphens=False)) for p in paragraphs) + "\n"


def _word_pattern(word: str) -> str:
    """A word as the loaded text may hold it: whole, or split across lines by a hyphen."""
    return r"(?:-\s*)?".join(re.escape(ch) for ch in word) if word.isalpha() else re.escape(word)


def convert(kind: str, gold: list[GoldItem], docs: Path, out: Path) -> list[GoldItem]:
    """Write ``out/docs`` in ``kind`` and return the gold items with support as spans in them.

    A support sentence is found in the loaded document with any run of whitespace between
    its words; one that cannot be found is dropped (and the item then has less evidence).
    """
    (out / "docs").mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    texts: dict[str, str] = {}
    for path in sorted(docs.glob("*.txt")):
        paragraphs = [line.translate(_NOT_WINANSI) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if kind in ("pdf", "hyphenated-pdf", "printed-pdf", "columns-pdf"):
            target = out / "docs" / (path.stem + ".pdf")
            address = f"https://ledger.example/news/{path.stem}" if kind == "printed-pdf" else None
            hyphenate, columns = kind in ("hyphenated-pdf", "columns-pdf"), kind == "columns-pdf"
            target.write_bytes(wrapped_pdf(paragraphs, paragraphs[0], hyphenate, address, columns))
        elif kind == "wrapped":
            target = out / "docs" / path.name
            target.write_text(hard_wrapped(paragraphs), encoding="utf-8", newline="")
        else:
            raise ValueError(f"unknown format {kind!r}: pdf, hyphenated-pdf, printed-pdf, columns-pdf or wrapped")
        names[path.name] = target.name
        texts[path.name] = load_document(target, max_bytes=50_000_000).text
    items = []
    for item in gold:
        text = texts[item.source] if item.source else ""
        spans: list[str | dict] = []
        for sup in item.support:
            if isinstance(sup, str):
                m = re.search(r"\s+".join(map(_word_pattern, sup.translate(_NOT_WINANSI).split())), text)
                if m:
                    spans.append({"source": names[item.source], "start": m.start(), "end": m.end()})
        answers = [a.translate(_NOT_WINANSI) for a in item.answers]
        items.append(replace(item, source=names.get(item.source, item.source), support=spans, answers=answers))
    return items


def main(kind: str, gold: Path, docs: Path, out: Path) -> None:
    items = convert(kind, load_gold(gold), docs, out)
    (out / "questions.jsonl").write_text(
        "".join(json.dumps(it.to_dict(), ensure_ascii=False) + "\n" for it in items), encoding="utf-8"
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
