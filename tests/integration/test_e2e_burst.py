"""A burst of 20,000 small files created in one directory as fast as a script
can write them: every one becomes a product.

On this machine the kernel's inotify queue holds 16,384 events; a watcher
subscribed to every event type drops thousands of such files with one
overflow warning. fitsflow subscribes only to what it needs and rescans on
overflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import FitsflowProcess, fitsflow_env, wait_for_catalogue
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

BURST = 20_000

# A separate process writes, as fast as it can: minimal distinct FITS files.
WRITER = textwrap.dedent(
    """
    import os, sys
    root, count = sys.argv[1], int(sys.argv[2])
    def card(text):
        return text.ljust(80).encode()
    for i in range(count):
        cards = [card("SIMPLE  =                    T"), card("BITPIX  =                    8"),
                 card("NAXIS   =                    0"), card(f"OBJECT  = 'burst-{i:06d}'"),
                 card("END")]
        block = b"".join(cards).ljust(2880, b" ")
        with open(os.path.join(root, f"burst-{i:06d}.fits"), "wb") as f:
            f.write(block)
    """
)


def test_twenty_thousand_files_in_a_burst_all_become_products(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    database_url = f"sqlite:///{tmp_path / 'fitsflow.db'}"
    port = free_port()
    run = FitsflowProcess(
        ["run", "--watch", str(root), "--port", str(port)],
        fitsflow_env(database_url, FITSFLOW_WORKER_THREADS="8"),
        tmp_path / "run.log",
    ).start()
    run.wait_log('"scan finished"')
    subprocess.run([sys.executable, "-c", WRITER, str(root), str(BURST)], check=True, timeout=300)
    assert len(os.listdir(root)) == BURST
    facts = wait_for_catalogue(database_url, BURST, seconds=900, watch=[run])
    assert run.stop() == 0
    assert facts["products"] == facts["distinct_contents"] == BURST
    assert len(facts["current_paths"]) == BURST
    assert facts["failed"] == []
