"""Files -> documents -> sentences and chunks -> embeddings -> a new index generation.

The expensive part (loading, chunking, embedding) runs before the writer lock is taken;
under the lock we re-read the newest generation and merge, so two writers never lose
each other's documents and readers are never blocked.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.bm25_terms import ChunkTerms
from qa.chunking import chunk_sentences, fit_sentences, split_sentences
from qa.documents import DocumentError, LoadedDocument, iter_files, load_document
from qa.embeddings import Embedder
from qa.lexical import readable, sentence_stem_df
from qa.settings import Settings
from qa.store import (
    DocumentPayload,
    DocumentRecord,
    IndexMismatchError,
    IndexNotFoundError,
    IndexStore,
    ModelInfo,
    Snapshot,
    empty_snapshot,
)
from qa.vector_index import INDEX_TYPES, DenseConfig

Progress = Callable[[int, int, str], None]
#: Loads, chunks and embeds listed files somewhere else (qa.distributed runs it on Ray): it gets the
#: (path, source) pairs, the content hash already indexed per source, the model the index expects
#: and the progress callback; it returns the new payloads (in listing order), the unchanged sources
#: and the skipped (path, reason) pairs, exactly what the local loop below would have produced.
PrepareFiles = Callable[
    [list[tuple[Path, str]], dict[str, str], ModelInfo, Progress | None],
    tuple[list[DocumentPayload], list[str], list[tuple[str, str]]],
]

#: How chunk vectors are made: "sentence-mean" (mean of the sentence vectors) or "embed" (the chunk text embedded).
CHUNK_VECTORS = "sentence-mean"


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return len(self.added) + len(self.updated)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped; {self.chunks} chunks in {self.seconds:.1f} s"
        )


def doc_id_for(source: str) -> str:
    """Stable id from the source path, so re-indexing a file keeps its id."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:12]


def model_info(embedder: Embedder) -> ModelInfo:
    return ModelInfo(
        name=embedder.name,
        backend=embedder.backend,
        dimension=embedder.dimension,
        fingerprint=embedder.fingerprint,
        max_tokens=embedder.max_tokens,
    )


def chunker_config(settings: Settings) -> dict[str, object]:
    return {"max_tokens": settings.chunk_max_tokens, "overlap_sentences": settings.chunk_overlap_sentences}


def dense_config(settings: Settings) -> DenseConfig:
    """The dense index type for the next generation (an explicit setting beats the index's recorded choice)."""
    kind = settings.index_type.strip().lower()
    if kind not in INDEX_TYPES:
        raise ValueError(f"unknown index type {settings.index_type!r}; choose one of {', '.join(INDEX_TYPES)} (QA_INDEX_TYPE)")
    return DenseConfig(kind, settings.ivf_min_chunks, settings.ivf_nprobe, explicit="index_type" in settings.model_fields_set)


def check_model(snapshot: Snapshot, info: ModelInfo, root: Path) -> None:
    """Refuse to mix vectors of two models: the scores would be meaningless, silently."""
    m = snapshot.model
    if m is None:
        return
    if (m.name, m.backend, m.dimension, m.fingerprint) != (info.name, info.backend, info.dimension, info.fingerprint):
        raise IndexMismatchError(
            f"index {root} was built with model {m.name} (backend {m.backend}, dimension {m.dimension}, "
            f"fingerprint {m.fingerprint}), but this run uses {info.name} (backend {info.backend}, dimension "
            f"{info.dimension}, fingerprint {info.fingerprint}). Use the same model (QA_MODEL_PATH), or rebuild the index "
            f"with this one: `qa rebuild --index {root}`."
        )


def prepare_documents(
    docs: list[DocumentRecord], embedder: Embedder, settings: Settings, progress: Progress | None = None
) -> list[DocumentPayload]:
    """Sentence spans, chunks and vectors for each document; all vectors in one batched pass."""
    limit = min(settings.chunk_max_tokens, embedder.max_tokens)
    # Fitting and chunking count each sentence again; one cache per call keeps memory bounded.
    count_tokens = functools.lru_cache(maxsize=65_536)(embedder.count_tokens)
    plans = []
    for d in docs:
        spans = fit_sentences(d.text, split_sentences(d.text, 0, d.body_end), count_tokens, limit)
        chunks = chunk_sentences(d.text, spans, count_tokens, limit, settings.chunk_overlap_sentences)
        plans.append((d, spans, chunks))
    # The model reads the text as it reads (qa.lexical.readable): words a PDF split across
    # lines whole, Markdown without its markup.
    sentence_texts = [readable(d.text[s:e]) for d, spans, _ in plans for s, e in spans]
    if CHUNK_VECTORS == "sentence-mean":
        # Sentences are embedded anyway (the answerer scores them); a chunk's vector is the
        # normalised mean of its sentences' vectors, which halves the embedding work at the
        # same retrieval recall (docs/benchmarks.md).
        total = len(sentence_texts)
        if progress:
            progress(0, total, "embedding")
        sent_vecs = _encode_with_progress(embedder, sentence_texts, settings, progress, total)
        chunk_vecs = sentence_mean_vectors(sent_vecs, [(len(spans), chunks) for _, spans, chunks in plans])
    else:
        chunk_texts = [readable(d.text[c.start : c.end]) for d, _, chunks in plans for c in chunks]
        total = len(sentence_texts) + len(chunk_texts)
        if progress:
            progress(0, total, "embedding")
        vectors = _encode_with_progress(embedder, sentence_texts + chunk_texts, settings, progress, total)
        sent_vecs, chunk_vecs = vectors[: len(sentence_texts)], vectors[len(sentence_texts) :]
    payloads: list[DocumentPayload] = []
    si = ci = 0
    for d, spans, chunks in plans:
        payloads.append(
            DocumentPayload(
                record=d,
                chunks=np.array([[c.start, c.end, c.first_sentence, c.last_sentence] for c in chunks], dtype=np.int64).reshape(-1, 4),
                sentences=np.array(spans, dtype=np.int64).reshape(-1, 2),
                chunk_texts=[d.text[c.start : c.end] for c in chunks],
                chunk_vectors=chunk_vecs[ci : ci + len(chunks)],
                sentence_vectors=sent_vecs[si : si + len(spans)],
            )
        )
        si += len(spans)
        ci += len(chunks)
    return payloads


def sentence_mean_vectors(sentence_vectors: np.ndarray, docs: list[tuple[int, list]]) -> np.ndarray:
    """Chunk vectors as the normalised mean of their sentences' vectors.

    ``docs`` lists, per document in order, its sentence count and its chunks (with
    document-local ``first_sentence``/``last_sentence``); ``sentence_vectors`` holds all
    documents' sentence vectors in the same order.
    """
    dim = sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 0
    out = np.zeros((sum(len(chunks) for _, chunks in docs), dim), dtype=np.float32)
    si = ci = 0
    for n_sent, chunks in docs:
        if chunks:
            sums = np.zeros((n_sent + 1, dim), dtype=np.float64)
            np.cumsum(sentence_vectors[si : si + n_sent], axis=0, dtype=np.float64, out=sums[1:])
            first = np.array([c.first_sentence for c in chunks])
            last = np.array([c.last_sentence for c in chunks])
            out[ci : ci + len(chunks)] = sums[last + 1] - sums[first]
        si += n_sent
        ci += len(chunks)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.where(norms > 0, norms, 1.0)
    return out


def _encode_with_progress(
    embedder: Embedder, texts: list[str], settings: Settings, progress: Progress | None, total: int
) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    # Length-sorted batches pad less; the order is restored afterwards.
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    step = max(settings.embed_batch_size * 4, 64)
    for lo in range(0, len(texts), step):
        idx = order[lo : lo + step]
        out[idx] = embedder.encode([texts[i] for i in idx], threads=settings.index_threads, batch_size=settings.embed_batch_size)
        if progress:
            progress(min(lo + step, len(texts)), total, "embedding")
    return out


def merge(
    base: Snapshot,
    payloads: list[DocumentPayload],
    remove_sources: Iterable[str],
    info: ModelInfo,
    chunker: dict[str, object],
) -> tuple[Snapshot, ChunkTerms, np.ndarray]:
    """A new snapshot: ``base`` minus removed/replaced documents plus ``payloads``, with
    every chunk's BM25 terms and dense vector in chunk order.

    Kept rows are copied once into preallocated arrays: at a million chunks the sentence
    vectors are gigabytes, and mask-then-concatenate held three copies of them.
    """
    drop = set(remove_sources) | {p.record.source for p in payloads}
    keep = np.array([d.source not in drop for d in base.documents], dtype=bool)
    new_doc_of_old = np.cumsum(keep) - 1
    sent_keep = keep[base.sentence_doc] if len(base.sentence_doc) else np.zeros(0, dtype=bool)
    new_sent_of_old = np.cumsum(sent_keep) - 1
    chunk_keep = keep[base.chunk_doc] if len(base.chunk_doc) else np.zeros(0, dtype=bool)

    documents = [d for d, k in zip(base.documents, keep) if k]
    chunk_doc = [new_doc_of_old[base.chunk_doc[chunk_keep]]]
    chunks_old = base.chunks[chunk_keep].copy()
    if len(chunks_old):
        chunks_old[:, 2] = new_sent_of_old[chunks_old[:, 2]]
        chunks_old[:, 3] = new_sent_of_old[chunks_old[:, 3]]
    chunks = [chunks_old]
    sentence_doc = [new_doc_of_old[base.sentence_doc[sent_keep]]]
    sentences = [base.sentences[sent_keep]]
    dim = info.dimension
    n_kept = int(sent_keep.sum())
    sentence_vectors = np.empty((n_kept + sum(len(p.sentences) for p in payloads), dim), np.float32)
    _copy_rows(base.sentence_vectors, sent_keep, sentence_vectors)
    old_vectors = base.chunk_vectors()
    n_chunks_kept = int(chunk_keep.sum())
    vectors = np.empty((n_chunks_kept + sum(len(p.chunks) for p in payloads), dim), np.float32)
    _copy_rows(old_vectors, chunk_keep, vectors)
    terms = _base_terms(base, chunk_keep).extend(ChunkTerms.from_texts([t for p in payloads for t in p.chunk_texts]))
    base_ids = base.chunk_ids if base.chunk_ids is not None else np.arange(base.n_chunks, dtype=np.int64)
    chunk_ids = [base_ids[chunk_keep]] if len(base_ids) else []

    n_sent, n_chunk = n_kept, n_chunks_kept
    for p in payloads:
        doc_idx = len(documents)
        documents.append(p.record)
        c = p.chunks.copy()
        c[:, 2:] += n_sent
        chunks.append(c)
        chunk_doc.append(np.full(len(c), doc_idx, dtype=np.int64))
        sentences.append(p.sentences)
        sentence_doc.append(np.full(len(p.sentences), doc_idx, dtype=np.int64))
        sentence_vectors[n_sent : n_sent + len(p.sentences)] = p.sentence_vectors
        vectors[n_chunk : n_chunk + len(c)] = p.chunk_vectors
        chunk_ids.append(np.full(len(c), -1, dtype=np.int64))
        n_sent += len(p.sentences)
        n_chunk += len(c)

    snapshot = Snapshot(
        generation=base.generation,
        model=info,
        chunker=chunker,
        documents=documents,
        chunk_doc=np.concatenate(chunk_doc).astype(np.int64) if chunk_doc else np.zeros(0, np.int64),
        chunks=np.concatenate(chunks).astype(np.int64).reshape(-1, 4),
        sentence_doc=np.concatenate(sentence_doc).astype(np.int64),
        sentences=np.concatenate(sentences).astype(np.int64).reshape(-1, 2),
        sentence_vectors=sentence_vectors,
        faiss_index=None,
        bm25=None,
        chunk_ids=np.concatenate(chunk_ids).astype(np.int64) if chunk_ids else np.zeros(0, np.int64),
        stem_df=_merged_stem_df(base, keep, payloads),
    )
    return snapshot, terms, vectors


def _copy_rows(source: np.ndarray, keep: np.ndarray, out: np.ndarray, block: int = 65536) -> None:
    """``out[:keep.sum()] = source[keep]`` in blocks: no full-size temporary of a memory map."""
    if not len(source):
        return
    at = 0
    for lo in range(0, len(source), block):
        rows = source[lo : lo + block][keep[lo : lo + block]]
        out[at : at + len(rows)] = rows
        at += len(rows)


def _base_terms(base: Snapshot, keep: np.ndarray) -> ChunkTerms:
    """The kept chunks' BM25 terms: read from the generation, or (older indexes) tokenised once."""
    stored = ChunkTerms.load(base.path, base.n_chunks) if base.path is not None else None
    if stored is None:
        return ChunkTerms.from_texts([base.chunk_text(i) for i in np.flatnonzero(keep)])
    return stored.select(keep)


def _stored_sentences(base: Snapshot, mask: np.ndarray) -> Iterator[str]:
    """Texts of ``base``'s sentences whose document is selected by ``mask``."""
    for sid in np.flatnonzero(mask[base.sentence_doc]) if len(base.sentence_doc) else ():
        s, e = base.sentences[sid]
        yield base.documents[int(base.sentence_doc[sid])].text[int(s) : int(e)]


def _merged_stem_df(base: Snapshot, keep: np.ndarray, payloads: list[DocumentPayload]) -> dict[str, int]:
    """``base``'s stem counts minus the dropped documents' sentences plus the new ones'.

    Only changed documents are read, so adding one file to a large index stays cheap. An
    index written before the counts were stored is counted in full once.
    """
    if base.stem_df is None and base.documents:
        df = sentence_stem_df(_stored_sentences(base, keep))
    else:
        df = Counter(base.stem_df or {})
        df.subtract(sentence_stem_df(_stored_sentences(base, ~keep)))
    for p in payloads:
        df.update(sentence_stem_df(p.record.text[int(s) : int(e)] for s, e in p.sentences))
    return {k: v for k, v in df.items() if v > 0}


def record_from(doc: LoadedDocument) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id_for(doc.source),
        source=doc.source,
        title=doc.title,
        kind=doc.kind,
        content_hash=doc.content_hash,
        text=doc.text,
        body_end=doc.body_end,
        author=doc.author,
        published=doc.published,
        pages=[(p.page, p.start, p.end) for p in doc.pages],
        indexed_at=time.time(),
    )


def load_base(store: IndexStore, known: Snapshot | None = None) -> Snapshot:
    """The live generation; ``known`` is reused when it still is (generations never change
    once written), which saves reloading a large index for every write."""
    if known is not None and known.generation > 0:
        try:
            if int(store.read_manifest()["generation"]) == known.generation:  # type: ignore[arg-type]
                return known
        except Exception:  # noqa: BLE001 - anything odd: load properly and report that instead
            pass
    try:
        return store.load()
    except IndexNotFoundError:
        return empty_snapshot()


def index_paths(
    store: IndexStore,
    paths: Iterable[Path | str],
    embedder: Embedder,
    settings: Settings,
    *,
    sources: dict[str, str] | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    prepare: PrepareFiles | None = None,
    base: Snapshot | None = None,
) -> IngestReport:
    """Add or update files; unchanged files (same content hash) cost nothing.

    ``sources`` maps a path to the source name to record instead of its absolute path
    (UI uploads are recorded as ``upload:NAME``). ``prepare`` moves loading, chunking and
    embedding elsewhere (``qa index --ray``); files are still listed here and the merge and
    the atomic write below stay the same, so a distributed run keeps every local guarantee.
    ``base`` is the caller's loaded snapshot of this index, if it has one.
    """
    started = time.perf_counter()
    report = IngestReport()
    info = model_info(embedder)
    base = empty_snapshot() if fresh else load_base(store, base)
    if not fresh:
        check_model(base, info, store.root)
    known = {d.source: d.content_hash for d in base.documents}
    records: list[DocumentRecord] = []
    listed: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for path, reason in iter_files(paths):
        if reason is not None:
            report.skipped.append((str(path), reason))
            continue
        source = (sources or {}).get(str(path)) or str(Path(path).resolve())
        if source in seen:
            continue
        seen.add(source)
        if prepare is not None:
            listed.append((Path(path), source))
            continue
        try:
            doc = load_document(path, max_bytes=int(settings.max_file_mb * 1024 * 1024), source=source)
        except DocumentError as e:
            report.skipped.append((str(path), e.reason))
            continue
        if known.get(doc.source) == doc.content_hash:
            report.unchanged.append(doc.source)
            continue
        (report.updated if doc.source in known else report.added).append(doc.source)
        records.append(record_from(doc))
    if prepare is not None:
        payloads, unchanged, skipped = prepare(listed, known, info, progress)
        report.unchanged.extend(unchanged)
        report.skipped.extend(skipped)
        for p in payloads:
            (report.updated if p.record.source in known else report.added).append(p.record.source)
    else:
        payloads = prepare_documents(records, embedder, settings, progress)
    report.chunks = sum(len(p.chunks) for p in payloads)
    if payloads or fresh:
        with store.lock(settings.lock_timeout_s):
            latest = empty_snapshot() if fresh else load_base(store, base)
            if not fresh:
                check_model(latest, info, store.root)
            snapshot, terms, vectors = merge(latest, payloads, [], info, chunker_config(settings))
            store.write(snapshot, terms, vectors, dense_config(settings))
    report.seconds = time.perf_counter() - started
    return report


def remove_sources(store: IndexStore, sources: Iterable[str], settings: Settings, base: Snapshot | None = None) -> list[str]:
    """Drop documents (by source) from every store; returns the sources actually removed."""
    wanted = set(sources)
    with store.lock(settings.lock_timeout_s):
        # Without a loaded generation to reuse, load it (and fail clearly if there is no index).
        base = load_base(store, base) if base is not None and base.generation > 0 else store.load()
        present = [d.source for d in base.documents if d.source in wanted]
        if not present:
            return []
        assert base.model is not None
        snapshot, terms, vectors = merge(base, [], present, base.model, base.chunker)
        store.write(snapshot, terms, vectors, dense_config(settings))
    return present


def rebuild(store: IndexStore, embedder: Embedder, settings: Settings, progress: Progress | None = None) -> IngestReport:
    """Re-embed every stored document with the current model: needs no original files."""
    started = time.perf_counter()
    # Only the stored texts are needed: reading nothing else lets a rebuild repair an index
    # whose vector, FAISS or BM25 files are damaged (the hint every damage error gives).
    docs = [DocumentRecord(**{**d.__dict__, "indexed_at": time.time()}) for d in store.load_documents()]
    payloads = prepare_documents(docs, embedder, settings, progress)
    with store.lock(settings.lock_timeout_s):
        snapshot, terms, vectors = merge(empty_snapshot(), payloads, [], model_info(embedder), chunker_config(settings))
        store.write(snapshot, terms, vectors, dense_config(settings))
    return IngestReport(updated=[d.source for d in docs], chunks=terms.n_chunks, seconds=time.perf_counter() - started)
