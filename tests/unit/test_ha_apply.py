"""What a standby applies, on SQLite: a call both sides recorded with other audio stays two
recordings (each found again by its audio), and a configuration whose unique names crossed
applies whole."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pony.orm import db_session

from appliance.db import ha_queries
from appliance.db.sql import rows, run


@pytest.fixture(autouse=True)
def _database(sqlite_database: object) -> None:
    """The shared unit-test database."""


def _payload(call_id: str, sha: str, score: int | None = None) -> dict:
    return {
        "row": {
            "sn": f"20260101_000000_{uuid.uuid4().hex[:6]}", "device_id": None, "call_id": call_id,
            "kind": "call", "direction": None, "caller": "1001", "callee": "2002",
            "started_at": "2026-01-01T00:00:00+00:00", "duration": 3, "duration_ms": 3000, "score": score,
            "play_count": 0, "tag_count": 0, "file_format": "MP3",
            "relpath": f"recordings/2026/01/01/{uuid.uuid4().hex}.mp3.enc", "disk_size": 10, "plain_size": 9,
            "sha256": sha, "encrypted": True, "source": "upload", "created_at": "2026-01-01T00:00:00+00:00",
            "deleted_at": None, "caller_org_id": None, "callee_org_id": None, "protected": False,
            "deleted_reason": None,
        },
        "tag": [], "score_event": [], "play_event": [],
    }  # fmt: skip


def _free(sn: str) -> str:
    return sn


def test_one_call_recorded_on_both_sides_with_other_audio_stays_two_recordings():
    call = uuid.uuid4().hex
    ours, theirs = "a" * 64, "b" * 64
    with db_session:
        mine = ha_queries.apply_recording(_payload(call, ours), _free)
        other = ha_queries.apply_recording(_payload(call, theirs), _free)
        again = ha_queries.apply_recording(_payload(call, theirs, score=80), _free)
    assert mine.created and other.created and not again.created
    assert again.recording_id == other.recording_id != mine.recording_id
    with db_session:
        found = rows("SELECT call_id, sha256, score FROM recording WHERE call_id LIKE ? ORDER BY id", [call + "%"])
        assert found == [(call, ours, None), (f"{call}~{theirs[:12]}", theirs, 80)]
        # Sent on, the second is the same call again (the other side finds its own copy).
        assert ha_queries.recording_payload(other.recording_id)["row"]["call_id"] == call
        assert ha_queries.identity_of(other.recording_id) == (None, call, theirs)
        relpath = ha_queries.apply_deletion(None, call, theirs, "deleted", datetime.now(UTC))
        assert relpath is not None
        live = rows("SELECT sha256 FROM recording WHERE call_id LIKE ? AND deleted_at IS NULL", [call + "%"])
        assert live == [(ours,)]


def test_a_configuration_whose_unique_names_crossed_applies_whole():
    with db_session:
        snapshot = ha_queries.configuration()
        base = max([0, *(o["id"] for o in snapshot["organization"])]) + 100
        now = datetime.now(UTC).isoformat()
        for n, (name, prefix) in enumerate((("Sales", "SLA"), ("Support", "SUP"))):
            run("INSERT INTO organization (id, name, prefix, created_at) VALUES (?, ?, ?, ?)",
                [base + n, name, prefix, now.replace("+00:00", "").replace("T", " ")])  # fmt: skip
        snapshot = ha_queries.configuration()
    crossed = {o["id"]: o for o in snapshot["organization"]}
    crossed[base]["name"], crossed[base + 1]["name"] = "Support", "Sales"
    crossed[base]["prefix"], crossed[base + 1]["prefix"] = "SUP", "SLA"
    with db_session:
        ha_queries.apply_configuration({**snapshot, "organization": list(crossed.values())})
        found = rows("SELECT id, name, prefix FROM organization WHERE id >= ? ORDER BY id", [base])
    assert found == [(base, "Support", "SUP"), (base + 1, "Sales", "SLA")]
