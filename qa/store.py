"""The index on disk: FAISS + SQLite + BM25 + a manifest, written atomically under a lock.

Layout of ``indexes/<name>/``::

    manifest.json     names the live generation, the model that built it, and the size and
                      SHA-256 of each of its files (checked before any file is parsed)
    .lock             writers hold an exclusive flock on it
    gen-000007/       one complete, immutable snapshot
        store.sqlite  documents (with their full extracted text), chunks, sentences
        chunks.faiss  dense index of the normalised chunk vectors (qa/vector_index.py):
                      flat (row i = chunk i) or, for large corpora, IVF over chunk ids
        chunks.npy    IVF only: the exact chunk vectors (memory-mapped), chunk_ids.npy their ids
        sentences.npy normalised sentence vectors (row i = sentence i; memory-mapped)
        bm25/         bm25s index over chunk texts (json + npy, no pickle)
        bm25_*        each chunk's BM25 terms (npy + json), so a write tokenises only new chunks

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
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.lexical import readable
from qa.vector_index import DenseConfig

if TYPE_CHECKING:
    from qa.bm25_terms import ChunkTerms

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
    chunk_ids: np.ndarray | None = None  # int64 [n]: dense-index id per chunk (IVF); -1 for a chunk not yet indexed
    dense_info: dict[str, object] | None = None  # the manifest's "dense" entry (index type, IVF parameters)
    # Sentences per content stem, kept up to date at write time: counting them at the first
    # question took 16-85 s at 100k chunks. None for an index written before it was stored.
    stem_df: dict[str, int] | None = None

    @property
    def n_chunks(self) -> int:
        return int(self.chunks.shape[0])

    def chunk_text(self, i: int) -> str:
        """The chunk as it reads (:func:`qa.lexical.readable`); quotes take ``text[start:end]``."""
        doc = self.documents[int(self.chunk_doc[i])]
        return readable(doc.text[int(self.chunks[i, 0]) : int(self.chunks[i, 1])])

    def sentence_text(self, i: int) -> str:
        """The sentence as it reads (:func:`qa.lexical.readable`); quotes take ``text[start:end]``."""
        doc = self.documents[int(self.sentence_doc[i])]
        return readable(doc.text[int(self.sentences[i, 0]) : int(self.sentences[i, 1])])

    def chunk_vectors(self) -> np.ndarray:
        if self.faiss_index is None or self.n_chunks == 0:
            return np.zeros((0, self.model.dimension if self.model else 0), dtype=np.float32)
        vectors = getattr(self.faiss_index, "vectors", None)  # a view or memory map, not a copy
        if vectors is not None:
            return vectors
        return self.faiss_index.reconstruct_n(0, self.n_chunks)  # type: ignore[attr-defined]

    def doc_index(self) -> dict[str, int]:
        return {d.source: i for i, d in enumerate(self.documents)}

    @functools.cached_property
    def doc_rows(self) -> dict[str, int]:
        """Document row by ``doc_id``, built once per snapshot (every answer's citations look it up)."""
        return {d.doc_id: i for i, d in enumerate(self.documents)}

    @functools.cached_property
    def _sentence_bounds(self) -> np.ndarray:
        # Sentences are stored grouped by document, in document order (ingest.merge writes them so).
        return np.searchsorted(self.sentence_doc, np.arange(len(self.documents) + 1), side="left")

    def doc_sentences(self, doc_idx: int) -> range:
        """Global sentence ids of one document, without scanning every sentence of the index."""
        b = self._sentence_bounds
        return range(int(b[doc_idx]), int(b[doc_idx + 1]))


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


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` is a set-and-restore race between threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; the manifest must be as readable as the files it names,
        # or another account serving a shared index (``qa serve --read-only``) cannot open it.
        os.fchmod(fd, 0o666 & ~_umask())
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


#: Files up to this size are checked against their SHA-256 on every load; larger ones
#: (memory-mapped vectors of huge corpora) only by size, so a load never reads gigabytes.
VERIFY_FULL_MAX_BYTES = 64 * 1024 * 1024
_GEN_NAME = re.compile(r"gen-\d{6,}")


def _file_digests(folder: Path) -> dict[str, dict[str, object]]:
    """Size and SHA-256 of every file of a generation, recorded in the manifest.

    Parsers do not notice every kind of damage: a flipped bit in FAISS, ``.npy``, BM25 or
    SQLite pages can load "fine" and silently change vectors or the quoted text. Checking
    these before parsing turns any truncation or change into one clear error.
    """
    digests: dict[str, dict[str, object]] = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            entry: dict[str, object] = {"size": f.stat().st_size}
            if entry["size"] <= VERIFY_FULL_MAX_BYTES:  # larger files are checked by size only, so not hashed either
                with open(f, "rb") as fh:
                    entry["sha256"] = hashlib.file_digest(fh, "sha256").hexdigest()
            digests[f.relative_to(folder).as_posix()] = entry
    return digests


def _read_only_uri(path: Path) -> str:
    """SQLite URI opening ``path`` read-only; percent-encoded, or a ``#``, ``?`` or ``%`` in the
    index path would be read as URI syntax and the index could be written but never opened."""
    return "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"


def _documents_from(con: sqlite3.Connection) -> list[DocumentRecord]:
    return [
        DocumentRecord(
            doc_id=r[0], source=r[1], title=r[2], kind=r[3], content_hash=r[4], text=r[5], body_end=int(r[6]),
            author=r[7], published=r[8], pages=[tuple(p) for p in json.loads(r[9] or "[]")], indexed_at=float(r[10] or 0),
        )
        for r in con.execute(
            "SELECT doc_id, source, title, kind, content_hash, text, body_end, author, published, pages, indexed_at "
            "FROM documents ORDER BY doc_idx"
        )
    ]


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
        try:  # a hand-edited manifest must give the rebuild hint, not a traceback
            model = ModelInfo(**manifest["model"]) if manifest.get("model") else None  # type: ignore[arg-type]
            gen = int(manifest["generation"])  # type: ignore[arg-type]
        except (TypeError, ValueError, KeyError) as e:
            raise IndexCorruptError(f"index manifest {self.root / MANIFEST} is malformed ({type(e).__name__}: {e}); {_rebuild_hint(self.root)}") from e
        if gen == 0:
            return empty_snapshot(model, manifest.get("chunker"))  # type: ignore[arg-type]
        gen_dir = self._generation_dir(manifest)
        try:
            self._verify_files(gen_dir, manifest)
            return self._load_generation(gen_dir, gen, model, manifest)
        except IndexError_:
            raise
        except Exception as e:  # any parse failure of a tampered/truncated file
            raise IndexCorruptError(f"index {self.root} is damaged ({gen_dir.name}: {type(e).__name__}: {e}); {_rebuild_hint(self.root)}") from e

    def _generation_dir(self, manifest: dict[str, object]) -> Path:
        """The live generation folder; a manifest cannot point outside the index (``../../etc``)."""
        name = manifest.get("generation_dir")
        if not isinstance(name, str) or not _GEN_NAME.fullmatch(name):
            raise IndexCorruptError(f"index manifest {self.root / MANIFEST} names no valid generation ({name!r}); {_rebuild_hint(self.root)}")
        return self.root / name

    def _verify_files(self, gen_dir: Path, manifest: dict[str, object], only: str | None = None) -> None:
        """Compare a generation's files with the sizes and SHA-256 sums its manifest recorded.

        Indexes written before checksums existed have no ``files`` entry and are not checked.
        """
        files = manifest.get("files")
        if not isinstance(files, dict):
            return
        for rel, meta in files.items():
            if only is not None and rel != only:
                continue
            path = gen_dir / str(rel)
            if not isinstance(meta, dict) or ".." in Path(str(rel)).parts or Path(str(rel)).is_absolute():
                raise IndexCorruptError(f"index manifest {self.root / MANIFEST} has a bad file entry {rel!r}; {_rebuild_hint(self.root)}")
            try:
                size = path.stat().st_size
            except OSError:
                raise IndexCorruptError(f"index {self.root} is missing {gen_dir.name}/{rel}; {_rebuild_hint(self.root)}") from None
            if size != meta.get("size"):
                raise IndexCorruptError(
                    f"index {self.root} is damaged: {gen_dir.name}/{rel} is {size} bytes, {meta.get('size')} were written "
                    f"(truncated or changed); {_rebuild_hint(self.root)}"
                )
            if size <= VERIFY_FULL_MAX_BYTES and "sha256" in meta:
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                if digest != meta.get("sha256"):
                    raise IndexCorruptError(
                        f"index {self.root} is damaged: {gen_dir.name}/{rel} changed since it was written (checksum mismatch); "
                        f"{_rebuild_hint(self.root)}"
                    )

    def load_documents(self) -> list[DocumentRecord]:
        """Only the stored documents, for ``qa rebuild``: everything else in an index derives from them.

        Reads nothing but the live generation's ``store.sqlite`` (checksum-verified), so a
        rebuild repairs damaged FAISS, vector or BM25 files. When the manifest itself is
        unreadable, the newest generation whose SQLite passes an integrity check is used.
        """
        try:
            manifest = self.read_manifest()
        except IndexMismatchError:
            raise
        except IndexCorruptError:
            manifest = None
        try:
            generation = int(manifest["generation"]) if manifest is not None else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            manifest = generation = None
        candidates: list[Path] | None = None
        if manifest is not None:
            if generation == 0:
                return []
            try:
                gen_dir = self._generation_dir(manifest)
            except IndexCorruptError:
                pass  # a manifest pointing nowhere: look for the generations themselves
            else:
                candidates = [gen_dir]
        if candidates is None:
            candidates = [self.root / f"gen-{g:06d}" for g in sorted(self._generations(), reverse=True)]
        problems: list[str] = []
        if manifest is not None and candidates and candidates[0] == self.root / str(manifest.get("generation_dir")):
            try:
                self._verify_files(candidates[0], manifest, only="store.sqlite")
            except IndexCorruptError:
                problems.append(f"{candidates[0].name}/store.sqlite differs from what was written (size or checksum)")
                candidates = []
        for gen_dir in candidates:
            try:
                con = sqlite3.connect(_read_only_uri(gen_dir / "store.sqlite"), uri=True)
                try:
                    if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                        raise sqlite3.DatabaseError("integrity check failed")
                    return _documents_from(con)
                finally:
                    con.close()
            except (sqlite3.Error, ValueError, TypeError) as e:
                problems.append(f"{gen_dir.name}: {e}")
        raise IndexCorruptError(
            f"the document store of index {self.root} is damaged ({'; '.join(problems) or 'no generation found'}), so it cannot "
            f"be rebuilt from itself; re-index the original files: `qa index --index {self.root} --fresh PATH...`"
        )

    def _load_generation(self, gen_dir: Path, gen: int, model: ModelInfo | None, manifest: dict[str, object]) -> Snapshot:
        from qa import vector_index

        db_path = gen_dir / "store.sqlite"
        if not db_path.is_file():
            raise IndexCorruptError(f"index {self.root} is missing {db_path.name} in {gen_dir.name}; {_rebuild_hint(self.root)}")
        con = sqlite3.connect(_read_only_uri(db_path), uri=True)
        try:
            documents = _documents_from(con)
            chunk_rows = np.array(
                con.execute('SELECT doc_idx, start, "end", first_sentence, last_sentence FROM chunks ORDER BY chunk_idx').fetchall(),
                dtype=np.int64,
            ).reshape(-1, 5)
            sent_rows = np.array(
                con.execute('SELECT doc_idx, start, "end" FROM sentences ORDER BY sent_idx').fetchall(), dtype=np.int64
            ).reshape(-1, 3)
            stem_df: dict[str, int] | None = None
            if con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='stem_df'").fetchone():
                stem_df = dict(con.execute("SELECT stem, df FROM stem_df").fetchall())
                if not stem_df and len(sent_rows):
                    stem_df = None  # written without it (an empty table for a non-empty index)
        finally:
            con.close()
        # Memory-mapped: at a million chunks the sentence vectors are gigabytes, and a query reads a few rows.
        sentence_vectors = vector_index.random_access(np.load(gen_dir / "sentences.npy", mmap_mode="r", allow_pickle=False))
        if sentence_vectors.dtype != np.float32:
            raise IndexCorruptError(f"index {self.root} has sentence vectors of type {sentence_vectors.dtype}; {_rebuild_hint(self.root)}")
        dense_info = manifest.get("dense")
        faiss_index = vector_index.load(gen_dir, dense_info if isinstance(dense_info, dict) else None)
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
            chunk_ids=faiss_index.ids,
            dense_info=faiss_index.info,
            stem_df=stem_df,
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

    def write(self, snapshot: Snapshot, terms: ChunkTerms, chunk_vectors: np.ndarray, dense: DenseConfig | None = None) -> int:
        """Persist ``snapshot`` as the next generation. Caller must hold :meth:`lock`.

        ``terms`` are the chunks' BM25 terms (stored too, so the next write tokenises only
        its new chunks). ``dense`` chooses the dense index type (flat or IVF,
        :mod:`qa.vector_index`); an IVF base generation is updated (removed ids dropped, new
        vectors added), not rebuilt.
        """
        from qa import vector_index

        assert snapshot.model is not None
        self.root.mkdir(parents=True, exist_ok=True)
        base_dir: Path | None = None
        base_dense: dict[str, object] | None = None
        try:
            live_manifest = self.read_manifest()
            live = int(live_manifest["generation"])  # type: ignore[arg-type]
            if live > 0 and isinstance(live_manifest.get("dense"), dict):
                base_dir, base_dense = self.root / str(live_manifest["generation_dir"]), live_manifest["dense"]  # type: ignore[assignment]
        except IndexNotFoundError:
            live = 0
        except IndexError_:
            live = -1  # a damaged manifest: keep every generation, number past them all
        self._clean_temporaries(live)
        gen = max([live, *self._generations()]) + 1
        gen_name = f"gen-{gen:06d}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-gen-"))
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the generation from other readers
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
                    CREATE TABLE stem_df (stem TEXT PRIMARY KEY, df INTEGER) WITHOUT ROWID;
                    """
                )
                if snapshot.stem_df is not None:
                    con.executemany("INSERT INTO stem_df VALUES (?,?)", sorted(snapshot.stem_df.items()))
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
            dense_info = vector_index.write(
                tmp, chunk_vectors, snapshot.chunk_ids, snapshot.model.dimension, dense or DenseConfig(), base_dir, base_dense  # type: ignore[arg-type]
            )
            if terms.n_chunks != snapshot.n_chunks:
                raise ValueError(f"{terms.n_chunks} chunk term lists for {snapshot.n_chunks} chunks")
            terms.save(tmp)
            terms.build_bm25().save(str(tmp / "bm25"), show_progress=False)  # type: ignore[attr-defined]
            files = _file_digests(tmp)
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
            "dense": dense_info,
            "chunker": snapshot.chunker,
            "counts": {"documents": len(snapshot.documents), "chunks": snapshot.n_chunks, "sentences": len(snapshot.sentences)},
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": files,  # size + SHA-256 per file, checked before anything is parsed
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
