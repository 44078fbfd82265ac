"""Tests for qa.evaluation: metric logic on hand-made answers, SQuAD conversion, and a real run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.answer import Answer, Citation, Passage
from qa.documents import load_document
from qa.evaluation import (
    MAX_ANSWER_CHARS,
    OVERALL_KEYS,
    EvalResult,
    GoldFormatError,
    GoldItem,
    GoldSpan,
    abstention_sweep,
    aggregate,
    aggregate_by_type,
    answer_correct,
    citation_correct,
    evaluate,
    format_summary,
    load_gold,
    normalize_answer,
    resolve_support,
    score_answer,
    sentence_support,
    split_answer_sentences,
    squad_to_gold,
    write_reports,
)
from qa.store import DocumentRecord

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_GOLD = REPO / "eval" / "seed.jsonl"

# A small hand-written document; offsets below are computed from it, never typed in.
TEXT = (
    "Nicolás Maduro met the envoy in Minsk. “Our doors are always open,” Lukashenko said.\n"
    "The reward is $15 million. Nicolás Maduro met the envoy in Minsk.\n"
    "Nothing else happened."
)
OTHER = "Minsk is the capital of Belarus. Nicolás Maduro met the envoy in Minsk."
S1 = "Nicolás Maduro met the envoy in Minsk."
S2 = "“Our doors are always open,” Lukashenko said."
S3 = "The reward is $15 million."


def record(doc_id: str, name: str, text: str) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id, source=f"/docs/{name}", title=name, kind="txt", content_hash="x", text=text, body_end=len(text)
    )


DOC = record("d1", "article.txt", TEXT)
DOC2 = record("d2", "other.txt", OTHER)
DOCS = [DOC, DOC2]


def cite(n: int, doc: DocumentRecord, start: int, end: int, quote: str | None = None) -> Citation:
    return Citation(
        n=n, doc_id=doc.doc_id, source=doc.source, title=doc.title, page=None, published=None, start=start, end=end,
        quote=doc.text[start:end] if quote is None else quote, chunk_start=0, chunk_end=len(doc.text), score=0.9,
    )


def span_of(doc: DocumentRecord, sentence: str, nth: int = 0) -> tuple[int, int]:
    pos = -1
    for _ in range(nth + 1):
        pos = doc.text.index(sentence, pos + 1)
    return pos, pos + len(sentence)


def make_answer(text: str, citations: list[Citation] | None = None, *, abstained: bool = False,
                passages: list[Passage] | None = None, answerability: float | None = None, latency: float = 10.0) -> Answer:
    return Answer(id="q", question="q?", answer=text, abstained=abstained, citations=citations or [],
                  passages=passages or [], latency_ms=latency, answerability=answerability)


def passage(doc: DocumentRecord, start: int, end: int) -> Passage:
    return Passage(doc.doc_id, doc.source, doc.title, start, end, 0.5, doc.text[start:end])


# ----------------------------------------------------------------------------- normalization & answers


def test_normalize_strips_accents_unicode_punctuation_articles_and_markers() -> None:
    assert normalize_answer("“The  Nicolás’s” answer, [1] is: an A-ok!") == "nicolass answer is aok"
    assert normalize_answer("Lukashenko’s patrons") == normalize_answer("Lukashenko's patrons")
    assert normalize_answer("« Ça va » — déjà vu…") == "ca va deja vu"
    assert normalize_answer("$15 million [12]") == "15 million"


def test_answer_correct_containment_accents_and_curly_quotes() -> None:
    ans = make_answer(f"{S1} [1]")
    assert answer_correct(ans, ["Nicolas Maduro"])  # accent in the document, not in the gold
    assert answer_correct(ans, ["the envoy"])
    assert not answer_correct(ans, ["Belarus"])
    assert answer_correct(make_answer(f"{S2} [1]"), ['"always open"'])  # straight vs curly quotes
    assert answer_correct(make_answer(f"{S3} [1]"), ["15 million"])


def test_answer_correct_ignores_markers() -> None:
    # "[1]" must not become the digit 1 that a gold answer could match.
    assert not answer_correct(make_answer("Nothing else happened. [1]"), ["1"])
    assert answer_correct(make_answer("It was 1 [2] person."), ["1 person"])  # marker inside is removed too


def test_answer_correct_400_char_rule_counts_text_without_markers() -> None:
    filler = "x" * (MAX_ANSWER_CHARS - len("Belarus "))
    exactly = f"Belarus {filler}"
    assert len(exactly) == MAX_ANSWER_CHARS
    assert answer_correct(make_answer(exactly + " [1] [2] [3]"), ["Belarus"])
    assert not answer_correct(make_answer(exactly + "y [1]"), ["Belarus"])


def test_answer_correct_false_when_abstained_or_unanswerable() -> None:
    assert not answer_correct(make_answer("Belarus", abstained=True), ["Belarus"])
    assert not answer_correct(make_answer("Belarus"), [])
    assert not answer_correct(make_answer("Belarus"), ["the"])  # normalizes to nothing: never matches


# ----------------------------------------------------------------------------- support & citations


def test_resolve_support_every_occurrence_in_the_named_document() -> None:
    item = GoldItem("g", "q", ["Maduro"], [S1], source="article.txt")
    spans = resolve_support(item, DOCS)
    assert spans == [GoldSpan("d1", *span_of(DOC, S1, 0)), GoldSpan("d1", *span_of(DOC, S1, 1))]
    assert all(DOC.text[s.start : s.end] == S1 for s in spans)


def test_resolve_support_without_source_searches_all_documents() -> None:
    spans = resolve_support(GoldItem("g", "q", ["Maduro"], [S1]), DOCS)
    assert {s.doc_id for s in spans} == {"d1", "d2"} and len(spans) == 3


def test_resolve_support_span_objects_and_warnings() -> None:
    warnings: list[str] = []
    item = GoldItem("g", "q", ["x"], [{"source": "other.txt", "start": 3, "end": 9}, "not in any document"], source="other.txt")
    assert resolve_support(item, DOCS, warnings) == [GoldSpan("d2", 3, 9)]
    assert len(warnings) == 1 and "not in any document" in warnings[0]
    warnings.clear()
    resolve_support(GoldItem("g", "q", ["x"], [S1], source="missing.txt"), DOCS, warnings)
    assert any("missing.txt" in w for w in warnings)


def test_citation_overlap_is_half_open_and_document_specific() -> None:
    s, e = span_of(DOC, S2)
    gold = [GoldSpan("d1", s, e)]
    assert citation_correct(cite(1, DOC, s, e), gold)
    assert citation_correct(cite(1, DOC, e - 1, e + 5), gold)  # one shared character
    assert citation_correct(cite(1, DOC, s - 5, s + 1), gold)
    assert not citation_correct(cite(1, DOC, e, e + 10), gold)  # touches the end: no overlap
    assert not citation_correct(cite(1, DOC, s - 10, s), gold)  # touches the start: no overlap
    assert not citation_correct(cite(1, DOC2, s, e), gold)  # same offsets, wrong document


# ----------------------------------------------------------------------------- per question & aggregate


def test_score_answer_and_aggregate_on_hand_made_answers() -> None:
    s1, e1 = span_of(DOC, S1)
    s2, e2 = span_of(DOC, S2)
    s3, e3 = span_of(DOC, S3)
    items = [
        GoldItem("a1", "Who met the envoy?", ["Maduro"], [S1], source="article.txt", type="factoid"),
        GoldItem("a2", "How big is the reward?", ["$15 million"], [S3], source="article.txt", type="factoid"),
        GoldItem("a3", "What did he say?", ["always open"], [S2], source="article.txt", type="quote"),
        GoldItem("u1", "How old is the envoy?", [], [], source="article.txt", type="unanswerable"),
        GoldItem("u2", "Who won?", [], [], source="article.txt", type="unanswerable"),
    ]
    answers = [
        # right answer, right citation (the second occurrence of S1 counts too), gold passage at rank 2
        make_answer(f"{S1} [1]", [cite(1, DOC, *span_of(DOC, S1, 1))], passages=[passage(DOC, s3, e3), passage(DOC, s1, e2)]),
        # right answer text but the citation points elsewhere, and its quote was tampered with
        make_answer(f"{S3} [1] {S2} [2]", [cite(1, DOC, s3, e3, quote="The reward is $20 million."), cite(2, DOC, s2, e2)],
                    passages=[passage(DOC, s3, e3)]),
        # false abstention; the gold passage was not retrieved
        make_answer("I could not find this in the documents.", abstained=True, passages=[passage(DOC2, 0, 10)]),
        # abstained correctly
        make_answer("I could not find this in the documents.", abstained=True),
        # answered an unanswerable question with a citation: the citation counts as wrong
        make_answer(f"{S2} [1]", [cite(1, DOC, s2, e2)]),
    ]
    results = [score_answer(i, a, DOCS) for i, a in zip(items, answers)]
    r1, r2, r3, r4, r5 = results
    assert (r1.answer_correct, r1.citation_ok, r1.retrieval_rank, r1.correct) == (True, [True], 2, True)
    assert (r2.answer_correct, r2.citation_ok, r2.citation_intact, r2.retrieval_rank) == (True, [True, False], [False, True], 1)
    assert "wrong citation" in r2.failures and "broken citation" in r2.failures
    assert (r3.answer_correct, r3.retrieval_rank, r3.failures) == (False, None, ["false abstention"])
    assert r4.correct and r4.failures == []
    assert r5.citation_ok == [False] and r5.failures == ["missed abstention"]

    m = aggregate(results)
    assert set(OVERALL_KEYS) <= set(m)
    assert m["answer_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["citation_precision"] == pytest.approx(2 / 4)  # r1 ok, r2 one of two, r5 wrong
    assert m["citation_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["citation_integrity"] == pytest.approx(3 / 4)  # the tampered quote is caught
    assert m["abstention"] == pytest.approx(1 / 2)
    assert m["false_abstention"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["retrieval_recall_at_1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["retrieval_recall_at_5"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["retrieval_mrr"] == pytest.approx((1 / 2 + 1) / 3, abs=1e-4)
    assert (m["n"], m["answerable"], m["unanswerable"], m["errors"]) == (5, 3, 2, 0)
    assert m["latency_p50_ms"] == 10.0

    by_type = aggregate_by_type(results)
    assert set(by_type) == {"factoid", "quote", "unanswerable"}
    assert by_type["factoid"]["answer_accuracy"] == 1.0 and by_type["quote"]["false_abstention"] == 1.0
    assert by_type["unanswerable"]["answer_accuracy"] is None  # no answerable items: undefined, not 0


def test_aggregate_undefined_rates_are_none() -> None:
    r = score_answer(GoldItem("u", "q", [], []), make_answer("no", abstained=True), DOCS)
    m = aggregate([r])
    assert m["citation_precision"] is None and m["citation_integrity"] is None and m["answer_accuracy"] is None
    assert m["abstention"] == 1.0


def test_integrity_detects_offsets_outside_document_and_unknown_doc() -> None:
    s, e = span_of(DOC, S1)
    bad = [cite(1, DOC, s, e, quote=S1), cite(2, DOC2, s, e, quote=S1), cite(3, DOC, len(TEXT) - 2, len(TEXT) + 5, quote="d.")]
    unknown = cite(4, DOC, s, e)
    unknown.doc_id = "nope"
    r = score_answer(GoldItem("g", "q", ["Maduro"], [S1]), make_answer("x [1] [2] [3] [4]", bad + [unknown]), DOCS)
    assert r.citation_intact == [True, False, False, False]


# ----------------------------------------------------------------------------- sentence support


def test_split_answer_sentences_attaches_markers_to_the_sentence_before() -> None:
    text = "Maduro met the envoy. [1] The U.S. reward is $15 million [2][3]. He said “open.” [1]"
    assert split_answer_sentences(text) == [
        ("Maduro met the envoy.", [1]),
        ("The U.S. reward is $15 million .", [2, 3]),
        ("He said “open.”", [1]),
    ]
    assert split_answer_sentences("No markers here") == [("No markers here", [])]


@pytest.mark.parametrize(
    "text",
    [
        "The mission’s principal investigator, Dr. Amara Quillfeather, has worked on it since 2014. [1]",
        "Prof. Henrik Stavely said the radar had never been tested. [1]",
        "She trained at St. Aldric’s hospital under J. R. Mallory. [1]",
        "He wore the No. 9 shirt for Brenvik. [1]",
    ],
)
def test_split_answer_sentences_keeps_abbreviations_and_initials_inside(text: str) -> None:
    # One quoted sentence is one answer sentence, so its one marker covers all of it.
    assert split_answer_sentences(text) == [(text.removesuffix(" [1]"), [1])]


def test_answers_and_documents_are_cut_into_the_same_sentences() -> None:
    """The index's splitter and the answer splitter share one abbreviation rule: an answer
    quoting document sentences splits exactly where the document did (they once had two
    lists, and "U.S." or "9 a.m." cut an answer where the document was not cut)."""
    from qa.chunking import split_sentences

    doc = (
        "The U.S. delegation with Gen. Tomas Reyes arrived at 9 a.m. Talks at the Dept. of Trade ran late. "
        "The No. 2 negotiator, J. K. Osei, said no. "
        "The problem reduces to X. There is no faster way."
    )
    doc_sentences = [doc[s:e] for s, e in split_sentences(doc)]
    assert doc_sentences[0].endswith("9 a.m. Talks at the Dept. of Trade ran late.")  # "a.m." is never an end
    assert doc_sentences[-2:] == ["The problem reduces to X.", "There is no faster way."]
    answer = " ".join(f"{t} [{i}]" for i, t in enumerate(doc_sentences, 1))
    assert split_answer_sentences(answer) == [(t, [i]) for i, t in enumerate(doc_sentences, 1)]


def test_sentence_support_lexical_and_embedding() -> None:
    s1, e1 = span_of(DOC, S1)
    s3, e3 = span_of(DOC, S3)
    c1, c2 = cite(1, DOC, s1, e1), cite(2, DOC, s3, e3)
    # supported lexically / cites the wrong quote / carries no citation
    ans = make_answer("Maduro met an envoy in Minsk [1]. The reward was huge [1]. It was raining.", [c1, c2])
    assert sentence_support(ans) == (1, 3)

    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:  # claim "paraphrase" == quote S1 in vector space
        calls.append(texts)
        def vec(t: str) -> list[float]:
            if "paraphrase" in t or t == S1:
                return [1.0, 0.0]
            return [0.0, 1.0] if "Unrelated" in t else [0.6, -0.8]

        return np.array([vec(t) for t in texts], dtype=np.float32)

    para = make_answer("A paraphrase with different words [1]. Unrelated stuff [2].", [c1, c2])
    assert sentence_support(para) == (0, 2)
    assert sentence_support(para, embed) == (1, 2)
    assert calls and calls[0][0] == "A paraphrase with different words ."
    assert sentence_support(make_answer("whatever", abstained=True)) == (0, 0)


# ----------------------------------------------------------------------------- sweep


def test_abstention_sweep_recomputes_without_reasking() -> None:
    def res(answerable: bool, correct: bool, p: float) -> object:
        item = GoldItem("x", "q", ["Maduro"] if answerable else [], [S1] if answerable else [])
        return score_answer(item, make_answer(f"{S1 if correct else S3} [1]", answerability=p), DOCS)

    results = [res(True, True, 0.9), res(True, False, 0.6), res(True, True, 0.3), res(False, False, 0.4), res(False, False, 0.1)]
    sweep = abstention_sweep(results)
    rows = {r["threshold"]: r for r in sweep["rows"]}
    assert len(rows) == 21 and min(rows) == 0.0 and max(rows) == 1.0
    assert rows[0.0] == {"threshold": 0.0, "accuracy": pytest.approx(2 / 3, abs=1e-4), "coverage": 1.0, "abstention": 0.0,
                         "false_abstention": 0.0, "overall": pytest.approx(2 / 5)}
    r = rows[0.5]  # answered: 0.9 (correct) and 0.6 (wrong); declined: both unanswerable and the 0.3 one
    assert (r["accuracy"], r["coverage"], r["abstention"], r["false_abstention"]) == (pytest.approx(1 / 3, abs=1e-4), 0.4, 1.0, pytest.approx(1 / 3, abs=1e-4))
    assert rows[1.0]["coverage"] == 0.0 and rows[1.0]["abstention"] == 1.0
    # answerable scores 0.9, 0.6, 0.3 vs unanswerable 0.4, 0.1: 5 of 6 pairs ordered right
    assert sweep["answerability_auroc"] == pytest.approx(5 / 6, abs=1e-4)


# ----------------------------------------------------------------------------- gold I/O


def test_load_gold_reads_the_seed_set() -> None:
    gold = load_gold(SEED_GOLD)
    assert len(gold) == 75 and len({g.id for g in gold}) == 75
    assert sum(not g.answerable for g in gold) == 12
    assert sum(bool(g.history) for g in gold) == 12


def test_load_gold_rejects_malformed_lines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q?"}\n', encoding="utf-8")
    with pytest.raises(GoldFormatError, match="bad.jsonl:1.*answers"):
        load_gold(bad)
    bad.write_text('{"id": "a", "question": "q?", "answers": []}\n\n{"id": "a", "question": "r?", "answers": []}\n', encoding="utf-8")
    with pytest.raises(GoldFormatError, match="bad.jsonl:3.*duplicate"):
        load_gold(bad)
    bad.write_text('{"id": "a", "question": "q?", "answers": ["x"], "support": [{"start": "0"}]}\n', encoding="utf-8")
    with pytest.raises(GoldFormatError, match="support"):
        load_gold(bad)


SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Tiny article",
            "paragraphs": [
                {
                    "context": "Minsk is the capital of Belarus. It has many bridges.",
                    "qas": [
                        {"id": "q1", "question": "What is the capital of Belarus?", "is_impossible": False,
                         "answers": [{"text": "Minsk", "answer_start": 0}, {"text": "Minsk", "answer_start": 0},
                                     {"text": "Minsk ", "answer_start": 0}]},
                        {"id": "q2", "question": "How old is Minsk?", "is_impossible": True, "answers": [],
                         "plausible_answers": [{"text": "many bridges", "answer_start": 41}]},
                    ],
                },
                {
                    "context": "Caf\u00e9s line the river “Svislach”.\nBoats are rare.",
                    "qas": [{"id": "q3", "question": "What river?", "is_impossible": False,
                             "answers": [{"text": "Svislach", "answer_start": 22}, {"text": "“Svislach”", "answer_start": 21}]}],
                },
            ],
        },
        {"title": "Second/article", "paragraphs": [{"context": "Only one paragraph.", "qas": [
            {"id": "q4", "question": "How many paragraphs?", "is_impossible": False, "answers": [{"text": "one", "answer_start": 5}]}]}]},
    ],
}


def test_squad_to_gold_writes_articles_with_exact_paragraph_spans(tmp_path: Path) -> None:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD, ensure_ascii=False), encoding="utf-8")
    gold, out = squad_to_gold(path, tmp_path / "docs")
    assert out == tmp_path / "docs"
    files = sorted(p.name for p in out.iterdir())
    assert files == ["Second_article.txt", "Tiny_article.txt"]
    text = (out / "Tiny_article.txt").read_text(encoding="utf-8")
    paragraphs = [p["context"] for p in SQUAD["data"][0]["paragraphs"]]
    assert text == "\n\n".join(paragraphs)
    # offsets hold against what the indexer will actually read, not only the Python string
    loaded = load_document(out / "Tiny_article.txt", max_bytes=10**6).text
    assert loaded == text

    by_id = {g.id: g for g in gold}
    assert [g.id for g in gold] == ["q1", "q2", "q3", "q4"]
    q1, q2, q3, q4 = (by_id[k] for k in ("q1", "q2", "q3", "q4"))
    assert q1.answers == ["Minsk"] and q1.source == "Tiny_article.txt" and q1.type == "answerable"
    for g, para in ((q1, paragraphs[0]), (q3, paragraphs[1])):
        (sup,) = g.support
        assert isinstance(sup, dict) and sup["source"] == "Tiny_article.txt"
        assert loaded[sup["start"] : sup["end"]] == para
    assert q3.answers == ["Svislach", "“Svislach”"] and q3.paragraph == 1
    assert (q2.answers, q2.support, q2.type, q2.plausible_answers) == ([], [], "unanswerable", ["many bridges"])
    assert q4.source == "Second_article.txt"
    assert (out / "Second_article.txt").read_text(encoding="utf-8")[q4.support[0]["start"] : q4.support[0]["end"]] == "Only one paragraph."

    # and the resolved gold spans are what the metrics use
    rec = record("t", "Tiny_article.txt", loaded)
    assert resolve_support(q3, [rec]) == [GoldSpan("t", len(paragraphs[0]) + 2, len(loaded))]


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def seed_assistant(tmp_path_factory: pytest.TempPathFactory):
    from qa import Assistant

    assistant = Assistant.open(tmp_path_factory.mktemp("eval") / "idx")
    report = assistant.add([str(SEEDS)])
    assert len(report.added) >= 1
    return assistant


def test_a_failing_question_is_scored_wrong_and_named_but_a_dead_server_stops_the_run(seed_assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answerer misbehaves here on purpose (a raise), so a stand-in for ``ask`` is the point of the test."""
    from qa.answerers.backends import BackendUnavailableError

    gold = load_gold(SEED_GOLD)[:3]
    real = seed_assistant.ask

    def flaky(question: str, history=None, id=None, **kw):  # noqa: A002
        if id == gold[1].id:
            raise RuntimeError("model crashed")
        return real(question, history=history, id=id, **kw)

    monkeypatch.setattr(seed_assistant, "ask", flaky)
    result = evaluate(seed_assistant, gold)
    assert result.overall["errors"] == 1 and result.overall["n"] == 3
    assert f"1 of 3 question(s) failed (scored as wrong); first: {gold[1].id}: RuntimeError: model crashed" in format_summary(result)

    def down(*args, **kw):
        raise BackendUnavailableError("ollama:m: could not reach the model server at http://127.0.0.1:9")

    monkeypatch.setattr(seed_assistant, "ask", down)
    with pytest.raises(BackendUnavailableError):  # every question would fail: nothing to measure
        evaluate(seed_assistant, gold)


def _record_asks(assistant, monkeypatch: pytest.MonkeyPatch):
    """Every (question, history) the evaluation asks, in order; and the real ``ask``."""
    calls: list[tuple[str, list | None]] = []
    real = assistant.ask

    def recording(question: str, history=None, id=None, **kw):  # noqa: A002
        calls.append((question, history))
        return real(question, history=history, id=id, **kw)

    monkeypatch.setattr(assistant, "ask", recording)
    return calls, real


def test_own_history_asks_follow_ups_after_the_assistants_own_answer(seed_assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """``qa eval --own-history``: the previous question is asked first (with the turns before
    it), and its real answer, not the gold file's written one, is the follow-up's history."""
    item = GoldItem(
        id="f1", question="What did he say about prisoners?", answers=["prisoners"],
        history=[["Who is the envoy for Belarus?", "WRITTEN GOLD ANSWER"]], type="followup",
    )
    calls, real = _record_asks(seed_assistant, monkeypatch)
    evaluate(seed_assistant, [item], own_history=True)
    (first_q, first_h), (second_q, second_h) = calls
    assert (first_q, first_h) == ("Who is the envoy for Belarus?", None)
    own = real("Who is the envoy for Belarus?").answer
    assert second_q == item.question and second_h == [["Who is the envoy for Belarus?", own]]
    assert "WRITTEN GOLD ANSWER" not in own
    calls.clear()
    evaluate(seed_assistant, [item])  # the default: the gold file's history as it is
    assert calls == [(item.question, item.history)]


def test_session_asks_each_question_after_the_turn_before(seed_assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """``qa eval --session``: a question without a history of its own is asked after the
    question asked before it and the assistant's real answer to it; a follow-up keeps its
    own history; results come back in the file's order whatever the asking order."""
    gold = [
        GoldItem(id="a", question="Who is Trump's envoy for Belarus?", answers=["John Coale"]),
        GoldItem(id="b", question="What did Coale say about prisoners?", answers=["releasing prisoners"]),
        GoldItem(id="c", question="Where did Machado travel?", answers=["Oslo"],
                 history=[["Who won the Nobel Peace Prize?", "María Corina Machado."]], type="followup"),
        GoldItem(id="d", question="What is the capital of Australia?", answers=[]),
    ]
    calls, real = _record_asks(seed_assistant, monkeypatch)
    result = evaluate(seed_assistant, gold, session="ordered")
    first = real(gold[0].question).answer
    assert calls[0] == (gold[0].question, None)
    assert calls[1] == (gold[1].question, [[gold[0].question, first]])
    assert calls[2] == (gold[2].question, gold[2].history)  # its own history, as written
    assert calls[3][1][0][0] == gold[2].question  # after the follow-up and its answer
    assert [r.item.id for r in result.questions] == ["a", "b", "c", "d"]

    calls.clear()
    result = evaluate(seed_assistant, gold, session="shuffled")
    asked = [q for q, _ in calls]
    assert sorted(asked) == sorted(g.question for g in gold)
    assert asked != [g.question for g in gold]  # a fixed shuffle of four is not the file's order
    assert [r.item.id for r in result.questions] == ["a", "b", "c", "d"]
    for k, (q, h) in enumerate(calls):  # the turn before is the question asked before, whatever the file says
        if q == gold[2].question:
            assert h == gold[2].history
        else:
            assert h == (None if k == 0 else [[calls[k - 1][0], h[0][1]]])
    with pytest.raises(ValueError, match="ordered"):
        evaluate(seed_assistant, gold, session="random")


def test_evaluate_seed_end_to_end(seed_assistant, tmp_path: Path) -> None:
    gold = load_gold(SEED_GOLD)[:8]
    seen: list[tuple[int, int, str]] = []
    result = evaluate(seed_assistant, gold, progress=lambda i, n, qid: seen.append((i, n, qid)))
    assert isinstance(result, EvalResult)
    assert seen[-1] == (8, 8, gold[-1].id)
    assert result.warnings == []  # every support string was found in the indexed article
    o = result.overall
    assert o["n"] == 8 and o["errors"] == 0
    assert o["citation_integrity"] == 1.0
    assert o["retrieval_recall_at_5"] is not None and 0.0 <= o["retrieval_recall_at_5"] <= 1.0

    report_dir = tmp_path / "report"
    write_reports(result, report_dir)
    data = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert set(data) >= {"overall", "by_type", "questions", "config"}
    assert set(OVERALL_KEYS) <= set(data["overall"])
    assert data["overall"]["citation_integrity"] == 1.0
    assert set(data["config"]) >= {"index", "backend", "settings", "timestamp"}
    assert len(data["questions"]) == 8
    q = data["questions"][0]
    assert set(q) >= {"id", "question", "type", "answers", "answer", "abstained", "answerability", "correct",
                      "citations", "retrieval_rank", "latency_ms"}
    for qq in data["questions"]:
        for c in qq["citations"]:
            assert set(c) >= {"n", "source", "start", "end", "quote", "correct"}
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "## Overall" in md and "citation_precision" in md
    assert (report_dir / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (report_dir / "sweep.png").exists()
    assert "answer_accuracy" in format_summary(result)

    # the sweep is derived from the same answers and plotted on request
    sweep = abstention_sweep(result.questions)
    write_reports(result, report_dir, sweep=sweep)
    assert (report_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((report_dir / "report.json").read_text(encoding="utf-8"))["sweep"]["rows"][0]["threshold"] == 0.0
