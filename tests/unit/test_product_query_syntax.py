"""The search syntax: header conditions, names, times and cones, valid and not."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ValidationError
from pipeline.search import (
    ConditionError,
    Cone,
    HeaderCondition,
    NameMatch,
    Operator,
    build_search,
    parse_condition,
    parse_instant,
)
from pipeline.search.conditions import CONDITION_PATTERN, MAX_CONDITION_LENGTH
from pipeline.search.criteria import MAX_CONDITIONS


@pytest.mark.parametrize(
    ("text", "keyword", "operator", "value"),
    [
        ("EXPTIME>300", "EXPTIME", Operator.GT, 300),
        ("EXPTIME > 300.5", "EXPTIME", Operator.GT, 300.5),
        ("exptime>=1e3", "EXPTIME", Operator.GE, 1000.0),
        ("GAIN<=1.5D0", "GAIN", Operator.LE, 1.5),
        ("CCDTEMP<-100", "CCDTEMP", Operator.LT, -100),
        ("AIRMASS<=1.5", "AIRMASS", Operator.LE, 1.5),
        ("ZEROPT=.5", "ZEROPT", Operator.EQ, 0.5),
        ("OBJECT=M31", "OBJECT", Operator.EQ, "M31"),
        ("OBJECT = NGC 1234 ", "OBJECT", Operator.EQ, "NGC 1234"),
        ("OBJECT='M 31  '", "OBJECT", Operator.EQ, "M 31"),
        ("OBSERVER='M. O''Connor'", "OBSERVER", Operator.EQ, "M. O'Connor"),
        ("OBSERVER=M. O'Connor", "OBSERVER", Operator.EQ, "M. O'Connor"),
        ('OBJECT="say ""hi"""', "OBJECT", Operator.EQ, 'say "hi"'),
        ("OBSID='0042'", "OBSID", Operator.EQ, "0042"),
        ("OBJECT='T'", "OBJECT", Operator.EQ, "T"),
        ("OBJECT=''", "OBJECT", Operator.EQ, ""),
        ("IMAGETYP!=bias", "IMAGETYP", Operator.NE, "bias"),
        ("DATE-OBS>=2020-01-01", "DATE-OBS", Operator.GE, "2020-01-01"),
        ("GUIDING=T", "GUIDING", Operator.EQ, True),
        ("PHOTOMET!=false", "PHOTOMET", Operator.NE, False),
        ("ESO DET DIT>10", "ESO DET DIT", Operator.GT, 10),
        ("HIERARCH ESO DET DIT>10", "ESO DET DIT", Operator.GT, 10),
        ("hierarch eso ins filt1 name=R_SPECIAL", "ESO INS FILT1 NAME", Operator.EQ, "R_SPECIAL"),
        ("ESO.TPL.ID=x", "ESO.TPL.ID", Operator.EQ, "x"),
        ("EXPTIME=nan", "EXPTIME", Operator.EQ, "nan"),
        ("BIG=9223372036854775807", "BIG", Operator.EQ, 2**63 - 1),
        ("BIG=9223372036854775808", "BIG", Operator.EQ, 2.0**63),
        ("HUGE<1e999", "HUGE", Operator.LT, float("inf")),
        ("GUIDING>F", "GUIDING", Operator.GT, False),
        ("COMMENT=x", "COMMENT", Operator.EQ, "x"),
        ("HIERARCH>3", "HIERARCH", Operator.GT, 3),
        ("OBJECT=a\tb", "OBJECT", Operator.EQ, "a\tb"),
        ("OBJECT=1 OR 1=1", "OBJECT", Operator.EQ, "1 OR 1=1"),
        ("  A  >=  'x'  ", "A", Operator.GE, "x"),
    ],
)
def test_valid_conditions(text: str, keyword: str, operator: Operator, value: object) -> None:
    condition = parse_condition(text)
    assert condition == HeaderCondition(keyword, operator, value)  # type: ignore[arg-type]
    assert type(condition.value) is type(value)
    # The canonical form reads back as the same condition (infinity has no literal).
    if condition.value != float("inf"):
        assert parse_condition(str(condition)) == condition


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("EXPTIME", "no operator"),
        ("", "no operator"),
        (">300", "keyword is missing"),
        ("HIERARCH  A>3", "not a keyword"),
        ("EXPTIME>", "value is missing"),
        ("EXPTIME>>3", "unknown operator '>>'"),
        ("EXPTIME==3", "unknown operator '=='"),
        ("EXPTIME<>3", "unknown operator '<>'"),
        ("EXPTIME=<3", "unknown operator '=<'"),
        ("EXPTIME!3", "unknown operator"),
        ("EXP TIME$=3", "not a keyword"),
        ("EXP  TIME=3", "not a keyword"),
        ("EXP'TIME=3", "not a keyword"),
        ('K"=3', "not a keyword"),
        ("OBJECT='M31", "not closed"),
        ("OBJECT='M'31'", "not closed"),
        ("OBJECT=' UNION SELECT 1 --", "not closed"),
        ("OBJECT=M31\x00", "NUL"),
        ("X=" + "a" * MAX_CONDITION_LENGTH, "longer than"),
    ],
)
def test_invalid_conditions(text: str, problem: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(problem)):
        parse_condition(text)
    too_long = len(text) > MAX_CONDITION_LENGTH  # maxLength says so in the schema
    assert too_long or re.fullmatch(CONDITION_PATTERN, text) is None


@pytest.mark.parametrize(
    "attempt",
    [
        "OBJECT='x'' OR 1=1 --'",
        "OBJECT=x'); DROP TABLE products; --",
        'OBJECT="$.""x"" || 1"',
        "OBJECT=$$ || pg_sleep(10) $$",
        "OBJECT=:object",
        "OBJECT=?",
        "OBJECT=x' UNION SELECT * FROM jobs --",
        "OBJECT=1 OR 1=1",
    ],
)
def test_injection_attempts_are_text_values(attempt: str) -> None:
    condition = parse_condition(attempt)
    assert condition.keyword == "OBJECT" and isinstance(condition.value, str)


@pytest.mark.parametrize(
    "keyword", ["OBJECT' OR '1'='1", 'A"B', "A;B", "A)--", "$.x", "A\\B", "A/*B*/"]
)
def test_keywords_cannot_carry_sql_or_json_paths(keyword: str) -> None:
    with pytest.raises(ConditionError):
        parse_condition(f"{keyword}=1")


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.from_regex(CONDITION_PATTERN, fullmatch=True)))
def test_the_published_pattern_is_exactly_the_syntax(text: str) -> None:
    """What the API's schema admits is exactly what parses: no 400 for a valid request."""
    published = re.fullmatch(CONDITION_PATTERN, text) is not None and len(text) <= 200
    try:
        condition = parse_condition(text)
    except ConditionError:
        assert not published, text
        return
    assert published, text
    assert condition.keyword and all(c.isalnum() or c in " _-." for c in condition.keyword)


# --- names, times, cones ---------------------------------------------------------------


def test_names_exact_and_prefix() -> None:
    search = build_search(telescope="INT", instrument="wfc*", object="*", filter="r")
    assert search.telescope == NameMatch("INT")
    assert search.instrument == NameMatch("wfc", prefix=True)
    assert search.object == NameMatch("", prefix=True)
    assert search.filter == NameMatch("r")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T22:30:00", datetime(2024, 5, 1, 22, 30, tzinfo=UTC)),
        ("2024-05-01T22:30:00Z", datetime(2024, 5, 1, 22, 30, tzinfo=UTC)),
        ("2024-05-02T00:30:00+02:00", datetime(2024, 5, 1, 22, 30, tzinfo=UTC)),
        ("60431.9375", datetime(2024, 5, 1, 22, 30, tzinfo=UTC)),
        ("0", datetime(1858, 11, 17, tzinfo=UTC)),
        ("51544.5", datetime(2000, 1, 1, 12, tzinfo=UTC)),
        # Beyond what a datetime holds: the nearest one that is.
        ("1e9", datetime.max.replace(tzinfo=UTC)),
        ("-1e999", datetime.min.replace(tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-23:59", datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_instants(raw: str, expected: datetime) -> None:
    assert parse_instant(raw) == expected


@pytest.mark.parametrize(
    "raw", ["yesterday", "2024-13-01", "2024-01-01T12:99:00Z", "nan", "inf", " 51544", ""]
)
def test_bad_instants(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(raw)


def test_cone_needs_all_three_in_range() -> None:
    assert build_search(ra=360.0, dec=-90.0, radius=0.0).cone == Cone(0.0, -90.0, 0.0)
    with pytest.raises(ValidationError) as caught:
        build_search(ra=10.0)
    names = {problem["name"] for problem in caught.value.details["parameters"]}
    assert names == {"dec", "radius"}
    with pytest.raises(ValidationError) as caught:
        build_search(ra=10.0, dec=91.0, radius=-1.0)
    names = {problem["name"] for problem in caught.value.details["parameters"]}
    assert names == {"dec", "radius"}


def test_every_bad_parameter_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        build_search(
            telescope="",
            object="a\x00b",
            start="soon",
            end="2020-01-01",
            where=["EXPTIME>300", "EXPTIME>>3", "NOPE"],
            ra=float("nan"),
            dec=0.0,
            radius=1.0,
        )
    error = caught.value
    assert error.code == "validation_error" and error.http_status == 400
    problems = error.details["parameters"]
    assert [p["name"] for p in problems] == ["telescope", "object", "start", "where", "where", "ra"]
    assert all(p["in"] == "query" and p["message"] for p in problems)
    assert "'EXPTIME>>3'" in problems[3]["message"]
    assert "where: 'NOPE': no operator" in error.message


def test_lenient_where_nothing_can_match() -> None:
    # An empty range, and names no header holds, are searches that find nothing.
    search = build_search(start="2024-01-02", end="2024-01-01", object="\x01\u2028")
    assert search.start is not None and search.end is not None and search.start > search.end
    with pytest.raises(ValidationError, match=f"at most {MAX_CONDITIONS}"):
        build_search(where=["A=1"] * (MAX_CONDITIONS + 1))
    with pytest.raises(ValidationError, match="not valid Unicode"):
        build_search(object="\udcff")
