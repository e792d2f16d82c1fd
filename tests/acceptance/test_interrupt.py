"""Ctrl-C at any moment of `fitsflow run`'s start-up ends it quietly.

Start-up imports astropy, pydantic and Dramatiq for a second or two before
the service's own signal handlers exist; an interrupt there used to print a
traceback from whichever import it fell in. Whenever it comes, the command
ends, with 130 (interrupted before it ran) or 0 (stopped cleanly), and no
traceback.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import FITSFLOW, fitsflow_env

pytestmark = pytest.mark.slow


def _default_sigint() -> None:
    # A child of a non-interactive shell inherits SIGINT ignored; a terminal's
    # Ctrl-C reaches a command that has Python's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("after_seconds", [0.2, 0.8, 2.5])
def test_ctrl_c_during_start_up_ends_the_command_without_a_traceback(
    tmp_path: Path, after_seconds: float
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    env = fitsflow_env(f"sqlite:///{tmp_path}/fitsflow.db", FITSFLOW_LOGGING_FORMAT="json")
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [FITSFLOW, "run", "--watch", str(root), "--port", "0"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    try:
        # The signal's moment is the test's input, not a wait for a state:
        # imports, then settings and migrations, then the service running.
        time.sleep(after_seconds)
        assert process.poll() is None, log.read_text()
        process.send_signal(signal.SIGINT)
        status = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert status in (0, 130), output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    if status == 130:
        # Interrupted before it began: nothing was started that needed stopping.
        assert "fitsflow is running" not in output, output
