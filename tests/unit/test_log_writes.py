"""Each log line reaches stderr in one write.

Dramatiq's worker processes write to a pipe their parent relays write by
write into one log: a line written in two pieces (text, then its newline)
can be glued to another process's line (seen in CI: two ``job succeeded``
objects on one line).
"""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

from pipeline.logs import configure_logging


class _Writes(io.StringIO):
    """A stderr that remembers every write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def isatty(self) -> bool:
        return False


def test_structlog_and_stdlib_lines_are_written_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = _Writes()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging("INFO", "json")
    structlog.get_logger("fitsflow.test").info("job succeeded", job_id=1)
    logging.getLogger("dramatiq.test").warning("a stdlib line")
    lines = [write for write in stderr.writes if write]
    assert len(lines) == 2, lines
    for line in lines:
        assert line.endswith("\n") and line.count("\n") == 1, line
    assert [json.loads(line)["event"] for line in lines] == ["job succeeded", "a stdlib line"]
