"""CI gate: the default answerer on the public seed eval set must not regress.

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
