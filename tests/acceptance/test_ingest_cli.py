"""`fitsflow ingest`, `fitsflow db` and `fitsflow samples` as a user runs them:
real processes, real files, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.catalogue import write_fits
from tests.support.databases import ONLY_POSTGRESQL

FITSFLOW = str(Path(sys.executable).with_name("fitsflow"))


def fitsflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITSFLOW_")}
    return subprocess.run(
        [FITSFLOW, *args], capture_output=True, text=True, timeout=180, env=env, cwd=cwd
    )


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_ingest_json_reports_every_file_then_a_summary(
    empty_database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    for index in range(5):
        write_fits(root / "night1" / f"img{index}.fits", index)
    (root / "night1" / "notes.txt").write_text("not a candidate: wrong name")
    (root / "bad.fits").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (root / ".hidden.fits").write_bytes(b"ignored: hidden name")
    done = fitsflow("ingest", "--json", "--database-url", empty_database_url, str(root))
    assert done.returncode == 0, done.stderr
    *files, summary = _lines(done.stdout)
    assert {Path(f["path"]).name for f in files} == {f"img{i}.fits" for i in range(5)} | {
        "bad.fits"
    }
    by_name = {Path(f["path"]).name: f for f in files}
    assert by_name["bad.fits"]["status"] == "failed"
    assert by_name["bad.fits"]["error_code"] == "not_fits"
    assert "PNG" in by_name["bad.fits"]["error"]
    good = [f for n, f in by_name.items() if n != "bad.fits"]
    assert {f["status"] for f in good} == {"succeeded"}
    assert all(f["product_id"] and f["hdus"] == 1 and f["error_code"] is None for f in good)
    assert set(files[0]) == {
        "path", "status", "outcome", "product_id", "job_id", "hdus", "error_code", "error"
    }  # fmt: skip
    assert summary["summary"]["succeeded"] == 5 and summary["summary"]["failed"] == 1
    again = _lines(
        fitsflow("ingest", "--json", "--database-url", empty_database_url, str(root)).stdout
    )
    statuses = {Path(f["path"]).name: f["status"] for f in again[:-1]}
    assert {statuses[f"img{i}.fits"] for i in range(5)} == {"unchanged"}


def test_ingest_defaults_to_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    write_fits(tmp_path / "data" / "a.fits")
    done = fitsflow("ingest", "data", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fitsflow.db").exists()
    assert "succeeded" in done.stdout and "1" in done.stdout
    status = fitsflow("status", "--json", cwd=tmp_path)
    assert json.loads(status.stdout)["products"] == 1


def test_a_file_named_directly_is_read_whatever_its_name(tmp_path: Path) -> None:
    data = write_fits(tmp_path / "x.fits").read_bytes()
    odd = tmp_path / "observation.dat"
    odd.write_bytes(data)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    [result, summary] = _lines(fitsflow("ingest", "--json", "--database-url", url, str(odd)).stdout)
    assert result["status"] == "succeeded" and summary["summary"]["files"] == 1


def test_bad_settings_stop_the_command_naming_the_setting(tmp_path: Path) -> None:
    done = fitsflow("ingest", "--database-url", "mysql://nope", str(tmp_path))
    assert done.returncode == 2
    assert "database.url" in done.stderr and "FITSFLOW_DATABASE_URL" in done.stderr


def test_db_commands_walk_the_revision_chain(empty_database_url: str) -> None:
    url = ["--database-url", empty_database_url]
    history = json.loads(fitsflow("db", "history", "--json").stdout)
    head = history[0]["revision"]
    assert json.loads(fitsflow("db", "current", "--json", *url).stdout)["current"] is None
    assert fitsflow("db", "upgrade", *url).returncode == 0
    assert json.loads(fitsflow("db", "current", "--json", *url).stdout) == {
        "current": head, "head": head, "up_to_date": True
    }  # fmt: skip
    assert fitsflow("db", "downgrade", "-1", *url).returncode == 0
    assert (
        json.loads(fitsflow("db", "current", "--json", *url).stdout)["current"]
        == history[1]["revision"]
    )
    assert fitsflow("db", "downgrade", "base", *url).returncode == 0
    assert json.loads(fitsflow("db", "current", "--json", *url).stdout)["current"] is None


@ONLY_POSTGRESQL
def test_db_copy_moves_a_catalogue_from_sqlite_to_postgresql(
    empty_database_url: str, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    for index in range(4):
        write_fits(tmp_path / "d" / f"{index}.fits", index)
    (tmp_path / "d" / "bad.fits").write_bytes(b"")
    assert fitsflow("ingest", "--database-url", source, str(tmp_path / "d")).returncode == 0
    write_fits(tmp_path / "d" / "0.fits", 9)  # a new version: a superseded product to copy
    assert fitsflow("ingest", "--database-url", source, str(tmp_path / "d")).returncode == 0
    copied = fitsflow("db", "copy", "--from", source, "--to", empty_database_url)
    assert copied.returncode == 0, copied.stderr
    before = json.loads(fitsflow("status", "--json", "--database-url", source).stdout)
    after = json.loads(fitsflow("status", "--json", "--database-url", empty_database_url).stdout)
    assert after["products"] == before["products"] == 5
    assert after["jobs"] == before["jobs"]
    # Ids continue past the copied ones: ingesting into the copy still works.
    write_fits(tmp_path / "d" / "new.fits", 12)
    more = fitsflow("ingest", "--json", "--database-url", empty_database_url, str(tmp_path / "d"))
    assert _lines(more.stdout)[-1]["summary"]["succeeded"] == 1
    again = fitsflow("db", "copy", "--from", source, "--to", empty_database_url)
    assert again.returncode == 2 and "already holds products" in again.stderr


def test_samples_writes_valid_distinct_files(tmp_path: Path) -> None:
    done = fitsflow("samples", str(tmp_path / "s"), "--count", "14")
    assert done.returncode == 0
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert len(names) == 14 and any(n.endswith(".fits.gz") for n in names)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    summary = _lines(
        fitsflow("ingest", "--json", "--database-url", url, str(tmp_path / "s")).stdout
    )
    assert summary[-1]["summary"]["succeeded"] == 14
