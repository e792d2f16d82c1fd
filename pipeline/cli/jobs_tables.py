"""Tables for people of the job documents (``fitsflow jobs …`` without ``--json``)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

from pipeline.api import schemas
from pipeline.api.schemas_jobs import Failures, FileHistory

__all__ = ["print_detail", "print_failures", "print_history", "print_page"]


def _console() -> Console:
    return Console(highlight=False)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _jobs_table(title: str, jobs: list[schemas.Job]) -> Table:
    table = Table(title=title)
    for column in ("id", "state", "path", "error / outcome", "tries", "source", "finished"):
        table.add_column(
            column,
            justify="right" if column in ("id", "tries") else "left",
            overflow="fold",  # a path cut short is no use to anyone
        )
    for job in jobs:
        result = job.error_code or (job.outcome.value if job.outcome else "")
        source = f"{job.source} of {job.retry_of}" if job.retry_of else job.source
        table.add_row(
            str(job.id),
            job.state.value,
            job.path,
            result,
            str(job.attempts),
            source,
            _when(job.finished_at),
        )
    return table


def print_page(page: schemas.JobPage) -> None:
    """A page of jobs, and how to ask for the next."""
    _console().print(_jobs_table("jobs", list(page.jobs)))
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}")


def _attempts_table(title: str, attempts: list[tuple[int, schemas.Attempt]]) -> Table:
    """Attempts, each with the id of its job."""
    table = Table(title=title)
    for column in ("job", "attempt", "started", "finished", "outcome", "error", "worker"):
        table.add_column(column)
    for job_id, attempt in attempts:
        error = f"{attempt.error_code}: {attempt.error_message}" if attempt.error_code else ""
        table.add_row(
            str(job_id),
            str(attempt.attempt),
            _when(attempt.started_at),
            _when(attempt.finished_at),
            attempt.outcome or "",
            error,
            attempt.worker or "",
        )
    return table


def print_detail(detail: schemas.JobDetail) -> None:
    """One job's fields, then its attempts."""
    job = detail.job
    console = _console()
    console.print(f"job {job.id}: {job.state.value}  {job.path}")
    facts = {
        "source": job.source,
        "retry of": job.retry_of,
        "batch": job.batch_id,
        "size": job.size,
        "outcome": job.outcome.value if job.outcome else None,
        "product": job.product_id,
        "error": f"{job.error_code}: {job.error_message}" if job.error_code else None,
        "created": _when(job.created_at),
        "finished": _when(job.finished_at) or None,
    }
    for name, value in facts.items():
        if value is not None:
            console.print(f"  {name}: {value}")
    console.print(_attempts_table("attempts", [(job.id, a) for a in detail.attempts]))


def print_failures(report: Failures) -> None:
    """Failures per error code, then a few examples of each."""
    console = _console()
    table = Table(title=f"failures: {report.failed} jobs, {report.unresolved} unresolved")
    for column in ("error code", "failed", "unresolved", "fixed"):
        table.add_column(column, justify="left" if column == "error code" else "right")
    for group in report.groups:
        table.add_row(group.error_code, str(group.failed), str(group.unresolved), str(group.fixed))
    console.print(table)
    for group in report.groups:
        for example in group.examples:
            mark = "unresolved" if example.unresolved else "resolved"
            console.print(
                f"  {group.error_code}  job {example.job_id} ({mark})  {example.path}"
                f"  {example.error_message or ''}"
            )


def print_history(history: FileHistory) -> None:
    """Every job of a path with its attempts, then its product versions."""
    console = _console()
    console.print(f"history of {history.path}")
    console.print(_jobs_table("jobs", [detail.job for detail in history.jobs]))
    attempts = [(d.job.id, a) for d in reversed(history.jobs) for a in d.attempts]
    console.print(_attempts_table("attempts, oldest first", attempts))
    if history.more_jobs:
        typer.echo("older jobs left out: raise --limit")
    products = Table(title="products")
    for column in ("id", "version", "current", "path", "sha256", "created"):
        products.add_column(column)
    for product in history.products:
        products.add_row(
            str(product.id),
            str(product.version),
            "yes" if product.is_current else "no",
            product.path,
            product.sha256[:16],
            _when(product.created_at),
        )
    console.print(products)
