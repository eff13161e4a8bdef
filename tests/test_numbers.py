"""Numbers in ratings and durations, from tests/sentences/numbers_en.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from voicecoach.numbers import number_words, parse_minutes, parse_number

DATA = yaml.safe_load((Path(__file__).parent / "sentences" / "numbers_en.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", DATA["numbers"], ids=[c["text"] for c in DATA["numbers"]])
def test_rating(case):
    scale = tuple(case.get("scale", (0, 10)))
    assert parse_number(case["text"], scale) == case["value"]


@pytest.mark.parametrize("case", DATA["minutes"], ids=[c["text"] for c in DATA["minutes"]])
def test_minutes(case):
    assert parse_minutes(case["text"]) == case["value"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100))
def test_words_read_back(n):
    assert parse_number(number_words(n), (0, 100)) == n
    assert parse_number(f"about {n} percent", (0, 100)) == n


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_never_raises(text):
    n = parse_number(text)
    assert n is None or 0 <= n <= 10
