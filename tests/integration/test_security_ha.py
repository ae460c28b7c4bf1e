"""The pair port as an attacker meets it, through the real appliance (after a helper's
probe): an anonymous client learns nothing to guess the pairing secret against and cannot
lock the real primary out; a big first message or a flood of connections costs the
process nothing; a paired but hostile peer cannot reach files outside the recordings or
lock everyone out; a standby takes no writes over HTTP, also with a stale role file."""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Appliance
from tests.integration.test_ha_sync import SECRET, ha, status, wait_for
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def read_frame(sock: ssl.SSLSocket) -> dict:
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    (size,) = struct.unpack(">I", head)
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return json.loads(body)


def tls_to(port: int, cert: tuple[str, str] | None = None) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(*cert)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw)


@pytest.fixture(scope="module")
def waiting() -> Iterator[Appliance]:
    """A standby with a pairing secret, waiting for a primary that never comes."""
    server = ApplianceServer().start()
    try:
        app = Appliance(server)
        ha(app, role="STANDBY", peerAddress="127.0.0.1:9", pairingSecret=SECRET)
        wait_for("listening", lambda: _listening(server.ha_port))
        yield app
    finally:
        server.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_an_anonymous_client_gets_no_proof_to_guess_against(waiting):
    sock = tls_to(waiting.server.ha_port)
    sock.sendall(frame({"op": "pair", "nonce": os.urandom(16).hex(), "cert": _some_certificate()}))
    answer = read_frame(sock)
    assert answer["op"] == "pair" and set(answer) == {"op", "nonce"}, answer  # no proof of ours
    sock.sendall(frame({"op": "pair_proof", "proof": "0" * 64}))
    assert read_frame(sock) == {"op": "refused", "problem": "secret_differs", "why": "the pairing secret differs"}
    sock.close()
    # Guessing from one address stops after a few; the count is per address.
    for _ in range(6):
        sock = tls_to(waiting.server.ha_port)
        sock.sendall(frame({"op": "pair", "nonce": os.urandom(16).hex(), "cert": _some_certificate()}))
        answer = read_frame(sock)
        if answer.get("op") == "refused":
            assert "too many" in answer["why"]
            break
        sock.sendall(frame({"op": "pair_proof", "proof": "1" * 64}))
        read_frame(sock)
        sock.close()
    else:
        pytest.fail("six wrong proofs in a row from one address were all heard")
    assert status(waiting.admin)["paired"] is False


def test_a_big_first_message_and_a_flood_of_connections_cost_nothing(waiting):
    port = waiting.server.ha_port
    sock = tls_to(port)
    sock.sendall(struct.pack(">I", 60 * 1024 * 1024) + b"{" * 65536)
    with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
        read_frame(sock)  # closed at the announcement, nothing parsed
    sock.close()
    idle = []
    for _ in range(200):
        try:
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    try:
        started = time.monotonic()
        assert httpx.get(waiting.server.url + "/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 5
        rss = _rss(waiting.server.proc.pid)
        assert rss < 1_000_000_000, rss
    finally:
        for s in idle:
            s.close()
    # The port still answers once the flood is gone.
    wait_for("the port answers again", lambda: _answers_pairing(port), 15)


def _answers_pairing(port: int) -> bool:
    sock = tls_to(port)
    try:
        sock.sendall(frame({"op": "beat"}))
        return read_frame(sock)["op"] == "refused"
    finally:
        sock.close()


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _some_certificate() -> str:
    import tempfile
    from pathlib import Path

    from appliance.ha.tls import NodeIdentity

    return NodeIdentity(Path(tempfile.mkdtemp(prefix="recorder-test-cert-"))).cert_pem


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Appliance, Appliance]]:
    servers = [ApplianceServer().start() for _ in range(2)]
    try:
        primary, standby = (Appliance(s) for s in servers)
        ha(standby, role="STANDBY", peerAddress=f"127.0.0.1:{primary.server.ha_port}", pairingSecret=SECRET)
        ha(primary, role="PRIMARY", peerAddress=f"127.0.0.1:{standby.server.ha_port}", pairingSecret=SECRET)
        wait_for("the first sync", lambda: status(primary.admin)["lastSyncAt"])
        yield primary, standby
    finally:
        for s in servers:
            s.stop()


def test_a_hostile_peer_reaches_no_file_outside_the_recordings_and_cannot_lock_everyone_out(pair):
    primary, standby = pair
    ha_dir = primary.server.data_dir / "ha"
    database = standby.server.data_dir / "recorder.db"
    assert database.exists()
    row = {"sn": "20260101_000000_x", "device_id": None, "call_id": uuid.uuid4().hex, "kind": "call",
           "direction": None, "caller": "1", "callee": "2", "started_at": "2026-01-01T00:00:00+00:00",
           "duration": 1, "duration_ms": 1000, "score": None, "play_count": 0, "tag_count": 0,
           "file_format": "MP3", "relpath": "recorder.db", "disk_size": 1, "plain_size": 1,
           "sha256": "0" * 64, "encrypted": True, "source": "upload", "created_at": "2026-01-01T00:00:00+00:00",
           "caller_org_id": None, "callee_org_id": None, "protected": False, "deleted_reason": None}  # fmt: skip
    batches = [
        [{"t": "recording", "payload": {"row": {**row, "deleted_at": "2026-01-02T00:00:00+00:00"}}}],
        [{"t": "recording", "payload": {"row": {**row, "deleted_at": None}}}],
        [{"t": "recording", "payload": {"row": {**row, "deleted_at": "2026-01-03T00:00:00+00:00"}}}],
        [{"t": "recording", "payload": {"row": {**row, "relpath": "recordings/2026/01/01/" + "a" * 32 + ".mp3",
                                                 "duration": "abc", "deleted_at": None}}}],
        [{"t": "configuration", "tables": {"app_user": []}, "ended": []}],
    ]  # fmt: skip
    sock = tls_to(standby.server.ha_port, (str(ha_dir / "node.pem"), str(ha_dir / "node.key")))
    sock.sendall(frame({"op": "hello", "role": "PRIMARY", "epoch": 99, "promoted_at": ""}))
    applied = read_frame(sock)["applied"]
    for n, items in enumerate(batches):
        sock.sendall(frame({"op": "batch", "last_id": applied + n + 1, "items": items}))
        assert read_frame(sock) == {"op": "need", "files": []}
        assert read_frame(sock)["op"] == "applied"
    sock.sendall(frame({"op": "done"}))
    sock.close()
    assert database.exists()
    # Everyone still signs in on the standby; the bad rows were left out.
    admin = Client(standby.server.url)
    assert admin.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    assert admin.data("{ recordings(filter: {}) { total } }")["recordings"]["total"] == 0


def test_a_standby_takes_no_writes_over_http_even_with_a_stale_role_file(pair):
    primary, standby = pair
    role_file = standby.server.data_dir / "ha" / "role"
    old = time.time() - 3600
    os.utime(role_file, (old, old))  # as if its failover service had stalled for an hour
    csv = "分机号,姓名,密码,联络电话,所属组织,角色\n".encode()
    client = Client(standby.server.url)
    client.login("admin", ADMIN_PASSWORD)
    for path, body in (("/api/v1/employees/import", csv), ("/api/v1/backup-import", b"PK\x03\x04")):
        r = client.http.post(path, content=body, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 503, (path, r.status_code, r.text)
    r = standby.upload(b"RIFF", device=primary.device)
    assert r.status_code == 503
    refused = client.gql("mutation { updateSettings(input: {logRetentionDays: 31}) { __typename } }")
    assert refused["errors"][0]["extensions"]["code"] == "STANDBY_READ_ONLY"
