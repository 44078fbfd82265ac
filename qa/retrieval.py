"""Hybrid retrieval: dense (FAISS) and BM25 candidates fused by reciprocal rank.

Dense search finds paraphrases, BM25 finds rare names and numbers the small embedding
model blurs; reciprocal rank fusion needs no score calibration between the two. A third
ranking re-orders their candidates by each chunk's best single sentence: a chunk vector is
the mean of its sentences', so one sentence that answers is diluted by the others around
it (held-out news: recall@1 0.712 -> 0.748, @5 0.927 -> 0.938). The
LangChain :class:`HybridRetriever` is a thin wrapper so the same search serves LCEL
chains and our own answerers (which also need the query vector and the raw scores).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from qa.embeddings import Embedder
from qa.lexical import content_stems, question_names
from qa.store import Snapshot
from qa.truecase import truecase, typed_in_lower_case


@dataclass
class Hit:
    chunk: int  # row in the snapshot's chunk table
    score: float  # fused, in [0, 1]
    dense: float  # cosine similarity
    lexical: float  # BM25 score (unnormalised; 0 when not a BM25 candidate)
    dense_rank: int | None
    lexical_rank: int | None


@dataclass
class Retrieval:
    query: str
    vector: np.ndarray
    hits: list[Hit]
    snapshot: Snapshot
    # the hits are documents' opening passages (qa/overview.py), for a question about what a
    # document is about ("lede") or who wrote it / when it came out ("author", "published")
    overview: str = ""


def selected_documents(snapshot: Snapshot, documents: Sequence[str]) -> list[int]:
    """Rows of the documents a filter names (by source, a path ending, doc id or title)."""
    wanted = set(documents)
    return [
        i for i, d in enumerate(snapshot.documents)
        if d.source in wanted or d.doc_id in wanted or d.title in wanted
        or any(w and d.source.endswith("/" + w.lstrip("./")) for w in wanted)
    ]


def allowed_chunks(snapshot: Snapshot, documents: Sequence[str] | None) -> np.ndarray | None:
    """Chunk rows belonging to the selected documents."""
    if not documents:
        return None
    return np.flatnonzero(np.isin(snapshot.chunk_doc, selected_documents(snapshot, documents)))


def search(
    snapshot: Snapshot,
    embedder: Embedder,
    query: str,
    *,
    k: int,
    candidate_k: int,
    rrf_k: int,
    threads: int = 1,
    documents: Sequence[str] | None = None,
    vector: np.ndarray | None = None,
) -> Retrieval:
    if vector is None:
        vector = embedder.encode([query], threads=threads)[0]
    n = snapshot.n_chunks
    allowed = allowed_chunks(snapshot, documents)
    if n == 0 or (allowed is not None and len(allowed) == 0):
        return Retrieval(query, vector, [], snapshot)
    limit = n if allowed is None else len(allowed)
    kk = min(candidate_k, limit)

    # A document filter is answered exactly over the selected rows (qa/vector_index.py).
    dense_scores, dense_ids = snapshot.faiss_index.search(vector.reshape(1, -1), kk, rows=allowed, threads=threads)  # type: ignore[union-attr]
    dense = [(int(i), float(s)) for i, s in zip(dense_ids[0], dense_scores[0]) if i >= 0]

    tokens = content_stems(query)
    lexical: list[tuple[int, float]] = []
    mask: np.ndarray | None = None
    if tokens and snapshot.bm25 is not None:
        if allowed is not None:
            mask = np.zeros(n, dtype=np.float32)
            mask[allowed] = 1.0
        scores = snapshot.bm25.get_scores(tokens, weight_mask=mask)  # type: ignore[attr-defined]
        top = np.argpartition(-scores, kk - 1)[:kk] if kk < n else np.arange(n)
        lexical = sorted(((int(i), float(scores[i])) for i in top if scores[i] > 0), key=lambda t: -t[1])

    fused: dict[int, Hit] = {}
    for rank, (i, s) in enumerate(dense):
        fused[i] = Hit(i, 1.0 / (rrf_k + rank + 1), s, 0.0, rank, None)
    for rank, (i, s) in enumerate(lexical):
        hit = fused.get(i)
        if hit is None:
            cos = float(snapshot.faiss_index.reconstruct(i) @ vector)  # type: ignore[union-attr]
            hit = fused[i] = Hit(i, 0.0, cos, 0.0, None, None)
        hit.score += 1.0 / (rrf_k + rank + 1)
        hit.lexical, hit.lexical_rank = s, rank
    rankings = 3
    if fused:
        best_sentence = _best_sentence_cosines(snapshot, list(fused), vector)
        for rank, (i, _) in enumerate(sorted(best_sentence.items(), key=lambda t: -t[1])):
            fused[i].score += 1.0 / (rrf_k + rank + 1)
        cased = query
        if typed_in_lower_case(query):  # the best candidates say which of its words are names
            top = sorted(fused.values(), key=lambda h: (-h.score, -h.dense))[:10]
            cased = truecase(query, (snapshot.chunk_text(h.chunk) for h in top))
        doc = named_document(snapshot, cased, mask)
        if doc is not None:
            # "Who is Lumetra's chief executive?": of several documents, only one mentions
            # Lumetra, so the answer is there, but other documents' "chief executive"
            # passages win both rankings. The named document's candidates get a ranking of
            # their own, in the order the others gave them.
            rankings = 4
            own = sorted((h for h in fused.values() if int(snapshot.chunk_doc[h.chunk]) == doc), key=lambda h: (-h.score, -h.dense))
            for rank, h in enumerate(own):
                h.score += 1.0 / (rrf_k + rank + 1)
    best = rankings / (rrf_k + 1)
    ranked = sorted(fused.values(), key=lambda h: (-h.score, -h.dense))
    hits = ranked[:k]
    if tokens and snapshot.bm25 is not None:
        hits = _keep_rare_full_matches(snapshot, query, tokens, mask, fused, hits, k)
    for h in hits:
        h.score = min(1.0, h.score / best)
    return Retrieval(query, vector, hits, snapshot)


def named_document(snapshot: Snapshot, query: str, mask: np.ndarray | None = None) -> int | None:
    """The one document (of several) that holds every name the question uses, if there is one.

    Names no document holds are left out (a misspelling should not undo the rest); a name
    in every document ("Reuters") leaves the choice to the others.
    """
    names = question_names(query)
    if not names or snapshot.bm25 is None or len(snapshot.documents) < 2:
        return None
    docs: set[int] | None = None
    for t in sorted(names):
        rows = np.flatnonzero(_holding(snapshot, t, mask))
        if len(rows):
            found = set(np.unique(snapshot.chunk_doc[rows]).tolist())
            docs = found if docs is None else docs & found
    return next(iter(docs)) if docs is not None and len(docs) == 1 else None


def _holding(snapshot: Snapshot, token: str, mask: np.ndarray | None) -> np.ndarray:
    """Which passages hold this stem (BM25 scores a passage above 0 only if it does)."""
    return snapshot.bm25.get_scores([token], weight_mask=mask) > 0  # type: ignore[attr-defined,union-attr]


def _name_stems(query: str) -> set[str]:
    return set(content_stems(" ".join(re.findall(r"\b[A-Z][\w’'.&-]*", query))))


#: A passage holding every word of the query is kept among the hits when at most this many do.
RARE_FULL_MATCHES = 2


def _keep_rare_full_matches(
    snapshot: Snapshot, query: str, tokens: list[str], mask: np.ndarray | None, fused: dict[int, Hit], hits: list[Hit], k: int
) -> list[Hit]:
    """A query whose words are only names ("Who is Okonjo?", "Who is Julian Reyes-Hart?") has
    a meaningless vector, so the dense ranking is noise and a passage that only BM25 finds
    loses the rank fusion to passages that both rankings rank middling. When only one or two
    passages hold every word of such a query, they replace the last hits."""
    if len(hits) < k:
        return hits
    if not typed_in_lower_case(query) and not set(tokens) <= _name_stems(query):
        return hits  # a cased query decides from its own capitals, before any passage is read
    present = np.logical_and.reduce([_holding(snapshot, t, mask) for t in dict.fromkeys(tokens)])
    full = np.flatnonzero(present)
    if not 0 < len(full) <= RARE_FULL_MATCHES:
        return hits
    # typed in lower case ("who is okonjo"): the passages say which of its words are names
    cased = truecase(query, (snapshot.chunk_text(int(i)) for i in full))
    if not set(tokens) <= _name_stems(cased):  # only for a query made of names
        return hits
    chosen = {h.chunk for h in hits}
    missing = [fused[int(i)] for i in full if int(i) not in chosen and int(i) in fused]
    return hits[: k - len(missing)] + missing if missing else hits


def opening_passages(
    snapshot: Snapshot, embedder: Embedder, query: str, docs: Sequence[int], *, per_document: int, threads: int = 1,
    kind: str = "lede",
) -> Retrieval:
    """The first passages of these documents, in this order: what a question about a whole
    document ("What is this article about?") is answered from."""
    vector = embedder.encode([query], threads=threads)[0]
    hits = []
    for d in docs:
        rows = np.flatnonzero(snapshot.chunk_doc == d)
        rows = rows[np.argsort(snapshot.chunks[rows, 0], kind="stable")][:per_document]
        for i in rows:
            cos = float(snapshot.faiss_index.reconstruct(int(i)) @ vector)  # type: ignore[union-attr]
            hits.append(Hit(int(i), 1.0, cos, 0.0, None, None))
    return Retrieval(query, vector, hits, snapshot, overview=kind)


def _best_sentence_cosines(snapshot: Snapshot, chunks: list[int], vector: np.ndarray) -> dict[int, float]:
    """Each candidate chunk's highest sentence cosine (sentence vectors are stored for the answerer)."""
    rows = np.asarray(snapshot.chunks[chunks, 2:4])
    out: dict[int, float] = {}
    for i, (first, last) in zip(chunks, rows):
        out[i] = float((np.asarray(snapshot.sentence_vectors[int(first) : int(last) + 1]) @ vector).max()) if last >= first else -1.0
    return out


def hit_document(snapshot: Snapshot, hit: Hit) -> Document:
    doc = snapshot.documents[int(snapshot.chunk_doc[hit.chunk])]
    start, end = int(snapshot.chunks[hit.chunk, 0]), int(snapshot.chunks[hit.chunk, 1])
    return Document(
        page_content=doc.text[start:end],
        metadata={
            "doc_id": doc.doc_id,
            "source": doc.source,
            "title": doc.title,
            "published": doc.published,
            "page": doc.page_of(start),
            "start": start,
            "end": end,
            "chunk": hit.chunk,
            "score": hit.score,
            "dense_score": hit.dense,
            "bm25_score": hit.lexical,
        },
    )


class HybridRetriever(BaseRetriever):
    """LangChain retriever over an index; ``documents=[...]`` restricts the search."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    snapshot: Callable[[], Snapshot]
    embedder: Embedder
    k: int = 5
    candidate_k: int = 30
    rrf_k: int = 60
    threads: int = 1

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, documents: Sequence[str] | None = None
    ) -> list[Document]:
        snap = self.snapshot()
        result = search(
            snap, self.embedder, query, k=self.k, candidate_k=self.candidate_k, rrf_k=self.rrf_k,
            threads=self.threads, documents=documents,
        )
        return [hit_document(snap, h) for h in result.hits]
