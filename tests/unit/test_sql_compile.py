"""compile_sql: ``:name`` placeholders to ``$n`` (asyncpg) and ``?`` (sqlite3)."""

from __future__ import annotations

import pytest

from pipeline.db.sql import CompiledSql, Dialect, bind, compile_sql


def test_postgresql_numbers_each_name_once() -> None:
    compiled = compile_sql("SELECT :a, :b, :a", "postgresql")
    assert compiled == CompiledSql("SELECT $1, $2, $1", ("a", "b"))


def test_sqlite_repeats_a_name_for_each_occurrence() -> None:
    compiled = compile_sql("SELECT :a, :b, :a", "sqlite")
    assert compiled == CompiledSql("SELECT ?, ?, ?", ("a", "b", "a"))
    assert bind(compiled, {"a": 1, "b": 2}) == (1, 2, 1)


def test_names_may_hold_digits_and_underscores() -> None:
    compiled = compile_sql("WHERE x = :file_id2 AND y=:_y", "postgresql")
    assert compiled == CompiledSql("WHERE x = $1 AND y=$2", ("file_id2", "_y"))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':not_a_param'",
        "SELECT 'it''s :still_text'",
        'SELECT ":quoted_identifier" FROM t',
        "SELECT 1 -- a comment with :colon\n",
        "SELECT /* :block\n comment */ 1",
        "SELECT '12:30:00'",
        "SELECT arr[1:2]",
        "SELECT a := 1",
    ],
)
def test_colons_outside_code_are_left_alone(sql: str, dialect: Dialect) -> None:
    assert compile_sql(sql, dialect) == CompiledSql(sql, ())


def test_casts_are_not_placeholders() -> None:
    compiled = compile_sql("SELECT :value::jsonb, x::text", "postgresql")
    assert compiled == CompiledSql("SELECT $1::jsonb, x::text", ("value",))


def test_placeholder_right_after_a_paren_and_before_a_comma() -> None:
    compiled = compile_sql("VALUES(:a,:b)", "sqlite")
    assert compiled == CompiledSql("VALUES(?,?)", ("a", "b"))


def test_dollar_quoted_bodies_are_left_alone_on_postgresql() -> None:
    sql = "DO $$ BEGIN PERFORM ':x'; END $$; SELECT $tag$ :y $tag$, :z"
    assert compile_sql(sql, "postgresql") == CompiledSql(
        "DO $$ BEGIN PERFORM ':x'; END $$; SELECT $tag$ :y $tag$, $1", ("z",)
    )


def test_dollar_signs_that_are_not_quotes() -> None:
    # An identifier may contain $ (a$b$c is one name), and $1 is not a tag.
    assert compile_sql("SELECT a$b$c, :p", "postgresql") == CompiledSql("SELECT a$b$c, $1", ("p",))
    assert compile_sql("SELECT $1 || ':x'", "postgresql") == CompiledSql("SELECT $1 || ':x'", ())


def test_escape_strings_on_postgresql() -> None:
    sql = r"SELECT E'it\'s :not_a_param', :real"
    assert compile_sql(sql, "postgresql") == CompiledSql(
        r"SELECT E'it\'s :not_a_param', $1", ("real",)
    )


def test_backslash_is_plain_text_in_standard_strings() -> None:
    sql = r"SELECT 'C:\dir\', :real"
    assert compile_sql(sql, "sqlite") == CompiledSql(r"SELECT 'C:\dir\', ?", ("real",))


@pytest.mark.parametrize("sql", ["SELECT 'open", 'SELECT "open', "SELECT /* open"])
def test_unterminated_spans_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="unterminated"):
        compile_sql(sql, "sqlite")


def test_unterminated_dollar_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="unterminated"):
        compile_sql("SELECT $$ open", "postgresql")


def test_bind_orders_parameters_and_names_a_missing_one() -> None:
    compiled = compile_sql("SELECT :b, :a", "postgresql")
    assert bind(compiled, {"a": 1, "b": 2, "unused": 3}) == (2, 1)
    with pytest.raises(KeyError, match="'a'"):
        bind(compiled, {"b": 2})
    with pytest.raises(KeyError, match="none were given"):
        bind(compiled, None)


def test_bind_without_placeholders_needs_no_parameters() -> None:
    assert bind(compile_sql("SELECT 1", "sqlite"), None) == ()


def test_sqlite_arguments_are_adapted_per_value_and_time_stamps_in_utc() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from pipeline.db.sqlite import _prepare

    instant = datetime(2026, 11, 27, 12, 0, 0, 5, tzinfo=UTC)
    elsewhere = instant.astimezone(timezone(timedelta(hours=-5)))
    later = instant + timedelta(microseconds=1)
    text, args = _prepare(
        "INSERT INTO t VALUES (:a, :b, :c, :d, :e, :f, :g, :a)",
        {"a": instant, "b": elsewhere, "c": later, "d": True, "e": None, "f": 1.5, "g": b"x"},
    )
    assert text == "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    stamp = "2026-11-27T12:00:00.000005+00:00"
    assert args == (stamp, stamp, "2026-11-27T12:00:00.000006+00:00", 1, None, 1.5, b"x", stamp)
    assert type(args[3]) is int  # a bool is stored as 0/1, as before
