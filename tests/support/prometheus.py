"""Reading a Prometheus endpoint the way Prometheus does: prometheus_client's own parser."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "parse", "scrape", "status_of", "wait_for_samples"]


@dataclass(frozen=True)
class Samples:
    """Every sample of one exposition, by sample name and labels."""

    values: Mapping[tuple[str, frozenset[tuple[str, str]]], float]
    #: Family name → its declared type (counter, gauge, histogram...).
    types: Mapping[str, str]

    def get(self, name: str, **labels: str) -> float | None:
        """The sample ``name`` with exactly ``labels``; None if absent."""
        return self.values.get((name, frozenset(labels.items())))

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 if absent (a counter never moved)."""
        return self.get(name, **labels) or 0.0

    def total(self, name: str, **labels: str) -> float:
        """The sum of every sample ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, have), v in self.values.items() if n == name and wanted <= have)

    def labelled(self, name: str, label: str) -> set[str]:
        """The values ``label`` takes across the samples called ``name``."""
        return {dict(have)[label] for (n, have) in self.values if n == name and label in dict(have)}


def parse(text: str) -> Samples:
    """Parse an exposition; raises ValueError on anything Prometheus would reject."""
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in values, f"duplicate sample {key}"
            values[key] = sample.value
    return Samples(values, types)


def scrape(url: str, token: str | None = None) -> Samples:
    """GET ``url`` (with a bearer ``token``) and parse it."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        return parse(answer.read().decode())


def status_of(url: str, token: str | None = None) -> int:
    """The HTTP status ``url`` answers with."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_for_samples(
    url: str,
    done: Callable[[Samples], bool],
    seconds: float = 60.0,
    token: str | None = None,
    alive: Callable[[], None] | None = None,
) -> Samples:
    """Scrape ``url`` until ``done`` holds (the endpoint may not be up yet)."""
    deadline = time.monotonic() + seconds
    last: Samples | None = None
    problem: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None:
            alive()
        try:
            last = scrape(url, token)
            if done(last):
                return last
        except OSError as error:  # not listening yet
            problem = error
        time.sleep(0.1)
    shown = {k: v for k, v in (last.values if last else {}).items() if k[0].startswith("fitsflow")}
    raise AssertionError(f"{url} never satisfied the condition; last {shown or problem}")
