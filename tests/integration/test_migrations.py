"""Upgrading a database made by an older schema keeps its data, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from appliance.db.connect import DatabaseUrl
from appliance.db.migrations import LATEST, migrate


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return DatabaseUrl.parse(f"sqlite:///{tmp_path / 'old.db'}")
    return DatabaseUrl.parse(request.getfixturevalue("postgres").create_database("migr"))


def test_upgrade_from_version_1_keeps_recordings_and_tags(url):
    assert migrate(url, target=1) == [1]
    conn = url.connect()
    cur = conn.cursor()
    m = "?" if url.provider == "sqlite" else "%s"
    cur.execute(
        "INSERT INTO recording (id, sn, device_id, call_id, kind, caller, callee, started_at, duration, "
        "duration_ms, play_count, tag_count, file_format, relpath, disk_size, plain_size, sha256, encrypted, "
        f"source, created_at) VALUES (1, 'sn1', NULL, 'c1', 'voicemail', '201', '269', {m}, 5, 5000, 0, 3, "
        f"'MP3', 'r/1', 1, 1, 'x', {m}, 'upload', {m})",
        ("2021-01-13 15:01:02.000000", True, "2021-01-13 15:01:02.000000"),
    )
    for tag_id, name in ((1, "Good"), (2, "Good"), (3, "Bad")):
        cur.execute(
            f"INSERT INTO tag (id, recording_id, name, position, created_at) VALUES ({m}, 1, {m}, 1.0, {m})",
            (tag_id, name, "2021-01-13 15:02:00.000000"),
        )
    if url.provider == "postgres":
        conn.commit()
    conn.close()

    assert migrate(url) == list(range(2, LATEST + 1))
    assert migrate(url) == []
    conn = url.connect()
    cur = conn.cursor()
    cur.execute("SELECT id, name, kind, started_at FROM tag ORDER BY id")
    tags = cur.fetchall()
    assert [(t[0], t[1], t[2]) for t in tags] == [(2, "Good", "voicemail"), (3, "Bad", "voicemail")]
    assert all(str(t[3]).startswith("2021-01-13 15:01:02") for t in tags)
    cur.execute("SELECT tag_count FROM recording WHERE id = 1")
    assert cur.fetchone()[0] == 2
    cur.execute("SELECT kind, zero, n FROM recording_tally")
    assert cur.fetchall() == [("voicemail", 0, 1)]
    conn.close()
