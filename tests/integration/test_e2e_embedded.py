"""End to end, one process: `fitsflow run` on SQLite and the in-process queue.

Files arrive every way they do in practice — already there before start,
written slowly in chunks, written then renamed in, written at once, bad ones
among them — and every complete file becomes exactly one product.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.drops import corpus, write_now, write_slowly, write_then_rename
from tests.support.processes import (
    FitsflowProcess,
    catalogue_facts,
    fitsflow_env,
    processes_gone,
    wait_for_catalogue,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

BAD_FILES = {
    "page.fits": (b"<!DOCTYPE html><html>not found</html>\n", "not_fits"),
    "empty.fits": (b"", "empty_file"),
    "lfs.fits": (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n",
        "not_fits",
    ),
    "noise.fits": (bytes(range(256)) * 40, "not_fits"),
}


def _start(root: Path, database_url: str, log: Path) -> tuple[FitsflowProcess, int]:
    port = free_port()
    run = FitsflowProcess(
        ["run", "--watch", str(root), "--port", str(port)], fitsflow_env(database_url), log
    ).start()
    run.wait_http(f"http://127.0.0.1:{port}/health")
    return run, port


def test_a_thousand_files_arriving_every_way_become_a_thousand_products(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    database_url = f"sqlite:///{tmp_path / 'fitsflow.db'}"
    files = corpus(1000)
    for name, data in files[:150]:  # there before the watcher starts
        write_now(root / name, data)
    run, _ = _start(root, database_url, tmp_path / "run.log")
    with ThreadPoolExecutor(max_workers=16) as pool:
        slow = [pool.submit(write_slowly, root / n, d) for n, d in files[150:200]]
        renamed = [pool.submit(write_then_rename, root / n, d) for n, d in files[200:300]]
        for name, data in files[300:]:
            write_now(root / name, data)
        for name, (data, _) in BAD_FILES.items():
            write_now(root / name, data)
        for future in [*slow, *renamed]:
            future.result()
    facts = wait_for_catalogue(database_url, 1000, seconds=240, watch=[run])
    assert run.stop() == 0
    assert facts["products"] == facts["distinct_contents"] == 1000
    assert facts["current_paths"] == {str(root / name) for name, _ in files}
    assert sorted(facts["failed"]) == sorted(
        (str(root / name), code) for name, (_, code) in BAD_FILES.items()
    )
    assert facts["states"]["succeeded"] == 1000


def test_same_bytes_twice_a_rename_and_an_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    database_url = f"sqlite:///{tmp_path / 'fitsflow.db'}"
    (first, data_a), (_, data_b) = corpus(2, seed=5)
    run, _ = _start(root, database_url, tmp_path / "run.log")
    write_now(root / first, data_a)
    wait_for_catalogue(database_url, 1, seconds=60, watch=[run])
    shutil.copyfile(root / first, root / "again.fits")  # the same bytes dropped twice
    (root / "sub").mkdir()
    (root / first).rename(root / "sub" / "renamed.fits")  # a rename keeps the product
    write_now(root / "again.fits", data_b)  # new bytes at a recorded path
    expected = {str(root / "sub" / "renamed.fits"), str(root / "again.fits")}
    facts = wait_for_catalogue(database_url, 2, 60, watch=[run], current_paths=expected)
    assert run.stop() == 0
    assert facts["products"] == facts["distinct_contents"] == 2
    assert facts["failed"] == []


def test_killed_and_restarted_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    database_url = f"sqlite:///{tmp_path / 'fitsflow.db'}"
    files = corpus(400, seed=23)
    run, _ = _start(root, database_url, tmp_path / "run.log")
    for number, (name, data) in enumerate(files):
        write_now(root / name, data)
        if number in (100, 250):
            run.kill()  # SIGKILL mid-ingest: no clean-up at all
            run, _ = _start(root, database_url, tmp_path / "run.log")
    run.kill()
    during = catalogue_facts(database_url)
    run, _ = _start(root, database_url, tmp_path / "run.log")
    facts = wait_for_catalogue(database_url, 400, seconds=240, watch=[run])
    assert run.stop() == 0
    assert facts["products"] == facts["distinct_contents"] == 400
    assert facts["current_paths"] == {str(root / name) for name, _ in files}
    assert facts["failed"] == []
    assert during["products"] <= 400


def test_ctrl_c_stops_the_process_and_its_reader_processes_cleanly(tmp_path: Path) -> None:
    """The terminal sends SIGINT to the whole group: the reader processes too.
    They must not die with a traceback mid-read; the parent stops them."""
    root = tmp_path / "inbox"
    root.mkdir()
    database_url = f"sqlite:///{tmp_path / 'fitsflow.db'}"
    run, _ = _start(root, database_url, tmp_path / "run.log")
    files = corpus(40)
    for name, data in files:
        write_now(root / name, data)
    wait_for_catalogue(database_url, 40, seconds=120, watch=[run])
    readers = run.children()
    assert readers, "fitsflow run on two or more cores starts a reader process"
    assert run.interrupt() == 0
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log
    assert processes_gone(readers)
    assert catalogue_facts(database_url)["states"]["succeeded"] == 40
