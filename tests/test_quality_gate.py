"""CI gate: the default answerer on the public seed eval set, and on the two unseen sets
(``eval/dev``, ``eval/genres``, never trained on) and the identity questions about their
documents (``eval/identity``), must not regress.

Floors start at the values measured when they were recorded (see README, "Measuring
citation accuracy") less a small margin for numeric noise between embedding backends;
raise them when the answerer improves, never lower them to make a change pass.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qa import Assistant
from qa.evaluation import evaluate, load_gold
from tests.conftest import REPO
from tests.formats import convert
from tests.typos import with_typos

# (gold set, metric) -> floor / ceiling.
# Fourteenth session (follow-up features, 2026-11-28): seed 0.651 / 0.606 / 0.635 / 0.417 /
# 0.063; dev 0.706 / 0.641 / 0.699 / 0.427 / 0.037; genres 0.687 / 0.625 / 0.685 / 0.382 /
# 0.040 (accuracy / precision / recall / abstention / false abstention); floors unchanged.
# Fifteenth session (referent_missing, threshold 0.46): seed unchanged; dev 0.711 / 0.643 /
# 0.704 / 0.417 / 0.035; genres 0.687 / 0.623 / 0.685 / 0.375 / 0.039; floors unchanged.
# seed: eval/seed.jsonl over seeds/ (measured on 2026-11-28, twelfth session, after the
# answer-subject answerability feature and the spelling step: accuracy 0.651, precision
# 0.597, recall 0.635, abstention 0.333, false abstention 0.063, recall@5 1.0; unchanged
# since the eleventh).
# dev: eval/dev (12 unseen articles, 528 questions), measured the same day: accuracy 0.697,
# precision 0.631, recall 0.690, abstention 0.417, false abstention 0.037, recall@5 0.956
# (0.690 / 0.622 / 0.683 / 0.365 / 0.044 at the session's start).
# genres: eval/genres (18 unseen documents of six genres, 792 questions): accuracy 0.682,
# precision 0.620, recall 0.681, abstention 0.375, false abstention 0.042, recall@5 0.920
# (0.684 / 0.618 / 0.682 / 0.368 / 0.037 at the session's start).
# dev-typos: eval/dev with one typing mistake per question (tests/typos.py): accuracy 0.690,
# precision 0.624, abstention 0.417, false abstention 0.035 (0.542 / 0.564 / 0.479 / 0.181
# without qa/spelling.py).
# dev-capitals: eval/dev typed in capitals (caps lock), measured the same day: accuracy 0.697,
# precision 0.627, abstention 0.385, false abstention 0.037 (0.604 / 0.629 / 0.406 / 0.183
# before questions in capitals were read in lower case).
# dev-chat: eval/dev with a greeting, a request ("Can you tell me ..."), thanks, loose
# spacing or a sentence of its own before each question (chatty() below): accuracy 0.697,
# precision 0.631, abstention 0.417, false abstention 0.037, as asked plainly (0.688 / 0.612 /
# 0.396 / 0.026 before the asking sentence was read apart; with the first four framings
# only, 0.678 / 0.612 / 0.365 / 0.044 before qa/phrasing.py).
# dev-printed / genres-wrapped: the same documents as PDFs printed from a browser (typeset
# lines, date and title above each page, address and page number below, page breaks in
# mid-paragraph), and as text wrapped at 72 columns (tests/formats.py), measured on
# 2026-11-28 (thirteenth session): dev-printed accuracy 0.699, precision 0.635, false
# abstention 0.042; genres-wrapped 0.682, 0.620, 0.042. When every line break ended a
# sentence, plain typeset PDFs of eval/dev were answered with accuracy 0.551 and the wrapped
# eval/genres with 0.454; with sentences whole but the page furniture left in, the printed
# copies of eval/dev with 0.667.
# genres-hyphenated: eval/genres as PDFs whose long words are hyphenated at line ends,
# measured the same day: accuracy 0.691, precision 0.627, recall 0.688, false abstention
# 0.042 (accuracy 0.681 before split words were read whole).
FLOORS = {
    "seed": {
        "answer_accuracy": 0.64,
        "citation_precision": 0.56,
        "citation_recall": 0.62,
        "abstention": 0.15,
        "retrieval_recall_at_5": 0.95,
    },
    "dev": {
        "answer_accuracy": 0.67,
        "citation_precision": 0.60,
        "citation_recall": 0.66,
        "abstention": 0.38,
        "retrieval_recall_at_5": 0.94,
    },
    "dev-typos": {"answer_accuracy": 0.67, "citation_precision": 0.60, "abstention": 0.38},
    "dev-capitals": {"answer_accuracy": 0.67, "citation_precision": 0.60, "abstention": 0.35},
    "dev-chat": {"answer_accuracy": 0.67, "citation_precision": 0.60, "abstention": 0.38},
    "dev-printed": {"answer_accuracy": 0.67, "citation_precision": 0.60, "citation_recall": 0.66},
    "genres-wrapped": {"answer_accuracy": 0.66, "citation_precision": 0.59, "citation_recall": 0.66},
    "genres-hyphenated": {"answer_accuracy": 0.67, "citation_precision": 0.59, "citation_recall": 0.66},
    "genres": {
        "answer_accuracy": 0.66,
        "citation_precision": 0.59,
        "citation_recall": 0.66,
        "abstention": 0.33,
        "retrieval_recall_at_5": 0.90,
    },
}
# Identity questions ("Who is Okonjo?") about the same unseen documents (eval/identity),
# measured on 2026-11-27: dev accuracy 0.979, precision 0.979, abstention 1.0, false
# abstention 0.0; genres 0.875, 0.889, 1.0, 0.0.
FLOORS |= {
    "identity-dev": {"answer_accuracy": 0.95, "citation_precision": 0.95, "abstention": 0.99},
    "identity-genres": {"answer_accuracy": 0.85, "citation_precision": 0.86, "abstention": 0.99},
}
# The seed false-abstention ceiling was 0.06 until the eleventh session's named-document
# retrieval: its refit moved the default threshold (the training script's held-out rule,
# issue 4) from 0.42 to 0.45, one point along the same curve: with abstention off, accuracy
# on seed / dev / genres stayed 0.698 / 0.713 and rose 0.684 -> 0.698, and the dev and genres
# abstention rose 0.354 -> 0.375 and 0.333 -> 0.368 (floors raised with them). The seed
# article's false abstention went 0.048 -> 0.063 (one question); dev's went 0.042 -> 0.056 and,
# after the any-currency money pattern, back to 0.044, so its ceiling stays 0.05.
CEILINGS = {
    "seed": {"false_abstention": 0.07}, "dev": {"false_abstention": 0.05}, "genres": {"false_abstention": 0.05},
    "dev-typos": {"false_abstention": 0.05}, "dev-capitals": {"false_abstention": 0.05},
    "dev-chat": {"false_abstention": 0.05},
    "dev-printed": {"false_abstention": 0.05}, "genres-wrapped": {"false_abstention": 0.05},
    "genres-hyphenated": {"false_abstention": 0.05},
    "identity-dev": {"false_abstention": 0.03}, "identity-genres": {"false_abstention": 0.03},
}
UNSEEN = {"dev": REPO / "eval" / "dev", "genres": REPO / "eval" / "genres"}
FORMATS = {"dev-printed": "printed-pdf", "genres-wrapped": "wrapped", "genres-hyphenated": "hyphenated-pdf"}


def chatty(question: str, i: int) -> str:
    """The question as typed in a chat: with a greeting, inside a request, with thanks, loosely
    spaced, or after a sentence of its own."""
    framings = (
        lambda q: "Hi! " + q,
        lambda q: "Can you tell me " + q[0].lower() + q[1:],
        lambda q: q + " Thanks!",
        lambda q: "  " + q.replace(" ", "  ") + "\n",
        lambda q: "I'm reading the article about this. " + q,
    )
    return framings[i % len(framings)](question)


@pytest.fixture(scope="module")
def results(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = {"seed": evaluate(Assistant.open(seed_index, create=False), load_gold(REPO / "eval" / "seed.jsonl"))}
    for name, folder in UNSEEN.items():
        assistant = Assistant.open(tmp_path_factory.mktemp(name) / "idx")
        assistant.add([folder / "docs"])
        gold = load_gold(folder / "questions.jsonl")
        out[name] = evaluate(assistant, gold)
        if name == "dev":
            slipped = with_typos([g.question for g in gold])
            out["dev-typos"] = evaluate(assistant, [replace(g, question=q) for g, q in zip(gold, slipped)])
            out["dev-capitals"] = evaluate(assistant, [replace(g, question=g.question.upper()) for g in gold])
            out["dev-chat"] = evaluate(assistant, [replace(g, question=chatty(g.question, i)) for i, g in enumerate(gold)])
        out[f"identity-{name}"] = evaluate(assistant, load_gold(REPO / "eval" / "identity" / f"{name}.jsonl"))
    for name, kind in FORMATS.items():
        folder = UNSEEN[name.split("-")[0]]
        tmp = tmp_path_factory.mktemp(name)
        gold = convert(kind, load_gold(folder / "questions.jsonl"), folder / "docs", tmp)
        assistant = Assistant.open(tmp / "idx")
        assistant.add([tmp / "docs"])
        out[name] = evaluate(assistant, gold)
    return out


@pytest.mark.parametrize("gold", ["seed", *UNSEEN, "dev-typos", "dev-capitals", "dev-chat", *FORMATS, *(f"identity-{name}" for name in UNSEEN)])
def test_citation_integrity_is_perfect(results, gold: str) -> None:
    overall = results[gold].overall
    assert overall["citation_integrity"] == 1.0
    assert overall["sentence_support"] == 1.0  # verbatim quotes, cut as the evaluation cuts them
    assert overall["errors"] == 0


@pytest.mark.parametrize("gold, metric, floor", [(g, m, f) for g, fl in FLOORS.items() for m, f in sorted(fl.items())])
def test_quality_floor(results, gold: str, metric: str, floor: float) -> None:
    value = results[gold].overall[metric]
    assert value is not None and value >= floor, f"{gold}: {metric} fell to {value:.3f} (floor {floor})"


@pytest.mark.parametrize("gold, metric, ceiling", [(g, m, c) for g, cl in CEILINGS.items() for m, c in sorted(cl.items())])
def test_quality_ceiling(results, gold: str, metric: str, ceiling: float) -> None:
    value = results[gold].overall[metric]
    assert value is not None and value <= ceiling, f"{gold}: {metric} rose to {value:.3f} (ceiling {ceiling})"
