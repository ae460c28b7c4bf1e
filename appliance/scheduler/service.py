"""`recorder scheduler`: runs each housekeeping job on its period, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.services import housekeeping
from appliance.services.context import AppContext

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    period_s: float
    run: Callable[[], object]
    first_after_s: float = 0.0


def jobs_for(ctx: AppContext) -> list[Job]:
    return [
        Job("circular recording", 60, lambda: housekeeping.enforce_disk_limit(ctx)),
        Job("orphaned files", 6 * 3600, lambda: housekeeping.sweep_orphans(ctx), 600),
    ]


class SchedulerService:
    name = "scheduler"

    def __init__(self, ctx: AppContext, jobs: list[Job] | None = None) -> None:
        self.jobs = jobs if jobs is not None else jobs_for(ctx)
        self._stop = asyncio.Event()

    async def _loop(self) -> None:
        started = time.monotonic()
        due = {job.name: started + job.first_after_s for job in self.jobs}
        while not self._stop.is_set():
            for job in self.jobs:
                if time.monotonic() < due[job.name] or self._stop.is_set():
                    continue
                try:
                    # Jobs use the database and the disk: keep them off the loop that pings
                    # the watchdog, so a long sweep is not mistaken for a hang.
                    await asyncio.to_thread(job.run)
                except Exception:  # one failing job must not stop the others
                    log.exception("scheduled job %s failed", job.name)
                due[job.name] = time.monotonic() + job.period_s
            next_due = min(due.values()) - time.monotonic()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=max(0.1, next_due))
            except TimeoutError:
                pass

    async def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._loop())

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> str:
        return "scheduler: " + ", ".join(f"{j.name} every {j.period_s:g} s" for j in self.jobs)
