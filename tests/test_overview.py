"""Questions about a whole document ("What is this article about?") are answered from the
document's opening sentences, not by a word match that finds nothing and abstains."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Assistant
from qa.overview import document_fact, is_overview_question, is_summary_request, overview_documents
from tests.test_answering import assert_exact

MARINA = """Harbour board approves Kelmouth marina expansion
By Ellen Marsh, Coast Correspondent
Photo: Boats moored at Kelmouth harbour on Sunday.
KELMOUTH — The Kelmouth harbour board on Monday approved a £12 million expansion of the town marina, adding 140 berths by 2028.
The decision ends two years of argument between yacht owners and the town’s fishermen.
Local fishermen oppose the plan, saying the new pontoons will narrow the channel used by trawlers.
"""
LIBRARY = """Dunmore library to open on Sundays
DUNMORE — Dunmore’s central library will open on Sundays from March, the county council said on Tuesday.
The change costs £80,000 a year and is paid for by a bequest from a former librarian.
"""
MARINA_LEDE = "KELMOUTH — The Kelmouth harbour board on Monday approved a £12 million expansion of the town marina"
LIBRARY_LEDE = "DUNMORE — Dunmore’s central library will open on Sundays from March"


@pytest.fixture(scope="module")
def two_documents(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("overview")
    (root / "kelmouth_marina.txt").write_text(MARINA, encoding="utf-8")
    (root / "dunmore_library.txt").write_text(LIBRARY, encoding="utf-8")
    a = Assistant.open(root / "idx")
    a.add([root / "kelmouth_marina.txt"])
    a.add([root / "dunmore_library.txt"])  # added last: "this document" in a chat after an upload
    return a


@pytest.mark.parametrize(
    ("question", "overview"),
    [
        ("What is this article about?", True),
        ("Summarize the document.", True),
        ("Can you give me a summary?", True),
        ("tl;dr", True),
        ("What are the main points?", True),
        ("What does the report say?", True),
        ("What are these documents about?", True),
        ("What does the article say about the fishermen?", False),
        ("Who approved the expansion?", False),
        ("What is the channel used for?", False),
    ],
)
def test_is_overview_question(question: str, overview: bool) -> None:
    assert is_overview_question(question) is overview


@pytest.mark.parametrize(
    ("question", "summary"),
    [
        ("Summarize the document.", True),
        ("Can you give me a summary?", True),
        ("What are the key takeaways?", True),
        ("Sum it up", True),
        ("What is this article about?", False),
        ("tl;dr", False),
        ("What's the gist?", False),
        ("Summarize what Coale said about prisoners", True),  # a summary if it is an overview at all
        ("Who approved the expansion?", False),
    ],
)
def test_is_summary_request(question: str, summary: bool) -> None:
    assert is_summary_request(question) is summary


def test_this_document_is_the_one_added_last(two_documents: Assistant) -> None:
    answer = two_documents.ask("What is this document about?")
    assert not answer.abstained
    assert answer.answer.startswith(LIBRARY_LEDE)
    assert {Path(c.source).name for c in answer.citations} == {"dunmore_library.txt"}
    assert answer.note == "the opening of dunmore_library.txt"  # which of the two it read
    assert_exact(two_documents, answer)


def test_the_document_named_in_the_question(two_documents: Assistant) -> None:
    answer = two_documents.ask("Summarize the marina article")
    # headline, byline and photo caption are skipped; a summary is the opening paragraph
    assert answer.answer.startswith(MARINA_LEDE)
    assert "The decision ends two years of argument" in answer.answer
    assert "Local fishermen oppose the plan" in answer.answer
    assert "By Ellen Marsh" not in answer.answer and "Photo:" not in answer.answer
    # each sentence its own marker, each citation exactly its sentence
    assert [c.n for c in answer.citations] == [1, 2, 3]
    assert [c.quote.split()[1] for c in answer.citations] == ["—", "decision", "fishermen"]
    assert_exact(two_documents, answer)


def test_what_it_is_about_is_shorter_than_a_summary(two_documents: Assistant) -> None:
    about = two_documents.ask("What is the marina article about?")
    summary = two_documents.ask("What are the main points of the marina article?")
    assert about.answer.startswith(MARINA_LEDE) and summary.answer.startswith(MARINA_LEDE)
    assert len(about.citations) == 2 and len(summary.citations) == 3
    assert len(about.answer) <= two_documents.settings.max_answer_chars + 10


def test_a_summary_keeps_to_its_length(tmp_path: Path) -> None:
    """Three long opening sentences do not all fit ``summary_chars``: the summary stops at two."""
    long = " ".join(["word"] * 55)
    (tmp_path / "long.txt").write_text(
        "Long report\n" + "\n".join(f"Sentence {i} has {long} in it." for i in range(1, 5)) + "\n", encoding="utf-8"
    )
    a = Assistant.open(tmp_path / "idx", summary_chars=700)
    a.add([tmp_path / "long.txt"])
    answer = a.ask("Summarize the report")
    assert [c.quote.split()[1] for c in answer.citations] == ["1", "2"]
    assert_exact(a, answer)


def test_a_document_named_by_a_name_only_its_text_holds(two_documents: Assistant) -> None:
    """Neither title nor file name says "Ellen Marsh"; only the marina story's byline does."""
    answer = two_documents.ask("What is the article by Ellen Marsh about?")
    assert answer.answer.startswith(MARINA_LEDE)
    assert {Path(c.source).name for c in answer.citations} == {"kelmouth_marina.txt"}
    assert_exact(two_documents, answer)
    # other words than names: an ordinary question about the text
    assert overview_documents(two_documents.snapshot(), "Summarize what Ellen Marsh says about the pontoons") == []


def test_a_document_filter_picks_the_document(two_documents: Assistant) -> None:
    answer = two_documents.ask("What is this about? Give me a summary", documents=["kelmouth_marina.txt"])
    assert answer.answer.startswith(MARINA_LEDE)


def test_all_documents(two_documents: Assistant) -> None:
    answer = two_documents.ask("What are these documents about?")
    assert answer.answer.startswith(LIBRARY_LEDE)  # the latest first
    assert MARINA_LEDE in answer.answer
    assert [Path(c.source).name for c in answer.citations] == ["dunmore_library.txt", "kelmouth_marina.txt"]
    assert_exact(two_documents, answer)


def test_a_question_about_something_in_particular_is_not_an_overview(two_documents: Assistant) -> None:
    snap = two_documents.snapshot()
    assert overview_documents(snap, "Summarize what the fishermen say about the pontoons") == []
    answer = two_documents.ask("Summarize what the fishermen say about the pontoons")
    assert "narrow the channel" in answer.answer


def test_how_someone_summed_something_up_is_a_quotation_question() -> None:
    assert not is_overview_question("How did Delia Rourke sum up the defeat?")
    assert is_overview_question("Can you sum it up?")


def test_an_llm_reads_the_opening_in_order(seed_assistant: Assistant) -> None:
    """The prompt's sentences for a summary are the document's first ones, not those the
    ranker finds most like "What is this article about?"."""
    from qa.answerers.generative import GenerativeAnswerer
    from qa.retrieval import opening_passages
    from tests.test_generative import fake_model

    snap = seed_assistant.snapshot()
    question = "What is this article about?"
    retrieval = opening_passages(snap, seed_assistant.embedder, question, overview_documents(snap, question), per_document=2)
    _, passages = GenerativeAnswerer(seed_assistant.settings, fake_model(), spec="fake:x", embedder=seed_assistant.embedder).prompt(question, retrieval)
    assert passages[0].text.startswith("Communist dictator Aleksandr Lukashenko of Belarus suggested in an interview")
    # every passage is read from its start, without gaps
    assert all("…" not in p.text for p in passages), [p.text[:120] for p in passages]


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("Who wrote this article?", "author"),
        ("Who wrote this?", "author"),
        ("Who is the author?", "author"),
        ("When was this article published?", "published"),
        ("When was it published?", "published"),
        ("What is the publication date?", "published"),
        ("Who wrote the letter to the council?", None),  # a letter the document mentions
        ("Who is the author of the novel?", None),
        ("When was the bridge built?", None),
    ],
)
def test_document_fact(question: str, fact: str | None) -> None:
    assert document_fact(question) == fact


def test_a_byline_is_a_short_line_of_its_own() -> None:
    from qa.overview import _BYLINE_RE

    assert _BYLINE_RE.search("By Ellen Marsh, Coast Correspondent")
    assert _BYLINE_RE.search("Opinion | Halvard Senn, economics columnist")
    assert not _BYLINE_RE.search("By noon, it was over.")
    assert not _BYLINE_RE.search("By Wednesday morning, 31 container ships were anchored outside the harbour, officials said")


def test_the_byline_says_who_wrote_it(two_documents: Assistant) -> None:
    answer = two_documents.ask("Who wrote the marina article?")
    assert answer.answer == "By Ellen Marsh, Coast Correspondent [1]"
    assert_exact(two_documents, answer)
    # no byline, no date, no metadata: the document does not say
    assert two_documents.ask("When was the library article published?").abstained


def test_metadata_is_said_to_be_metadata(tmp_path: Path) -> None:
    page = tmp_path / "story.html"
    page.write_text(
        "<html><head><title>Marina approved</title><meta name='author' content='Ellen Marsh'>"
        "<meta property='article:published_time' content='2026-03-02'></head><body><article>"
        "<h1>Harbour board approves Kelmouth marina expansion</h1>"
        f"<p>{MARINA.splitlines()[3]}</p><p>{MARINA.splitlines()[4]}</p></article></body></html>",
        encoding="utf-8",
    )
    a = Assistant.open(tmp_path / "idx")
    a.add([page])
    answer = a.ask("Who wrote this article?")
    assert not answer.abstained and not answer.citations  # nothing in the text to cite
    assert "Ellen Marsh" in answer.answer and "metadata" in answer.answer and "metadata" in answer.note
    dated = a.ask("When was it published?")
    assert "2026-03-02" in dated.answer and not dated.citations


def test_a_dateline_says_when(tmp_path: Path) -> None:
    (tmp_path / "notice.txt").write_text(
        "City launches lead pipe programme\n\nDELLSWORTH, 3 March 2026 — The city council today announced a £64 million "
        "programme to replace lead pipes. Work begins in June.\n",
        encoding="utf-8",
    )
    a = Assistant.open(tmp_path / "idx")
    a.add([tmp_path / "notice.txt"])
    answer = a.ask("When was this published?")
    assert answer.answer.startswith("DELLSWORTH, 3 March 2026 — The city council today announced")
    assert "Work begins in June" not in answer.answer
    assert_exact(a, answer)
