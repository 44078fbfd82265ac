#!/usr/bin/env python3
"""Check train/questions.jsonl against train/docs/.

Usage: python train/verify.py [--questions FILE] [--docs DIR]   (exit status 0 = all checks passed)

Checks
  * every line is a JSON object with the expected keys and a known type;
  * ids are unique and look like train-<doc>-NN; the source file exists in docs/;
  * documents are UTF-8, 3,500-6,500 characters;
  * every support string occurs verbatim (character for character) in its document
    and does not span a line break;
  * every answer, normalized (lowercase, strip accents, delete all Unicode punctuation,
    drop the articles a/an/the, collapse spaces), is contained in at least one
    normalized support string; answers are 1-3 strings of at most 8 words;
  * unanswerables have empty answers and support, answerables have both;
  * follow-ups have a non-empty history of [question, answer] pairs;
  * every support string is exactly one sentence span of ``qa.chunking.split_sentences``,
    so the training script can use it as the gold sentence.
"""
import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from qa.chunking import split_sentences  # noqa: E402

TYPES = {"factoid", "quote", "followup", "unanswerable", "identity"}
KEYS = {"id", "question", "answers", "support", "source", "history", "type"}
ARTICLES = {"a", "an", "the"}


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    return " ".join(w for w in text.split() if w not in ARTICLES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=Path, default=HERE / "questions.jsonl")
    ap.add_argument("--docs", type=Path, default=HERE / "docs")
    ap.add_argument("--id-prefix", default="train", help="ids look like PREFIX-<doc>-NN (eval/dev uses dev)")
    args = ap.parse_args()
    errors = []
    docs = {}
    sentences = {}
    for p in sorted(args.docs.glob("*.txt")):
        text = p.read_text(encoding="utf-8")
        docs[p.name] = text
        sentences[p.name] = {text[a:b] for a, b in split_sentences(text)}
        if not 3500 <= len(text) <= 6500:
            errors.append(f"{p.name}: {len(text)} characters, expected 3,500-6,500")

    seen = Counter()
    per_type = Counter()
    per_doc = Counter()
    per_doc_type = Counter()
    for n, line in enumerate(args.questions.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: bad JSON ({e})")
            continue
        qid = q.get("id", f"line {n}")
        def err(msg):
            errors.append(f"{qid}: {msg}")
        if set(q) != KEYS:
            err(f"keys {sorted(q)} != {sorted(KEYS)}")
            continue
        seen[qid] += 1
        typ = q["type"]
        if typ not in TYPES:
            err(f"unknown type {typ!r}")
        per_type[typ] += 1
        src = q["source"]
        per_doc[src] += 1
        per_doc_type[(src, typ)] += 1
        if not re.fullmatch(rf"{re.escape(args.id_prefix)}-[a-z0-9_]+-\d{{2,}}", qid):
            err(f"id does not look like {args.id_prefix}-<doc>-NN")
        if src not in docs:
            err(f"source {src!r} not found in docs/")
            continue
        if not isinstance(q["question"], str) or not q["question"].strip():
            err("empty question")
        doc = docs[src]
        answers, support, history = q["answers"], q["support"], q["history"]
        if not (isinstance(answers, list) and isinstance(support, list) and isinstance(history, list)):
            err("answers/support/history must be lists")
            continue

        for s in support:
            if s not in doc:
                err(f"support not found verbatim in {src}: {s[:80]!r}")
            if "\n" in s:
                err("support spans a line break")
            elif s in doc and s not in sentences[src]:
                err(f"support is not one whole sentence as split_sentences cuts it: {s[:80]!r}")
        if typ == "unanswerable":
            if answers or support:
                err("unanswerable must have empty answers and support")
        else:
            if not answers or not support:
                err("answerable question needs answers and support")
            if len(answers) > 3:
                err("more than 3 answers")
            nsup = [normalize(s) for s in support]
            for a in answers:
                if not isinstance(a, str) or not normalize(a):
                    err(f"empty answer {a!r}")
                    continue
                longest = 10 if typ == "identity" else 8  # "a maritime historian at the University of Kelderhaven"
                if len(a.split()) > longest:
                    err(f"answer longer than {longest} words: {a!r}")
                if not any(normalize(a) in s for s in nsup):
                    err(f"answer not in any support: {a!r}")
        if typ == "followup" and not history:
            err("followup without history")
        for h in history:
            if not (isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) and x.strip() for x in h)):
                err(f"bad history turn {h!r}")

    for qid, c in seen.items():
        if c > 1:
            errors.append(f"{qid}: duplicate id ({c} times)")
    for name in docs:
        if per_doc[name] == 0:
            errors.append(f"{name}: no questions")

    print(f"{sum(per_type.values())} questions over {len(docs)} documents")
    print("per type: " + ", ".join(f"{t}={per_type[t]}" for t in sorted(TYPES)))
    for name in sorted(docs):
        counts = " ".join(f"{t[:5]}={per_doc_type[(name, t)]}" for t in sorted(TYPES))
        print(f"  {name:45s} {len(docs[name]):5d} chars  {per_doc[name]:3d} q  {counts}")
    if errors:
        print(f"\n{len(errors)} problem(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
