"""Backups (备份管理) through the real server: a local disk, pyftpdlib over FTP, OpenSSH's
sshd over SFTP and Samba's smbd over SMB, on 127.0.0.1 and free ports. The tests assert
what an administrator relies on: the target holds nothing in clear, a second run sends
nothing, a new appliance with a fresh master key restores the same bytes and metadata with
the passphrase (and nothing without it), a broken run is completed without duplicates."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.audio import speech_wav, tone_pcm, wav_bytes
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
            right = folder.parent / f"{folder.name}-right"
            right.write_text(PASSPHRASE + "\n")
            done = fresh.server.cli("admin", "import-backup", str(folder), "--passphrase-file", str(right))
            assert "DONE: 4 calls and 1 voice messages imported" in done.stdout, done
            by_sn = {r["sn"]: r for r in fresh.recordings()}
            assert sorted(map(comparable, by_sn.values())) == sorted(map(comparable, expected))
            for sn, data in audio.items():
                assert fresh.audio(by_sn[sn]["id"]) == data, sn
            twice = fresh.server.cli("admin", "import-backup", str(folder), "--passphrase-file", str(right))
            assert "0 calls and 0 voice messages imported, 5 already here" in twice.stdout, twice
            assert len(fresh.recordings()) == 5
            [imported, *_] = fresh.log()
            assert imported["kind"] == "IMPORT" and imported["result"] == "DONE"
        finally:
            fresh.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
