"""Word folding and stemming: the fast paths must agree with the plain definition."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.lexical import content_stems, dehyphenate, fold, one_line, unmark


def reference_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_fold_matches_nfkd_without_combining_marks(text: str) -> None:
    assert fold(text) == reference_fold(text)


def test_fold_examples() -> None:
    assert fold("Nicolás Maduro’s ÅNGSTRÖM ﬁne e\u0301") == "nicolas maduro’s angstrom fine e"
    assert content_stems("Nicolás was elected") == content_stems("nicolas elected")


@pytest.mark.parametrize(
    "text, whole",
    [
        ("the inter-\nnational fund", "the international fund"),  # the joined word is common
        ("Val-\ndria is", "Valdria is"),  # a part is no word: a name split by typesetting
        ("the sig-\r\nnalling system", "the signalling system"),
        ("a long-\nterm plan", "a long-term plan"),  # two words, rare joined: a compound
        ("self-\ninflicted", "self-inflicted"),
        ("2019-\n2020", "2019-\n2020"),  # numbers, and a capital after the break, are left alone
        ("a split-\nHere", "a split-\nHere"),
        ("no break-even here", "no break-even here"),
    ],
)
def test_words_split_across_lines_are_made_whole(text: str, whole: str) -> None:
    assert dehyphenate(text) == whole


def test_tokens_and_shown_text_read_split_words_whole() -> None:
    assert content_stems("an inter-\nnational fund") == content_stems("an international fund")
    assert one_line("an inter-\nnational\n  fund") == "an international fund"


@pytest.mark.parametrize(
    "text, read",
    [
        ("KESSARY — [Morvane Telecom](https://ledger.example/people/morvane) has agreed", "KESSARY — Morvane Telecom has agreed"),
        ("see [the report](http://x.org/a_(b) \"Title\") now", "see the report now"),
        ("said **Tobias Renwick** and *Annika* on `Monday`", "said Tobias Renwick and Annika on Monday"),
        ("# Harbour strike ends", "Harbour strike ends"),
        # Not markup: arithmetic, identifiers, hashtags, footnote stars.
        ("5 * 3 = 15 and 2*3*4", "5 * 3 = 15 and 2*3*4"),
        ("the __init__ file, the #1 seed, C# code", "the __init__ file, the #1 seed, C# code"),
        ("Footnote*: see below*", "Footnote*: see below*"),
    ],
)
def test_markdown_markup_is_read_as_its_words(text: str, read: str) -> None:
    assert unmark(text) == read


def test_a_link_address_is_no_word_of_the_text() -> None:
    assert content_stems("[Tobias Renwick](https://ledger.example/people/renwick) said") == content_stems("Tobias Renwick said")
