"""A PDF's pages as one text: running headers and footers left out, pages joined as the prose runs.

An article printed to PDF from a browser carries the date and title above every page and
the address and "1/3" below it; a report has its title and page number on every page.
Left in, those lines land in the middle of whatever sentence a page break cuts, so the
sentence is split in two and its halves carry a URL. A line at the top or bottom of most
pages that is the same on each but for its numbers is page furniture, and so is a lone
page number there; they are not part of the document's text. A page whose text breaks off
in mid-sentence and a next page that goes on in lower case are joined by a line break,
other pages by a blank line.
"""

from __future__ import annotations

import math
import re
from collections import Counter

#: How many lines at the top and at the bottom of a page may be running heads or feet.
EDGE_LINES = 2
#: A running line appears at an edge of at least this share of the pages (and of two).
RUNNING_SHARE = 0.5
# "7", "Page 7", "7 / 12", "Page 7 of 12", "- 7 -" (three digits at most: "2026" may be content).
_PAGE_NUMBER_RE = re.compile(r"(?:page\s+)?\d{1,3}(?:\s*(?:/|of)\s*\d{1,4})?|[-–—]\s*\d{1,3}\s*[-–—]", re.I)
_CLOSED_END_RE = re.compile(r"[.!?:…\"'”’)\]]$")


def _shape(line: str) -> str:
    """A line with its numbers blanked: "Page 2 of 5" and "Page 3 of 5" are one running line."""
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def _edges(lines: list[str]) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def strip_running_lines(pages: list[str]) -> list[str]:
    """``pages`` without their running headers, footers and page numbers."""
    split = [page.split("\n") for page in pages]
    counts: Counter[str] = Counter()
    for lines in split:
        counts.update({_shape(lines[i]) for i in _edges(lines)})
    need = max(2, math.ceil(RUNNING_SHARE * len(pages)))
    running = {shape for shape, n in counts.items() if n >= need}
    out = []
    for lines in split:
        drop = {i for i in _edges(lines) if _shape(lines[i]) in running or _PAGE_NUMBER_RE.fullmatch(lines[i].strip())}
        kept = [line for i, line in enumerate(lines) if i not in drop]
        out.append("\n".join(kept).strip("\n") if drop else "\n".join(kept))
    return out


def page_separator(before: str, after: str) -> str:
    """A line break where the sentence runs on to the next page, else a blank line."""
    end = before.rstrip()
    if end and not _CLOSED_END_RE.search(end) and after.lstrip()[:1].islower():
        return "\n"
    return "\n\n"
