"""The scheduler's circular recording, the orphan sweep, and first-boot provisioning."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
import uuid

import httpx
import pytest

from tests.support.audio import tone_pcm, wav_bytes
from tests.support.ports import free_port
from tests.support.server import COMMAND, ApplianceServer, create_device, prepare_admin

SEARCH = "query($f: RecordingFilter) { recordings(filter: $f, pageSize: 100) { total items { id sn } } }"
AUDIT = 'query { auditLog(filter: {type: "DELETE"}, pageSize: 100) { items { account details } } }'


def _upload(server: ApplianceServer, device: dict, started_at: str) -> dict:
    reply = httpx.post(
        server.url + "/api/v1/recordings",
        data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": started_at},
        files={"audio": ("call.wav", wav_bytes(tone_pcm(1.0), 8000), "audio/wav")},
        auth=(device["alias"], device["secret"]),
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def _disk_percent(path) -> float:
    usage = shutil.disk_usage(path)
    return 100 * usage.used / usage.total


def test_circular_recording_deletes_oldest_first_down_to_the_limit(fresh_server):
    if _disk_percent(fresh_server.data_dir) <= 1:
        pytest.skip("the disk is nearly empty: the 1 % limit is never passed")
    admin, _ = prepare_admin(fresh_server)
    device = create_device(admin)
    for day in ("2024-03-03", "2024-01-01", "2024-02-02"):
        _upload(fresh_server, device, f"{day}T10:00:00+00:00")
    assert admin.data(SEARCH)["recordings"]["total"] == 3
    # The real disk is above 1 %: every recording must go, oldest first.
    changed = admin.data('mutation { updateSettings(input: {diskUsageLimit: 1}) { __typename } }')
    assert changed["updateSettings"]["__typename"] == "Settings"
    scheduler = subprocess.Popen([*COMMAND, "scheduler"], env=fresh_server.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and admin.data(SEARCH)["recordings"]["total"]:
            time.sleep(0.5)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
    assert admin.data(SEARCH)["recordings"]["total"] == 0
    details = [e["details"] for e in admin.data(AUDIT)["auditLog"]["items"]]
    circular = [d for d in details if d.endswith("by circular recording")]
    assert len(circular) == 3
    # The log is newest first: the oldest call was deleted first.
    assert [d.split()[1][:8] for d in reversed(circular)] == ["20240101", "20240202", "20240303"]
    assert not list((fresh_server.data_dir / "recordings").rglob("*.*"))


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
    server = ApplianceServer().start()
    server.stop()
    assert server.proc.returncode == 0
    log = (server.root / "server.log").read_text()
    assert "CancelledError" not in log and "Traceback" not in log
    assert "SIP on UDP and TCP port" in log and "scheduler:" in log
