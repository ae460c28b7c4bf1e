"""A hostile backup set, zip or target folder, imported through the real server: bad rows,
a zip bomb, a costly password hash in the configuration, links and pipes on a backup disk.
Each is reported and stored nowhere; nothing hangs; nothing outside the set is touched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher

from appliance.errors import TransferFailed
from appliance.media import backup_key
from appliance.media.crypto import encrypt
from appliance.transfer.local import LocalClient
from tests.support.server import ApplianceServer, prepare_admin

PASSPHRASE = "hostile set passphrase 1"
GOOD = {
    "sn": "20240501_173000_2002", "call_id": "c1", "kind": "call", "direction": "in", "caller": "1001",
    "callee": "2002", "caller_org": None, "callee_org": None, "device": "", "device_address": "",
    "started_at": "2024-05-01T09:30:00+00:00", "duration": 1, "duration_ms": 1000, "score": None, "tags": [],
    "play_count": 0, "file_format": "MP3", "source": "upload", "created_at": "2024-05-01T09:31:00+00:00",
    "protected": False,
}


def sealed(key: bytes, plain: bytes) -> bytes:
    return b"".join(encrypt(backup_key.file_cipher(key), plain))


def hostile_set(root: Path, rows: list[object], audio: bytes = b"ID3 not really mp3" * 10) -> Path:
    """A set folder with the given manifest rows; file 00000001.bin holds `audio`."""
    key = backup_key.new_backup_key()
    folder = root / "rset-20240501T000000Z-0123abcd"
    folder.mkdir(parents=True)
    (folder / "key").write_bytes(backup_key.wrap(key, PASSPHRASE).to_bytes())
    (folder / "00000001.bin").write_bytes(sealed(key, audio))
    lines = []
    for row in rows:
        if isinstance(row, dict):
            row = {"file": "00000001.bin", "size": len(audio), "sha256": hashlib.sha256(audio).hexdigest(), **row}
        lines.append(row if isinstance(row, bytes) else json.dumps(row).encode())
    (folder / "manifest-000001.bin").write_bytes(sealed(key, b"\n".join(lines) + b"\n"))
    return folder


@pytest.fixture(scope="module")
def appliance():
    server = ApplianceServer().start()
    try:
        admin, _ = prepare_admin(server)
        yield server, admin
    finally:
        server.stop()


def import_folder(server: ApplianceServer, folder: Path, *extra: str) -> tuple[int, dict]:
    phrase = folder.parent / "phrase"
    phrase.write_text(PASSPHRASE)
    out = server.cli("admin", "import-backup", str(folder.parent), "--passphrase-file", str(phrase), "--json",
                     *extra, check=False)  # fmt: skip
    assert out.stdout, out.stderr[-3000:]
    return out.returncode, json.loads(out.stdout.splitlines()[-1])


def stored_files(server: ApplianceServer) -> list[Path]:
    return [p for p in (server.data_dir / "recordings").rglob("*") if p.is_file()]


def test_bad_rows_are_reported_and_store_nothing(appliance, tmp_path):
    server, admin = appliance
    before = stored_files(server)
    bad = [
        {**GOOD, "sn": "x" * 10_000},
        {**GOOD, "sn": "bad\x1b[2Jsn"},
        {**GOOD, "started_at": "0001-01-01T00:00:00+14:00"},
        {**GOOD, "started_at": "2024-05-01T09:30:00"},
        {**GOOD, "duration_ms": 2**70},
        {**GOOD, "duration": -5},
        {**GOOD, "caller": {"a": 1}},
        {**GOOD, "kind": "fax"},
        {**GOOD, "tags": [{"name": "t", "offset": 0, "at": "2024-05-01T09:31:00+00:00"}] * 2},
        {**GOOD, "tags": [{"name": f"t{i}", "offset": 0, "at": "2024-05-01T09:31:00+00:00"} for i in range(1001)]},
        {**GOOD, "file": "../../x.bin"},
        {k: v for k, v in GOOD.items() if k != "callee"},
        b"[" * 100_000 + b"]" * 100_000,
    ]
    folder = hostile_set(tmp_path, [*bad, GOOD])
    code, summary = import_folder(server, folder)
    assert code == 1 and (summary["result"], summary["recordings"], summary["problems"]) == ("PARTIAL", 1, len(bad))
    assert len(stored_files(server)) == len(before) + 1  # the good row only: no orphan left
    entry = admin.data("{ backupLog(pageSize: 1) { items { kind result } } }")["backupLog"]["items"][0]
    assert entry == {"kind": "IMPORT", "result": "PARTIAL"}


def test_a_zip_bomb_is_refused_before_it_fills_the_disk(appliance, tmp_path):
    server, admin = appliance
    folder = hostile_set(tmp_path, [{**GOOD, "sn": "20240501_173000_bomb", "call_id": "bomb", "size": 10**12}])
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for path in folder.iterdir():
            if path.name != "00000001.bin":
                z.write(path, f"{folder.name}/{path.name}")
        with z.open(f"{folder.name}/00000001.bin", "w", force_zip64=True) as member:
            for _ in range(256):  # 2 GiB of zeros in a few MB
                member.write(bytes(8 * 2**20))
    assert bomb.stat().st_size < 20 * 2**20
    began = time.monotonic()
    r = admin.http.post("/api/v1/backup-import", content=bomb.read_bytes(),
                        headers={"Content-Type": "application/zip", "X-Backup-Passphrase": quote(PASSPHRASE)})
    assert r.status_code == 200 and time.monotonic() - began < 60
    assert r.json()["recordings"] == 0 and r.json()["problems"], r.json()
    assert not list((server.data_dir / "tmp").glob("*")) or all(
        p.stat().st_size < 2**20 for p in (server.data_dir / "tmp").glob("*"))
    bad_header = admin.http.post("/api/v1/backup-import", content=b"PK", headers={"X-Backup-Passphrase": "%ff%fe"})
    assert bad_header.status_code == 400


def test_a_costly_password_hash_in_a_configuration_is_refused(appliance, tmp_path):
    server, admin = appliance
    key_folder = hostile_set(tmp_path, [])
    key = backup_key.unwrap(backup_key.KeyFile.parse((key_folder / "key").read_bytes()), PASSPHRASE)
    costly = PasswordHasher(memory_cost=512 * 1024, time_cost=4).hash("x")
    document = {
        "format": "recorder-config", "version": 1, "settings": {}, "alarm_rules": "",
        "devices": [], "departments": [{"name": "Hostile", "prefix": "HOST", "device": None, "parent": None}],
        "roles": [],
        "employees": [{"login": "HOST7001", "extension": "7001", "name": "Mallory", "phone": "",
                       "department": "Hostile", "roles": [], "password_hash": costly, "enabled": True}],
    }
    (key_folder / "config.bin").write_bytes(sealed(key, json.dumps(document).encode()))
    code, summary = import_folder(server, key_folder, "--config")
    assert code == 1  # refused rows make the import partial
    assert summary["problems"] >= 1 and summary["config_created"] == {"departments": 1}, summary
    assert all(e["login"] != "HOST7001" for e in admin.data("{ employees { login } }")["employees"])


def test_links_and_pipes_on_a_backup_disk_are_not_followed(tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "doc.txt").write_text("keep me")
    target = tmp_path / "target"
    (target / "rset-x").mkdir(parents=True)
    os.symlink(outside / "doc.txt", target / "rset-x" / "00000001.bin")
    os.symlink(outside, target / "rset-y")
    os.mkfifo(target / "rset-x" / "key")
    client = LocalClient(str(target))
    for step in (lambda: client.delete("rset-x/00000001.bin"), lambda: client.list_dir("rset-y"),
                 lambda: client.download("rset-x/key", io.BytesIO()),
                 lambda: client.upload("rset-y/new.bin", io.BytesIO(b"x"))):
        with pytest.raises(TransferFailed):
            step()
    os.mkfifo(target / "rset-x" / ".key2.part")
    client.upload("rset-x/key2", io.BytesIO(b"written"))  # the pipe replaced, not opened
    assert (target / "rset-x" / "key2").read_bytes() == b"written"
    assert (outside / "doc.txt").read_text() == "keep me" and not (outside / "new.bin").exists()
