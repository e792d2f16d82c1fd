"""The SQL of a product search, for SQLite and PostgreSQL, from one description.

Every value the user gave travels as a bound ``:name`` parameter; the SQL
text is assembled only from this module's own fragments, so no input can
change a statement's shape. What differs between the two databases lives in
the two :class:`SqlDialect` classes below and nowhere else:

- header values: SQLite's JSON1 (``json_type`` guarding ``json_extract``,
  both with a ``$."KEY"`` path) against PostgreSQL's SQL/JSON path
  (``jsonb_path_exists`` with ``strict $."KEY" ? (@.type() == "number" &&
  @ > $v)``): the type test is inside the path, there is no SQL cast to
  raise on a string, and the JSONB is read once per row instead of once per
  operator (each ``->`` detoasts the whole header again);
- equality on a header value also asks PostgreSQL for JSONB containment
  (``header @> {"KEY": value}``), which the GIN index ``ix_hdus_header``
  answers; the typed test still decides;
- text order: SQLite compares bytes (BINARY); SQL/JSON paths compare
  strings by code point whatever the collation (the same order in UTF-8);
- name prefixes: a range on ``lower(column)``; PostgreSQL spells it with
  the ``~>=~``/``~<~`` operators that its ``text_pattern_ops`` indexes serve;
- the cone prefilter (:mod:`pipeline.search.sky_sql`'s index ranges): an
  ``OR`` of the ranges on PostgreSQL, whose planner makes a bitmap of them
  (or, for a wide cone, walks the primary key and stops at the page's end);
  on SQLite ``p.id IN (... UNION ALL ...)`` with each range's index named
  (``INDEXED BY``), since without statistics SQLite prefers scanning the
  table in id order to a union of ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipeline.db.sql import Dialect
from pipeline.jsonutil import dumps
from pipeline.search.conditions import HeaderCondition, Operator, Value
from pipeline.search.criteria import NameMatch, ProductSearch
from pipeline.search.sky import cone_box
from pipeline.search.sky_sql import SkyArm, sky_arms

__all__ = ["SearchStatement", "SqlDialect", "dialect_for", "search_statement"]

_SQL_OPERATORS = {
    Operator.EQ: "=",
    Operator.NE: "<>",
    Operator.LT: "<",
    Operator.LE: "<=",
    Operator.GT: ">",
    Operator.GE: ">=",
}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class SearchStatement:
    """One page-sized SELECT of candidate products and its parameters."""

    sql: str
    params: dict[str, Any]


class SqlDialect:
    """The spellings that differ between the databases (see the module docstring)."""

    name: Dialect

    def header_test(self, condition: HeaderCondition, tag: str) -> tuple[str, dict[str, Any]]:
        """A predicate on ``h.header`` (one HDU) for ``condition``, with its parameters."""
        raise NotImplementedError

    def name_range(self, expression: str, low: str, high: str) -> str:
        """``expression`` in [low, high) in byte order."""
        raise NotImplementedError

    def sky_filter(self, arms: list[SkyArm]) -> str:
        """A predicate on ``p`` true for the rows of any of ``arms``."""
        raise NotImplementedError


class SqliteDialect(SqlDialect):
    """SQLite with JSON1."""

    name: Dialect = "sqlite"
    #: ``json_type`` names of each kind of value; logical values extract as 1 and 0.
    _KINDS: ClassVar[dict[type, str]] = {
        bool: "'true', 'false'",
        str: "'text'",
        int: "'integer', 'real'",
        float: "'integer', 'real'",
    }

    def header_test(self, condition: HeaderCondition, tag: str) -> tuple[str, dict[str, Any]]:
        path = f":{tag}_path"
        value = condition.value
        params = {f"{tag}_path": '$."' + condition.keyword + '"', f"{tag}_value": value}
        if isinstance(value, bool):
            params[f"{tag}_value"] = int(value)
        kinds = self._KINDS[type(value)]
        operator = _SQL_OPERATORS[condition.operator]
        test = (
            f"json_type(h.header, {path}) IN ({kinds})"
            f" AND json_extract(h.header, {path}) {operator} :{tag}_value"
        )
        return test, params

    def name_range(self, expression: str, low: str, high: str) -> str:
        return f"{expression} >= :{low} AND {expression} < :{high}"

    def sky_filter(self, arms: list[SkyArm]) -> str:
        ranges = " UNION ALL ".join(
            f"SELECT id FROM products INDEXED BY {arm.index} WHERE {arm.predicate.format(t='')}"
            for arm in arms
        )
        return f"p.id IN ({ranges})"


class PostgresDialect(SqlDialect):
    """PostgreSQL with JSONB and SQL/JSON paths."""

    name: Dialect = "postgresql"
    #: The JSON type each kind of value compares with.
    _KINDS: ClassVar[dict[type, str]] = {
        bool: "boolean",
        str: "string",
        int: "number",
        float: "number",
    }
    _PATH_OPERATORS: ClassVar[dict[Operator, str]] = {
        Operator.EQ: "==",
        Operator.NE: "!=",
        Operator.LT: "<",
        Operator.LE: "<=",
        Operator.GT: ">",
        Operator.GE: ">=",
    }

    def header_test(self, condition: HeaderCondition, tag: str) -> tuple[str, dict[str, Any]]:
        value = condition.value
        kind = self._KINDS[type(value)]
        # The keyword's syntax (letters, digits, _ - . and spaces) cannot leave
        # the quoted key; the value travels as a jsonpath variable.
        key = f'strict $."{condition.keyword}"'
        filter_ = f'@.type() == "{kind}" && @ {self._PATH_OPERATORS[condition.operator]} $v'
        variables: dict[str, Value] = {"v": value}
        if isinstance(value, float) and math.isinf(value):
            # JSON has no infinity: every number is below +inf, none equals it.
            if not _every_number(condition.operator, value):
                return "FALSE", {}
            filter_, variables = f'@.type() == "{kind}"', {}
        params: dict[str, Any] = {
            f"{tag}_path": f"{key} ? ({filter_})",
            f"{tag}_vars": dumps(variables),
        }
        # One call reads the header once (the JSONB is detoasted per call); silent:
        # a missing key is no error. Type mismatches compare as unknown, not true.
        test = (
            f"jsonb_path_exists(h.header, CAST(:{tag}_path AS jsonpath),"
            f" CAST(:{tag}_vars AS jsonb), TRUE)"
        )
        if condition.operator is Operator.EQ:
            # Redundant with the path, but the GIN index answers it.
            params[f"{tag}_contains"] = dumps({condition.keyword: value})
            test = f"h.header @> CAST(:{tag}_contains AS jsonb) AND {test}"
        return test, params

    def name_range(self, expression: str, low: str, high: str) -> str:
        return f"{expression} ~>=~ CAST(:{low} AS text) AND {expression} ~<~ CAST(:{high} AS text)"

    def sky_filter(self, arms: list[SkyArm]) -> str:
        return "(" + " OR ".join(f"({arm.predicate.format(t='p.')})" for arm in arms) + ")"


def _every_number(operator: Operator, infinity: float) -> bool:
    """Whether ``number operator infinity`` holds for every finite number."""
    if operator is Operator.NE:
        return True
    below = operator in (Operator.LT, Operator.LE)
    above = operator in (Operator.GT, Operator.GE)
    return (below and infinity > 0) or (above and infinity < 0)


_DIALECTS: dict[str, SqlDialect] = {"sqlite": SqliteDialect(), "postgresql": PostgresDialect()}


def dialect_for(name: Dialect) -> SqlDialect:
    """The :class:`SqlDialect` of a database adapter's ``dialect``."""
    return _DIALECTS[name]


@dataclass
class _Builder:
    """Clauses and parameters as they are added, with unique parameter names."""

    dialect: SqlDialect
    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)


def search_statement(
    search: ProductSearch, dialect: SqlDialect, *, before_id: int | None, batch: int
) -> SearchStatement:
    """The SELECT of up to ``batch`` products matching ``search`` in SQL, newest first.

    ``before_id`` continues a keyset walk below that id. Cone candidates
    still need :func:`pipeline.search.sky.region_touches_cone`.
    """
    builder = _Builder(dialect)
    if not search.include_superseded:
        builder.add("p.is_current")
    _name_clauses(builder, search)
    if search.start is not None:
        builder.add("p.obs_start >= :start", start=search.start)
    if search.end is not None:
        builder.add("p.obs_start < :end", end=search.end)
    for index, condition in enumerate(search.conditions):
        test, params = dialect.header_test(condition, f"w{index}")
        subquery = f"SELECT 1 FROM hdus AS h WHERE h.product_id = p.id AND {test}"
        builder.add(f"EXISTS ({subquery})", **params)
    if search.cone is not None:
        arms, params = sky_arms(cone_box(search.cone))
        builder.add(dialect.sky_filter(arms), **params)
    if before_id is not None:
        builder.add("p.id < :before_id", before_id=before_id)
    where = " AND ".join(builder.clauses) or "TRUE"
    # The page's ids first, then their rows: the filters and the order need
    # only a few columns, which an index may hold whole (PostgreSQL's
    # ix_products_obs_start), so the ~2,000 products of a night are not each
    # read from the table for the 51 of the page (docs/benchmarks.md).
    page = f"SELECT p.id FROM products AS p WHERE {where} ORDER BY p.id DESC LIMIT :batch"
    sql = f"SELECT f.* FROM products AS f WHERE f.id IN ({page}) ORDER BY f.id DESC"
    return SearchStatement(sql, {**builder.params, "batch": batch})


def _name_clauses(builder: _Builder, search: ProductSearch) -> None:
    matches: tuple[tuple[str, NameMatch | None, bool], ...] = (
        ("telescope", search.telescope, True),
        ("instrument", search.instrument, True),
        ("object", search.object, True),
        ("filter", search.filter, False),
    )
    for column, match, fold in matches:
        if match is None:
            continue
        expression = f"lower(p.{column})" if fold else f"p.{column}"
        text = match.text.translate(_ASCII_LOWER) if fold else match.text
        if not match.prefix:
            builder.add(f"{expression} = :{column}", **{column: text})
        elif not text:
            builder.add(f"p.{column} IS NOT NULL")
        else:
            low, high = f"{column}_low", f"{column}_high"
            clause = builder.dialect.name_range(expression, low, high)
            builder.add(clause, **{low: text, high: _prefix_successor(text)})


def _prefix_successor(prefix: str) -> str:
    """The least string greater than every string that starts with ``prefix``.

    UTF-8 byte order is code-point order, so bumping the last code point that
    can be bumped (skipping the surrogates, which UTF-8 cannot hold) works
    in both databases' byte order.
    """
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if 0xD800 <= point <= 0xDFFF:
            point = 0xE000
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return "\U0010ffff" * (len(prefix) + 1)  # every character was already the largest
