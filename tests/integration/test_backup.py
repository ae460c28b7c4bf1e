"""Backups (备份管理) through the real server: a local disk, pyftpdlib over FTP, OpenSSH's
sshd over SFTP and Samba's smbd over SMB, on 127.0.0.1 and free ports. The tests assert
what an administrator relies on: the target holds nothing in clear, a second run sends
nothing, a new appliance with a fresh master key restores the same bytes and metadata with
the passphrase (and nothing without it), a broken run is completed without duplicates."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio import speech_wav, tone_pcm, wav_bytes
from tests.support.people import PASSWORD as EMPLOYEE_PASSWORD
from tests.support.people import create_employee, create_org, create_role, random_prefix
from tests.support.pull_servers import (
    FTP_PASSWORD,
    FTP_USER,
    SMB_PASSWORD,
    SMB_USER,
    SSH_PASSWORD,
    SSH_USER,
    FtpServer,
    SmbServer,
    SshServer,
    ensure_ssh_user,
)
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin
from tests.support.smtp import PASSWORD as MAIL_PASSWORD
from tests.support.smtp import USER as MAIL_USER
from tests.support.smtp import CertificateAuthority, MailServer
from tests.support.snmp import COMMUNITY, TrapReceiver

PASSPHRASE = "correct horse battery staple 42"
SET_TARGET = """mutation($i: BackupTargetInput!) { setBackupTarget(input: $i) {
  __typename ... on BackupTarget { id location } ... on UserError { message field rule } } }"""
BACKUP_NOW = """mutation($id: ID!) { backupNow(targetId: $id) { result recordings voicemails bytes
  problems { subject reason detail } error errorDetail setName } }"""
PASSPHRASE_SET = """mutation($p: String!) { setBackupPassphrase(passphrase: $p) {
  __typename ... on BackupSettings { passphraseSet } ... on UserError { message field rule } } }"""
LOG = """query($f: BackupLogFilter) { backupLog(filter: $f, pageSize: 100) { total items {
  at kind target result recordings voicemails event params zh: description
  en: description(language: "en") } } }"""
RECORDINGS = """query($f: RecordingFilter) { recordings(filter: $f, pageSize: 100) { total items {
  id sn caller callee startedAt duration kind direction score playCount
  tags { name offset } protected } } }"""
CALLERS = ["13800138001", "13800138002", "13800138003", "13800138004"]
VOICEMAIL_CALLER = "13911112222"


class Appliance:
    def __init__(self, **options: Any) -> None:
        self.server = ApplianceServer(**options).start()
        self.admin, self.token = prepare_admin(self.server)
        self.api = Client(self.server.url, token=self.token)

    def upload(self, caller: str, callee: str, audio: bytes, **fields: str) -> str:
        device = getattr(self, "device", None) or create_device(self.admin)
        self.device = device
        r = httpx.post(
            self.server.url + "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": caller, "callee": callee,
                  "started_at": "2024-05-01T09:30:00+00:00", **fields},
            files={"audio": ("call.wav", audio, "application/octet-stream")},
            auth=(device["alias"], device["secret"]), timeout=60,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def recordings(self) -> list[dict[str, Any]]:
        return [
            item
            for kind in ("CALL", "VOICEMAIL")
            for item in self.admin.data(RECORDINGS, {"f": {"kind": kind}})["recordings"]["items"]
        ]

    def audio(self, recording_id: str) -> bytes:
        r = self.admin.http.get(f"/api/v1/recordings/{recording_id}/audio")
        assert r.status_code == 200, r.text
        return r.content

    def target(self, kind: str, location: str, **extra: Any) -> str:
        found = self.admin.data(SET_TARGET, {"i": {"kind": kind, "location": location, **extra}})
        assert found["setBackupTarget"]["__typename"] == "BackupTarget", found
        return str(found["setBackupTarget"]["id"])

    def backup_now(self, target_id: str) -> dict[str, Any]:
        return self.admin.data(BACKUP_NOW, {"id": target_id})["backupNow"]

    def log(self, **filter: Any) -> list[dict[str, Any]]:
        return self.admin.data(LOG, {"f": filter or None})["backupLog"]["items"]

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def source():
    """The appliance backed up: four calls (one scored and tagged) and a voice message."""
    a = Appliance()
    try:
        ids = [a.upload(c, "2002", wav_bytes(tone_pcm(1.0 + i, freq=300 + 100 * i), 8000))
               for i, c in enumerate(CALLERS)]  # fmt: skip
        a.upload(VOICEMAIL_CALLER, "8001", speech_wav("Please call me back."), kind="voicemail")
        a.admin.data("mutation($id: ID!) { scoreRecording(id: $id, score: 87) { __typename } }",
                     {"id": ids[0]})  # fmt: skip
        a.admin.data(
            "mutation($id: ID!) { tagRecording(id: $id, name: \"complaint\", offset: 0.5) { __typename } }",
            {"id": ids[0]},
        )
        found = a.admin.data(PASSPHRASE_SET, {"p": PASSPHRASE})["setBackupPassphrase"]
        assert found == {"__typename": "BackupSettings", "passphraseSet": True}
        # The configuration travels too: a department on the device, a role, an employee.
        a.prefix = random_prefix()
        org = create_org(a.admin, "Sales", a.prefix, a.device["id"])
        role = create_role(a.admin, "Sales managers", [org], ["PLAY", "DOWNLOAD"])
        create_employee(a.admin, a.server.url, "2002", org, a.prefix, [role])
        switched = a.admin.data("mutation { setBackupIncludeConfig(include: true) { includeConfig } }")
        assert switched["setBackupIncludeConfig"]["includeConfig"] is True
        yield a
    finally:
        a.stop()


def target_bytes(root: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


def assert_nothing_in_clear(files: list[tuple[str, bytes]], audio: dict[str, bytes]) -> None:
    assert files, "the target holds no file"
    blob = b"".join(data for _, data in files)
    names = " ".join(name for name, _ in files)
    for number in [*CALLERS, VOICEMAIL_CALLER]:
        assert number.encode() not in blob and number.encode("utf-16-le") not in blob, number
        assert number not in names
    for marker in (b"RIFF", b"WAVE", b"ID3", b"LAME", b"Xing"):
        assert marker not in blob, marker
    for sn, data in audio.items():
        for start in range(0, len(data) - 64, max(1, len(data) // 8)):
            assert data[start : start + 64] not in blob, (sn, start)
        assert sn not in names


def comparable(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["sn"], r["caller"], r["callee"], r["startedAt"], r["duration"], r["kind"],
            r["direction"], r["score"], r["playCount"], tuple((t["name"], t["offset"]) for t in r["tags"]),
            r["protected"])  # fmt: skip


def test_a_local_backup_holds_nothing_in_clear_and_restores_on_a_new_appliance(source):
    folder = Path(tempfile.mkdtemp(prefix="recorder-backup-local-"))
    try:
        # Each play counts: the bytes first, then the rows as the backup will find them.
        audio = {r["sn"]: source.audio(r["id"]) for r in source.recordings()}
        expected = source.recordings()
        target = source.target("LOCAL", str(folder), keepMonths=6, diskLimitPercent=99)
        first = source.backup_now(target)
        assert (first["result"], first["recordings"], first["voicemails"]) == ("DONE", 4, 1), first
        files = target_bytes(folder)
        assert_nothing_in_clear(files, audio)
        again = source.backup_now(target)
        assert (again["result"], again["recordings"], again["voicemails"]) == ("DONE", 0, 0)
        assert target_bytes(folder) == files
        [newest, *_] = source.log(keyword="LOCAL")
        assert newest["zh"] == "本地备份已执行:通话录音备份数[0],语音留言备份数[0]"
        assert any(e["zh"] == "本地备份已执行:通话录音备份数[4],语音留言备份数[1]" for e in source.log())

        fresh = Appliance()
        try:
            wrong = folder.parent / f"{folder.name}-wrong"
            wrong.write_text("not the passphrase at all\n")
            refused = fresh.server.cli("admin", "import-backup", str(folder), "--passphrase-file",
                                       str(wrong), check=False)  # fmt: skip
            assert refused.returncode == 1 and "wrong_passphrase" in refused.stdout, refused
            assert fresh.recordings() == []
            # A copy of the set with one audio file damaged: that one is reported, the rest
            # imported.
            damaged = folder.parent / f"{folder.name}-damaged"
            shutil.copytree(folder, damaged)
            victim = sorted(damaged.rglob("00000002.bin"))[0]
            data = bytearray(victim.read_bytes())
            data[len(data) // 2] ^= 0x40
            victim.write_bytes(bytes(data))
            right = folder.parent / f"{folder.name}-right"
            right.write_text(PASSPHRASE + "\n")
            partial = fresh.server.cli("admin", "import-backup", str(damaged), "--passphrase-file", str(right),
                                       "--json", "--config", check=False)  # fmt: skip
            # The configuration first: the device (its secret works), the department, the
            # role, and the employee with the password they had.
            assert "configuration restored: departments 1, devices 1, employees 1, roles 1\n" in partial.stderr, partial
            assert fresh.admin.data("{ devices { alias address } }")["devices"] == [
                {"alias": source.device["alias"], "address": source.device["address"]}]
            fresh.device = source.device
            fresh.upload("13700000001", "2003", wav_bytes(tone_pcm(1.0), 8000))
            employee = Client(fresh.server.url)
            assert employee.login(source.prefix + "2002", EMPLOYEE_PASSWORD)["__typename"] == "LoginSuccess"
            assert {r["name"] for r in fresh.admin.data("{ roles { name } }")["roles"]} == {"Sales managers"}
            assert partial.returncode == 1, partial
            summary = json.loads(partial.stdout.splitlines()[-1])
            assert (summary["result"], summary["recordings"] + summary["voicemails"], summary["problems"]) == (
                "PARTIAL", 4, 1), summary
            second_sn = sorted(expected, key=lambda r: int(r["id"]))[1]["sn"]
            assert f"{second_sn}: corrupt" in partial.stderr, partial.stderr
            assert len(fresh.recordings()) == 5  # four imported, one uploaded since
            mapped = {r["caller"]: r for r in fresh.admin.data(
                "{ recordings(pageSize: 100) { items { caller device calleeOrg } } }")["recordings"]["items"]}  # fmt: skip
            assert mapped[CALLERS[2]]["device"] == source.device["address"]
            assert mapped[CALLERS[2]]["calleeOrg"] == "Sales"
            done = fresh.server.cli("admin", "import-backup", str(folder), "--passphrase-file", str(right))
            assert "DONE: 1 calls and 0 voice messages imported, 4 already here" in done.stdout, done
            by_sn = {r["sn"]: r for r in fresh.recordings() if r["caller"] != "13700000001"}
            assert sorted(map(comparable, by_sn.values())) == sorted(map(comparable, expected))
            for sn, data in audio.items():
                assert fresh.audio(by_sn[sn]["id"]) == data, sn
            twice = fresh.server.cli("admin", "import-backup", str(folder), "--passphrase-file", str(right),
                                     "--config")  # fmt: skip
            assert "0 calls and 0 voice messages imported, 5 already here" in twice.stdout, twice
            assert "configuration restored: nothing missing" in twice.stderr, twice
            assert len(fresh.recordings()) == 6
            [imported, *_] = fresh.log()
            assert imported["kind"] == "IMPORT" and imported["result"] == "DONE"
        finally:
            fresh.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


TARGETS = """{ backupTargets { id kind location lastRunAt lastRun progress { running done total } } }"""
POLICIES = """mutation($p: [BackupPolicyInput!]!) { setBackupPolicies(policies: $p) {
  __typename ... on BackupSettings { nextRunAt } ... on UserError { message field rule } } }"""


def owned_folder(user: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="recorder-backup-remote-"))
    folder.chmod(0o755)
    shutil.chown(folder, user)
    return folder


def test_a_schedule_backs_up_to_ftp_sftp_and_smb_and_a_new_appliance_imports_from_the_share():
    ensure_ssh_user()
    ftp_root = Path(tempfile.mkdtemp(prefix="recorder-backup-ftp-"))
    sftp_root = owned_folder(SSH_USER)
    ftp, sshd, smbd = FtpServer(ftp_root).start(), SshServer().start(), SmbServer().start()
    source = Appliance(scheduler=True)
    try:
        for i, caller in enumerate(CALLERS):
            source.upload(caller, "2002", wav_bytes(tone_pcm(1.0 + i, freq=500), 8000))
        source.upload(VOICEMAIL_CALLER, "8001", speech_wav("Call me back."), kind="voicemail")
        audio = {r["sn"]: source.audio(r["id"]) for r in source.recordings()}
        expected = source.recordings()
        assert source.admin.data(PASSPHRASE_SET, {"p": PASSPHRASE})["setBackupPassphrase"]["passphraseSet"]
        ids = {
            "FTP": source.target("FTP", f"ftp://{ftp.address}/nightly", username=FTP_USER, password=FTP_PASSWORD),
            "SFTP": source.target("SFTP", f"sftp://{sshd.address}{sftp_root}", username=SSH_USER,
                                  password=SSH_PASSWORD),
            "SMB": source.target("SMB", smbd.location, username=SMB_USER, password=SMB_PASSWORD),
        }  # fmt: skip
        (ftp_root / "nightly").mkdir()
        # Every five seconds from now: the scheduler's next look runs all three.
        assert source.admin.data(POLICIES, {"p": [{"policy": "INTERVAL", "every": 5, "unit": "SECONDS"}]})
        deadline = time.monotonic() + 120
        while True:
            runs = {t["kind"]: t["lastRun"] for t in source.admin.data(TARGETS)["backupTargets"]}
            if all(runs.get(kind) for kind in ids):
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.5)
        assert source.admin.data(POLICIES, {"p": []})
        # A later round may have run already (nothing new): the log has each target's first.
        for kind, run in runs.items():
            assert (run["result"], run["error"]) == ("DONE", ""), (kind, run)
        for kind, root in (("FTP", ftp_root / "nightly"), ("SFTP", sftp_root), ("SMB", smbd.share / "recorder")):
            assert_nothing_in_clear(target_bytes(root), audio)
            again = source.backup_now(ids[kind])
            assert (again["result"], again["recordings"], again["voicemails"]) == ("DONE", 0, 0), (kind, again)
        zh = {e["zh"] for e in source.log()}
        assert {"FTP备份已执行:通话录音备份数[4],语音留言备份数[1]", "NAS备份已执行:通话录音备份数[4],语音留言备份数[1]",
                "SFTP备份已执行:通话录音备份数[4],语音留言备份数[1]"} <= zh

        fresh = Appliance()
        try:
            share = fresh.target("SMB", smbd.location, username=SMB_USER, password=SMB_PASSWORD, enabled=False)
            wrong = fresh.admin.data(IMPORT, {"id": share, "p": "not the passphrase"})["importBackup"]
            assert (wrong["result"], wrong["error"], wrong["recordings"]) == ("FAILED", "wrong_passphrase", 0)
            assert fresh.recordings() == []
            done = fresh.admin.data(IMPORT, {"id": share, "p": PASSPHRASE})["importBackup"]
            assert (done["result"], done["recordings"], done["voicemails"], done["problems"]) == ("DONE", 4, 1, []), done
            by_sn = {r["sn"]: r for r in fresh.recordings()}
            assert sorted(map(comparable, by_sn.values())) == sorted(map(comparable, expected))
            for sn, data in audio.items():
                assert fresh.audio(by_sn[sn]["id"]) == data, sn
        finally:
            fresh.stop()
    finally:
        source.stop()
        for server in (ftp, sshd, smbd):
            server.stop()
        for root in (ftp_root, sftp_root):
            shutil.rmtree(root, ignore_errors=True)


IMPORT = """mutation($id: ID!, $p: String!) { importBackup(targetId: $id, passphrase: $p) {
  result recordings voicemails skipped problems { subject reason } error errorDetail } }"""
ALARMS = """{ alarms(filter: {event: BACKUP_FAILED}) { items { id state message } } }"""


def test_a_target_stopped_mid_backup_raises_the_alarm_and_the_next_run_completes_the_set():
    count = 8
    ca = CertificateAuthority()
    root = Path(tempfile.mkdtemp(prefix="recorder-backup-broken-"))
    (root / "sets").mkdir()
    ftp = FtpServer(root, rate=100_000).start()
    mail = MailServer(ca, "STARTTLS").start()
    source = Appliance(monitor=True, env={"RECORDER_MONITOR_SECONDS": "1", "SSL_CERT_FILE": str(ca.ca_file)})
    engine_id = source.admin.data("{ alarmSettings { engineId } }")["alarmSettings"]["engineId"]
    traps = TrapReceiver(engine_id, v3=False).start()
    try:
        admin = source.admin
        admin.data(MAIL_SETTINGS, {"i": {"host": "127.0.0.1", "port": mail.port, "security": "STARTTLS",
                                        "username": MAIL_USER, "password": MAIL_PASSWORD,
                                        "sender": "recorder@example.com", "language": "en"}})  # fmt: skip
        admin.data(RULE, {"i": {"event": "BACKUP_FAILED", "onScreen": True, "email": True, "level": "HIGH",
                                "threshold": None, "recipients": ["noc@example.com"]}})  # fmt: skip
        admin.data(RECEIVERS, {"r": [{"host": "127.0.0.1", "port": traps.port, "version": "V2C",
                                      "community": COMMUNITY}]})  # fmt: skip
        for n in range(count):
            source.upload(f"1390000{n:04d}", "2002", wav_bytes(tone_pcm(60.0, freq=300 + 50 * n), 8000))
        assert admin.data(PASSPHRASE_SET, {"p": PASSPHRASE})["setBackupPassphrase"]["passphraseSet"]
        target = source.target("FTP", f"ftp://{ftp.address}/sets", username=FTP_USER, password=FTP_PASSWORD)
        outcome: dict[str, Any] = {}
        running = threading.Thread(target=lambda: outcome.update(source.backup_now(target)))
        running.start()
        deadline = time.monotonic() + 60
        # Two files sent at 100 kB/s, the run going on: the server dies.
        while source.admin.data(TARGETS)["backupTargets"][0]["progress"]["done"] < 2:
            assert running.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.1)
        ftp.kill()
        running.join(timeout=120)
        assert outcome["result"] in ("FAILED", "PARTIAL") and outcome["error"], outcome
        [alarm] = admin.data(ALARMS)["alarms"]["items"]
        assert alarm["state"] == "ACTIVE" and "backup failed" in alarm["message"]
        raised = mail.wait_for(1)[0]
        assert raised["Subject"].startswith("[High] Backup failed"), raised["Subject"]
        traps.wait_for("RECORDER-MIB::recorderAlarmRaised", f"recorderAlarmEvent.{alarm['id']} = INTEGER: backupFailed(5)")
        [failed, *_] = source.log()
        assert failed["result"] in ("FAILED", "PARTIAL") and failed["en"].startswith("FTP backup"), failed

        ftp = FtpServer(root, port=ftp.port).start()  # back, at full speed
        done = source.backup_now(target)
        assert done["result"] == "DONE", done
        assert outcome["recordings"] + done["recordings"] == count
        [cleared] = admin.data(ALARMS)["alarms"]["items"]
        assert cleared["state"] == "CLEARED"
        # One set, each recording in it once, no piece left over.
        [set_folder] = [p for p in (root / "sets").iterdir() if p.is_dir()]
        names = sorted(p.name for p in set_folder.iterdir())
        assert [n for n in names if n.endswith(".bin") and not n.startswith("manifest")] == [
            f"{i:08d}.bin" for i in range(1, count + 1)], names
        fresh = Appliance()
        try:
            passphrase = root / "passphrase"
            passphrase.write_text(PASSPHRASE)
            out = fresh.server.cli("admin", "import-backup", str(root / "sets"), "--passphrase-file", str(passphrase))
            assert f"DONE: {count} calls and 0 voice messages imported, 0 already here, 0 problems" in out.stdout, out
        finally:
            fresh.stop()
    finally:
        source.stop()
        ftp.stop()
        mail.stop()
        traps.stop()
        shutil.rmtree(root, ignore_errors=True)


def _usage(folder: Path, pid: int) -> tuple[int, int]:
    out = subprocess.run(["nsenter", "--mount", f"--target={pid}", "stat", "-f", "-c", "%b %f %S", str(folder)],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    blocks, free, size = map(int, out)
    return (blocks - free) * size, blocks * size


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a mount namespace (make test runs as root)")
def test_a_target_at_its_disk_limit_stops_before_passing_it():
    """The target is a small disk of its own (a tmpfs in the server's mount namespace): the
    run stops before a file would take it past the limit, logs why and raises the alarm."""
    source = Appliance(data_disk_bytes=16 * 2**20)
    try:
        assert source.server.proc is not None
        pid = source.server.proc.pid
        folder = source.server.data_dir / "backup-disk"
        subprocess.run(["nsenter", "--mount", f"--target={pid}", "mkdir", str(folder)], check=True)
        for n in range(8):
            source.upload(f"1370000{n:04d}", "2002", wav_bytes(tone_pcm(60.0, freq=300 + 40 * n), 8000))
        used, total = _usage(folder, pid)
        # Room for about three of the eight recordings above what is used now.
        assert len(source.recordings()) == 8
        limit = math.ceil(100 * (used + 3 * 260_000 + 256 * 1024) / total)
        assert source.admin.data(PASSPHRASE_SET, {"p": PASSPHRASE})["setBackupPassphrase"]["passphraseSet"]
        target = source.target("LOCAL", str(folder), diskLimitPercent=limit)
        run = source.backup_now(target)
        assert (run["result"], run["error"]) == ("PARTIAL", "disk_limit"), run
        assert 1 <= run["recordings"] < 8, run
        assert 100 * _usage(folder, pid)[0] / total <= limit
        [entry, *_] = source.log()
        assert "the target disk would pass its usage limit" in entry["en"], entry
        [alarm] = source.admin.data(ALARMS)["alarms"]["items"]
        assert alarm["state"] == "ACTIVE"
    finally:
        source.stop()


MAIL_SETTINGS = "mutation($i: MailSettingsInput!) { updateMailSettings(input: $i) { __typename } }"
RULE = "mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename } }"
RECEIVERS = "mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename } }"


@pytest.mark.parametrize(
    ("target", "field", "rule"),
    [
        ({"kind": "LOCAL", "location": "backup"}, "location", "invalid_format"),
        ({"kind": "LOCAL", "location": "/srv/../etc"}, "location", "invalid_format"),
        ({"kind": "LOCAL", "location": "{recordings}/2024"}, "location", "in_use"),
        ({"kind": "FTP", "location": "sftp://nas/x", "username": "u", "password": "p"}, "location", "scheme_mismatch"),
        ({"kind": "FTP", "location": "ftp://user:pw@nas/x", "username": "u", "password": "p"}, "location",
         "invalid_format"),
        ({"kind": "SMB", "location": "nas/share", "username": "u", "password": "p"}, "location", "invalid_format"),
        ({"kind": "SMB", "location": "\\\\nas", "username": "u", "password": "p"}, "location", "invalid_format"),
        ({"kind": "SFTP", "location": "sftp://nas/x", "password": "p"}, "username", "required"),
        ({"kind": "SMB", "location": "\\\\nas\\share", "username": "u"}, "password", "required"),
        ({"kind": "LOCAL", "location": "/mnt/x", "keepMonths": 121}, "keepMonths", "out_of_range"),
        ({"kind": "LOCAL", "location": "/mnt/x", "diskLimitPercent": 0}, "diskLimitPercent", "out_of_range"),
        ({"kind": "FTP", "location": "ftps://nas/x", "username": "u", "password": "p", "tlsFingerprint": "ab"},
         "tlsFingerprint", "invalid_format"),
    ],
)
def test_bad_targets_are_refused_at_their_field(source, target, field, rule):
    before = source.admin.data("{ backupTargets { id } }")["backupTargets"]
    recordings = str(source.server.data_dir / "recordings")
    given = {k: (v.replace("{recordings}", recordings) if isinstance(v, str) else v) for k, v in target.items()}
    refused = source.admin.data(SET_TARGET, {"i": given})["setBackupTarget"]
    assert refused["__typename"] == "UserError" and (refused["field"], refused["rule"]) == (field, rule), refused
    assert source.admin.data("{ backupTargets { id } }")["backupTargets"] == before


def test_the_passphrase_rules_and_a_changed_passphrase_opens_the_old_sets(source, tmp_path):
    short = source.admin.data(PASSPHRASE_SET, {"p": "too short"})["setBackupPassphrase"]
    assert (short["__typename"], short["field"], short["rule"]) == ("UserError", "passphrase", "too_short")
    target = source.target("LOCAL", str(tmp_path))
    assert source.backup_now(target)["result"] == "DONE"
    changed = source.admin.data(PASSPHRASE_SET, {"p": "a brand new passphrase"})["setBackupPassphrase"]
    assert changed["passphraseSet"] is True
    source.backup_now(target)  # rewrites the key files of the sets already there
    [key_file] = list(tmp_path.glob("rset-*/key"))
    assert b"brand new" not in key_file.read_bytes()
    for phrase, answer in (("a brand new passphrase", 0), (PASSPHRASE, 1)):
        (tmp_path / "phrase").write_text(phrase)
        out = source.server.cli("admin", "import-backup", str(tmp_path), "--passphrase-file",
                                str(tmp_path / "phrase"), check=False)  # fmt: skip
        assert out.returncode == answer, out
        assert ("wrong_passphrase" in out.stdout) is bool(answer), out
    source.admin.data(PASSPHRASE_SET, {"p": PASSPHRASE})


def test_a_set_uploaded_as_a_zip_is_imported_and_a_hostile_zip_reaches_nothing(source, tmp_path):
    import zipfile
    from urllib.parse import quote

    folder = tmp_path / "disk"
    folder.mkdir()
    assert source.backup_now(source.target("LOCAL", str(folder)))["recordings"] == 4
    [set_folder] = list(folder.iterdir())
    upload = tmp_path / "set.zip"
    with zipfile.ZipFile(upload, "w") as z:
        for path in set_folder.rglob("*"):
            z.write(path, f"copied/{set_folder.name}/{path.relative_to(set_folder)}")
        # What a hostile zip adds: names that would leave any extraction folder.
        z.writestr("../../evil.txt", b"x")
        z.writestr("/etc/evil.txt", b"x")
    fresh = Appliance()
    try:
        url = fresh.server.url + "/api/v1/backup-import"

        def post(client: httpx.Client | Client, passphrase: str) -> httpx.Response:
            http = client.http if isinstance(client, Client) else client
            return http.post(url, content=upload.read_bytes(), headers={
                "Content-Type": "application/zip", "X-Backup-Passphrase": quote(passphrase)})  # fmt: skip

        assert post(httpx.Client(timeout=60), PASSPHRASE).status_code == 401
        wrong = post(fresh.admin, "not the passphrase").json()
        assert (wrong["result"], wrong["error"], wrong["recordings"]) == ("FAILED", "wrong_passphrase", 0)
        done = post(fresh.admin, PASSPHRASE).json()
        assert (done["result"], done["recordings"], done["voicemails"], done["problems"]) == ("DONE", 4, 1, []), done
        again = post(fresh.admin, PASSPHRASE).json()
        assert (again["recordings"], again["skipped"]) == (0, 5), again
        assert not Path("/evil.txt").exists() and not (fresh.server.root / "evil.txt").exists()
        assert not list((fresh.server.data_dir / "tmp").glob("upload-*")), "the upload is not left on disk"
    finally:
        fresh.stop()


def test_a_saved_password_is_never_sent_to_another_server(source):
    """Changing a target's server without giving its password again is refused: the saved
    password would otherwise go to whatever host the new location names."""
    made = source.target("FTP", "ftp://127.0.0.1:2121/a", username="u", password="the-nas-password")
    moved = source.admin.data(SET_TARGET, {"i": {"id": made, "kind": "FTP", "location": "ftp://192.0.2.66/a",
                                                 "username": "u"}})["setBackupTarget"]  # fmt: skip
    assert (moved["__typename"], moved["field"], moved["rule"]) == ("UserError", "password", "required")
    # Another folder on the same server keeps it.
    kept = source.admin.data(SET_TARGET, {"i": {"id": made, "kind": "FTP", "location": "ftp://127.0.0.1:2121/b",
                                                "username": "u"}})["setBackupTarget"]  # fmt: skip
    assert kept["__typename"] == "BackupTarget" and kept["location"] == "ftp://127.0.0.1:2121/b"
    source.admin.data("mutation($id: ID!) { deleteBackupTarget(id: $id) { deleted } }", {"id": made})
