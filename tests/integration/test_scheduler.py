"""The scheduler under leases: two processes never run one job at once, a job whose process
was killed mid-run is run again, and log retention removes old audit entries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from appliance.db.connect import DatabaseUrl
from tests.conftest import DATABASES
from tests.support.processes import stop_process
from tests.support.server import COMMAND, ApplianceServer

SLOW = "test: slow"


def _server(request, database: str) -> ApplianceServer:
    url = request.getfixturevalue("postgres").create_database() if database == "postgres" else None
    server = ApplianceServer(url)
    server.env.setdefault("RECORDER_DATABASE_URL", f"sqlite:///{server.root / 'recorder.db'}")
    return server


def _scheduler(server: ApplianceServer, label: str, command=None, **env: str) -> subprocess.Popen[bytes]:
    log = (server.root / f"scheduler-{label}.log").open("wb")
    command = command or [sys.executable, "-m", "tests.support.scheduler_jobs"]
    return subprocess.Popen([*command, "scheduler"], env={**server.env, **env}, stdout=log,
                            stderr=subprocess.STDOUT)


def _query(server: ApplianceServer, sql: str, params: tuple = ()) -> list[tuple]:
    url = DatabaseUrl.parse(server.env["RECORDER_DATABASE_URL"])
    conn = url.connect()
    try:
        cur = conn.cursor()
        cur.execute(sql if url.provider == "sqlite" else sql.replace("?", "%s"), params)
        found = list(cur.fetchall()) if cur.description else []
        conn.commit()
        return found
    finally:
        conn.close()


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _runs(server: ApplianceServer, job: str = SLOW) -> list[tuple]:
    found = _query(server, "SELECT r.runner, r.started_at, r.finished_at, r.result FROM job_run r "
                           "JOIN job j ON j.id = r.job_id WHERE j.name = ? ORDER BY r.started_at, r.id", (job,))
    return [(runner, _time(start), _time(end) if end else None, result) for runner, start, end, result in found]


def _wait_for(check, what: str, timeout: float = 60.0, logs=()):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: " + "\n".join(p.read_text(errors="replace") for p in logs)
        time.sleep(0.1)
    return found


@pytest.mark.parametrize("database", DATABASES)
def test_two_schedulers_never_run_one_job_at_once(request, database):
    server = _server(request, database)
    # The first start makes the default administrator; two first starts at once clash on it.
    server.cli("admin", "init")
    first, second = _scheduler(server, "a"), _scheduler(server, "b")
    logs = [server.root / "scheduler-a.log", server.root / "scheduler-b.log"]
    try:
        _wait_for(lambda: len([r for r in _runs(server) if r[3] == "ok"]) >= 12, "runs", logs=logs)
    finally:
        stop_process(first)
        stop_process(second)
    runs = [r for r in _runs(server) if r[3] is not None]
    assert all(r[3] == "ok" for r in runs), runs
    for before, after in pairwise(runs):
        assert after[1] >= before[2], f"overlapping runs: {before} and {after}"
    runners = {r[0].split(":")[1] for r in runs}
    assert runners == {str(first.pid), str(second.pid)}, runs  # both took part, in turn
    starts = (server.root / "slow-job-starts").read_text().split("\n")
    assert len([s for s in starts if s]) == len(_runs(server))  # a run row for every start


@pytest.mark.parametrize("database", DATABASES)
def test_a_job_killed_mid_run_is_run_again_by_the_next_scheduler(request, database):
    server = _server(request, database)
    env = {"RECORDER_TEST_SLOW_JOB_S": "30", "RECORDER_TEST_LEASE_S": "2"}
    first = _scheduler(server, "a", **env)
    starts = server.root / "slow-job-starts"
    try:
        _wait_for(lambda: starts.exists() and starts.read_text(), "the first start", logs=[server.root / "scheduler-a.log"])
        time.sleep(1)  # past the first lease renewal, well inside the run
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    killed_at = datetime.now(UTC).replace(tzinfo=None)
    [(runner, _, finished, result)] = _runs(server)
    assert runner.split(":")[1] == str(first.pid) and finished is None and result is None
    second = _scheduler(server, "b", RECORDER_TEST_SLOW_JOB_S="0.2", RECORDER_TEST_LEASE_S="2")
    try:
        _wait_for(lambda: any(r[3] == "ok" for r in _runs(server)), "the run again",
                  logs=[server.root / "scheduler-b.log"])
    finally:
        stop_process(second)
    runs = _runs(server)
    assert runs[0][3] == "interrupted" and runs[0][2] is None
    again = runs[1]
    assert again[0].split(":")[1] == str(second.pid) and again[3] == "ok"
    assert again[1] > killed_at  # not before the killed one's lease expired
    assert len(starts.read_text().splitlines()) == len(runs)


@pytest.mark.parametrize("database", DATABASES)
def test_log_retention_removes_audit_entries_older_than_the_setting(request, database):
    server = _server(request, database)
    server.cli("admin", "init")
    now = datetime.now(UTC).replace(tzinfo=None)
    ages = {"old-30": 30, "old-11": 11, "recent-9": 9, "recent-0": 0}  # the default keeps 10 days
    sqlite = database == "sqlite"
    for account, days in ages.items():
        at = now - timedelta(days=days)
        _query(server, "INSERT INTO audit_entry (at, account, name, type, details, ip, event, params) "
                       "VALUES (?, ?, 'n', 'LOGIN', 'd', '127.0.0.1', '', '{}')",
               (at.isoformat(" ", timespec="microseconds") if sqlite else at, account))
        _query(server, "INSERT INTO event_log (at, kind, process, actor, params) "
                       "VALUES (?, 'device.created', 'test', ?, '{}')",
               (at.isoformat(" ", timespec="microseconds") if sqlite else at, account))
    scheduler = _scheduler(server, "real", command=COMMAND)
    log = server.root / "scheduler-real.log"
    try:
        _wait_for(lambda: "log retention" in server.cli("admin", "jobs").stdout, "the job row", logs=[log])
        assert "is due now" in server.cli("admin", "jobs", "--run", "log retention").stdout
        _wait_for(lambda: any(r[3] == "ok" for r in _runs(server, "log retention")), "the retention run", logs=[log])
    finally:
        stop_process(scheduler)
    left = {a for (a,) in _query(server, "SELECT account FROM audit_entry")}
    assert left == {"recent-9", "recent-0"}
    events_left = {a for (a,) in _query(server, "SELECT actor FROM event_log WHERE process = 'test'")}
    assert events_left == {"recent-9", "recent-0"}
    assert "removed 2 audit entries" in log.read_text()
    listed = server.cli("admin", "jobs").stdout
    assert any(line.startswith("log retention\t") and "\tok\t" in line for line in listed.splitlines()), listed
