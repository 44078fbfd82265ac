"""Offsets must survive chunking exactly: text[start:end] is the unit, for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.chunking import chunk_sentences, fit_sentences, split_sentences


def words_count(text: str) -> int:
    return len(text.split()) + 2  # like [CLS] + pieces + [SEP]


PIECES = list("abcXYZ .!?\n\r\t,;:'\"“”’…é0123456789-") + ["Mr.", "U.S.", " the ", "\n\n", "Hello", " world"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=150).map("".join) | st.text(max_size=200)


@given(TEXT, st.integers(min_value=4, max_value=40), st.integers(min_value=0, max_value=2))
@settings(max_examples=300, deadline=None)
def test_spans_reproduce_text_for_arbitrary_input(text: str, max_tokens: int, overlap: int) -> None:
    sentences = fit_sentences(text, split_sentences(text), words_count, max_tokens)
    # Sentences are ordered, non-overlapping, trimmed and non-empty.
    prev_end = 0
    for s, e in sentences:
        assert prev_end <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()
        assert words_count(text[s:e]) <= max_tokens or len(text[s:e].split()) == 1
        prev_end = e
    # Every non-space character belongs to exactly one sentence.
    covered = set()
    for s, e in sentences:
        covered.update(range(s, e))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    chunks = chunk_sentences(text, sentences, words_count, max_tokens, overlap)
    for c in chunks:
        assert c.start == sentences[c.first_sentence][0] and c.end == sentences[c.last_sentence][1]
        assert words_count(text[c.start : c.end]) <= max_tokens or c.first_sentence == c.last_sentence
    # Chunks cover every sentence, in order.
    assert {i for c in chunks for i in range(c.first_sentence, c.last_sentence + 1)} == set(range(len(sentences)))
    assert [c.first_sentence for c in chunks] == sorted(c.first_sentence for c in chunks)


def test_sentence_boundaries_on_real_prose() -> None:
    text = (
        "Mr. Smith went to Washington. He met the U.S. envoy at 5 p.m. on Tuesday! "
        "“We’re lifting sanctions,” Coale said. Was it true?\nA new paragraph starts here"
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Mr. Smith went to Washington.",
        "He met the U.S. envoy at 5 p.m. on Tuesday!",
        "“We’re lifting sanctions,” Coale said.",
        "Was it true?",
        "A new paragraph starts here",
    ]


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("For instance, X reduces to Y. There are many types of reductions.", 2),  # a variable, then a new sentence
        ("The class is called P. This class holds the easy problems.", 2),
        ("Take vitamin C. It helps.", 2),
        ("John F. Kennedy spoke in Berlin. He left.", 2),  # initials stay inside their sentence
        ("It was written by J. K. Rowling in 1997.", 1),
        ("He met J. Smith on Monday.", 1),
    ],
)
def test_a_lone_capital_letter_is_an_initial_unless_a_sentence_follows(text: str, sentences: int) -> None:
    assert len(split_sentences(text)) == sentences, [text[a:b] for a, b in split_sentences(text)]


def test_overlong_sentence_is_split_at_whitespace_and_stays_exact() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    spans = fit_sentences(text, split_sentences(text), words_count, 50)
    assert len(spans) > 1
    assert " ".join(text[s:e] for s, e in spans) == text
    assert all(words_count(text[s:e]) <= 50 for s, e in spans)


def test_single_huge_token_is_cut_by_characters() -> None:
    text = "x" * 5000
    spans = fit_sentences(text, split_sentences(text), lambda t: len(t) // 10 + 2, 100)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(len(text[s:e]) // 10 + 2 <= 100 for s, e in spans)


def test_chunks_fit_real_model_limit_on_seed_article() -> None:
    from qa.embeddings import get_embedder
    from tests.conftest import SEED_FILE

    emb = get_embedder()
    text = SEED_FILE.read_text(encoding="utf-8")
    spans = fit_sentences(text, split_sentences(text), emb.count_tokens, 128)
    chunks = chunk_sentences(text, spans, emb.count_tokens, 128, 1)
    assert len(chunks) > 3
    assert all(emb.count_tokens(text[c.start : c.end]) <= 128 for c in chunks)
    # Overlap: consecutive chunks inside one paragraph share a sentence.
    assert any(b.first_sentence <= a.last_sentence for a, b in zip(chunks, chunks[1:]))


# Three paragraphs of a news story, one per line, as saved from a web page.
STORY = [
    "Harbour strike ends after nine weeks",
    "KESSARY — Dock workers at the port of Kessary voted on Sunday to end a strike that had lasted"
    " nine weeks, accepting a pay offer of 6.5 percent over two years and a promise that no"
    " permanent jobs would be cut before 2028. The union's general secretary, Teodora Vance, said"
    " the vote was close.",
    "Shipping lines had begun sending cargo to the rival port of Callowmere, 140 kilometres up the"
    " coast, and the company said the strike had cost it about $38 million in lost revenue. Dr."
    " Ilse Brandt, an economist, said the region would feel the loss for months.",
    "- Cranes will restart on Monday.",
    "- Ferries are not affected.",
]


def _sentences_as_words(text: str) -> list[str]:
    return [" ".join(text[s:e].split()) for s, e in split_sentences(text)]


@pytest.mark.parametrize("paragraph_gap", ["\n\n", "\n"])
@pytest.mark.parametrize("width", [60, 72, 95])
def test_hard_wrapped_text_gives_the_same_sentences_as_one_line_per_paragraph(paragraph_gap: str, width: int) -> None:
    """PDF text, e-mails and Markdown break lines in mid-sentence; a sentence must still be whole."""
    import textwrap

    one_per_line = "\n".join(STORY) + "\n"
    wrapped = paragraph_gap.join("\n".join(textwrap.wrap(p, width, break_on_hyphens=False)) for p in STORY) + "\n"
    expected = _sentences_as_words(one_per_line)
    assert len(expected) == 7  # title, 2 + 2 sentences, 2 list items
    assert _sentences_as_words(wrapped) == expected
    # Offsets still index the text as it is, line breaks and all.
    for s, e in split_sentences(wrapped):
        assert wrapped[s:e] == wrapped[s:e].strip()


def test_text_saved_one_paragraph_per_line_keeps_every_line_break() -> None:
    """A heading or a list item without a full stop never runs into the next line."""
    text = "Results\nthe council voted 5-4\nnext steps\nA new vote is due in May.\n"
    assert _sentences_as_words(text) == ["Results", "the council voted 5-4", "next steps", "A new vote is due in May."]


def test_a_paragraph_break_in_wrapped_text_still_closes_a_chunk() -> None:
    import textwrap

    wrapped = "\n\n".join("\n".join(textwrap.wrap(p, 72)) for p in STORY[1:3])
    sentences = split_sentences(wrapped)
    chunks = chunk_sentences(wrapped, sentences, words_count, max_tokens=100, overlap_sentences=1)
    # Two paragraphs of two sentences: the first chunk ends with the first paragraph, no overlap.
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(0, 1), (2, 3)]
