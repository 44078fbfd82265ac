"""A question typed in lower case gets back the capitals of the names in it, from the passages
retrieved for it, so that "who is coale" is answered like "Who is Coale?"."""

from __future__ import annotations

from qa import Assistant
from qa.truecase import truecase
from tests.test_answering import assert_exact

TEXTS = [
    "The interview follows a meeting with Trump’s special envoy John Coale. Coale said prisoners were freed.",
    "The Belarusian “president” spoke to Newsmax. President Donald Trump did not comment.\nLakes froze early.",
]


def test_names_get_their_capitals_back() -> None:
    assert truecase("who is coale", TEXTS) == "Who is Coale"
    assert truecase("what did coale tell newsmax?", TEXTS) == "What did Coale tell Newsmax?"


def test_a_possessive_is_looked_up_without_its_s() -> None:
    # the passages say "Coale", never "Coale's"
    assert truecase("what was coale's message?", TEXTS) == "What was Coale's message?"
    assert truecase("what was coale’s message?", TEXTS) == "What was Coale’s message?"


def test_words_the_documents_also_write_in_lower_case_stay() -> None:
    assert truecase("what did the president say", TEXTS) == "what did the president say"


def test_a_capital_only_at_the_start_of_a_sentence_proves_nothing() -> None:
    assert truecase("why did lakes freeze", TEXTS) == "why did lakes freeze"


def test_a_question_with_capitals_is_left_alone() -> None:
    assert truecase("What did Coale tell newsmax?", TEXTS) == "What did Coale tell newsmax?"
    assert truecase("What did coale say?", TEXTS) == "What did Coale say?"  # only the first letter: typed in lower case
    assert truecase("who is wystan coldicott", TEXTS) == "who is wystan coldicott"  # no passage names him


def test_a_lower_case_identity_question(seed_assistant: Assistant) -> None:
    answer = seed_assistant.ask("who is coale")
    assert "Trump’s special envoy for Belarus John Coale" in answer.answer
    assert answer.question == "who is coale"  # the user's words are kept
    assert_exact(seed_assistant, answer)
