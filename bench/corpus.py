"""Benchmark corpora made from the texts in this repository.

A corpus of any size is the SQuAD sample article (``eval/squad2-computational-complexity.json``,
written by :func:`qa.evaluation.squad_to_gold`, so its gold spans hold) plus synthetic
"sentence-shuffled" news documents: each one draws 20-40 sentences at random (seeded)
from the pool of sentences of ``seeds/`` and ``train/docs/`` (~560 sentences of real news
prose), in paragraphs of 3-5 sentences. The SQuAD article's own sentences are kept out of
the pool, so a distractor can never hold a gold answer and recall@5 stays well defined;
the distractors are topically off but lexically and stylistically real news text.

The same files are indexed by both pipelines, so each side chunks them its own way.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from qa.chunking import split_sentences
from qa.evaluation import GoldItem, squad_to_gold

REPO = Path(__file__).resolve().parent.parent
SQUAD = REPO / "eval" / "squad2-computational-complexity.json"


def sentence_pool() -> list[str]:
    files = sorted((REPO / "seeds").glob("*.txt")) + sorted((REPO / "train" / "docs").glob("*.txt"))
    pool: list[str] = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        for s, e in split_sentences(text, 0, len(text)):
            sentence = " ".join(text[s:e].split())
            if len(sentence) >= 25 and not re.fullmatch(r"[A-Z0-9 ,.'’-]+", sentence):
                pool.append(sentence)
    return list(dict.fromkeys(pool))


def synthetic_document(pool: list[str], rng: random.Random) -> str:
    sentences = [rng.choice(pool) for _ in range(rng.randint(20, 40))]
    paragraphs, i = [], 0
    while i < len(sentences):
        n = rng.randint(3, 5)
        paragraphs.append(" ".join(sentences[i : i + n]))
        i += n
    return "\n\n".join(paragraphs) + "\n"


#: Chunks per synthetic document, measured: ours (160 word pieces, 1 sentence overlap) and the
#: baseline (600 characters, 100 overlap) both land near this, so one count serves both sides.
CHUNKS_PER_DOC = 6.8


def make_corpus(out: Path, target_chunks: int, seed: int = 0) -> tuple[Path, list[GoldItem]]:
    """Write a corpus of about ``target_chunks`` chunks to ``out``; returns it and the SQuAD gold items."""
    out.mkdir(parents=True, exist_ok=True)
    items, _ = squad_to_gold(SQUAD, out)
    pool = sentence_pool()
    n_docs = max(0, round((target_chunks - 50) / CHUNKS_PER_DOC))
    rng = random.Random(seed)
    for i in range(n_docs):
        (out / f"shuffled-{i:07d}.txt").write_text(synthetic_document(pool, rng), encoding="utf-8", newline="")
    return out, items


def iter_synthetic(n_docs: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """The same synthetic documents as :func:`make_corpus`, without writing files."""
    pool = sentence_pool()
    rng = random.Random(seed)
    for i in range(n_docs):
        yield f"shuffled-{i:07d}.txt", synthetic_document(pool, rng)
