"""Typing mistakes in questions are read as the documents' words (qa/spelling.py), and only those."""

from __future__ import annotations

import pytest

from qa.answerers.extractive import sentence_df
from qa.chain import read_question, read_turn
from qa.spelling import correct, nearest
from tests.conftest import one_document_assistant

TEXT = (
    "Harbour council approves sea wall\n\n"
    "PELLWICK — The Pellwick harbour council voted on Tuesday to build a 1.2-kilometre sea wall, "
    "the town's largest project since the lighthouse was restored in 1998.\n"
    "Councillor Ingrid Marchbank, who chairs the works committee, said the wall would cost £14 million.\n"
    "She said the military engineers who surveyed the coast had warned that the old barrier might not survive another winter.\n"
    "The council caved to pressure from fishermen, who had petitioned for the wall since 2019.\n"
)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory):
    return one_document_assistant(tmp_path_factory, "pellwick.txt", TEXT)


def test_a_slip_is_read_as_the_documents_word(assistant) -> None:
    snap = assistant.snapshot()
    assert read_question("How much will the sea wal cost, according to Marchbnak?", snap) == (
        "How much will the sea wal cost, according to Marchbank?"  # "wal": three letters, too short to guess
    )
    assert read_question("What did the miliatry engineers warn?", snap) == "What did the military engineers warn?"
    assert read_question("what did marhcbank say about the barreir", snap) == "what did marchbank say about the barrier"
    # A question in capitals is read in lower case first (qa.truecase.unshout), then corrected.
    assert read_question("WHEN WAS THE LIGHTHUOSE RESTORED?", snap) == "when was the lighthouse restored?"
    assert read_question("What is Marchbnak's role?", snap) == "What is Marchbank's role?"


@pytest.mark.parametrize(
    "question",
    [
        "How much will the sea wall cost?",  # every word is the documents'
        "What is Marchbank's salary?",  # an English word the documents never use: maybe unanswerable, not a slip
        "What is the qualitative effect of the wall?",  # one edit from nothing here, and a word anyway
        "Why did the councillors cave?",  # an inflection of the documents' word
    ],
)
def test_words_something_vouches_for_are_left_alone(assistant, question: str) -> None:
    assert read_question(question, assistant.snapshot()) == question


def test_an_unknown_word_with_no_near_neighbour_is_left_alone(assistant) -> None:
    snap = assistant.snapshot()
    df, _ = sentence_df(snap)
    assert correct("What did Okonkwo say?", snap, df) == "What did Okonkwo say?"


def test_nearest_prefers_fewer_edits_then_the_more_frequent_word() -> None:
    vocab = {"m": [("military", 3), ("militia", 9), ("ministry", 1)]}
    assert nearest("miliatry", vocab) == "military"  # a swap is one edit; "ministry" is two
    assert nearest("militai", vocab) == "militia"
    assert nearest("xylophne", vocab) is None  # no word with its first letter
    assert nearest("mxxxxxxx", vocab) is None  # nothing close


def test_the_answer_keeps_the_question_as_asked_and_says_how_it_was_read(assistant) -> None:
    wrong = assistant.ask("How much will the sea wall cost, according to Marchbnak?")
    right = assistant.ask("How much will the sea wall cost, according to Marchbank?")
    assert wrong.question == "How much will the sea wall cost, according to Marchbnak?"
    assert wrong.read_as == "How much will the sea wall cost, according to Marchbank?"
    assert right.read_as == ""
    assert not wrong.abstained and "£14 million" in wrong.answer
    assert wrong.answer == right.answer and [c.start for c in wrong.citations] == [c.start for c in right.citations]
    assert wrong.to_dict()["read_as"] == wrong.read_as


def test_a_follow_up_borrows_the_previous_question_as_read(assistant) -> None:
    """"And since when?" borrows the previous question's words for retrieval: a slip there
    would cost the follow-up the same word."""
    question, history = read_turn("And since when?", [("What did the fishremen petition for?", "A sea wall.")], assistant.snapshot())
    assert question == "And since when?"
    assert history == [("What did the fishermen petition for?", "A sea wall.")]


def test_the_evaluation_report_shows_how_a_question_was_read(assistant, tmp_path) -> None:
    import json

    from qa.evaluation import GoldItem, evaluate, write_reports

    gold = [GoldItem(id="t1", question="How much will the sea wall cost, according to Marchbnak?", answers=["£20 million"])]
    result = evaluate(assistant, gold)  # a wrong gold answer, so the question is listed as failed
    write_reports(result, tmp_path)
    q = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["questions"][0]
    assert q["question"] == gold[0].question
    assert q["read_as"] == "How much will the sea wall cost, according to Marchbank?"
    assert "**read as**: How much will the sea wall cost, according to Marchbank?" in (tmp_path / "report.md").read_text(encoding="utf-8")
