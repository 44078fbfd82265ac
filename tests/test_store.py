"""Index store: incremental updates, atomic writes, locking, damage and model mismatch."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from qa import Assistant
from qa.lexical import sentence_stem_df
from qa.settings import load_settings
from qa.store import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexStore
from tests.conftest import SEED_FILE


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reindex_unchanged_file_does_nothing(index_copy: Path) -> None:
    a = Assistant.open(index_copy)
    gen = a.snapshot().generation
    report = a.add([SEED_FILE])
    assert report.unchanged == [str(SEED_FILE.resolve())] and not report.added and not report.updated
    assert IndexStore(index_copy).read_manifest()["generation"] == gen


def test_changed_file_replaces_its_chunks_and_remove_purges(index_copy: Path, tmp_path: Path) -> None:
    a = Assistant.open(index_copy)
    doc = _write(tmp_path / "note.txt", "The lighthouse keeper is named Oriel Vantablack.\nShe paints boats.")
    assert a.add([doc]).added == [str(doc.resolve())]
    assert "Oriel" in a.ask("What is the name of the lighthouse keeper?").answer
    before = a.info()["chunks"]
    _write(doc, "The lighthouse keeper is named Brannoch Quillfeather.\nHe mends nets.")
    report = a.add([doc])
    assert report.updated == [str(doc.resolve())]
    assert a.info()["chunks"] == before  # replaced, not appended
    texts = [d.text for d in a.documents()]
    assert not any("Oriel" in t for t in texts) and any("Brannoch" in t for t in texts)
    assert a.remove([doc]) == [str(doc.resolve())]
    assert all(d.source != str(doc.resolve()) for d in a.documents())
    snap = a.snapshot()
    assert snap.faiss_index.ntotal == snap.n_chunks
    assert all(snap.chunk_text(i) for i in range(snap.n_chunks))
    # Sentence ids of the remaining chunks still point at their own document's text.
    for i in range(snap.n_chunks):
        first, last = snap.chunks[i, 2], snap.chunks[i, 3]
        assert snap.sentence_doc[first] == snap.chunk_doc[i] == snap.sentence_doc[last]


def _recounted_stem_df(snap) -> dict[str, int]:  # type: ignore[no-untyped-def]
    texts = (snap.documents[int(d)].text[int(s) : int(e)] for d, (s, e) in zip(snap.sentence_doc, snap.sentences))
    return dict(sentence_stem_df(texts))


def test_stored_stem_counts_follow_adds_updates_and_removals(index_copy: Path, tmp_path: Path) -> None:
    """The idf table is updated incrementally at write time; it must equal a full recount."""
    a = Assistant.open(index_copy)
    assert a.snapshot().stem_df == _recounted_stem_df(a.snapshot())
    doc = _write(tmp_path / "note.txt", "The lighthouse keeper is named Oriel Vantablack.\nShe paints boats. Boats float.")
    a.add([doc])
    snap = a.snapshot()
    assert snap.stem_df["vantablack"] == 1 and snap.stem_df["boat"] == 2
    assert snap.stem_df == _recounted_stem_df(snap)
    _write(doc, "The lighthouse keeper is named Brannoch Quillfeather.\nHe mends nets.")
    a.add([doc])
    snap = a.snapshot()
    assert "vantablack" not in snap.stem_df and snap.stem_df == _recounted_stem_df(snap)
    a.remove([doc])
    snap = IndexStore(index_copy).load()  # as persisted, not just in memory
    assert "quillfeath" not in snap.stem_df and snap.stem_df == _recounted_stem_df(snap)


def test_index_without_stored_stem_counts_still_answers_and_gains_them(index_copy: Path, tmp_path: Path) -> None:
    """Indexes written before the table existed: counted at the first question, stored at the next write."""
    import sqlite3

    store = IndexStore(index_copy)
    manifest = json.loads((index_copy / "manifest.json").read_text())
    db = index_copy / manifest["generation_dir"] / "store.sqlite"
    con = sqlite3.connect(db)
    con.execute("DROP TABLE stem_df")
    con.commit()
    con.close()
    manifest["files"].pop("store.sqlite")  # the checksum no longer matches what we just edited
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    snap = store.load()
    assert snap.stem_df is None
    a = Assistant.open(index_copy)
    assert not a.ask("What did Coale say about prisoners?").abstained
    a.add([_write(tmp_path / "n.txt", "Ferries leave at noon.")])
    assert a.snapshot().stem_df == _recounted_stem_df(a.snapshot())


def _bm25_from_texts(snap):  # type: ignore[no-untyped-def]
    import bm25s

    from qa.lexical import bm25_tokens

    bm25 = bm25s.BM25()
    bm25.index(bm25_tokens([snap.chunk_text(i) for i in range(snap.n_chunks)]), show_progress=False)
    return bm25


def _assert_bm25_equals_full_rebuild(snap) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from qa.lexical import content_stems

    expected = _bm25_from_texts(snap)
    for q in ("What did Coale say about prisoners?", "lighthouse keeper boats", "Lukashenko election vote", "ferries noon"):
        tokens = content_stems(q)
        np.testing.assert_allclose(snap.bm25.get_scores(tokens), expected.get_scores(tokens), rtol=1e-6, atol=1e-6)


def test_bm25_terms_are_reused_and_scores_equal_a_full_rebuild(index_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes tokenise only new chunks; the BM25 index they build scores exactly like re-tokenising all."""
    import qa.bm25_terms

    tokenised: list[int] = []
    real = qa.bm25_terms.bm25_tokens
    monkeypatch.setattr(qa.bm25_terms, "bm25_tokens", lambda texts: tokenised.append(len(texts)) or real(texts))
    a = Assistant.open(index_copy)
    doc = _write(tmp_path / "note.txt", "The lighthouse keeper is named Oriel Vantablack.\nShe paints boats. Boats float.")
    a.add([doc])
    snap = a.snapshot()
    assert tokenised == [1]  # the new document's one chunk, not the seed's chunks again
    _assert_bm25_equals_full_rebuild(snap)
    _write(doc, "Ferries leave at noon.\nThe lighthouse keeper mends nets.")
    a.add([doc])
    _assert_bm25_equals_full_rebuild(a.snapshot())
    a.remove([doc])
    snap = IndexStore(index_copy).load()
    assert tokenised == [1, 1, 0]
    _assert_bm25_equals_full_rebuild(snap)
    assert snap.bm25.get_scores(["vantablack"]).max() == 0.0


def test_index_without_stored_bm25_terms_tokenises_once_and_gains_them(index_copy: Path, tmp_path: Path) -> None:
    """Generations written before the terms were stored still update correctly."""
    from qa import bm25_terms

    manifest = json.loads((index_copy / "manifest.json").read_text())
    for name in (bm25_terms.IDS_FILE, bm25_terms.OFFSETS_FILE, bm25_terms.VOCAB_FILE):
        (index_copy / manifest["generation_dir"] / name).unlink()
        manifest["files"].pop(name)
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    a = Assistant.open(index_copy)
    a.add([_write(tmp_path / "n.txt", "Ferries leave at noon.")])
    snap = IndexStore(index_copy).load()
    assert bm25_terms.ChunkTerms.load(snap.path, snap.n_chunks) is not None
    _assert_bm25_equals_full_rebuild(snap)


def test_crash_during_write_leaves_previous_index_usable(index_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = Assistant.open(index_copy)
    gen = a.snapshot().generation
    doc = _write(tmp_path / "extra.txt", "Zebras migrate across the Serengeti every year.")
    import qa.store

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("simulated crash before the manifest switch")

    monkeypatch.setattr(qa.store, "_atomic_write_text", boom)
    with pytest.raises(OSError):
        a.add([doc])
    monkeypatch.undo()
    fresh = Assistant.open(index_copy, create=False)
    assert fresh.snapshot().generation == gen
    assert all("Zebras" not in d.text for d in fresh.documents())
    assert not fresh.ask("What did Coale say about prisoners?").abstained
    # The next write succeeds and cleans up.
    assert fresh.add([doc]).added
    assert not list(index_copy.glob(".tmp-gen-*"))


def test_second_writer_fails_clearly_while_locked(index_copy: Path) -> None:
    store = IndexStore(index_copy)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.lock(5):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        start = time.monotonic()
        with pytest.raises(IndexLockedError, match="another process .* is writing"):
            with IndexStore(index_copy).lock(0.3):
                pass
        assert time.monotonic() - start >= 0.3
    finally:
        release.set()
        t.join()
    with store.lock(1):  # free again
        pass


@pytest.mark.parametrize("target", ["manifest.json", "chunks.faiss", "store.sqlite", "sentences.npy", "bm25_terms.npy"])
def test_damaged_index_gives_clear_error(index_copy: Path, target: str) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    path = index_copy / target if target == "manifest.json" else index_copy / manifest["generation_dir"] / target
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises((IndexCorruptError,)) as info:
        Assistant.open(index_copy, create=False)
    assert "qa rebuild" in str(info.value)


def test_index_from_another_model_is_refused_with_rebuild_hint(index_copy: Path) -> None:
    path = index_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["name"] = "some/other-model"
    manifest["model"]["fingerprint"] = "0" * 16
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="qa rebuild"):
        Assistant.open(index_copy, create=False)


def test_rebuild_works_without_original_files(index_copy: Path, tmp_path: Path) -> None:
    doc = _write(tmp_path / "gone.txt", "The orchard grows quinces and medlars.")
    a = Assistant.open(index_copy)
    a.add([doc])
    doc.unlink()
    report = a.rebuild()
    assert len(report.updated) == 2
    assert any("medlars" in d.text for d in Assistant.open(index_copy, create=False).documents())


def test_reader_sees_writes_from_another_assistant(index_copy: Path, tmp_path: Path) -> None:
    reader = Assistant.open(index_copy, create=False)
    writer = Assistant.open(index_copy, create=False)
    doc = _write(tmp_path / "late.txt", "The harbour festival is held every August in Pennwick.")
    writer.add([doc])
    assert any(d.source == str(doc.resolve()) for d in reader.documents())


def test_old_generations_are_pruned(index_copy: Path, tmp_path: Path) -> None:
    a = Assistant.open(index_copy)
    for i in range(3):
        a.add([_write(tmp_path / f"n{i}.txt", f"Fact number {i} is about otters.")])
    gens = sorted(p.name for p in index_copy.glob("gen-*"))
    assert len(gens) == 2


def test_oversize_file_is_refused_naming_the_limit(tmp_path: Path) -> None:
    big = _write(tmp_path / "big.txt", "word " * 300_000)
    a = Assistant.open(tmp_path / "idx", settings=load_settings(max_file_mb=1))
    report = a.add([big])
    assert report.skipped and "1 MB" in report.skipped[0][1]
