"""A question typed in lower case gets back the capitals of the names in it, from the passages
retrieved for it, so that "who is coale" is answered like "Who is Coale?"."""

from __future__ import annotations

from qa import Assistant
from qa.truecase import truecase, unshout
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


def test_a_question_in_capitals_is_read_in_lower_case() -> None:
    assert unshout("WHAT DID COALE SAY ABOUT PRISONERS?") == "what did coale say about prisoners?"
    assert unshout("What did Coale say?") == "What did Coale say?"
    assert unshout("NATO?") == "NATO?"  # one word: an acronym, not shouting


def test_a_question_typed_in_capitals_gets_the_answer_it_gets_in_lower_case(seed_assistant: Assistant) -> None:
    """In capitals every word looks like a name the answer must mention."""
    shouted = seed_assistant.ask("WHO IS COALE?")
    assert "Trump’s special envoy for Belarus John Coale" in shouted.answer
    assert shouted.answer == seed_assistant.ask("who is coale?").answer
    assert shouted.question == "WHO IS COALE?" and shouted.read_as == ""
    assert_exact(seed_assistant, shouted)
