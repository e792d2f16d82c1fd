"""JSON as stored: exact big integers, nulls for non-finite floats, complex as pairs."""

from __future__ import annotations

import json

from pipeline.jsonutil import dumps, loads, loads_small_numbers


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


def test_small_numbers_read_as_the_careful_path_reads_them() -> None:
    footprint = "[[326.28501404154366,-45.124951756065826],[1e-05,-0.0]]"
    assert loads_small_numbers(footprint) == loads(footprint)
    assert loads_small_numbers("[4096, 2048, 3]") == [4096, 2048, 3]
    assert loads_small_numbers(None) is None
    assert loads_small_numbers([1.5]) == [1.5]  # already parsed (a JSONB column): as it is
    # What it must not be given: the careful path keeps a 20-digit integer exact.
    assert loads("[12345678901234567890123]") == [12345678901234567890123]
    assert loads_small_numbers("[12345678901234567890123]") != [12345678901234567890123]
