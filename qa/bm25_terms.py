"""Per-chunk BM25 terms kept beside each generation, so a write tokenises only new chunks.

BM25 scores depend on corpus-wide statistics (idf, average length), so the bm25s index
itself must be rebuilt on every write; what need not be redone is turning every chunk's
text into stems, the largest single cost of a one-file add at 100k chunks (5 s of 21 s),
and one that grows with the whole corpus rather than with the change. The terms are stored as plain ``.npy`` arrays (no pickle): a flat
array of term ids, per-chunk offsets into it, and the vocabulary as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.lexical import bm25_tokens

IDS_FILE = "bm25_terms.npy"
OFFSETS_FILE = "bm25_offsets.npy"
VOCAB_FILE = "bm25_vocab.json"


@dataclass(frozen=True)
class ChunkTerms:
    """Chunk ``i``'s terms are ``vocab[ids[offsets[i]:offsets[i + 1]]]``, in text order."""

    ids: np.ndarray  # int32 [total terms]
    offsets: np.ndarray  # int64 [n_chunks + 1]
    vocab: list[str]

    @property
    def n_chunks(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_texts(cls, texts: list[str]) -> ChunkTerms:
        vocab: dict[str, int] = {}
        token_lists = bm25_tokens(texts)
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for toks in token_lists for t in toks), dtype=np.int32)
        offsets = np.zeros(len(token_lists) + 1, np.int64)
        np.cumsum([len(t) for t in token_lists], out=offsets[1:])
        return cls(ids, offsets, list(vocab))

    def select(self, keep: np.ndarray) -> ChunkTerms:
        """The chunks where ``keep`` is true, in order; terms no chunk uses any more are dropped."""
        if keep.all():
            return self
        lengths = np.diff(self.offsets)[keep]
        term_mask = np.repeat(keep, np.diff(self.offsets))
        ids = self.ids[term_mask]
        used, new_ids = np.unique(ids, return_inverse=True)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return ChunkTerms(new_ids.astype(np.int32), offsets, [self.vocab[i] for i in used])

    def extend(self, other: ChunkTerms) -> ChunkTerms:
        """``other``'s chunks appended, its term ids mapped into this vocabulary."""
        if other.n_chunks == 0:
            return self
        index = {t: i for i, t in enumerate(self.vocab)}
        vocab = list(self.vocab)
        remap = np.empty(len(other.vocab), np.int32)
        for j, term in enumerate(other.vocab):
            i = index.get(term)
            if i is None:
                i = index[term] = len(vocab)
                vocab.append(term)
            remap[j] = i
        ids = np.concatenate([self.ids, remap[other.ids]]).astype(np.int32)
        offsets = np.concatenate([self.offsets, self.offsets[-1] + other.offsets[1:]])
        return ChunkTerms(ids, offsets, vocab)

    def token_ids(self) -> list[list[int]]:
        bounds = self.offsets.tolist()
        flat = self.ids.tolist()
        return [flat[bounds[i] : bounds[i + 1]] for i in range(self.n_chunks)]

    def build_bm25(self) -> object:
        """A bm25s index over these chunks; scores equal indexing the texts' tokens directly."""
        import bm25s

        bm25 = bm25s.BM25()
        if self.n_chunks == 0:
            bm25.index([["\u2205"]], show_progress=False)
        else:
            bm25.index((self.token_ids(), {t: i for i, t in enumerate(self.vocab)}), show_progress=False)
        return bm25

    def save(self, folder: Path) -> None:
        with open(folder / IDS_FILE, "wb") as f:
            np.save(f, self.ids, allow_pickle=False)
        with open(folder / OFFSETS_FILE, "wb") as f:
            np.save(f, self.offsets, allow_pickle=False)
        (folder / VOCAB_FILE).write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, n_chunks: int) -> ChunkTerms | None:
        """None when the generation predates stored terms or they are unusable (then the
        caller tokenises the stored texts instead: these files only save time)."""
        if not all((folder / f).is_file() for f in (IDS_FILE, OFFSETS_FILE, VOCAB_FILE)):
            return None
        try:
            ids = np.load(folder / IDS_FILE, allow_pickle=False)
            offsets = np.load(folder / OFFSETS_FILE, allow_pickle=False)
            vocab = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # includes a pickled object array, which is never loaded
            return None
        ok = (
            ids.dtype == np.int32 and offsets.dtype == np.int64 and len(offsets) == n_chunks + 1
            and isinstance(vocab, list) and all(isinstance(t, str) for t in vocab) and offsets[0] == 0 and offsets[-1] == len(ids)
            and bool(np.all(np.diff(offsets) >= 0)) and (len(ids) == 0 or (ids.min() >= 0 and ids.max() < len(vocab)))
        )
        return cls(ids, offsets, vocab) if ok else None

