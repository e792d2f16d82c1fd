"""The collector tuning the long-running processes apply at start."""

from __future__ import annotations

import subprocess
import sys

from pipeline.collector import YOUNG_THRESHOLD


def test_a_worker_process_collects_less_often_and_freezes_its_start_up() -> None:
    """Importing ``workers`` (what each Dramatiq worker process does) tunes it."""
    probe = (
        "import gc; before = gc.get_freeze_count(); import workers; "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > before)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"FITSFLOW_BROKER_URL": "memory://", "PATH": "/usr/bin:/bin"},
    )
    threshold, frozen = result.stdout.split()
    assert (int(threshold), frozen) == (YOUNG_THRESHOLD, "True")
