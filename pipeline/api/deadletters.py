"""Dead letters: listing, requeueing and purging them — ``/dlq`` and ``fitsflow dlq``.

A dead letter is a message Dramatiq gave up on. Its job row says why (the
error code and message of its last attempt); the broker holds the message.
Each function here joins the two, for the API and the terminal alike.

Requeue, in this order, so that no step's failure loses the job:

1. the dead letters asked for are looked up (their job ids);
2. their failed jobs go back to ``queued`` (``enqueued_at`` now, no
   message id) and commit — if the next step fails, the reconciler sends
   them once ``reconciler.stale_after_seconds`` have passed;
3. the broker sends each as a fresh message (new id, Dramatiq's retry
   budget afresh) and drops the dead copy (atomically on Redis; on RabbitMQ
   the new message is confirmed before the dead one is acknowledged);
4. each job records its new message id, as the outbox does after a send.

The worker then runs the job again as a new attempt; the earlier attempts
keep their rows. Purge deletes dead letters and leaves their jobs as they
ended (``failed``, with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from pipeline.api import queue_schemas as docs
from pipeline.api.probe import BrokerProbe
from pipeline.api.queues import control_of
from pipeline.api.schemas import ErrorEnvelope
from pipeline.clock import utc_now
from pipeline.db import Connection, Database
from pipeline.errors import FitsflowError, ValidationError
from pipeline.models import Job, JobState
from pipeline.queues import DeadLetter
from pipeline.repositories import jobs
from pipeline.repositories.deadletters import reopen_failed_jobs

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DLQ_CURSOR_PATTERN",
    "MAX_PAGE_SIZE",
    "dead_letter_page",
    "decode_offset",
    "purge_dead_letters",
    "requeue_dead_letters",
]

log = structlog.get_logger(__name__)

#: A dead-letter page cursor: ``o`` and how many letters the pages before held.
#: Dead letters are listed in the order they died and new ones come last, so
#: an offset stays true while letters are added.
DLQ_CURSOR_PATTERN = r"^o[0-9]{1,9}$"
#: Page sizes, as :mod:`pipeline.api.params` has them for jobs (that module
#: imports FastAPI, which ``fitsflow dlq`` does not need).
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def decode_offset(cursor: str | None) -> int:
    """The offset a cursor of :func:`dead_letter_page` stands for; 400 otherwise."""
    if cursor is None:
        return 0
    if not cursor.startswith("o") or not cursor[1:].isdigit() or len(cursor) > 10:
        # The details are those of a bad parameter in FastAPI's own validation.
        problem = {"in": "query", "name": "cursor", "message": "not a cursor returned by this API"}
        raise ValidationError(
            f"query parameter 'cursor': {problem['message']}", details={"parameters": [problem]}
        )
    return int(cursor[1:])


async def dead_letter_page(
    database: Database, broker: BrokerProbe, limit: int, cursor: str | None
) -> docs.DeadLetterPage:
    """One page of dead letters with their jobs; null letters and the reason when the
    broker cannot be asked."""
    offset = decode_offset(cursor)
    queue = getattr(broker, "queue", None)
    try:
        # One more than asked says whether another page exists.
        found = await control_of(broker).dead_letters(offset, limit + 1)
    except FitsflowError as error:
        problem = ErrorEnvelope.model_validate(error.to_dict())
        return docs.DeadLetterPage(
            queue=queue, dead_letters=None, next_cursor=None, broker_error=problem
        )
    page = found[:limit]
    known = await _jobs(database, page)
    more = len(found) > limit
    return docs.DeadLetterPage(
        queue=queue,
        dead_letters=[_document(letter, known) for letter in page],
        next_cursor=f"o{offset + limit}" if more else None,
    )


async def _jobs(database: Database, letters: Sequence[DeadLetter]) -> dict[int, Job]:
    ids = [letter.job_id for letter in letters if letter.job_id is not None]
    if not ids:
        return {}
    async with database.transaction(write=False) as tx:
        return await jobs.jobs_by_id(tx, ids)


def _document(letter: DeadLetter, known: dict[int, Job]) -> docs.DeadLetter:
    job = known.get(letter.job_id) if letter.job_id is not None else None
    return docs.DeadLetter(
        message_id=letter.message_id,
        queue=letter.queue,
        actor=letter.actor,
        job_id=letter.job_id,
        job_ids=list(letter.job_ids),
        path=job.path if job is not None else letter.path,
        job_state=job.state if job is not None else None,
        error_code=job.error_code if job is not None else None,
        error_message=job.error_message if job is not None else None,
        attempts=job.attempts if job is not None else None,
        retries=letter.retries,
        created_at=letter.created_at,
        died_at=letter.died_at or (job.finished_at if job is not None else None),
    )


async def _selected(
    broker: BrokerProbe, selection: docs.DeadLetterSelection
) -> tuple[list[DeadLetter], list[str]]:
    """The dead letters a selection names that exist, and the ids that do not."""
    letters = await control_of(broker).find_dead_letters(selection.message_ids)
    present = {letter.message_id for letter in letters}
    missing = [i for i in dict.fromkeys(selection.message_ids or ()) if i not in present]
    return letters, missing


async def requeue_dead_letters(
    database: Database, broker: BrokerProbe, selection: docs.DeadLetterSelection
) -> docs.RequeueResult:
    """Send dead letters again as fresh messages; their failed jobs return to ``queued``."""
    control = control_of(broker)
    letters, missing = await _selected(broker, selection)
    if not letters:
        return docs.RequeueResult(requeued=[], not_found=missing)
    letter_of = {letter.message_id: letter for letter in letters}
    job_ids = [job_id for letter in letters for job_id in letter.job_ids]

    async def reopen(tx: Connection) -> list[int]:
        return await reopen_failed_jobs(tx, job_ids, utc_now())

    reopened = await database.run_in_transaction(reopen)
    moved = await control.requeue_dead_letters(list(letter_of))
    states = await _record_sent(database, moved, letter_of)
    log.info("dead letters requeued", requeued=len(moved), jobs_reopened=len(reopened))
    requeued = [
        docs.Requeued(
            message_id=old_id,
            new_message_id=new_id,
            job_id=letter_of[old_id].job_id,
            job_ids=list(letter_of[old_id].job_ids),
            job_state=_state(states, letter_of[old_id].job_id),
        )
        for old_id, new_id in moved.items()
    ]
    gone = [message_id for message_id in letter_of if message_id not in moved]
    return docs.RequeueResult(requeued=requeued, not_found=[*missing, *gone])


async def _record_sent(
    database: Database, moved: dict[str, str], letter_of: dict[str, DeadLetter]
) -> dict[int, Job]:
    """The new message id of each requeued job that waits for it, as the outbox
    records a send; the jobs (their states: recording a send changes none).

    A bundle's files that had already finished keep the message that finished
    them: the fresh bundle finds them done and leaves them.
    """
    carried = [job_id for letter in letter_of.values() for job_id in letter.job_ids]

    async def record(tx: Connection) -> dict[int, Job]:
        now = utc_now()
        known = await jobs.jobs_by_id(tx, carried)
        for old_id, new_id in moved.items():
            for job_id in letter_of[old_id].job_ids:
                job = known.get(job_id)
                if job is not None and job.state is JobState.QUEUED:
                    await jobs.mark_enqueued(tx, job_id, new_id, now)
        return known

    return await database.run_in_transaction(record)


async def purge_dead_letters(
    broker: BrokerProbe, selection: docs.DeadLetterSelection
) -> docs.PurgeResult:
    """Delete dead letters; their jobs stay as they ended."""
    letters, missing = await _selected(broker, selection)
    letter_of = {letter.message_id: letter for letter in letters}
    purged = await control_of(broker).purge_dead_letters(list(letter_of)) if letter_of else []
    log.info("dead letters purged", purged=len(purged))
    gone = [message_id for message_id in letter_of if message_id not in set(purged)]
    return docs.PurgeResult(
        purged=[
            docs.Purged(
                message_id=i, job_id=letter_of[i].job_id, job_ids=list(letter_of[i].job_ids)
            )
            for i in purged
        ],
        not_found=[*missing, *gone],
    )


def _state(known: dict[int, Job], job_id: int | None) -> JobState | None:
    job = known.get(job_id) if job_id is not None else None
    return job.state if job is not None else None
