"""Device pull (录音抓取) against real servers on 127.0.0.1: pyftpdlib over FTP and explicit
FTPS, OpenSSH's sshd over SFTP (password and key), nginx's autoindex over HTTP and HTTPS.
Each serves a PBX's tree; the tests assert every recording's parties, time, duration,
kind and direction, and that the bad entries are reported and stored nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import pbx_tree
from tests.support.pull_servers import (
    FTP_PASSWORD,
    FTP_USER,
    SSH_PASSWORD,
    SSH_USER,
    FtpServer,
    NginxServer,
    SshServer,
    readable_by_all,
)
from tests.support.server import ApplianceServer, Client, prepare_admin

CREATE = """mutation($i: DeviceInput!) { createDevice(input: $i) {
  __typename ... on Device { id } ... on UserError { message field rule } } }"""
UPDATE = """mutation($id: ID!, $i: DeviceInput!) { updateDevice(id: $id, input: $i) {
  __typename ... on Device { id pullHostKey } ... on UserError { message field rule } } }"""
PULL = """mutation($id: ID!) { pullNow(deviceId: $id) { fetched alreadyHad waiting unrecognised
  failed problems { path reason detail } error errorDetail listed } }"""
TEST = """mutation($id: ID!) { testPullDevice(deviceId: $id) { ok error detail found hostKey entries } }"""
DEVICES = """{ devices(mode: PULL) { id alias pullHostKey pullBlocked pullFoundKey lastSuccessAt
  lastRun { fetched alreadyHad failed error } } }"""
RECORDINGS = """query($f: RecordingFilter) { recordings(filter: $f, pageSize: 100) { total items {
  caller callee startedAt duration kind direction device } } }"""


@pytest.fixture(scope="module")
def appliance():
    server = ApplianceServer(zone="Asia/Shanghai").start()
    try:
        admin, _ = prepare_admin(server)
        yield server, admin
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tree():
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    root = base / "spool" / "asterisk"
    # The link's target lies outside what every server serves, not only outside the PBX's folder.
    outside = Path(tempfile.mkdtemp(prefix="recorder-outside-"))
    expected = pbx_tree.build(root, outside)
    readable_by_all(base)
    readable_by_all(outside)
    yield root, expected
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(outside, ignore_errors=True)


_aliases = iter(range(1000))


def add_device(admin: Client, protocol: str, address: str, path: str, **extra: Any) -> str:
    fields = {
        "alias": f"pbx-{protocol.lower()}-{next(_aliases)}",
        "mode": "PULL",
        "address": address,
        "secret": extra.pop("secret", FTP_PASSWORD),
        "pullProtocol": protocol,
        "pullPath": path,
        "pullUsername": extra.pop("user", FTP_USER),
        "pullInterval": 1,
        "pullIntervalUnit": "DAY",
        **extra,
    }
    result = admin.data(CREATE, {"i": fields})["createDevice"]
    assert result["__typename"] == "Device", result
    return result["id"]


def pull(admin: Client, device_id: str) -> dict[str, Any]:
    return admin.data(PULL, {"id": device_id})["pullNow"]


def recordings_of(admin: Client, address: str) -> list[dict[str, Any]]:
    return [
        item
        for kind in ("CALL", "VOICEMAIL")
        for item in admin.data(RECORDINGS, {"f": {"device": address, "kind": kind}})["recordings"]["items"]
    ]


def assert_tree_stored(server: ApplianceServer, admin: Client, address: str,
                       expected: list[pbx_tree.Expected], result: dict[str, Any]) -> None:
    stored = recordings_of(admin, address)
    by_parties = {(r["caller"], r["callee"], r["kind"]): r for r in stored}
    assert len(stored) == len(expected), sorted(by_parties)
    for e in expected:
        r = by_parties.get((e.caller, e.callee, e.kind.upper()))
        assert r is not None, f"{e.path} was not stored as {e.caller} -> {e.callee}: {sorted(by_parties)}"
        if e.local:
            assert server.local(r["startedAt"], "%Y-%m-%d %H:%M:%S") == e.local, e.path
        else:
            at = datetime.fromisoformat(r["startedAt"].replace("Z", "+00:00"))
            assert at.strftime("%Y-%m-%d %H:%M:%S") == e.utc, e.path
        assert abs(r["duration"] - e.seconds) <= 1, (e.path, r["duration"])
        assert r["direction"] == e.direction, e.path
        assert r["device"] == address
    problems = {p["path"]: p["reason"] for p in result["problems"]}
    for path, reason in pbx_tree.REFUSED.items():
        assert problems.get(path) == reason, (path, problems)


def test_ftp_fetches_every_layout_once_and_reports_the_bad_entries(appliance, tree):
    server, admin = appliance
    root, expected = tree
    ftp = FtpServer(root.parent.parent).start()
    try:
        device = add_device(admin, "FTP", ftp.address, "spool/asterisk")
        first = pull(admin, device)
        assert first["error"] == "", first
        assert first["fetched"] == len(expected), first
        assert_tree_stored(server, admin, ftp.address, expected, first)
        problems = {p["path"]: p["reason"] for p in first["problems"]}
        assert pbx_tree.CONTROL_NAME in problems, problems
        # The link leads out of the folder: pyftpdlib does not even list it.
        assert "2020" not in {r["callee"] for r in recordings_of(admin, ftp.address)}
        second = pull(admin, device)
        assert (second["fetched"], second["alreadyHad"]) == (0, len(expected)), second
        assert len(recordings_of(admin, ftp.address)) == len(expected)
        listed = admin.data(DEVICES)["devices"]
        mine = next(d for d in listed if d["id"] == device)
        assert mine["lastSuccessAt"] and mine["lastRun"]["alreadyHad"] == len(expected)
    finally:
        ftp.stop()


def test_sftp_by_password_and_by_key_pins_the_host_key(appliance, tree):
    server, admin = appliance
    root, expected = tree
    sshd = SshServer().start()
    try:
        device = add_device(admin, "SFTP", f"sftp://{sshd.address}", str(root),
                            user=SSH_USER, secret=SSH_PASSWORD)  # fmt: skip
        tested = admin.data(TEST, {"id": device})["testPullDevice"]
        assert tested["ok"], tested
        assert {"monitor/", "voicemail/"} <= set(tested["entries"])
        first = pull(admin, device)
        assert first["error"] == "" and first["fetched"] == len(expected), first
        assert_tree_stored(server, admin, f"sftp://{sshd.address}", expected, first)
        problems = {p["path"]: p["reason"] for p in first["problems"]}
        assert problems[pbx_tree.LINK_NAME] == "outside_root"
        assert problems[pbx_tree.CONTROL_NAME] == "unsafe_name"
        pinned = next(d for d in admin.data(DEVICES)["devices"] if d["id"] == device)
        assert pinned["pullHostKey"] == sshd.fingerprint()

        # By the appliance's own key, once the PBX's authorized_keys holds it.
        sshd.authorized.write_text(admin.data("{ pullPublicKey }")["pullPublicKey"] + "\n")
        by_key = add_device(admin, "SFTP", sshd.address, str(root), user=SSH_USER,
                            secret="unused", pullAuth="KEY")  # fmt: skip
        keyed = pull(admin, by_key)
        assert keyed["error"] == "" and keyed["fetched"] == len(expected), keyed

        # Another host key on the same address: the device stops before signing in.
        sshd.stop()
        sshd.new_host_key()
        sshd.start()
        changed = pull(admin, device)
        assert changed["error"] == "host_key_changed", changed
        assert sshd.fingerprint() in changed["errorDetail"]
        stopped = next(d for d in admin.data(DEVICES)["devices"] if d["id"] == device)
        assert stopped["pullBlocked"] == "host_key_changed"
        assert stopped["pullFoundKey"] == sshd.fingerprint()
        again = pull(admin, device)  # still stopped, without a word to the server
        assert again["error"] == "host_key_changed"
        accepted = admin.data(
            "mutation($id: ID!) { acceptPullHostKey(deviceId: $id) { ... on Device { pullHostKey pullBlocked } } }",
            {"id": device},
        )["acceptPullHostKey"]
        assert accepted == {"pullHostKey": sshd.fingerprint(), "pullBlocked": ""}
        resumed = pull(admin, device)
        assert resumed["error"] == "" and resumed["alreadyHad"] == len(expected), resumed
    finally:
        sshd.stop()


def test_http_and_https_autoindex_with_a_trusted_fingerprint(appliance, tree):
    server, admin = appliance
    root, expected = tree
    nginx = NginxServer(root.parent.parent).start()
    try:
        url = f"http://127.0.0.1:{nginx.http_port}/spool/asterisk/"
        device = add_device(admin, "HTTP", url, "", user="", secret="none")
        first = pull(admin, device)
        assert first["error"] == "" and first["fetched"] == len(expected), first
        assert_tree_stored(server, admin, url, expected, first)

        secure = f"https://127.0.0.1:{nginx.https_port}/spool/asterisk/"
        untrusted = add_device(admin, "HTTPS", secure, "", user="", secret="none")
        refused = admin.data(TEST, {"id": untrusted})["testPullDevice"]
        assert (refused["ok"], refused["error"]) == (False, "tls_untrusted"), refused
        fingerprint = refused["found"]
        assert len(fingerprint.replace(":", "")) == 64
        trusted = add_device(admin, "HTTPS", secure, "", user="", secret="none",
                             pullTlsFingerprint=fingerprint)  # fmt: skip
        fetched = pull(admin, trusted)
        assert fetched["error"] == "" and fetched["fetched"] == len(expected), fetched
        wrong = add_device(admin, "HTTPS", secure, "", user="", secret="none",
                           pullTlsFingerprint="AB" * 32)  # fmt: skip
        assert pull(admin, wrong)["error"] == "tls_fingerprint_mismatch"
    finally:
        nginx.stop()


def test_ftps_needs_the_certificate_trusted_and_never_sends_the_password_otherwise(appliance, tree):
    _, admin = appliance
    root, expected = tree
    ftps = FtpServer(root.parent.parent, tls=True).start()
    try:
        untrusted = add_device(admin, "FTPS", ftps.address, "spool/asterisk")
        tested = admin.data(TEST, {"id": untrusted})["testPullDevice"]
        assert (tested["ok"], tested["error"]) == (False, "tls_untrusted"), tested
        device = add_device(admin, "FTPS", ftps.address, "spool/asterisk",
                            pullTlsFingerprint=tested["found"])  # fmt: skip
        result = pull(admin, device)
        assert result["error"] == "" and result["fetched"] == len(expected), result
    finally:
        ftps.stop()


def test_a_growing_file_waits_and_a_broken_transfer_resumes_complete(appliance):
    server, admin = appliance
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    day = base / "monitor/2025/04/01"
    day.mkdir(parents=True)
    growing = day / "in-3001-13800000001-20250401-090000-1743469200.1.wav"
    audio = pbx_tree._wav(6)
    growing.write_bytes(audio[: len(audio) // 2])  # being written: young
    big = day / "in-3002-13800000002-20250401-091000-1743469800.2.wav"
    big.write_bytes(pbx_tree._wav(120))  # 1.9 MB, sent at 256 kB/s: a kill lands mid-way
    os.utime(big, (pbx_tree.OLD, pbx_tree.OLD))
    ftp = FtpServer(base, rate=256 * 1024).start()
    try:
        device = add_device(admin, "FTP", ftp.address, "monitor")
        killer = threading.Timer(2.0, ftp.kill)
        killer.start()
        broken = pull(admin, device)
        killer.join()
        assert broken["fetched"] == 0 and broken["waiting"] == 1, broken
        assert broken["failed"] == 1 or broken["error"], broken
        assert recordings_of(admin, ftp.address) == []
        parts = list((server.data_dir / "pull").rglob("*.part"))
        assert parts, "the bytes that came are kept to resume from"
        assert all(b"RIFF" not in p.read_bytes() for p in parts), "a partial file lies in clear"

        growing.write_bytes(audio)  # complete now, and settled
        os.utime(growing, (pbx_tree.OLD, pbx_tree.OLD))
        ftp = FtpServer(base, port=ftp.port).start()
        done = pull(admin, device)
        assert done["error"] == "" and done["fetched"] == 2, done
        stored = {r["callee"]: r for r in recordings_of(admin, f"127.0.0.1:{ftp.port}")}
        assert abs(stored["3001"]["duration"] - 6) <= 1 and abs(stored["3002"]["duration"] - 120) <= 1
        assert not list((server.data_dir / "pull").rglob("*.part"))
        assert pull(admin, device)["fetched"] == 0
    finally:
        ftp.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_delete_after_fetch_and_refusals_at_their_field(appliance):
    _, admin = appliance
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    day = base / "2025/04/02"
    day.mkdir(parents=True)
    kept = day / "auto-1743580000-4001-4002.wav"
    kept.write_bytes(pbx_tree._wav(2))
    os.utime(kept, (pbx_tree.OLD, pbx_tree.OLD))
    ftp = FtpServer(base).start()
    try:
        device = add_device(admin, "FTP", ftp.address, "", pullAfter="MOVE", pullMoveTo="fetched")
        result = pull(admin, device)
        assert result["fetched"] == 1, result
        assert not kept.exists() and (base / "fetched/2025/04/02" / kept.name).exists()
        assert pull(admin, device)["fetched"] == 0  # the moved file is not fetched again
    finally:
        ftp.stop()
        shutil.rmtree(base, ignore_errors=True)
    for fields, field in (
        ({"address": "sftp://127.0.0.1", "pullProtocol": "FTP"}, "address"),
        ({"pullPath": "../etc"}, "pullPath"),
        ({"pullPattern": "{caller}_{when}"}, "pullPattern"),
        ({"pullPattern": "{caller}-{callee}"}, "pullPattern"),
        ({"pullAfter": "MOVE", "pullMoveTo": ""}, "pullMoveTo"),
        ({"pullAuth": "KEY"}, "pullAuth"),
        ({"pullTlsFingerprint": "zz"}, "pullTlsFingerprint"),
    ):
        given = {"alias": f"bad-{next(_aliases)}", "mode": "PULL", "address": "127.0.0.1",
                 "secret": "secret", "pullProtocol": "FTP", **fields}  # fmt: skip
        refused = admin.data(CREATE, {"i": given})["createDevice"]
        assert refused["__typename"] == "UserError" and refused["field"] == field, (fields, refused)


def test_a_device_pattern_names_other_pbxs(appliance):
    server, admin = appliance
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    (base / "rec").mkdir()
    name = base / "rec" / "20250403-143000_5001_13800005001.wav"
    name.write_bytes(pbx_tree._wav(2))
    os.utime(name, (pbx_tree.OLD, pbx_tree.OLD))
    ftp = FtpServer(base).start()
    try:
        device = add_device(admin, "FTP", ftp.address, "rec",
                            pullPattern="{YYYY}{MM}{DD}-{hh}{mm}{ss}_{caller}_{callee}")  # fmt: skip
        assert pull(admin, device)["fetched"] == 1
        [r] = recordings_of(admin, ftp.address)
        assert (r["caller"], r["callee"]) == ("5001", "13800005001")
        assert server.local(r["startedAt"], "%Y-%m-%d %H:%M:%S") == "2025-04-03 14:30:00"
    finally:
        ftp.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_device_failing_three_runs_raises_an_alarm_and_a_good_run_clears_it(appliance):
    _, admin = appliance
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    ftp = FtpServer(base)  # not started yet: the device's runs fail to connect
    alarms = """query($a: String) { alarms(filter: {event: PULL_FAILED, text: $a}) { items { state value message } } }"""
    try:
        device = add_device(admin, "FTP", ftp.address, "")
        alias = next(d["alias"] for d in admin.data(DEVICES)["devices"] if d["id"] == device)
        for n in (1, 2):
            assert pull(admin, device)["error"] == "connect_failed"
            assert admin.data(alarms, {"a": alias})["alarms"]["items"] == [], n
        assert pull(admin, device)["error"] == "connect_failed"
        [alarm] = admin.data(alarms, {"a": alias})["alarms"]["items"]
        assert alarm["state"] == "ACTIVE" and alarm["value"] == 3 and alias in alarm["message"]
        assert pull(admin, device)["error"] == "connect_failed"  # raised once, not again
        assert len(admin.data(alarms, {"a": alias})["alarms"]["items"]) == 1
        ftp.start()
        assert pull(admin, device)["error"] == ""
        [cleared] = admin.data(alarms, {"a": alias})["alarms"]["items"]
        assert cleared["state"] == "CLEARED"
    finally:
        ftp.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_the_scheduler_fetches_a_new_device_on_its_own():
    base = Path(tempfile.mkdtemp(prefix="recorder-pbx-"))
    name = base / "2025/06/01/auto-1748764800-2201-2202.wav"
    name.parent.mkdir(parents=True)
    name.write_bytes(pbx_tree._wav(2))
    os.utime(name, (pbx_tree.OLD, pbx_tree.OLD))
    ftp = FtpServer(base).start()
    server = ApplianceServer(scheduler=True).start()
    try:
        admin, _ = prepare_admin(server)
        add_device(admin, "FTP", ftp.address, "", pullInterval=10, pullIntervalUnit="HOUR")
        deadline = time.monotonic() + 90  # the job looks 20 s after start, then every minute
        while not (found := recordings_of(admin, ftp.address)):
            assert time.monotonic() < deadline, "the scheduler never fetched the device"
            time.sleep(1)
        assert [(r["caller"], r["callee"]) for r in found] == [("2201", "2202")]
        [device] = admin.data(DEVICES)["devices"]
        assert device["lastSuccessAt"] and device["lastRun"]["fetched"] == 1
    finally:
        server.stop()
        ftp.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_pull_devices_password_never_signs_an_upload(appliance):
    """The password a PBX's FTP server knows (and may carry in clear) is not an upload key."""
    server, admin = appliance
    device = add_device(admin, "FTP", "127.0.0.1:9", "", secret="pbx-ftp-pass")
    alias = next(d["alias"] for d in admin.data(DEVICES)["devices"] if d["id"] == device)
    import httpx

    answer = httpx.post(
        server.url + "/api/v1/recordings",
        data={"call_id": "pull:forged.wav", "caller": "10086", "callee": "2001", "started_at": "2025-01-01T00:00:00+00:00"},
        files={"audio": ("call.wav", pbx_tree._wav(1), "application/octet-stream")},
        auth=(alias, "pbx-ftp-pass"),
    )
    assert answer.status_code == 401, answer.text
    assert recordings_of(admin, "127.0.0.1:9") == []
