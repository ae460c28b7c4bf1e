"""Scheduled jobs: registering them, leasing a due one, recording how its run went."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pony.orm import db_session

from appliance.db import job_queries
from appliance.db.job_queries import FAILED, INTERRUPTED, OK, JobRow, JobRunRow
from appliance.db.sql import delete_in_batches
from appliance.domain.schedule import Schedule
from appliance.services import settings

__all__ = ["FAILED", "INTERRUPTED", "OK", "JobRow", "JobRunRow"]


def lease_owner() -> str:
    """Who holds a lease (a job's, a pull device's, a backup target's): this host and
    process, and chance, so two holders in one process differ too."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Job:
    """What a scheduler offers to run: a name (the job's key), when, and the work."""

    name: str
    schedule: Schedule
    run: Callable[[], object]
    first_after: timedelta | None = None  # a new job's first run: after this, else on schedule


@dataclass(frozen=True)
class Lease:
    """A job this scheduler holds, and the run it is doing."""

    name: str
    owner: str
    run_id: int
    planned: datetime  # the next_run_at that fell due: an interval's anchor
    schedule: Schedule


def now() -> datetime:
    return datetime.now(UTC)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.current().time_zone)


@db_session
def register(jobs: list[Job]) -> None:
    """Make each job's row, or give an existing one a changed schedule."""
    at, zone = now(), _zone()
    for job in jobs:
        spec = job.schedule.to_spec()
        if job.first_after is not None:
            first = at + job.first_after
        else:
            first = job.schedule.next_run(at, zone)
        if not job_queries.add_missing(job.name, spec, first, at):
            job_queries.reschedule(job.name, spec, job.schedule.next_run(at, zone))


@db_session
def due(names: list[str]) -> list[str]:
    """Those of the named jobs that are due and not leased by a live scheduler."""
    at = now()
    return [
        j.name
        for j in job_queries.all_jobs()
        if j.name in names and j.next_run_at <= at and (j.lease_until is None or j.lease_until < at)
    ]


@db_session
def take(name: str, owner: str, lease_s: float) -> Lease | None:
    """Lease a due job and start its run, in one transaction; None if another has it."""
    at = now()
    if not job_queries.take_lease(name, owner, at, at + timedelta(seconds=lease_s)):
        return None
    job = job_queries.get(name)
    assert job is not None
    run_id = job_queries.start_run(job.id, owner, at)
    return Lease(name, owner, run_id, job.next_run_at, Schedule.from_spec(job.schedule))


@db_session
def renew(lease: Lease, lease_s: float) -> bool:
    return job_queries.renew_lease(lease.name, lease.owner, now() + timedelta(seconds=lease_s))


@db_session
def finish(lease: Lease, result: str, duration_ms: int, error: str | None = None) -> bool:
    """Record the outcome, plan the next run and free the lease; False if the lease was lost."""
    at = now()
    next_run = lease.schedule.next_run(at, _zone(), anchor=lease.planned)
    return job_queries.finish_run(
        lease.run_id, lease.name, lease.owner, at, result, duration_ms, error, next_run
    )


@db_session
def run_soon(name: str) -> bool:
    """Make a job due now (the next poll of a scheduler runs it); False if unknown."""
    return job_queries.set_next_run(name, now())


@db_session
def overview() -> list[JobRow]:
    return job_queries.all_jobs()


@db_session
def runs_of(name: str) -> list[JobRunRow]:
    return job_queries.runs_of(name)


def prune_runs(before: datetime) -> int:
    """Remove finished runs older than before, one short transaction per batch."""
    return delete_in_batches(job_queries.delete_runs_before, before)
