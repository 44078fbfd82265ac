"""Spacing and polite framing around a question do not change what it asks (qa/phrasing.py)."""

from __future__ import annotations

import pytest

from qa import Assistant
from qa.answerers.features import question_type
from qa.phrasing import asked_part, plain
from tests.test_answering import assert_exact


@pytest.mark.parametrize(
    "typed, read",
    [
        ("  Who  won\tthe vote?\n", "Who won the vote?"),
        ("Hi! Can you tell me who won the vote? Thanks!", "Who won the vote?"),
        ("hello there, could you please tell me when the bridge opens", "When the bridge opens"),
        ("I’d like to know: how many people live there?", "How many people live there?"),
        ("Quick question: where is the wreck?", "Where is the wreck?"),
        ("Who won, please?", "Who won?"),
        ("Thanks! And how old is he?", "And how old is he?"),
        ("OK, thanks. Where was he?", "Where was he?"),
        ("Got it. When did it happen?", "When did it happen?"),
        ("Q: Who won the vote?", "Who won the vote?"),
        ("2) Who won the vote?", "Who won the vote?"),
        ("Question 3: who won the vote?", "Who won the vote?"),
        ("(a) Who won the vote?", "Who won the vote?"),
        ("2020 was a good year for whom?", "2020 was a good year for whom?"),
        ("Do you know whether the mayor resigned?", "Whether the mayor resigned?"),
        # Left alone: no question word after the request, thanks inside the question, a lone word.
        ("Tell me about the vote", "Tell me about the vote"),
        ("Thanks to whom did it reopen?", "Thanks to whom did it reopen?"),
        ("What did the mayor thank residents for?", "What did the mayor thank residents for?"),
        ("So what did Coale say?", "So what did Coale say?"),
        ("Please", "Please"),
    ],
)
def test_spacing_greetings_requests_and_thanks_are_removed(typed: str, read: str) -> None:
    assert plain(typed) == read


@pytest.mark.parametrize(
    "question, asked, qtype",
    [
        ("I read that the bridge will cost $48 million. Who voted against it?", "Who voted against it?", "who"),
        ("Please answer this question. When did it open?", "When did it open?", "when"),
        ("Who won? And by how much?", "And by how much?", "number"),
        ("How old is Dr. Marisol Quenby?", "How old is Dr. Marisol Quenby?", "number"),  # one sentence
    ],
)
def test_the_sentence_that_asks_sets_the_kind_of_answer(question: str, asked: str, qtype: str) -> None:
    assert asked_part(question) == asked
    assert question_type(question) == qtype


def test_a_framed_question_gets_the_answer_of_the_plain_one(seed_assistant: Assistant) -> None:
    direct = seed_assistant.ask("Who is Coale?")
    for typed in ("  Who is   Coale? ", "Hi! Can you tell me who is Coale? Thanks", "I am reading the interview. Who is Coale?"):
        framed = seed_assistant.ask(typed)
        assert framed.answer == direct.answer and "special envoy" in framed.answer
        assert framed.question == typed.strip()  # the user's words are kept
        assert_exact(seed_assistant, framed)
    # Only a word read otherwise is worth a note, not spacing or framing set aside.
    assert seed_assistant.ask("  Who is   Coale? ").read_as == ""
    assert seed_assistant.ask("Hi! Can you tell me who is Coale? Thanks").read_as == ""
    assert seed_assistant.ask("Hi! Can you tell me who is Coael?").read_as == "Who is Coale?"


def test_what_a_question_says_first_is_searched_for_when_it_names_something(seed_assistant: Assistant) -> None:
    """"Coale met Lukashenko on Saturday. What did he say about prisoners?": "he" is the
    preamble's Coale; a preamble that names nothing ("I have a question.") is left out of
    the search, so it changes nothing."""
    plain_answer = seed_assistant.ask("What did Coale say about prisoners?").answer
    assert seed_assistant.ask("Coale met Lukashenko on Saturday. What did he say about prisoners?").answer == plain_answer
    assert seed_assistant.ask("I have a question. What did Coale say about prisoners?").answer == plain_answer
    # The same passages as for the question alone: the preamble's words are not searched for.
    passages = [(p.start, p.end) for p in seed_assistant.ask("What did Coale say about prisoners?").passages]
    framed = seed_assistant.ask("I'm reading the article about this, it is long. What did Coale say about prisoners?")
    assert [(p.start, p.end) for p in framed.passages] == passages and framed.answer == plain_answer
