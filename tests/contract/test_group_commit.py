"""Group commit keeps every file's all-or-nothing outcome and the identity rules."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import IntegrityViolation
from pipeline.ingest.groups import GroupWriter
from pipeline.ingest.parse import parse_file
from pipeline.ingest.recording import record_products
from pipeline.models import Outcome
from pipeline.settings import ReaderSettings
from tests.support.catalogue import write_fits


async def _count(database: Database, sql: str) -> int:
    return int(await database.fetch_value(sql))


async def test_a_failing_item_fails_alone_and_the_rest_commit(database: Database) -> None:
    await database.execute("CREATE TABLE marks (n INTEGER PRIMARY KEY)")

    async def bulk(tx: Connection, items: Sequence[int]) -> list[int]:
        for item in items:
            await tx.execute("INSERT INTO marks (n) VALUES (:n)", {"n": abs(item)})
        return list(items)

    async def single(tx: Connection, item: int) -> int:
        [result] = await bulk(tx, [item])
        return result

    writer: GroupWriter[int, int] = GroupWriter(database, bulk, single)
    await database.execute("INSERT INTO marks (n) VALUES (3)")  # item -3 will collide
    results = await asyncio.gather(
        *(writer.submit(n) for n in (1, 2, -3, 4, 5)), return_exceptions=True
    )
    assert results[:2] == [1, 2] and results[3:] == [4, 5]
    assert isinstance(results[2], IntegrityViolation)
    assert await _count(database, "SELECT COUNT(*) FROM marks") == 5
    assert writer.items == 5 and writer.groups <= 5


async def test_bulk_recording_follows_the_identity_rules(
    database: Database, tmp_path: Path
) -> None:
    limits = ReaderSettings()
    recorded = write_fits(tmp_path / "recorded.fits", 1)
    async with database.transaction() as tx:
        [(first_id, _)] = await record_products(
            tx, [parse_file(str(recorded), limits, None)], utc_now()
        )
    # One group: new content, the same new content twice, a copy of recorded
    # content, and new bytes at the recorded path.
    fresh = write_fits(tmp_path / "fresh.fits", 2)
    twin_a = write_fits(tmp_path / "twin-a.fits", 3)
    twin_b = tmp_path / "twin-b.fits"
    shutil.copyfile(twin_a, twin_b)
    copy = tmp_path / "copy-of-recorded.fits"
    shutil.copyfile(recorded, copy)
    write_fits(recorded, 4)
    group = [fresh, twin_a, twin_b, copy, recorded]
    async with database.transaction() as tx:
        results = await record_products(
            tx, [parse_file(str(p), limits, None) for p in group], utc_now()
        )
    outcomes = [outcome for _, outcome in results]
    assert outcomes[0] is Outcome.CREATED
    assert sorted([outcomes[1], outcomes[2]]) == sorted([Outcome.CREATED, Outcome.DUPLICATE])
    assert results[1][0] == results[2][0]  # one product for the twins
    # The recorded file was rewritten in this group, so its old content now
    # lives only at the copy's path: a move, not a duplicate.
    assert results[3] == (first_id, Outcome.MOVED)
    # The path's old content has moved away already, so its new bytes are new
    # content at a free path (in the other order they supersede it: both true).
    assert outcomes[4] in {Outcome.CREATED, Outcome.NEW_VERSION}
    assert await _count(database, "SELECT COUNT(*) FROM products") == 4
    assert await _count(database, "SELECT COUNT(*) FROM products WHERE is_current") == 4
    current = await database.fetch_all("SELECT id, path FROM products WHERE is_current")
    at = {str(row["path"]): int(row["id"]) for row in current}
    assert at[str(copy)] == first_id and at[str(recorded)] == results[4][0]


@pytest.mark.parametrize("files", [40])
async def test_concurrent_successes_share_transactions(
    database: Database, tmp_path: Path, files: int
) -> None:
    from pipeline.ingest.service import IngestService
    from pipeline.outbox import Admission
    from pipeline.retrypolicy import RetryPolicy

    paths = [write_fits(tmp_path / f"{i}.fits", i) for i in range(files)]

    class Collect:
        def __init__(self) -> None:
            self.sent: list[int] = []

        def send(self, message: object) -> str:
            self.sent.append(message.job_id)  # type: ignore[attr-defined]
            return f"m{len(self.sent)}"

    sink = Collect()
    seen = [type("S", (), {"path": str(p), "size": p.stat().st_size,
                           "mtime_ns": p.stat().st_mtime_ns})() for p in paths]  # fmt: skip
    await Admission(database, sink, [tmp_path]).admit(seen)  # type: ignore[arg-type]
    service = IngestService(database, ReaderSettings())
    policy = RetryPolicy(3, 0.1, 0.1, 60)
    runs = await asyncio.gather(
        *(
            service.run_job(
                job_id, message_id=f"m{n}", retries_so_far=0, policy=policy,
                lease_seconds=60, root=tmp_path,
            )
            for n, job_id in enumerate(sink.sent, start=1)
        )
    )  # fmt: skip
    assert all(run.result is not None and run.result.status == "succeeded" for run in runs)
    assert await _count(database, "SELECT COUNT(*) FROM products") == files
    assert await _count(database, "SELECT COUNT(*) FROM job_attempts") == files
    assert service._successes.groups < files  # they did share transactions
