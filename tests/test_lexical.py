"""Word folding and stemming: the fast paths must agree with the plain definition."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from qa.lexical import content_stems, fold


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
