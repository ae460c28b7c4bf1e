"""Schema step 17: the alarm list and a day of metric samples."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# One row per occurrence, raised once and cleared once. `subject` tells apart occurrences
# of one event that may be active together (two services ended abnormally); the partial
# unique index keeps two monitors (a restart overlapping the old one) from raising one
# occurrence twice. `delivery` says, per channel (mail, each trap receiver), whether the
# notification went out or why not yet.
V17_ALARMS = [
    """CREATE TABLE alarm (
        id {pk}, event TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '', level TEXT NOT NULL,
        state TEXT NOT NULL, value {real}, threshold {real}, message TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}', raised_at {ts} NOT NULL, cleared_at {ts},
        acknowledged_at {ts}, acknowledged_by TEXT, delivery TEXT NOT NULL DEFAULT '{}')""",
    "CREATE UNIQUE INDEX alarm_active ON alarm (event, subject) WHERE state = 'ACTIVE'",
    "CREATE INDEX alarm_raised ON alarm (raised_at)",
    "CREATE INDEX alarm_event_raised ON alarm (event, raised_at)",
    # Every 10 s for a day: 8,640 rows, read by time for the console's last hour or day.
    """CREATE TABLE metric_sample (
        id {pk}, at {ts} NOT NULL, cpu {real} NOT NULL, memory {real} NOT NULL,
        disk {real} NOT NULL, active_calls INTEGER NOT NULL, packets_per_s {real} NOT NULL,
        drops INTEGER NOT NULL, setups INTEGER NOT NULL, refused INTEGER NOT NULL)""",
    "CREATE INDEX metric_sample_at ON metric_sample (at)",
    # The monitor's every-10-s questions: the newest recording, and today's count.
    "CREATE INDEX recording_created ON recording (created_at)",
]

STEP = Step(17, "alarms and metric samples", V17_ALARMS)
