"""`recorder scheduler`: runs each due job under a lease held in the database, off the
event loop. Two schedulers (a restart overlapping the old one, later a standby's) never run
one job at once; a job whose scheduler died mid-run is run again once its lease expires."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import time as wall_time
from datetime import timedelta

from appliance.backup import runner as backup_runner
from appliance.domain.schedule import IntervalUnit, Policy, Schedule
from appliance.pull import runner
from appliance.services import ha, housekeeping, jobs, reports
from appliance.services.context import SYSTEM, AppContext
from appliance.services.jobs import Job, lease_owner

log = logging.getLogger(__name__)
STATS_DAYS_PER_RUN = 62


def jobs_for(ctx: AppContext) -> list[Job]:
    return [
        Job(
            "circular recording",
            Schedule.interval(60, IntervalUnit.SECONDS),
            lambda: housekeeping.enforce_disk_limit(ctx),
            first_after=timedelta(0),
        ),
        Job(
            "orphaned files",
            Schedule.interval(6, IntervalUnit.HOURS),
            lambda: housekeeping.sweep_orphans(ctx),
            first_after=timedelta(minutes=10),
        ),
        Job("log retention", Schedule.daily(wall_time(3, 30)), housekeeping.apply_log_retention),
        # Each pull device has its own interval (1-10 hours or days); this looks for the
        # ones due and starts them, off the scheduler's loop.
        Job(
            "device pull",
            Schedule.interval(60, IntervalUnit.SECONDS),
            unless_standby(ctx, lambda: runner.run_due(ctx, SYSTEM)),
            first_after=timedelta(seconds=20),
        ),
        # The backup policies (several, each its own schedule) are read on every look, so
        # a policy saved in the console applies at once; runs go on in their own thread.
        Job(
            "backup",
            Schedule.interval(15, IntervalUnit.SECONDS),
            unless_standby(ctx, lambda: backup_runner.run_due(ctx, SYSTEM)),
            first_after=timedelta(seconds=5),
        ),
        # Peak concurrency per day for the reports: a report computes a few days itself,
        # this the rest (a year asked for the first time, a restored backup), a month a go.
        Job(
            "statistics",
            Schedule.interval(10, IntervalUnit.MINUTES),
            lambda: reports.fill_peaks(limit_days=STATS_DAYS_PER_RUN),
            first_after=timedelta(minutes=1),
        ),
    ]


def unless_standby(ctx: AppContext, work: Callable[[], object]) -> Callable[[], None]:
    """A standby neither pulls nor backs up: its primary does, with the same settings."""

    def run() -> None:
        if not ha.standby_now(ctx.config.data_dir):
            work()

    return run


def describe(schedule: Schedule) -> str:
    if schedule.policy is Policy.INTERVAL:
        return f"every {schedule.every} {schedule.unit.value.lower()}"
    at = schedule.at.strftime("%H:%M")
    if schedule.policy is Policy.WEEKLY:
        return f"weekly on days {sorted(schedule.weekdays)} at {at}"
    if schedule.policy is Policy.MONTHLY:
        return f"monthly on dates {sorted(schedule.month_days)} at {at}"
    return f"daily at {at}"


class SchedulerService:
    name = "scheduler"
    # A lease outlives a renewal missed or two; a dead scheduler's job waits this long.
    lease_s = 60.0
    poll_s = 2.0  # how soon a job made due by another process (or a clock) is noticed

    def __init__(self, ctx: AppContext, jobs: list[Job] | None = None) -> None:
        self.jobs = {job.name: job for job in (jobs if jobs is not None else jobs_for(ctx))}
        self.owner = lease_owner()
        self._stop = asyncio.Event()

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(jobs.register, list(self.jobs.values()))
                break
            except Exception:  # the database away at start: try again, as the loop would
                log.exception("registering the scheduled jobs failed")
                await self._wait(self.poll_s)
        while not self._stop.is_set():
            try:
                due = await asyncio.to_thread(jobs.due, list(self.jobs))
            except Exception:
                log.exception("reading the scheduled jobs failed")
                due = []
            for name in due:
                if self._stop.is_set():
                    break
                await self._run(self.jobs[name])
            await self._wait(self.poll_s)

    async def _run(self, job: Job) -> None:
        try:
            lease = await asyncio.to_thread(jobs.take, job.name, self.owner, self.lease_s)
        except Exception:
            log.exception("leasing job %s failed", job.name)
            return
        if lease is None:
            return  # another scheduler took it first
        started = time.monotonic()
        # Jobs use the database and the disk: keep them off the loop that pings the
        # watchdog, so a long sweep is not mistaken for a hang.
        work = asyncio.ensure_future(asyncio.to_thread(job.run))
        while not (await asyncio.wait({work}, timeout=self.lease_s / 3))[0]:
            try:
                if not await asyncio.to_thread(jobs.renew, lease, self.lease_s):
                    log.error("job %s: another scheduler took over its lease", job.name)
            except Exception:  # the next renewal may pass; the lease has room for it
                log.exception("renewing the lease of job %s failed", job.name)
        error: str | None = None
        try:
            work.result()
            result = jobs.OK
        except Exception as exc:  # one failing job must not stop the others
            log.exception("scheduled job %s failed", job.name)
            result, error = jobs.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        duration_ms = int((time.monotonic() - started) * 1000)
        try:
            await asyncio.to_thread(jobs.finish, lease, result, duration_ms, error)
        except Exception:  # the lease expires and the job runs again: better than never
            log.exception("recording the run of job %s failed", job.name)

    async def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> str:
        return "scheduler: " + ", ".join(
            f"{j.name} {describe(j.schedule)}" for j in self.jobs.values()
        )
