"""The kinds of entries in the audit trail ("操作痕迹")."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AuditType(StrEnum):
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    PASSWORD = "PASSWORD"
    PLAY = "PLAY"
    DOWNLOAD = "DOWNLOAD"
    EXPORT = "EXPORT"
    SCORE = "SCORE"
    TAG = "TAG"
    DELETE = "DELETE"
    UPLOAD = "UPLOAD"
    SETTINGS = "SETTINGS"
    DEVICE = "DEVICE"
    TOKEN = "TOKEN"
    USER = "USER"
    ORGANIZATION = "ORGANIZATION"
    EMPLOYEE = "EMPLOYEE"
    ROLE = "ROLE"
    IMPORT = "IMPORT"
    ALARM = "ALARM"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries of the audit trail to list; empty fields match every entry."""

    account: str | None = None
    type: str | None = None
    ip: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


# What each audit event says, in English (the `details` column, exports, the API); the
# console has the same keys in each of its languages, filled with the entry's params.
EVENTS: dict[str, str] = {
    "login_failed": "wrong user name or password",
    "login": "logged in",
    "logout": "logged out",
    "password_changed": "changed own password",
    "password_reset": "reset the password of {login}",
    "access_ended": "ended {sessions} sessions and {tokens} API tokens of {login}",
    "account_disabled": "disabled the account {login}",
    "account_enabled": "enabled the account {login}",
    "token_created": "created API token '{name}' for {login}",
    "token_revoked": "revoked API token '{name}'",
    "device_created": "created {mode} device {alias} ({address})",
    "device_changed": "changed device {alias} ({address})",
    "device_deleted": "deleted device {alias} ({address})",
    "device_auth_failed": "{count} failed authentications as device {alias}",
    "device_host_key_pinned": "trusted the SSH host key {key} of device {alias}",
    "device_blocked": "stopped fetching from device {alias}: {reason} ({found})",
    "device_host_key_accepted": "accepted the new SSH host key {new} of device {alias}",
    "settings_changed": "{changes}",
    "alarm_event_changed": "alarm {alarm}: {changes}",
    "mail_settings_changed": "alarm e-mail: {changes}",
    "snmp_receivers_changed": "SNMP receivers: {receivers}",
    "snmp_agent_changed": "SNMP agent: {changes}",
    "alarm_acknowledged": "acknowledged alarm {id} ({alarm})",
    "test_mail_sent": "sent a test e-mail to {to}",
    "test_trap_sent": "sent a test trap",
    "backup_target_saved": "saved the {kind} backup target {location} (on: {enabled})",
    "backup_target_deleted": "deleted the {kind} backup target {location}",
    "backup_policies_saved": "saved the backup policies: {policies}",
    "backup_passphrase_set": "set the backup passphrase",
    "backup_config_switched": "backups carry the configuration: {include}",
    "protected": "protected {sn} (legal hold)",
    "unprotected": "lifted the protection of {sn}",
    "recording_stored": "recording {sn} ({caller} -> {callee}, {duration} s) via {source}",
    "scored": "scored {sn}: {score}",
    "tagged": "tagged {sn}: {tag}",
    "tagged_at": "tagged {sn}: {tag} at {offset} s",
    "untagged": "removed tag {tag} from {sn}",
    "deleted": "deleted {sn} ({caller} -> {callee})",
    "deleted_circular": "deleted {sn} ({caller} -> {callee}) by circular recording",
    "played": "played {sn}",
    "downloaded": "downloaded {count} recordings: {sns}",
    "exported": "exported {count} recordings to Excel",
    "audit_exported": "audit trail export: {count} entries",
    "org_created": "created organisation {name} ({prefix})",
    "org_changed": "changed organisation {old_name} ({old_prefix}) -> {name} ({prefix})",
    "org_deleted": "deleted organisation {name} ({prefix})",
    "role_created": "created role {name}: {departments}; actions {actions}",
    "role_changed": "changed role {name}: {departments}; actions {actions}",
    "role_deleted": "deleted role {name}",
    "employee_created": "created employee {login} {name}",
    "employee_changed": "changed employee {old} -> {login} {name}",
    "employee_deleted": "deleted employee {login} {name}",
    "employees_imported": "imported employees: {created} created, {updated} updated",
    "ha_settings_changed": "primary/standby: {changes}",
    "ha_sync_requested": "asked for a sync with the standby now",
    "ha_paired": "paired with the other appliance of the pair",
    "ha_promoted": "became the primary ({why})",
    "ha_failback_requested": "asked the primary to hand over everything and step down",
    "ha_stepped_down": "became the standby of a newer primary (promotion {peer_epoch})",
}


def describe(event: str, params: Mapping[str, object]) -> str:
    return EVENTS[event].format(**params)
