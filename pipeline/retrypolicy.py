"""When and how soon a transient failure is tried again.

Exponential backoff with jitter, capped per delay, in count and in total age
(counted from the job's admission). Permanent errors never get here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipeline.settings import WorkerSettings

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on retrying one job."""

    max_retries: int
    min_backoff_seconds: float
    max_backoff_seconds: float
    max_age_seconds: float

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> RetryPolicy:
        return cls(
            max_retries=worker.max_retries,
            min_backoff_seconds=worker.min_backoff_seconds,
            max_backoff_seconds=worker.max_backoff_seconds,
            max_age_seconds=worker.max_age_seconds,
        )

    def next_delay(
        self, retries_so_far: int, age_seconds: float, rng: random.Random | None = None
    ) -> float | None:
        """Seconds until the next try, or None when the job must give up.

        The delay doubles per retry from ``min_backoff_seconds`` up to
        ``max_backoff_seconds`` and is drawn from the upper half of that
        window, so retries of many jobs that failed together spread out.
        """
        if retries_so_far >= self.max_retries:
            return None
        ceiling = min(self.max_backoff_seconds, self.min_backoff_seconds * 2.0**retries_so_far)
        delay = (rng or random).uniform(ceiling / 2, ceiling)
        if age_seconds + delay > self.max_age_seconds:
            return None
        return delay
