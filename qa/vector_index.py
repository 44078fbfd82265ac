"""Dense chunk search: exact (flat) for ordinary corpora, IVF for corpora that outgrow it.

Two kinds, chosen per generation (``QA_INDEX_TYPE`` / ``--index-type``: ``auto``, ``flat``,
``ivf``; ``auto`` switches to IVF from ``QA_IVF_MIN_CHUNKS`` chunks on):

* **flat** — ``faiss.IndexFlatIP`` in ``chunks.faiss``; exact; row i = chunk i. Its cost
  grows linearly: ~10-20 ms per query at 100k chunks on one core, too slow for a 20 ms answer.
* **ivf** — ``faiss.IndexIVFScalarQuantizer`` (8-bit codes, inner product) in
  ``chunks.faiss`` over stable chunk ids (``chunk_ids.npy``), plus the exact float32
  vectors in ``chunks.npy``, memory-mapped. A query scans ``nprobe`` of ``nlist`` lists
  (about sqrt(n)) and the candidates are re-scored exactly from ``chunks.npy``. In RAM
  that is ~400 bytes per chunk (8-bit code + id) instead of 1,536 for float32.

Why IVF rather than HNSW: IVF supports removal (``remove_ids``), so a write reuses the
previous generation's index — remove the dropped chunks' ids, add the new vectors — with
no retraining and no full rebuild, which keeps ``qa remove`` and small additions cheap at
a million chunks. HNSW cannot delete; it would be rebuilt from scratch on every removal
(minutes at 1M), and its graph costs ~2-3x the memory of the codes. The quantizer is
retrained only when the corpus has grown 4x since training.

Both kinds are wrapped by :class:`DenseIndex`, which speaks in snapshot rows (IVF ids
are translated back with a binary search: ids are increasing along the rows).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INDEX_TYPES = ("auto", "flat", "ivf")
#: Retrain the IVF quantizer when the corpus has grown this much since it was trained.
RETRAIN_GROWTH = 4.0
#: Training points per list (faiss wants >= 39).
TRAIN_PER_LIST = 64


@dataclass(frozen=True)
class DenseConfig:
    index_type: str = "auto"
    ivf_min_chunks: int = 50_000
    nprobe: int = 0  # 0: chosen from nlist
    explicit: bool = False  # the type was asked for (flag/env), not the default

    def kind_for(self, n: int, recorded: str | None) -> str:
        wanted = self.index_type if (self.explicit or recorded is None) else recorded
        if wanted == "auto":
            return "ivf" if n >= self.ivf_min_chunks else "flat"
        return wanted


def default_nlist(n: int) -> int:
    return int(max(1, min(n // TRAIN_PER_LIST, round(math.sqrt(max(n, 1))), 8192)))


def default_nprobe(nlist: int) -> int:
    """Lists scanned per query: enough for recall@10 >= 0.95 against flat (docs/benchmarks.md)."""
    return int(max(1, min(nlist, max(32, nlist // 8))))


class DenseIndex:
    """A faiss index plus what maps its answers back to snapshot rows.

    Quacks like the faiss flat index the rest of the code used (``ntotal``, ``d``,
    ``search``, ``reconstruct``, ``reconstruct_n``), so callers need not care which kind it is.
    """

    def __init__(self, index: Any, kind: str, *, vectors: np.ndarray | None = None, ids: np.ndarray | None = None,
                 nprobe: int = 0, info: dict[str, Any] | None = None) -> None:
        self.index = index
        self.kind = kind
        self._vectors = vectors
        self.ids = ids  # IVF only: faiss id of each row, increasing
        self.info = info or {}
        self._fd: int | None = None
        if kind == "ivf":
            self.nprobe = nprobe or default_nprobe(index.nlist)
            index.nprobe = self.nprobe
            filename, offset = getattr(vectors, "filename", None), getattr(vectors, "offset", None)
            if filename and offset is not None:
                import os
                import weakref

                # Re-scoring reads ~30 rows per query with pread: mapping them would pull the
                # neighbouring pages into the resident set too (page-cache fault-around).
                self._fd = os.open(filename, os.O_RDONLY)
                self._offset = int(offset)
                weakref.finalize(self, os.close, self._fd)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        return int(self.index.d)

    @property
    def vectors(self) -> np.ndarray:
        """All chunk vectors, row i = chunk i (a zero-copy view or a memory map)."""
        if self._vectors is None:
            import faiss

            n, d = self.ntotal, self.d
            if n == 0:
                self._vectors = np.zeros((0, d), dtype=np.float32)
            else:  # a view of the flat index's own storage: no copy
                self._vectors = faiss.rev_swig_ptr(self.index.get_xb(), n * d).reshape(n, d)
        return self._vectors

    def reconstruct(self, i: int) -> np.ndarray:
        return np.asarray(self.vectors[int(i)], dtype=np.float32)

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        return np.array(self.vectors[start : start + n], dtype=np.float32)

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._fd is None:
            return np.asarray(self.vectors[rows], dtype=np.float32)
        import os

        width = self.d * 4
        buf = b"".join(os.pread(self._fd, width, self._offset + int(r) * width) for r in rows)
        return np.frombuffer(buf, dtype=np.float32).reshape(len(rows), self.d)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        if self.ids is None:
            return ids
        rows = np.searchsorted(self.ids, ids)
        rows = np.where((ids >= 0) & (rows < len(self.ids)), rows, -1)
        ok = rows >= 0
        rows[ok] = np.where(self.ids[rows[ok]] == ids[ok], rows[ok], -1)
        return rows

    def search(
        self, x: np.ndarray, k: int, params: Any = None, *, rows: np.ndarray | None = None, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products for each query row: (scores, snapshot rows), -1 padded.

        ``rows`` restricts the search to those chunks; it is answered exactly from the
        vectors (a document filter selects few chunks; IVF lists would miss them).
        ``threads`` caps FAISS's OpenMP threads for this call: on the query path, two OpenMP
        threads woken right after the answerer's numpy work (whose BLAS threads still spin)
        made 5% of flat searches at 10k chunks take ~15 ms instead of 0.6 ms.
        """
        if threads is None:
            return self._search(x, k, params, rows)
        import faiss

        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(threads)
        try:
            return self._search(x, k, params, rows)
        finally:
            faiss.omp_set_num_threads(before)

    def _search(self, x: np.ndarray, k: int, params: Any, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float32)
        n = self.ntotal
        if rows is not None:
            return self._search_rows(x, k, np.asarray(rows, dtype=np.int64))
        if self.kind == "flat":
            return self.index.search(x, k, params=params) if params is not None else self.index.search(x, k)
        # IVF: approximate candidates, then exact scores from the float32 vectors.
        kk = min(n, k + max(k, 20))
        _, ids = self.index.search(x, kk)
        out_s = np.full((len(x), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(x), k), -1, dtype=np.int64)
        for qi in range(len(x)):
            cand = self.rows_of(ids[qi])
            cand = np.unique(cand[cand >= 0])
            if len(cand) == 0:
                continue
            scores = self._read_rows(cand) @ x[qi]
            top = np.argsort(-scores, kind="stable")[:k]
            out_s[qi, : len(top)] = scores[top]
            out_i[qi, : len(top)] = cand[top]
        return out_s, out_i

    def _search_rows(self, x: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_s = np.full((len(x), k), -np.inf, dtype=np.float32)
        out_i = np.full((len(x), k), -1, dtype=np.int64)
        if len(rows) == 0:
            return out_s, out_i
        rows = np.sort(rows)
        scores = np.asarray(self.vectors[rows], dtype=np.float32) @ x.T  # [rows, queries]
        for qi in range(len(x)):
            s = scores[:, qi]
            top = np.argsort(-s, kind="stable")[:k]
            out_s[qi, : len(top)] = s[top]
            out_i[qi, : len(top)] = rows[top]
        return out_s, out_i


# --------------------------------------------------------------------------- files


def load(gen_dir: Path, dense_info: dict[str, Any] | None, nprobe: int = 0) -> DenseIndex:
    import faiss

    info = dense_info or {"type": "flat"}
    index = faiss.read_index(str(gen_dir / "chunks.faiss"))
    if info.get("type") == "ivf":
        if not isinstance(index, faiss.IndexIVF):
            raise ValueError(f"chunks.faiss holds a {type(index).__name__}, the manifest says IVF")
        ivf = index
        vectors = random_access(np.load(gen_dir / "chunks.npy", mmap_mode="r", allow_pickle=False))
        ids = np.load(gen_dir / "chunk_ids.npy", allow_pickle=False)
        if vectors.shape != (index.ntotal, index.d) or ids.shape != (index.ntotal,) or vectors.dtype != np.float32:
            raise ValueError(f"chunks.npy {vectors.shape} / chunk_ids.npy {ids.shape} do not match the IVF index ({index.ntotal})")
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            raise ValueError("chunk_ids.npy is not increasing")
        return DenseIndex(ivf, "ivf", vectors=vectors, ids=ids, nprobe=nprobe or int(info.get("nprobe") or 0), info=info)
    return DenseIndex(index, "flat", info=info)


def random_access(array: np.ndarray) -> np.ndarray:
    """Tell the kernel a memory-mapped array is read row by row at random: no read-ahead.

    Without it every row fetched pulls ~128 KB of neighbours into the process's resident
    set (measured: +700 MB RSS over 400 queries at a million chunks).
    """
    import mmap

    m = getattr(array, "_mmap", None)
    if m is not None and hasattr(m, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        try:
            m.madvise(mmap.MADV_RANDOM)
        except (OSError, ValueError):
            pass
    return array


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def write(
    tmp: Path,
    vectors: np.ndarray,
    chunk_ids: np.ndarray | None,
    dim: int,
    config: DenseConfig,
    base_dir: Path | None,
    base_info: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write the dense index of a new generation into ``tmp``; returns its manifest entry.

    ``chunk_ids`` gives, per row, the id the chunk had in the base generation (-1 for a
    new chunk). An IVF base is updated in place of a rebuild when the ids allow it.
    """
    import faiss

    n = int(len(vectors))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    recorded = (base_info or {}).get("requested")
    kind = config.kind_for(n, recorded)
    requested = config.index_type if (config.explicit or recorded is None) else recorded
    if kind == "flat" or n == 0:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
        faiss.write_index(index, str(tmp / "chunks.faiss"))
        return {"type": "flat", "requested": requested}

    ivf = None
    ids = None
    if (
        base_dir is not None and base_info and base_info.get("type") == "ivf" and chunk_ids is not None
        and n <= RETRAIN_GROWTH * max(1, int(base_info.get("trained_on", 0))) and (base_dir / "chunk_ids.npy").is_file()
    ):
        kept = chunk_ids[chunk_ids >= 0]
        if len(kept) and np.all(kept[1:] > kept[:-1]):
            base_ids = np.load(base_dir / "chunk_ids.npy", allow_pickle=False)
            ivf = faiss.read_index(str(base_dir / "chunks.faiss"))  # read_index returns the IVF type itself
            if not isinstance(ivf, faiss.IndexIVF) or ivf.d != dim:
                ivf = None
            else:
                gone = np.setdiff1d(base_ids, kept, assume_unique=True)
                if len(gone):
                    ivf.remove_ids(faiss.IDSelectorBatch(gone.astype(np.int64)))
                new_rows = np.flatnonzero(chunk_ids < 0)
                start = int(base_ids.max()) + 1 if len(base_ids) else 0
                ids = chunk_ids.astype(np.int64).copy()
                ids[new_rows] = np.arange(start, start + len(new_rows), dtype=np.int64)
                if not (len(ids) < 2 or np.all(ids[1:] > ids[:-1])):
                    ivf = None  # new chunks not after the kept ones: rebuild
                elif len(new_rows):
                    ivf.add_with_ids(vectors[new_rows], ids[new_rows])
    if ivf is None:
        nlist = default_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors if n <= nlist * TRAIN_PER_LIST else vectors[np.sort(rng.choice(n, nlist * TRAIN_PER_LIST, replace=False))]
        ivf.train(sample)
        ids = np.arange(n, dtype=np.int64)
        ivf.add_with_ids(vectors, ids)
        trained_on = n
    else:
        trained_on = int(base_info.get("trained_on", n))  # type: ignore[union-attr]
    assert ids is not None and ivf.ntotal == n
    faiss.write_index(ivf, str(tmp / "chunks.faiss"))
    _save_npy(tmp / "chunks.npy", vectors)
    _save_npy(tmp / "chunk_ids.npy", ids)
    nprobe = config.nprobe or default_nprobe(ivf.nlist)
    return {"type": "ivf", "requested": requested, "nlist": int(ivf.nlist), "nprobe": int(nprobe), "trained_on": trained_on}


def describe(info: dict[str, Any] | None) -> str:
    return json.dumps(info or {"type": "flat"})
