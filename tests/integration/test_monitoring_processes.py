"""The alarms only a dying process or a dead database can raise, triggered for real: the
services run as separate processes (as systemd runs them), `kill -9` ends one; PostgreSQL
is stopped under the appliance. Traps reach snmptrapd either way."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from typing import Any

import pytest

from tests.support.postgres import PostgresServer
from tests.support.processes import stop_process
from tests.support.server import ApplianceServer, prepare_admin
from tests.support.snmp import COMMUNITY, TrapReceiver

# CPU alarms and delays are measured: not beside another test process.
pytestmark = pytest.mark.alone

ALARMS = """query($f: AlarmFilter) { alarms(filter: $f, pageSize: 50) { items {
  id event state subject message params raisedAt clearedAt value threshold } } }"""
RECEIVERS = "mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename } }"
FAST = {"RECORDER_MONITOR_SECONDS": "1"}


def _alarms(admin, **f: Any) -> list[dict[str, Any]]:
    return admin.data(ALARMS, {"f": f})["alarms"]["items"]


def _wait(admin, timeout: float = 30, **f: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not (found := _alarms(admin, **f)):
        assert time.monotonic() < deadline, (f, _alarms(admin))
        time.sleep(0.3)
    return found[0]


def _beside(server: ApplianceServer, service: str) -> subprocess.Popen[bytes]:
    proc = server.beside(service)
    marks = server.data_dir / "run" / f"process-{service}.json"
    deadline = time.monotonic() + 30
    while not (marks.exists() and f'"pid": {proc.pid}' in marks.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, f"{service} did not start"
        time.sleep(0.1)
    return proc


@pytest.fixture()
def split():
    """The API (with failover) in one process, the capture and the monitor in their own."""
    server = ApplianceServer(env=FAST)
    server.services = ["all", "--without", "scheduler", "--without", "capture", "--without", "monitor"]
    server.start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        admin, _ = prepare_admin(server)
        procs["monitor"] = _beside(server, "monitor")
        procs["capture"] = _beside(server, "capture")
        yield server, admin, procs
    finally:
        for proc in procs.values():
            stop_process(proc)
        server.stop()


def test_killed_processes_raise_their_alarm_and_a_restart_clears_it(split):
    server, admin, procs = split
    engine = admin.data("{ alarmSettings { engineId } }")["alarmSettings"]["engineId"]
    receiver = TrapReceiver(engine, v3=False).start()
    try:
        admin.data(RECEIVERS, {"r": [{"host": "127.0.0.1", "port": receiver.port, "version": "V2C", "community": COMMUNITY}]})
        time.sleep(1.5)  # the notifier has read the change
        # A clean stop (systemctl stop) is no alarm.
        stop_process(procs["capture"])
        time.sleep(3)
        assert _alarms(admin, event="CAPTURE_ABORTED") == []
        procs["capture"] = _beside(server, "capture")

        killed = procs["capture"].pid
        procs["capture"].send_signal(signal.SIGKILL)
        procs["capture"].wait()
        alarm = _wait(admin, event="CAPTURE_ABORTED", state="ACTIVE")
        assert alarm["subject"] == "capture" and alarm["params"]["pid"] == killed
        receiver.wait_for("recorderAlarmRaised", "captureAborted(4)", str(killed))
        procs["capture"] = _beside(server, "capture")
        assert _wait(admin, event="CAPTURE_ABORTED", state="CLEARED")["id"] == alarm["id"]
        receiver.wait_for("recorderAlarmCleared", "captureAborted(4)")

        # The API's process: its alarm goes out while no API answers.
        api_pid = server.proc.pid
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        raised = receiver.wait_for("recorderAlarmRaised", "serviceAborted(6)")
        assert str(api_pid) in raised
        server.start()
        admin, _ = prepare_admin_again(server)
        alarm = _wait(admin, event="SERVICE_ABORTED", state="CLEARED")
        assert alarm["subject"] == "api+failover" and alarm["params"]["pid"] == api_pid
        receiver.wait_for("recorderAlarmCleared", "serviceAborted(6)")
    finally:
        receiver.stop()


def prepare_admin_again(server: ApplianceServer):
    """The administrator signs in again (sessions live in the database, which stayed)."""
    from tests.support.server import ADMIN_PASSWORD, Client

    admin = Client(server.url)
    assert admin.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    return admin, None


def test_a_restart_after_an_unseen_death_still_raises(split):
    """systemd restarts a killed unit within seconds: the new process says the old one died,
    so the monitor raises even if it never saw the dead process (here it was down too)."""
    server, admin, procs = split
    stop_process(procs["monitor"])
    killed = procs["capture"].pid
    procs["capture"].send_signal(signal.SIGKILL)
    procs["capture"].wait()
    procs["capture"] = _beside(server, "capture")  # restarted before anyone looked
    procs["monitor"] = _beside(server, "monitor")
    alarm = _wait(admin, event="CAPTURE_ABORTED")
    assert alarm["params"]["pid"] == killed
    assert _wait(admin, event="CAPTURE_ABORTED", state="CLEARED")["id"] == alarm["id"]
    time.sleep(2)
    assert len(_alarms(admin, event="CAPTURE_ABORTED")) == 1  # reported once


@pytest.fixture()
def own_postgres():
    pg = PostgresServer().start()
    yield pg
    pg.stop()


def test_database_outage_is_trapped_directly_and_listed_once_it_is_back(own_postgres):
    server = ApplianceServer(database_url=own_postgres.create_database(), env=FAST)
    server.services = ["all", "--without", "scheduler", "--without", "monitor"]
    server.start()
    monitor = None
    try:
        admin, _ = prepare_admin(server)
        monitor = _beside(server, "monitor")
        engine = admin.data("{ alarmSettings { engineId } }")["alarmSettings"]["engineId"]
        receiver = TrapReceiver(engine, v3=False).start()
        try:
            admin.data(RECEIVERS, {"r": [{"host": "127.0.0.1", "port": receiver.port, "version": "V2C", "community": COMMUNITY}]})
            time.sleep(3)  # the monitor's next sample reads the new receivers
            own_postgres.halt()
            raised = receiver.wait_for("recorderAlarmRaised", "databaseError(7)", timeout=60)
            assert "database connection error" in raised
            # A monitor (re)started while the database is away starts all the same, and
            # knows whom to tell from its copy of the settings.
            stop_process(monitor)
            before = len(receiver.notifications())
            monitor = _beside(server, "monitor")
            deadline = time.monotonic() + 60
            while not any("databaseError(7)" in n for n in receiver.notifications()[before:]):
                assert time.monotonic() < deadline, receiver.text()[-3000:]
                time.sleep(0.3)
            own_postgres.resume()
            receiver.wait_for("recorderAlarmCleared", "databaseError(7)", timeout=60)
            deadline = time.monotonic() + 60
            while True:
                try:
                    found = _alarms(admin, event="DATABASE_ERROR")
                    if found:
                        break
                except AssertionError:
                    pass  # the API's own connection comes back on its next request
                assert time.monotonic() < deadline
                time.sleep(0.5)
            assert found[0]["state"] == "CLEARED" and found[0]["clearedAt"]
            assert found[0]["raisedAt"] < found[0]["clearedAt"]
        finally:
            receiver.stop()
    finally:
        stop_process(monitor)
        server.stop()


def test_recorder_all_killed_and_started_again_reports_it_once():
    """`recorder all` (make run, or whatever supervises it) killed outright: the process that
    starts next says so, the monitor in it raises CAPTURE_ABORTED for the dead one and clears
    it, since the capture runs again."""
    server = ApplianceServer(monitor=True, env=FAST).start()
    try:
        admin, _ = prepare_admin(server)
        killed = server.proc.pid
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        server.start()
        from tests.support.server import ADMIN_PASSWORD, Client

        admin = Client(server.url)
        assert admin.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
        alarm = _wait(admin, event="CAPTURE_ABORTED", state="CLEARED")
        assert alarm["params"]["pid"] == killed and alarm["subject"] == "api+capture+monitor+failover"
        assert len(_alarms(admin, event="CAPTURE_ABORTED")) == 1
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quiet():
    server = ApplianceServer(monitor=True, env=FAST).start()
    try:
        admin, _ = prepare_admin(server)
        yield server, admin
    finally:
        server.stop()


def test_a_quiet_line_raises_no_recording_and_a_recording_clears_it(quiet):
    """The shortest interval the page allows is a minute: this test waits it out (here, not
    in the tests the binary runs again)."""
    import httpx

    from tests.support.audio import tone_pcm, wav_bytes
    from tests.support.server import create_device

    server, admin = quiet
    rule = "mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }"
    base = {"event": "NO_RECORDING", "onScreen": True, "email": False, "level": "LOW"}
    admin.data(rule, {"i": {**base, "threshold": 1}})
    alarm = _wait(admin, timeout=90, event="NO_RECORDING", state="ACTIVE")
    device = create_device(admin)
    r = httpx.post(
        server.url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": "2024-05-01T09:30:00+00:00"},
        files={"audio": ("call.wav", wav_bytes(tone_pcm(1.0), 8000), "application/octet-stream")},
        auth=(device["alias"], device["secret"]),
    )
    assert r.status_code == 201, r.text
    cleared = _wait(admin, event="NO_RECORDING", state="CLEARED")
    assert cleared["id"] == alarm["id"]
