"""Runs `recorder scheduler` (`python -m tests.support.scheduler_jobs scheduler`) with only a
test job, "test: slow", that sleeps RECORDER_TEST_SLOW_JOB_S seconds every second and says
when it starts in <data>/../slow-job-starts; leases last RECORDER_TEST_LEASE_S seconds and
the database is polled often, so two schedulers contend for every run. Only the source
tree runs it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from appliance.cli import main
from appliance.domain.schedule import IntervalUnit, Schedule
from appliance.scheduler import service
from appliance.services.jobs import Job

STARTS = Path(os.environ["RECORDER_DATA_DIR"]).parent / "slow-job-starts"
SLOW_S = float(os.environ.get("RECORDER_TEST_SLOW_JOB_S", "0.5"))


def slow() -> None:
    with STARTS.open("a") as starts:
        starts.write(f"{os.getpid()} {time.time()}\n")
    time.sleep(SLOW_S)


service.SchedulerService.lease_s = float(os.environ.get("RECORDER_TEST_LEASE_S", "3"))
service.SchedulerService.poll_s = 0.05
service.jobs_for = lambda ctx: [Job("test: slow", Schedule.interval(1, IntervalUnit.SECONDS), slow)]
raise SystemExit(main())
