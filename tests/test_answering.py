"""The default answerer on the seed article: cited, exact, abstains off-topic, follows up."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from qa import Answer, Assistant, QuestionError
from qa.answer import MARKER_RE
from tests.conftest import SEED_FILE, one_document_assistant


def assert_exact(a: Assistant, answer: Answer) -> None:
    """Every citation quotes the stored text exactly, and the source file too (UTF-8 text files)."""
    numbers = [int(m) for m in MARKER_RE.findall(answer.answer)]
    assert sorted(set(numbers)) == [c.n for c in answer.citations]
    for c in answer.citations:
        doc = a.document(c.doc_id)
        assert doc.text[c.start : c.end] == c.quote
        assert c.chunk_start <= c.start < c.end <= c.chunk_end
        assert 0.0 <= c.score <= 1.0
        if not c.source.endswith((".pdf", ".docx", ".html", ".htm")):  # text read as it is on disk
            with open(c.source, encoding="utf-8", newline="") as f:
                assert f.read()[c.start : c.end] == c.quote


def test_quote_question_cites_the_supporting_sentence(seed_assistant: Assistant) -> None:
    ans = seed_assistant.ask("What did Coale say about prisoners?")
    assert not ans.abstained
    assert "[1]" in ans.answer
    assert "prisoners" in ans.citations[0].quote
    assert_exact(seed_assistant, ans)
    assert ans.passages and all(p.source == str(SEED_FILE.resolve()) for p in ans.passages)
    assert len(ans.answer) <= 400


@pytest.mark.parametrize(
    "question, needle",
    [
        ("How much is the reward for information leading to Maduro's capture?", "$15 million"),
        ("Which outlet interviewed Lukashenko?", "Newsmax"),
        ("Where did Machado travel last week?", "Oslo"),
    ],
)
def test_factoid_questions(seed_assistant: Assistant, question: str, needle: str) -> None:
    ans = seed_assistant.ask(question)
    assert needle in ans.answer and not ans.abstained
    assert_exact(seed_assistant, ans)


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "Who won the 2018 FIFA World Cup?"])
def test_off_topic_questions_abstain(seed_assistant: Assistant, question: str) -> None:
    ans = seed_assistant.ask(question)
    assert ans.abstained
    assert ans.citations == [] and "could not find" in ans.answer


def test_follow_up_uses_history(seed_assistant: Assistant) -> None:
    history = [["Who is María Corina Machado?", "The Venezuelan opposition leader who won the Nobel Peace Prize."]]
    ans = seed_assistant.ask("Where did she travel last week?", history=history)
    assert "Oslo" in ans.answer
    messages = [{"role": "user", "content": history[0][0]}, {"role": "assistant", "content": history[0][1]}]
    assert seed_assistant.ask("Where did she travel last week?", history=messages).answer == ans.answer


@pytest.mark.parametrize(
    "question, follows",
    [
        ("Where did she travel last week?", True),
        ("How long has he worked at the University of Drummore?", True),  # "he" is someone before
        ("What does Olsavan claim he privately admitted?", True),  # "he": not necessarily Olsavan
        ("When did she arrive?", True),
        ("And the year before?", True),
        ("What happened that night?", True),
        ("How has Teskovar responded to that idea?", True),
        ("Why?", True),
        ("How much did it cost?", True),  # too short to stand alone
        ("How many members does it have in Pendlecombe?", True),  # "it" before any name
        # the question names what its pronoun stands for, or its "it" stands for nothing
        ("What did Fennimore say about his knees and his memory?", False),
        ("When did Tamsin list its shares?", False),
        ("How much did it cost to build the Northern Seed Vault?", False),
        ("How long does it usually take to get better from the infection?", False),
        ("Why do teenagers struggle to get to sleep early?", False),  # "why" opens most questions
        ("Who is the chief executive of Lumetra?", False),
        ("What is the political leaning of the outlet that did the interview?", False),  # "that" relative
        # "he"/"she" as the subject of a clause after a name is that person
        ("How much rent did Sandovic pay when she started out?", False),
        ("Had Maduro ever signalled to Lukashenko that he wanted to escape Venezuela?", False),
        ("Why, according to the minister, does it matter that Dellsworth succeeds?", False),
    ],
)
def test_which_questions_lean_on_the_turn_before(question: str, follows: bool) -> None:
    """In the chat every question comes with the turn before; one that leans on it borrows its
    words. A question that stands alone must not: after an unrelated turn the borrowed words
    pull in the wrong passages (``qa eval --session shuffled``)."""
    from qa.chain import is_follow_up

    assert is_follow_up(question) is follows


def test_a_question_that_stands_alone_is_answered_alone_after_any_turn(seed_assistant: Assistant) -> None:
    """Asked after a turn about something else, a self-contained question gets the answer it
    gets alone."""
    alone = seed_assistant.ask("What did Coale say about his talks with Lukashenko?")
    after = seed_assistant.ask(
        "What did Coale say about his talks with Lukashenko?",
        history=[["Who won the Nobel Peace Prize?", "María Corina Machado won the Nobel Peace Prize."]],
    )
    assert after.answer == alone.answer and after.citations == alone.citations


def test_document_filter_restricts_search(seed_index: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "idx"
    shutil.copytree(seed_index, root)
    a = Assistant.open(root)
    other = tmp_path / "bakery.txt"
    other.write_text("The bakery on Elm Street sells rye bread every morning.\nIt closes at noon.", encoding="utf-8")
    a.add([other])
    ans = a.ask("What does the bakery on Elm Street sell?", documents=[str(SEED_FILE.resolve())])
    assert all(p.source == str(SEED_FILE.resolve()) for p in ans.passages)
    ans = a.ask("What does the bakery on Elm Street sell?", documents=["bakery.txt"])
    assert "rye bread" in ans.answer


def test_stream_yields_pieces_then_the_answer(seed_assistant: Assistant) -> None:
    items = list(seed_assistant.stream("What did Coale say about prisoners?"))
    assert isinstance(items[-1], Answer)
    assert "".join(i for i in items[:-1] if isinstance(i, str)) == items[-1].answer
    assert len(items) > 3


def test_retriever_is_a_langchain_retriever(seed_assistant: Assistant) -> None:
    r = seed_assistant.retriever
    assert isinstance(r, BaseRetriever)
    docs = r.invoke("Cartel of the Suns reward")
    assert docs and isinstance(docs[0], Document)
    d = docs[0]
    text = seed_assistant.document(d.metadata["doc_id"]).text
    assert text[d.metadata["start"] : d.metadata["end"]] == d.page_content
    assert "$15 million" in " ".join(x.page_content for x in docs)


def test_batch_through_the_chain_matches_single_asks(seed_assistant: Assistant) -> None:
    qs = ["What did Coale say about prisoners?", "What is the capital of Australia?"]
    many = seed_assistant.ask_many(qs)
    assert [m.answer for m in many] == [seed_assistant.ask(q).answer for q in qs]


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
def test_bad_questions_get_a_helpful_error(seed_assistant: Assistant, question: str) -> None:
    with pytest.raises(QuestionError):
        seed_assistant.ask(question)


def test_answer_object_schema(seed_assistant: Assistant) -> None:
    d = seed_assistant.ask("What did Coale say about prisoners?").to_dict()
    for key in ("id", "question", "answer", "abstained", "citations", "passages", "backend", "latency_ms"):
        assert key in d
    for key in ("n", "doc_id", "source", "title", "page", "published", "start", "end", "quote", "chunk_start", "chunk_end", "score"):
        assert key in d["citations"][0]
    for key in ("doc_id", "source", "start", "end", "score"):
        assert key in d["passages"][0]
    assert Answer.from_dict(d).to_dict() == d


HARBOUR = (
    "Harbour notes\n"
    "Fish prices at the Monday market fell for the third week. The school board postponed its vote on the new budget. "
    "The lighthouse on Skerry Point is painted bright red. A bakery on Quay Street closed after forty years. "
    "Rain is expected over the weekend. The ferry timetable changes in April. Council workers repaired the potholes on Mill Lane.\n"
)
COAST = (
    "Coastal heritage\n"
    "Lighthouses along the coast guided ships for two centuries. Keepers lived in small cottages beside the towers and "
    "logged every passing vessel. The towers were built of local granite and whitewashed each spring. Many lights were "
    "automated in the 1980s. Heritage groups now run tours of several of them.\n"
)


def test_one_answering_sentence_among_unrelated_ones_is_not_diluted(tmp_path: Path) -> None:
    """A chunk's vector is the mean of its sentences', so the chunk that answers in one sentence
    among six unrelated ones loses the dense ranking to a chunk that is about lighthouses
    throughout; BM25 prefers the answering one. The best-sentence ranking breaks that tie
    (before it, the tie went to the dense winner)."""
    from qa.retrieval import search

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "docs" / "coast.txt").write_text(COAST, encoding="utf-8")
    a = Assistant.open(tmp_path / "idx")
    a.add([tmp_path / "docs"])
    snap = a.snapshot()
    r = search(snap, a.embedder, "What colour is the lighthouse painted?", k=5, candidate_k=30, rrf_k=60)
    titles = [snap.documents[int(snap.chunk_doc[h.chunk])].title for h in r.hits]
    by_title = dict(zip(titles, r.hits))
    assert by_title["Coastal heritage"].dense_rank == 0 and by_title["Harbour notes"].lexical_rank == 0  # the premise
    assert titles[0] == "Harbour notes"
    assert "painted bright red" in a.ask("What colour is the lighthouse painted?").answer


def test_a_word_a_pdf_split_across_lines_is_found_and_shown_whole(tmp_path: Path) -> None:
    """Typeset PDFs hyphenate long words at line ends ("desa-" / "lination"): retrieval,
    the answer and the model read the word whole, the quote keeps the document's text."""
    from tests.formats import wrapped_pdf

    paragraphs = [
        "Harbour council approves new plant",
        "The council of the harbour town voted on Tuesday evening, after a long debate, to build a "
        "desalination plant at Tarrow Point, which is expected to cost about 480 million dollars.",
        "Residents had asked for a decision for years.",
        "The mayor said the town would hold a public meeting in March.",
    ]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "plant.pdf").write_bytes(wrapped_pdf(paragraphs, paragraphs[0], hyphenate=True))
    a = Assistant.open(tmp_path / "idx")
    a.add([tmp_path / "docs"])
    assert "desa-\nlination" in a.snapshot().documents[0].text  # the premise: the text layer splits it
    answer = a.ask("How much will the desalination plant cost?")
    assert "480 million" in answer.answer and "desalination plant" in answer.answer
    assert "desa-\nlination" in answer.citations[0].quote
    assert_exact(a, answer)


def test_a_markdown_document_is_answered_without_its_markup(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A link's address is not part of what the document says; the quote keeps the text as it is."""
    a = one_document_assistant(
        tmp_path_factory,
        "takeover.md",
        "# Morvane agrees takeover of Dunholt\n\n"
        "Morvane Telecom has agreed to buy its smaller rival Dunholt Cable for 6.3 billion marks.\n\n"
        "The deal was announced by Morvane's chief executive, [Tobias Renwick](https://ledger.example/people/"
        "tobias-renwick), at a news conference on Harrow Quay.\n\n"
        "**Annika Solberg**, who has led Dunholt since 2021, is expected to step down once the deal closes.\n",
    )
    answer = a.ask("Who is Morvane's chief executive?")
    assert "Tobias Renwick, at a news conference" in answer.answer and "https" not in answer.answer
    assert "](https://ledger.example" in answer.citations[0].quote  # the document's own text
    assert_exact(a, answer)
    assert "Annika Solberg, who has led Dunholt" in a.ask("Who has led Dunholt since 2021?").answer
