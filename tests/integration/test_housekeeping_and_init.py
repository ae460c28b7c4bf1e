"""The scheduler's circular recording, the orphan sweep, and first-boot provisioning."""

from __future__ import annotations

import math
import os
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from tests.conftest import DATABASES
from tests.support.audio import tone_pcm, wav_bytes
from tests.support.ports import free_port
from tests.support.processes import stop_process
from tests.support.server import ApplianceServer, create_device, prepare_admin

SEARCH = "query($f: RecordingFilter) { recordings(filter: $f, pageSize: 100) { total items { id sn } } }"
AUDIT = 'query { auditLog(filter: {type: "DELETE"}, pageSize: 100) { items { account details } } }'


def _upload(server: ApplianceServer, device: dict, started_at: str, seconds: float = 1.0) -> dict:
    reply = httpx.post(
        server.url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": started_at},
        files={"audio": ("call.wav", wav_bytes(tone_pcm(seconds), 8000), "audio/wav")},
        auth=(device["alias"], device["secret"]),
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def _usage(path) -> tuple[int, int]:
    disk = os.statvfs(path)
    return (disk.f_blocks - disk.f_bfree) * disk.f_frsize, disk.f_blocks * disk.f_frsize


BACKUP_LOG = "{ backupLog(pageSize: 100) { items { kind result params description } } }"


def _can_mount_a_tmpfs() -> bool:
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_a_tmpfs(), reason="needs root for a mount namespace (make test runs as root)")
@pytest.mark.parametrize("database", DATABASES)
def test_circular_recording_deletes_oldest_first_and_stops_at_the_limit(request, database):
    """On a 4 MiB data disk of its own, oldest calls go one at a time, and only until usage
    is back at the limit: the newer calls stay."""
    url = request.getfixturevalue("postgres").create_database() if database == "postgres" else None
    server = ApplianceServer(url, data_disk_bytes=4 * 2**20).start()
    scheduler = None
    try:
        admin, _ = prepare_admin(server)
        device = create_device(admin)
        days = ["2024-03-03", "2024-01-01", "2024-08-08", "2024-02-02", "2024-06-06", "2024-04-04", "2024-07-07",
                "2024-05-05"]
        ids = {day: _upload(server, device, f"{day}T10:00:00+00:00", seconds=20)["id"] for day in days}
        # The oldest call is under legal hold: circular recording passes over it.
        held = admin.data("mutation($i: [ID!]!) { protectRecordings(ids: $i, protect: true) { changed } }",
                          {"i": [ids["2024-01-01"]]})  # fmt: skip
        assert held["protectRecordings"]["changed"] == 1
        files = sorted((server.data_dir / "recordings").rglob("*.enc"))
        assert len(files) == 8
        blocks = {f.stat().st_blocks for f in files}
        assert len(blocks) == 1, blocks  # equal calls take equal room: each deletion frees the same
        size = blocks.pop() * 512
        used, total = _usage(server.data_dir)
        after = [100 * (used - k * size) / total for k in range(9)]
        # A limit between usage after 3 and after 4 deletions: exactly the 4 oldest that are
        # not protected must go.
        limit = math.ceil(after[4])
        assert after[4] <= limit < after[3], after
        changed = admin.data("mutation($l: Int!) { updateSettings(input: {diskUsageLimit: $l}) { __typename } }",
                             {"l": limit})
        assert changed["updateSettings"]["__typename"] == "Settings"
        scheduler = server.beside("scheduler")
        log = server.root / "scheduler.log"
        deadline = time.monotonic() + 60
        while "circular recording: deleted" not in log.read_text(errors="replace"):
            assert scheduler.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert "deleted 4 recordings" in log.read_text(errors="replace")
        left = {item["id"] for item in admin.data(SEARCH)["recordings"]["items"]}
        assert left == {ids[day] for day in ("2024-01-01", "2024-06-06", "2024-07-07", "2024-08-08")}
        assert len(list((server.data_dir / "recordings").rglob("*.enc"))) == 4
        assert 100 * _usage(server.data_dir)[0] / total <= limit
        # As the manual shows, in the backup log, no longer in the audit trail.
        details = [e["details"] for e in admin.data(AUDIT)["auditLog"]["items"]]
        assert not [d for d in details if d.endswith("by circular recording")]
        entries = admin.data(BACKUP_LOG)["backupLog"]["items"]
        assert {(e["kind"], e["result"]) for e in entries} == {("DELETE", "DONE")}
        # The log is newest first: the oldest call was deleted first.
        assert [e["params"]["sn"][:8] for e in reversed(entries)] == ["20240202", "20240303", "20240404", "20240505"]
        assert all(e["description"] == f"[删除录音]录音文件({e['params']['sn']})" for e in entries)
        # The statistics keep the calls circular recording removed (they happened); one a
        # person deletes leaves them.
        year = "query { report(template: YEARLY, at: \"2024-06-01\") { calls talkSeconds } }"
        assert admin.data(year)["report"] == {"calls": 8, "talkSeconds": 8 * 20}
        admin.data("mutation($i: [ID!]!) { deleteRecordings(ids: $i) { deleted } }", {"i": [ids["2024-08-08"]]})
        assert admin.data(year)["report"] == {"calls": 7, "talkSeconds": 7 * 20}
    finally:
        if scheduler is not None:
            stop_process(scheduler)
        server.stop()


def test_sweep_removes_only_old_files_that_no_recording_names(fresh_server):
    admin, _ = prepare_admin(fresh_server)
    kept = _upload(fresh_server, create_device(admin), "2024-05-01T09:30:00+00:00")
    day = fresh_server.data_dir / "recordings" / "2024" / "05" / "01"
    old_orphan, young_orphan, old_part = day / "dead.mp3.enc", day / "fresh.mp3.enc", day / ".x.mp3.part"
    for path in (old_orphan, young_orphan, old_part):
        path.write_bytes(b"left by a crash")
    two_hours_ago = time.time() - 7200
    for path in day.iterdir():  # the real recording is old too, and must stay
        if path != young_orphan:
            os.utime(path, (two_hours_ago, two_hours_ago))

    out = fresh_server.cli("admin", "sweep-orphans").stdout
    assert "2 orphaned files removed" in out
    assert not old_orphan.exists() and not old_part.exists() and young_orphan.exists()
    audio = admin.http.get(f"/api/v1/recordings/{kept['id']}/audio")
    assert audio.status_code == 200 and len(audio.content) > 1000


def test_admin_init_makes_the_certificate_https_serves_and_identity():
    server = ApplianceServer()
    https_port = free_port()
    server.env["RECORDER_HTTPS_PORT"] = str(https_port)
    out = server.cli("admin", "init").stdout
    cert = server.root / "etc" / "tls" / "cert.pem"
    assert "made now" in out and cert.exists()
    assert "kept" in server.cli("admin", "init").stdout  # idempotent: never replaced
    assert oct((server.root / "etc" / "tls" / "key.pem").stat().st_mode & 0o777) == "0o640"
    server.start()
    try:
        # The self-signed certificate names 127.0.0.1, so it verifies once trusted.
        tls = ssl.create_default_context(cafile=str(cert))
        health = httpx.get(f"https://127.0.0.1:{https_port}/health", verify=tls)
        assert health.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{https_port}/health")  # untrusted by default
        admin, _ = prepare_admin(server)
        identity = (server.root / "etc" / "machine-id").read_text().strip()
        assert admin.data("{ systemInfo { machineId } }")["systemInfo"]["machineId"] == identity
    finally:
        server.stop()


def test_every_service_stops_cleanly_on_sigterm():
    server = ApplianceServer(scheduler=True).start()
    # /health answers once the API is up; the capture and the scheduler say so in the log.
    deadline = time.monotonic() + 30
    while not all(s in (server.root / "server.log").read_text() for s in ("SIP on UDP and TCP port", "scheduler:")):
        assert time.monotonic() < deadline, (server.root / "server.log").read_text()
        time.sleep(0.1)
    server.stop()
    assert server.proc.returncode == 0
    log = (server.root / "server.log").read_text()
    assert "CancelledError" not in log and "Traceback" not in log
    assert "SIP on UDP and TCP port" in log and "scheduler:" in log
