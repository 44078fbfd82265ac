"""Retrieval over several documents: a question that names something only one document
mentions is answered from that document."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Assistant
from qa.retrieval import named_document, search
from tests.test_answering import assert_exact

DOCS = {
    "lumetra.txt": """Lumetra unveils a foldable e-reader

KESTREL BAY — Lumetra, the electronics maker, on Tuesday unveiled the Folio X, a foldable e-reader with a colour screen.
Chief executive Naomi Achterberg introduced the device at a launch event in a converted theatre.
The Folio X will cost $249 and goes on sale in March.
Shares of Lumetra rose 3 percent on the news.
""",
    "redmere.txt": """Redmere keeps its chief executive for five more years

WESTBROOK — The logistics group Redmere said on Monday that its chief executive, Lydia Banerjee, would stay for another five years.
The board backed the chief executive's plan to sell two warehouses.
Redmere employs about 3,800 people.
""",
    "harbour.txt": """Dock strike enters its third week

PORT ISARD — The dock strike entered its third week on Friday, with 31 container ships waiting outside the harbour.
Greyline's chief executive, Marcus Oduya, said the company would not raise its offer.
The union said 81 percent of its members backed the walkout.
""",
}


@pytest.fixture(scope="module")
def three_docs(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("three-docs")
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    a = Assistant.open(root / "idx")
    a.add([root])
    return a


def _source(a: Assistant, doc: int | None) -> str | None:
    return None if doc is None else Path(a.snapshot().documents[doc].source).name


@pytest.mark.parametrize(
    ("question", "document"),
    [
        ("Who is Lumetra's chief executive?", "lumetra.txt"),
        ("How many people does Redmere employ?", "redmere.txt"),
        ("What did Oduya say about Greyline's offer?", "harbour.txt"),
        # a name no document holds is left out; the rest still decides
        ("What did Oduya tell Reuters?", "harbour.txt"),
        # no names, or names in no document: no document is singled out
        ("Who is the chief executive?", None),
        ("Who runs Zantrex?", None),
    ],
)
def test_named_document(three_docs: Assistant, question: str, document: str | None) -> None:
    assert _source(three_docs, named_document(three_docs.snapshot(), question)) == document


def test_a_name_two_documents_share_singles_out_neither(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(f"Report {name}\n\nLumetra said sales rose in the quarter, according to {name}.\n", encoding="utf-8")
    a = Assistant.open(tmp_path / "idx")
    a.add([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert named_document(a.snapshot(), "What did Lumetra say?") is None


def test_the_named_documents_passages_come_first(three_docs: Assistant) -> None:
    """Two other documents each have a sentence about "its chief executive" much like the
    question; only one document mentions Lumetra."""
    s = three_docs.settings
    question = "Who is Lumetra's chief executive?"
    r = search(three_docs.snapshot(), three_docs.embedder, question, k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
    assert Path(r.snapshot.documents[int(r.snapshot.chunk_doc[r.hits[0].chunk])].source).name == "lumetra.txt"
    answer = three_docs.ask(question)
    assert "Naomi Achterberg" in answer.answer
    assert_exact(three_docs, answer)


def test_a_question_typed_in_lower_case_names_its_document_too(three_docs: Assistant) -> None:
    """"lumetra" has no capital to mark it as a name; the passages it is found in give it one."""
    s = three_docs.settings
    r = search(three_docs.snapshot(), three_docs.embedder, "who is lumetra's chief executive", k=s.top_k, candidate_k=s.candidate_k, rrf_k=s.rrf_k)
    assert Path(r.snapshot.documents[int(r.snapshot.chunk_doc[r.hits[0].chunk])].source).name == "lumetra.txt"
    assert "Naomi Achterberg" in three_docs.ask("who is lumetra's chief executive").answer
