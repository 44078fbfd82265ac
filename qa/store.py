"""The index on disk: FAISS + SQLite + BM25 + a manifest, written atomically under a lock.

Layout of ``indexes/<name>/``::

    manifest.json     names the live generation and the model that built it
    .lock             writers hold an exclusive flock on it
    gen-000007/       one complete, immutable snapshot
        store.sqlite  documents (with their full extracted text), chunks, sentences
        chunks.faiss  normalised chunk vectors (row i = chunk i)
        sentences.npy normalised sentence vectors (row i = sentence i)
        bm25/         bm25s index over chunk texts (json + npy, no pickle)

A write builds a new generation in a temporary folder, renames it into place, and only
then replaces ``manifest.json`` (write + fsync + ``os.replace``). A crash at any moment
leaves the old manifest pointing at a complete old generation, so readers always see the
old or the new state, never a mix. Nothing here unpickles: opening an index someone sent
you cannot execute code.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEEP_GENERATIONS = 2


class IndexError_(RuntimeError):
    """Base for index problems; the message always says what to do next."""


class IndexCorruptError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


class IndexLockedError(IndexError_):
    pass


class IndexNotFoundError(IndexError_):
    pass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    backend: str
    dimension: int
    fingerprint: str
    max_tokens: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class DocumentRecord:
    doc_id: str
    source: str
    title: str
    kind: str
    content_hash: str
    text: str
    body_end: int
    author: str | None = None
    published: str | None = None
    pages: list[tuple[int, int, int]] = field(default_factory=list)  # (page, start, end)
    indexed_at: float = 0.0

    def page_of(self, offset: int) -> int | None:
        for page, start, end in self.pages:
            if start <= offset < end or (offset == end and page == self.pages[-1][0]):
                return page
        return None


@dataclass
class DocumentPayload:
    """Everything a new document adds to an index, computed outside the writer lock."""

    record: DocumentRecord
    chunks: np.ndarray  # int64 [n, 4]: start, end, first_sentence, last_sentence (local sentence ids)
    sentences: np.ndarray  # int64 [m, 2]: start, end
    chunk_texts: list[str]
    chunk_vectors: np.ndarray  # float32 [n, d]
    sentence_vectors: np.ndarray  # float32 [m, d]


@dataclass(eq=False)
class Snapshot:
    """One generation, fully loaded: immutable, shared by concurrent readers."""

    generation: int
    model: ModelInfo | None
    chunker: dict[str, object]
    documents: list[DocumentRecord]
    chunk_doc: np.ndarray  # int64 [n]: index into documents
    chunks: np.ndarray  # int64 [n, 4]: start, end, first_sentence, last_sentence (global sentence ids)
    sentence_doc: np.ndarray  # int64 [m]
    sentences: np.ndarray  # int64 [m, 2]
    sentence_vectors: np.ndarray  # float32 [m, d]
    faiss_index: object | None
    bm25: object | None
    path: Path | None = None

    @property
    def n_chunks(self) -> int:
        return int(self.chunks.shape[0])

    def chunk_text(self, i: int) -> str:
        doc = self.documents[int(self.chunk_doc[i])]
        return doc.text[int(self.chunks[i, 0]) : int(self.chunks[i, 1])]

    def chunk_vectors(self) -> np.ndarray:
        if self.faiss_index is None or self.n_chunks == 0:
            return np.zeros((0, self.model.dimension if self.model else 0), dtype=np.float32)
        return self.faiss_index.reconstruct_n(0, self.n_chunks)  # type: ignore[attr-defined]

    def doc_index(self) -> dict[str, int]:
        return {d.source: i for i, d in enumerate(self.documents)}


def empty_snapshot(model: ModelInfo | None = None, chunker: dict[str, object] | None = None) -> Snapshot:
    dim = model.dimension if model else 0
    return Snapshot(
        generation=0,
        model=model,
        chunker=chunker or {},
        documents=[],
        chunk_doc=np.zeros(0, dtype=np.int64),
        chunks=np.zeros((0, 4), dtype=np.int64),
        sentence_doc=np.zeros(0, dtype=np.int64),
        sentences=np.zeros((0, 2), dtype=np.int64),
        sentence_vectors=np.zeros((0, dim), dtype=np.float32),
        faiss_index=None,
        bm25=None,
    )


def _rebuild_hint(root: Path) -> str:
    return f"rebuild it with `qa rebuild --index {root}` (re-embeds the stored texts) or `qa index --index {root} --fresh PATH...`"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class IndexStore:
    """Reads and writes one index folder; cheap to create, safe to share between threads."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        return (self.root / MANIFEST).is_file()

    def read_manifest(self) -> dict[str, object]:
        path = self.root / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise IndexNotFoundError(f"no index at {self.root} (no {MANIFEST}); create it with `qa index --index {self.root} PATH...`") from e
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise IndexCorruptError(f"index manifest {path} is unreadable ({e}); {_rebuild_hint(self.root)}") from e
        if not isinstance(manifest, dict) or "generation" not in manifest:
            raise IndexCorruptError(f"index manifest {path} is not a manifest; {_rebuild_hint(self.root)}")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index {self.root} has format version {version}, this program reads version {FORMAT_VERSION}; "
                f"{_rebuild_hint(self.root)}"
            )
        return manifest

    def manifest_stamp(self) -> tuple[int, int] | None:
        """Cheap change detector for readers: (mtime_ns, size) of the manifest."""
        try:
            st = (self.root / MANIFEST).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def load(self) -> Snapshot:
        manifest = self.read_manifest()
        model = ModelInfo(**manifest["model"]) if manifest.get("model") else None  # type: ignore[arg-type]
        gen = int(manifest["generation"])  # type: ignore[arg-type]
        if gen == 0:
            return empty_snapshot(model, manifest.get("chunker"))  # type: ignore[arg-type]
        gen_dir = self.root / str(manifest["generation_dir"])
        try:
            return self._load_generation(gen_dir, gen, model, manifest)
        except IndexError_:
            raise
        except Exception as e:  # any parse failure of a tampered/truncated file
            raise IndexCorruptError(f"index {self.root} is damaged ({gen_dir.name}: {type(e).__name__}: {e}); {_rebuild_hint(self.root)}") from e

    def _load_generation(self, gen_dir: Path, gen: int, model: ModelInfo | None, manifest: dict[str, object]) -> Snapshot:
        import faiss

        db_path = gen_dir / "store.sqlite"
        if not db_path.is_file():
            raise IndexCorruptError(f"index {self.root} is missing {db_path.name} in {gen_dir.name}; {_rebuild_hint(self.root)}")
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            documents = [
                DocumentRecord(
                    doc_id=r[0], source=r[1], title=r[2], kind=r[3], content_hash=r[4], text=r[5], body_end=int(r[6]),
                    author=r[7], published=r[8], pages=[tuple(p) for p in json.loads(r[9] or "[]")], indexed_at=float(r[10] or 0),
                )
                for r in con.execute(
                    "SELECT doc_id, source, title, kind, content_hash, text, body_end, author, published, pages, indexed_at "
                    "FROM documents ORDER BY doc_idx"
                )
            ]
            chunk_rows = np.array(
                con.execute('SELECT doc_idx, start, "end", first_sentence, last_sentence FROM chunks ORDER BY chunk_idx').fetchall(),
                dtype=np.int64,
            ).reshape(-1, 5)
            sent_rows = np.array(
                con.execute('SELECT doc_idx, start, "end" FROM sentences ORDER BY sent_idx').fetchall(), dtype=np.int64
            ).reshape(-1, 3)
        finally:
            con.close()
        sentence_vectors = np.load(gen_dir / "sentences.npy", allow_pickle=False)
        faiss_index = faiss.read_index(str(gen_dir / "chunks.faiss"))
        import bm25s

        bm25 = bm25s.BM25.load(str(gen_dir / "bm25"), allow_pickle=False, show_progress=False)
        n, m = chunk_rows.shape[0], sent_rows.shape[0]
        dim = model.dimension if model else -1
        if faiss_index.ntotal != n or sentence_vectors.shape != (m, dim) or faiss_index.d != dim:
            raise IndexCorruptError(
                f"index {self.root} is inconsistent ({n} chunks, FAISS has {faiss_index.ntotal} of dimension {faiss_index.d}, "
                f"{m} sentences, vectors {sentence_vectors.shape}); {_rebuild_hint(self.root)}"
            )
        if n and (chunk_rows[:, 0].max() >= len(documents) or chunk_rows[:, 4].max() >= m):
            raise IndexCorruptError(f"index {self.root} has chunks pointing nowhere; {_rebuild_hint(self.root)}")
        return Snapshot(
            generation=gen,
            model=model,
            chunker=manifest.get("chunker", {}),  # type: ignore[arg-type]
            documents=documents,
            chunk_doc=chunk_rows[:, 0].copy(),
            chunks=chunk_rows[:, 1:].copy(),
            sentence_doc=sent_rows[:, 0].copy(),
            sentences=sent_rows[:, 1:].copy(),
            sentence_vectors=sentence_vectors.astype(np.float32, copy=False),
            faiss_index=faiss_index,
            bm25=bm25,
            path=gen_dir,
        )

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def lock(self, timeout_s: float) -> Iterator[None]:
        """Exclusive writer lock; a second writer waits up to ``timeout_s`` then fails clearly."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                        raise IndexLockedError(
                            f"another process (pid {holder}) is writing to index {self.root}; waited {timeout_s:.0f} s. "
                            "Try again when it finishes (QA_LOCK_TIMEOUT_S sets the wait)."
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock

    def write(self, snapshot: Snapshot, chunk_texts: list[str], chunk_vectors: np.ndarray) -> int:
        """Persist ``snapshot`` as the next generation. Caller must hold :meth:`lock`."""
        import bm25s
        import faiss

        from qa.lexical import bm25_tokens

        assert snapshot.model is not None
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            live = int(self.read_manifest()["generation"])  # type: ignore[arg-type]
        except IndexNotFoundError:
            live = 0
        except IndexError_:
            live = -1  # a damaged manifest: keep every generation, number past them all
        self._clean_temporaries(live)
        gen = max([live, *self._generations()]) + 1
        gen_name = f"gen-{gen:06d}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-gen-"))
        try:
            con = sqlite3.connect(tmp / "store.sqlite")
            with con:
                con.executescript(
                    """
                    CREATE TABLE documents (doc_idx INTEGER PRIMARY KEY, doc_id TEXT UNIQUE, source TEXT UNIQUE, title TEXT,
                        kind TEXT, content_hash TEXT, text TEXT, body_end INTEGER, author TEXT, published TEXT, pages TEXT,
                        indexed_at REAL);
                    CREATE TABLE chunks (chunk_idx INTEGER PRIMARY KEY, doc_idx INTEGER, start INTEGER, "end" INTEGER,
                        first_sentence INTEGER, last_sentence INTEGER);
                    CREATE TABLE sentences (sent_idx INTEGER PRIMARY KEY, doc_idx INTEGER, start INTEGER, "end" INTEGER);
                    """
                )
                con.executemany(
                    "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (i, d.doc_id, d.source, d.title, d.kind, d.content_hash, d.text, d.body_end, d.author, d.published,
                         json.dumps(d.pages), d.indexed_at)
                        for i, d in enumerate(snapshot.documents)
                    ],
                )
                con.executemany(
                    "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                    [(i, int(snapshot.chunk_doc[i]), *map(int, snapshot.chunks[i])) for i in range(snapshot.n_chunks)],
                )
                con.executemany(
                    "INSERT INTO sentences VALUES (?,?,?,?)",
                    [(i, int(snapshot.sentence_doc[i]), *map(int, snapshot.sentences[i])) for i in range(len(snapshot.sentences))],
                )
            con.close()
            with open(tmp / "sentences.npy", "wb") as f:
                np.save(f, np.ascontiguousarray(snapshot.sentence_vectors, dtype=np.float32), allow_pickle=False)
            index = faiss.IndexFlatIP(snapshot.model.dimension)
            if len(chunk_vectors):
                index.add(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
            faiss.write_index(index, str(tmp / "chunks.faiss"))
            bm25 = bm25s.BM25()
            bm25.index(bm25_tokens(chunk_texts) if chunk_texts else [["\u2205"]], show_progress=False)
            bm25.save(str(tmp / "bm25"), show_progress=False)
            for f in tmp.rglob("*"):
                if f.is_file():
                    with open(f, "rb+") as fh:
                        os.fsync(fh.fileno())
            _fsync_dir(tmp)
            os.rename(tmp, self.root / gen_name)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        manifest = {
            "format_version": FORMAT_VERSION,
            "generation": gen,
            "generation_dir": gen_name,
            "model": snapshot.model.to_dict(),
            "chunker": snapshot.chunker,
            "counts": {"documents": len(snapshot.documents), "chunks": snapshot.n_chunks, "sentences": len(snapshot.sentences)},
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2))
        self._prune(gen)
        return gen

    def _generations(self) -> list[int]:
        return [int(p.name[4:]) for p in self.root.glob("gen-*") if p.name[4:].isdigit()]

    def _clean_temporaries(self, live: int) -> None:
        """Remove what crashed writers left: temp folders and generations no manifest names."""
        for p in self.root.glob(".tmp-gen-*"):
            shutil.rmtree(p, ignore_errors=True)
        if live >= 0:
            for g in self._generations():
                if g > live:
                    shutil.rmtree(self.root / f"gen-{g:06d}", ignore_errors=True)

    def _prune(self, live: int) -> None:
        """Keep the live generation and the one before it (a reader may still be loading it)."""
        for p in self.root.glob("gen-*"):
            if p.name[4:].isdigit() and int(p.name[4:]) <= live - KEEP_GENERATIONS:
                shutil.rmtree(p, ignore_errors=True)
