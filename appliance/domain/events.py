"""The event log's entries: what changed, when, in which process and by whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """Every kind of change the event log holds (the one declaration of them)."""

    SETTINGS_CHANGED = "settings.changed"
    DEVICE_CREATED = "device.created"
    DEVICE_CHANGED = "device.changed"
    DEVICE_DELETED = "device.deleted"
    DEVICE_PULLED = "device.pulled"  # a pull run ended: its counts, or why it failed
    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_CHANGED = "organization.changed"
    ORGANIZATION_DELETED = "organization.deleted"
    ROLE_CREATED = "role.created"
    ROLE_CHANGED = "role.changed"
    ROLE_DELETED = "role.deleted"
    EMPLOYEE_CREATED = "employee.created"
    EMPLOYEE_CHANGED = "employee.changed"
    EMPLOYEE_DELETED = "employee.deleted"
    EMPLOYEES_IMPORTED = "employees.imported"
    USER_CREATED = "user.created"
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_ACCESS_ENDED = "user.access_ended"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    RECORDING_STORED = "recording.stored"
    RECORDING_SCORED = "recording.scored"
    RECORDING_TAGGED = "recording.tagged"
    RECORDING_UNTAGGED = "recording.untagged"
    RECORDING_DELETED = "recording.deleted"
    RECORDING_PLAYED = "recording.played"  # counted once per listening (the standby's copy too)
    RECORDING_PROTECTED = "recording.protected"  # legal hold set or lifted
    RECORDING_IMPORTED = "recording.imported"  # restored from a backup set
    BACKUP_SETTINGS_CHANGED = "backup_settings.changed"  # targets, policies, passphrase
    BACKUP_RAN = "backup.ran"  # a backup run or an import ended: its counts, or why not
    ALARM_RAISED = "alarm.raised"
    ALARM_CLEARED = "alarm.cleared"
    ALARM_ACKNOWLEDGED = "alarm.acknowledged"
    ALARM_SETTINGS_CHANGED = "alarm_settings.changed"
    ALARM_TEST_REQUESTED = "alarm.test_requested"  # "send a test trap": the monitor sends it
    HA_CHANGED = "ha.changed"  # this side's primary/standby settings (not synced)
    HA_ROLE_CHANGED = "ha.role_changed"  # promoted (takeover, make primary) or stepped down


@dataclass(frozen=True)
class Event:
    """One entry of the log; `id` rises in commit order, `at` is aware UTC."""

    id: int
    at: datetime
    kind: str  # an EventKind value; kept as text so a newer writer's kinds still read
    process: str  # e.g. "api@host:1234"
    actor: str  # the acting login, or "system"
    params: dict[str, Any] = field(default_factory=dict)
