"""Schema step 14: saved schedules: jobs, their leases and their runs."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# One row per job (its schedule, next run, the lease a scheduler holds while it runs it, the
# last outcome) and one per run, so an interrupted run is visible and retried.
V14_JOBS = [
    """CREATE TABLE job (
        id {pk}, name TEXT NOT NULL UNIQUE, schedule TEXT NOT NULL, next_run_at {ts} NOT NULL,
        lease_owner TEXT, lease_until {ts}, last_run_at {ts}, last_result TEXT,
        last_duration_ms INTEGER, last_error TEXT, created_at {ts} NOT NULL)""",
    """CREATE TABLE job_run (
        id {pk}, job_id INTEGER NOT NULL REFERENCES job(id), runner TEXT NOT NULL,
        started_at {ts} NOT NULL, finished_at {ts}, result TEXT, duration_ms INTEGER,
        error TEXT)""",
    "CREATE INDEX job_run_job ON job_run (job_id, started_at)",
    "CREATE INDEX job_run_started ON job_run (started_at)",
]

STEP = Step(14, "scheduled jobs and their runs", V14_JOBS)
