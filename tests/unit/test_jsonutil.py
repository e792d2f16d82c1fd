"""JSON as stored: exact big integers, nulls for non-finite floats, complex as pairs."""

from __future__ import annotations

import json

from pipeline.jsonutil import dumps, loads


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    header = {"BIGINT": 123456789012345678901234567890, "NAN": float("nan"), "X": [1.5, 2]}
    text = dumps(header)
    assert json.loads(text) == {
        "BIGINT": 123456789012345678901234567890,
        "NAN": None,
        "X": [1.5, 2],
    }
    assert loads(text)["BIGINT"] == 123456789012345678901234567890


def test_complex_and_non_finite_values() -> None:
    assert json.loads(dumps({"Z": complex(1, -2), "I": float("inf")})) == {
        "Z": [1.0, -2.0],
        "I": None,
    }
