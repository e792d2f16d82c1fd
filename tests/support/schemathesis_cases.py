"""Checking schemathesis's generated cases as they go over the wire.

A query parameter generated as an array is sent as one ``name=value`` per
element: ``[]`` is not sent at all and ``["x"]`` is the string ``"x"``. A
*negative* case whose only violation is such an array ("must be a string,
became an array") therefore reaches the server as a valid request, and
schemathesis's ``negative_data_rejection`` would fault the server for
accepting it. Such cases are checked with everything else.
"""

from __future__ import annotations

from typing import Any

from schemathesis.checks import negative_data_rejection

__all__ = ["validate_as_sent"]


def _sent_as_scalar(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= 1


def validate_as_sent(case: Any, response: Any) -> None:
    """``case.validate_response(response)``, minus the negative-data check for a
    case whose arrays serialise to nothing or to a single value."""
    query = case.query or {}
    if any(_sent_as_scalar(value) for value in query.values()):
        case.validate_response(response, excluded_checks=[negative_data_rejection])
    else:
        case.validate_response(response)
