"""Header conditions: ``KEYWORD <op> VALUE``, parsed into data, never into SQL.

Syntax (one condition per ``where`` parameter; several must all hold)::

    condition = *" " keyword *" " operator *" " value *" "
    keyword   = word *(" " word)          ; word: letters, digits, _ - .
    operator  = "=" | "!=" | "<" | "<=" | ">" | ">="
    value     = quoted | bare
    quoted    = "'" *(any but ' | "''") "'"  |  '"' *(any but " | '""') '"'
    bare      = any text not starting with a blank, a quote or one of < > = !

:data:`CONDITION_PATTERN` is this grammar as a regular expression (published
in the API's schema): every string it matches is a valid condition, and
nothing else is. Conditions are at most :data:`MAX_CONDITION_LENGTH` long.

Meaning:

- The keyword is upper-cased, as FITS writes keywords. A HIERARCH keyword is
  written as in the header, words separated by single spaces, with or
  without its ``HIERARCH`` prefix (``ESO DET DIT>10``).
- A bare value that is a number (an integer, or a decimal with an optional
  ``E`` or FITS ``D`` exponent) compares numerically with header values that
  are numbers. Beyond a double's range it is ±infinity, beyond a 64-bit
  integer's a double.
- A bare ``T``/``F`` (also ``true``/``false``, any case) compares with FITS
  logical values, F before T.
- Any other value, and every quoted one (``OBSID='0042'``, ``OBJECT='T'``),
  is text: it compares with text values only, case-sensitively, in
  code-point order (so ISO dates such as ``DATE-OBS>=2020-01-01`` order
  correctly). Trailing blanks do not count, as in FITS.
- ``K op V`` holds for a product when at least one of its HDUs has keyword
  ``K`` with a value of ``V``'s kind for which ``value op V`` is true. A
  product without ``K``, or whose ``K`` is of another kind, undefined, or
  COMMENT/HISTORY commentary, does not match — so ``K!=V`` is not the
  complement of ``K=V``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CONDITION_PATTERN",
    "MAX_CONDITION_LENGTH",
    "ConditionError",
    "HeaderCondition",
    "Operator",
    "Value",
    "parse_condition",
]

#: Longest condition accepted: a HIERARCH card's keyword and value both fit
#: in one 80-character card, so anything much longer cannot match.
MAX_CONDITION_LENGTH = 200

_WORD = "[A-Za-z0-9_.-]+"
_KEYWORD = rf"{_WORD}(?: {_WORD})*"
_OPERATOR = "!=|<=|>=|=|<|>"
_QUOTED = "'(?:[^'\\x00]|'')*'|\"(?:[^\"\\x00]|\"\")*\""
_BARE = "[^ '\"<>=!\\x00][^\\x00]*"
_GRAMMAR = f" *({_KEYWORD}) *({_OPERATOR}) *({_QUOTED}|{_BARE}) *"
#: The whole grammar, anchored, as the API's schema publishes it (valid in
#: Python and ECMAScript alike: no named groups, no needless escapes).
CONDITION_PATTERN = f"^{_GRAMMAR}$"
_CONDITION = re.compile(_GRAMMAR)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EeDd][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_LOGICAL = {"t": True, "true": True, "f": False, "false": False}
_HIERARCH = "HIERARCH "

Value = bool | int | float | str


class Operator(StrEnum):
    """The comparison a condition makes."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class ConditionError(ValueError):
    """A condition that does not follow the syntax; the message says why."""


@dataclass(frozen=True, slots=True)
class HeaderCondition:
    """``keyword operator value``, validated."""

    keyword: str
    operator: Operator
    value: Value

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, bool):
            shown = "T" if value else "F"
        elif isinstance(value, str):
            shown = "'" + value.replace("'", "''") + "'"
        else:
            shown = repr(value)
        return f"{self.keyword}{self.operator.value}{shown}"


def parse_condition(text: str) -> HeaderCondition:
    """Parse one condition; :class:`ConditionError` names what is wrong."""
    match = _CONDITION.fullmatch(text) if len(text) <= MAX_CONDITION_LENGTH else None
    if match is None:
        raise ConditionError(_diagnosis(text))
    keyword, operator, raw = match.groups()
    keyword = keyword.upper()
    if keyword.startswith(_HIERARCH) and len(keyword) > len(_HIERARCH):
        keyword = keyword[len(_HIERARCH) :]
    raw = raw.rstrip(" ")
    value = _quoted(raw) if raw[0] in "'\"" else _bare(raw)
    return HeaderCondition(keyword, Operator(operator), value)


def _quoted(raw: str) -> str:
    quote = raw[0]
    # FITS ignores trailing blanks in strings, and the reader strips them.
    return raw[1:-1].replace(quote * 2, quote).rstrip(" ")


def _bare(raw: str) -> Value:
    if _NUMBER.fullmatch(raw):
        return _number(raw)
    logical = _LOGICAL.get(raw.lower())
    return raw if logical is None else logical


def _number(text: str) -> int | float:
    if _INTEGER.fullmatch(text):
        number = int(text)
        # Beyond a 64-bit integer neither database stores an integer.
        return number if abs(number) < 2**63 else float(number)
    # Overflows to ±inf: everything stored compares below (or above) it.
    return float(text.replace("D", "E").replace("d", "e"))


def _diagnosis(text: str) -> str:
    """Why ``text`` is not a condition, as precisely as can be said."""
    if len(text) > MAX_CONDITION_LENGTH:
        return f"longer than {MAX_CONDITION_LENGTH} characters"
    if "\x00" in text:
        return "NUL characters are not allowed"
    split = next((i for i, char in enumerate(text) if char in "<>=!"), None)
    if split is None:
        return "no operator: expected KEYWORD op VALUE, op one of = != < <= > >="
    keyword = text[:split].strip(" ")
    if not keyword:
        return "the keyword is missing before the operator"
    if re.fullmatch(_KEYWORD, keyword) is None:
        return f"{keyword!r} is not a keyword: use letters, digits, _ - . and single spaces"
    operator = re.match(_OPERATOR, text[split:])
    rest = text[split + len(operator[0]) :].lstrip(" ") if operator else text[split:]
    if operator is None or rest[:1] in ("<", ">", "=", "!"):
        shown = text[split : split + (len(operator[0]) if operator else 0) + 1]
        return (
            f"unknown operator {shown!r}: use one of = != < <= > >= "
            "(quote a value that starts with one)"
        )
    if not rest:
        return "the value is missing after the operator (write '' for empty text)"
    return f"the value opens a {rest[0]} quote that is not closed (double a quote inside it)"
