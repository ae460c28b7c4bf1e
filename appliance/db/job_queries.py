"""Scheduled jobs and their runs; the lease that lets one scheduler at a time run a job.

A lease is taken by one UPDATE whose WHERE says the lease is free (none, or expired):
SQLite serialises writers, and PostgreSQL re-checks the WHERE on the row a concurrent
UPDATE has just changed, so of two schedulers asking at once exactly one gets the row.
Times are aware UTC here and naive UTC in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.db.sql import delete_older, from_db_time, rows, run, scalar, to_db_time

RUNNING, OK, FAILED, INTERRUPTED = None, "ok", "failed", "interrupted"


@dataclass(frozen=True)
class JobRow:
    id: int
    name: str
    schedule: str
    next_run_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_run_at: datetime | None
    last_result: str | None
    last_duration_ms: int | None
    last_error: str | None


@dataclass(frozen=True)
class JobRunRow:
    id: int
    job_id: int
    runner: str
    started_at: datetime
    finished_at: datetime | None
    result: str | None  # None while running (or until the run is found interrupted)
    duration_ms: int | None
    error: str | None


def _aware(value: Any) -> datetime | None:
    return None if value is None else from_db_time(value)


_JOB_COLUMNS = (
    "id, name, schedule, next_run_at, lease_owner, lease_until, last_run_at, last_result, "
    "last_duration_ms, last_error"
)


def _job(r: tuple[Any, ...]) -> JobRow:
    next_run_at = _aware(r[3])
    assert next_run_at is not None
    return JobRow(r[0], r[1], r[2], next_run_at, r[4], _aware(r[5]), _aware(r[6]), *r[7:10])


def add_missing(name: str, schedule: str, next_run_at: datetime, now: datetime) -> bool:
    """Create the job unless it exists (a row kept across restarts keeps its next run)."""
    cursor = run(
        "INSERT INTO job (name, schedule, next_run_at, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        [name, schedule, to_db_time(next_run_at), to_db_time(now)],
    )
    return bool(cursor.rowcount)


def reschedule(name: str, schedule: str, next_run_at: datetime) -> bool:
    """A job whose schedule changed gets the new one and its next run; False if unchanged."""
    cursor = run(
        "UPDATE job SET schedule = ?, next_run_at = ? WHERE name = ? AND schedule <> ?",
        [schedule, to_db_time(next_run_at), name, schedule],
    )
    return bool(cursor.rowcount)


def set_next_run(name: str, next_run_at: datetime) -> bool:
    cursor = run("UPDATE job SET next_run_at = ? WHERE name = ?", [to_db_time(next_run_at), name])
    return bool(cursor.rowcount)


def get(name: str) -> JobRow | None:
    found = rows(f"SELECT {_JOB_COLUMNS} FROM job WHERE name = ?", [name])
    return _job(found[0]) if found else None


def all_jobs() -> list[JobRow]:
    return [_job(r) for r in rows(f"SELECT {_JOB_COLUMNS} FROM job ORDER BY name")]


def take_lease(name: str, owner: str, now: datetime, until: datetime) -> bool:
    """Lease a due job whose lease is free; True for the one caller that got it."""
    cursor = run(
        "UPDATE job SET lease_owner = ?, lease_until = ? WHERE name = ? AND next_run_at <= ? "
        "AND (lease_until IS NULL OR lease_until < ?)",
        [owner, to_db_time(until), name, to_db_time(now), to_db_time(now)],
    )
    return cursor.rowcount == 1


def renew_lease(name: str, owner: str, until: datetime) -> bool:
    """Extend a lease this owner still holds; False once another scheduler has it."""
    cursor = run(
        "UPDATE job SET lease_until = ? WHERE name = ? AND lease_owner = ?",
        [to_db_time(until), name, owner],
    )
    return cursor.rowcount == 1


def start_run(job_id: int, runner: str, now: datetime) -> int:
    """A run row for a leased job; runs left unfinished by a scheduler that died are marked
    interrupted (their end is unknown, so finished_at stays empty)."""
    run(
        "UPDATE job_run SET result = ? WHERE job_id = ? AND result IS NULL",
        [INTERRUPTED, job_id],
    )
    return int(
        scalar(
            "INSERT INTO job_run (job_id, runner, started_at) VALUES (?, ?, ?) RETURNING id",
            [job_id, runner, to_db_time(now)],
        )
    )


def finish_run(
    run_id: int,
    name: str,
    owner: str,
    finished_at: datetime,
    result: str,
    duration_ms: int,
    error: str | None,
    next_run_at: datetime,
) -> bool:
    """Record the outcome and the next run, and free the lease; False if it was lost."""
    run(
        "UPDATE job_run SET finished_at = ?, result = ?, duration_ms = ?, error = ? WHERE id = ?",
        [to_db_time(finished_at), result, duration_ms, error, run_id],
    )
    cursor = run(
        "UPDATE job SET last_run_at = ?, last_result = ?, last_duration_ms = ?, last_error = ?, "
        "next_run_at = ?, lease_owner = NULL, lease_until = NULL WHERE name = ? AND lease_owner = ?",
        [to_db_time(finished_at), result, duration_ms, error, to_db_time(next_run_at), name, owner],
    )
    return cursor.rowcount == 1


def runs_of(name: str) -> list[JobRunRow]:
    found = rows(
        "SELECT r.id, r.job_id, r.runner, r.started_at, r.finished_at, r.result, r.duration_ms, "
        "r.error FROM job_run r JOIN job j ON j.id = r.job_id WHERE j.name = ? "
        "ORDER BY r.started_at, r.id",
        [name],
    )
    out = []
    for r in found:
        started_at = _aware(r[3])
        assert started_at is not None
        out.append(JobRunRow(r[0], r[1], r[2], started_at, _aware(r[4]), *r[5:8]))
    return out


def delete_runs_before(before: datetime, limit: int) -> int:
    """Remove up to limit finished runs that started before then; how many went."""
    return delete_older("job_run", "started_at", before, limit, "result IS NOT NULL")
