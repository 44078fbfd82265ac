"""CI gate: the default answerer on the public seed eval set, and on the unseen-article
development set (``eval/dev``, never trained on), must not regress.

Floors start at the values measured when they were recorded (see README, "Measuring
citation accuracy") less a small margin for numeric noise between embedding backends;
raise them when the answerer improves, never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Assistant
from qa.evaluation import evaluate, load_gold
from tests.conftest import REPO

FLOORS = {
    "answer_accuracy": 0.64,
    "citation_precision": 0.56,
    "citation_recall": 0.62,
    "abstention": 0.15,
    "retrieval_recall_at_5": 0.95,
}
CEILINGS = {"false_abstention": 0.06}
# eval/dev (12 articles, 528 questions), measured on 2026-11-27: accuracy 0.662, precision
# 0.584, recall 0.655, abstention 0.250, false abstention 0.044, recall@5 0.947.
DEV_FLOORS = {
    "answer_accuracy": 0.64,
    "citation_precision": 0.56,
    "citation_recall": 0.63,
    "abstention": 0.21,
    "retrieval_recall_at_5": 0.93,
}
DEV_CEILINGS = {"false_abstention": 0.06}
DEV = REPO / "eval" / "dev"


@pytest.fixture(scope="module")
def seed_result(seed_index: Path):
    return evaluate(Assistant.open(seed_index, create=False), load_gold(REPO / "eval" / "seed.jsonl"))


def test_citation_integrity_is_perfect(seed_result) -> None:
    assert seed_result.overall["citation_integrity"] == 1.0
    assert seed_result.overall["errors"] == 0


@pytest.mark.parametrize("metric, floor", sorted(FLOORS.items()))
def test_quality_floor(seed_result, metric: str, floor: float) -> None:
    value = seed_result.overall[metric]
    assert value is not None and value >= floor, f"{metric} fell to {value:.3f} (floor {floor})"


@pytest.mark.parametrize("metric, ceiling", sorted(CEILINGS.items()))
def test_quality_ceiling(seed_result, metric: str, ceiling: float) -> None:
    value = seed_result.overall[metric]
    assert value is not None and value <= ceiling, f"{metric} rose to {value:.3f} (ceiling {ceiling})"


@pytest.fixture(scope="module")
def dev_result(tmp_path_factory: pytest.TempPathFactory):
    assistant = Assistant.open(tmp_path_factory.mktemp("dev") / "idx")
    assistant.add([DEV / "docs"])
    return evaluate(assistant, load_gold(DEV / "questions.jsonl"))


def test_dev_citation_integrity_is_perfect(dev_result) -> None:
    assert dev_result.overall["citation_integrity"] == 1.0
    assert dev_result.overall["sentence_support"] == 1.0  # verbatim quotes, cut as the evaluation cuts them
    assert dev_result.overall["errors"] == 0


@pytest.mark.parametrize("metric, floor", sorted(DEV_FLOORS.items()))
def test_dev_quality_floor(dev_result, metric: str, floor: float) -> None:
    value = dev_result.overall[metric]
    assert value is not None and value >= floor, f"eval/dev: {metric} fell to {value:.3f} (floor {floor})"


@pytest.mark.parametrize("metric, ceiling", sorted(DEV_CEILINGS.items()))
def test_dev_quality_ceiling(dev_result, metric: str, ceiling: float) -> None:
    value = dev_result.overall[metric]
    assert value is not None and value <= ceiling, f"eval/dev: {metric} rose to {value:.3f} (ceiling {ceiling})"
