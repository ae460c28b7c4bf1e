"""The backup format's pure parts: target locations, set names, the passphrase-wrapped key
file (and its bounds against a hostile set), and the log's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from appliance import words
from appliance.domain.backup import (
    SET_NAME,
    BackupTargetSpec,
    TargetKind,
    location_kind,
    parse_location,
    set_began,
    set_name,
)
from appliance.errors import InvalidInput
from appliance.media import backup_key
from appliance.media.backup_key import KeyFile, WrongPassphrase


@pytest.mark.parametrize(
    ("kind", "text", "host", "port", "share", "path", "label"),
    [
        (TargetKind.LOCAL, "/mnt/backup/", "", 0, "", "/mnt/backup", "/mnt/backup"),
        # As for pull devices: a URL's path is the folder from the server's root.
        (TargetKind.FTP, "ftp://nas/rec", "nas", 21, "", "/rec", "ftp://nas:21/rec"),
        (TargetKind.FTP, "ftps://nas:2121/a/b", "nas", 2121, "", "/a/b", "ftps://nas:2121/a/b"),
        (TargetKind.FTP, "192.0.2.30/rec", "192.0.2.30", 21, "", "/rec", "ftp://192.0.2.30:21/rec"),
        (TargetKind.SFTP, "sftp://nas/srv/backup", "nas", 22, "", "/srv/backup", "sftp://nas:22/srv/backup"),
        (TargetKind.SMB, "\\\\nas\\rms_backup\\rec", "nas", 445, "rms_backup", "rec", "\\\\nas\\rms_backup\\rec"),
        (TargetKind.SMB, "//nas:4450/share", "nas", 4450, "share", "", "\\\\nas:4450\\share"),
        (TargetKind.SMB, "smb://nas/share/a/b", "nas", 445, "share", "a/b", "\\\\nas\\share\\a\\b"),
    ],
)
def test_locations_parse_and_read_back(kind, text, host, port, share, path, label):
    where = parse_location(kind, text)
    assert (where.host, where.port, where.share, where.path) == (host, port, share, path)
    assert where.label() == label
    assert parse_location(kind, where.label()) == where  # what is saved parses again
    assert location_kind(where.label()) is (TargetKind.LOCAL if kind is TargetKind.LOCAL else kind)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (TargetKind.LOCAL, "relative/path"),
        (TargetKind.LOCAL, "/mnt/../etc"),
        (TargetKind.LOCAL, "/mnt/a\x00b"),
        (TargetKind.SMB, "\\\\nas"),
        (TargetKind.SMB, "smb://u:p@nas/share"),
        (TargetKind.SMB, "\\\\nas\\share\\..\\x"),
        (TargetKind.FTP, "ftp://u:p@nas/x"),
        (TargetKind.FTP, "http://nas/x"),
        (TargetKind.SFTP, "sftp://nas:99999/x"),
    ],
)
def test_bad_locations_are_refused_at_the_location(kind, text):
    with pytest.raises(InvalidInput) as refused:
        BackupTargetSpec(kind, True, text, username="u", password="p").validate()
    assert refused.value.field == "location"


def test_set_names_say_when_and_nothing_else():
    at = datetime(2026, 12, 6, 3, 15, 0, tzinfo=UTC)
    name = set_name(at)
    assert SET_NAME.match(name) and set_began(name) == at
    assert set_name(at) != name  # two sets begun in one second still differ


def test_the_key_file_opens_with_its_passphrase_only():
    key = backup_key.new_backup_key()
    wrapped = backup_key.wrap(key, "correct horse battery")
    text = wrapped.to_bytes()
    assert key not in text and b"correct horse" not in text
    assert backup_key.unwrap(KeyFile.parse(text), "correct horse battery") == key
    with pytest.raises(WrongPassphrase):
        backup_key.unwrap(KeyFile.parse(text), "correct horse battery!")
    # A new passphrase wraps the same key: the files it encrypted stay readable.
    again = backup_key.wrap(key, "another passphrase")
    assert again.key_id == wrapped.key_id and again.version_tag != wrapped.version_tag
    assert backup_key.unwrap(again, "another passphrase") == key


def test_a_tampered_key_file_does_not_open():
    key = backup_key.new_backup_key()
    document = json.loads(backup_key.wrap(key, "a passphrase 123").to_bytes())
    document["kdf"]["time_cost"] = 4  # the KDF's costs are bound to the wrapped key
    with pytest.raises(WrongPassphrase):
        backup_key.unwrap(KeyFile.parse(json.dumps(document).encode()), "a passphrase 123")


@pytest.mark.parametrize(
    "change",
    [
        {"memory_kib": 64 * 1024 * 1024},  # 64 GiB: a hostile set must not make us allocate it
        {"time_cost": 10_000},
        {"parallelism": 0},
        {"name": "scrypt"},
    ],
)
def test_a_key_file_out_of_bounds_is_refused_before_any_work(change):
    document = json.loads(backup_key.wrap(backup_key.new_backup_key(), "a passphrase 123").to_bytes())
    document["kdf"].update(change)
    with pytest.raises(InvalidInput) as refused:
        KeyFile.parse(json.dumps(document).encode())
    assert refused.value.code == "not_a_backup"


def test_not_a_key_file():
    for data in (b"", b"{}", b"\xff" * 10, b"x" * 10_000):
        with pytest.raises(InvalidInput):
            KeyFile.parse(data)


def test_the_log_says_it_as_the_manual_does_in_each_language():
    counts = {"recordings": 12, "voicemails": 3}
    assert words.backup_description("zh-CN", "LOCAL", "backup_done", {}, counts) == (
        "本地备份已执行:通话录音备份数[12],语音留言备份数[3]"
    )
    assert words.backup_description("zh-CN", "FTP", "backup_done", {}, counts).startswith("FTP备份已执行")
    assert words.backup_description("zh-CN", "SMB", "backup_done", {}, counts).startswith("NAS备份已执行")
    assert words.backup_description("zh-TW", "", "deleted_circular", {"sn": "X"}, {}) == "[刪除錄音]錄音檔案(X)"
    failed = words.backup_description("en", "SFTP", "backup_failed", {"error": "auth_failed"}, counts)
    assert failed == "SFTP backup failed: user name or password refused"
