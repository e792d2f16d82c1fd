"""A metrics endpoint that cannot render answers so, rather than dropping the scrape."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from pipeline.metrics_http import MetricsServer


def test_a_render_that_fails_is_answered_503_and_the_next_scrape_works() -> None:
    calls: list[int] = []

    def render() -> bytes:
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError("a worker's metric file went away")
        return b"# fine\n"

    server = MetricsServer("127.0.0.1", 0, render).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url, timeout=5)
        assert refused.value.code == 503
        assert b"FileNotFoundError" in refused.value.read()
        with urllib.request.urlopen(server.url, timeout=5) as answer:
            assert answer.status == 200 and answer.read() == b"# fine\n"
    finally:
        server.stop()
