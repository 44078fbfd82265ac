"""Copies of a question set with one typing mistake per question, to measure qa/spelling.py.

    python -m tests.typos eval/dev/questions.jsonl /tmp/dev-typos.jsonl

In each question one word of five letters or more that is not a stop word gets one slip:
two neighbouring letters swapped, one dropped, one doubled or one replaced (never the first
or last letter). Seeded, so the copy is the same every time.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from qa.lexical import STOPWORDS


def slip(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstnl") + word[i + 1 :]


def with_typos(questions: list[str], seed: int = 12) -> list[str]:
    rng = random.Random(seed)
    out = []
    for q in questions:
        words = [m for m in re.finditer(r"[A-Za-z]{5,}", q) if m.group(0).lower() not in STOPWORDS]
        if words:
            m = rng.choice(words)
            q = q[: m.start()] + slip(m.group(0), rng) + q[m.end() :]
        out.append(q)
    return out


def main(src: Path, dst: Path) -> None:
    items = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    for item, q in zip(items, with_typos([it["question"] for it in items])):
        item["question"] = q
    dst.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
