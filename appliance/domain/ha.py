"""Primary and standby (主备): the pair's settings, pairing proofs, what a change means to
the standby, and when a standby may take over. Pure: no sockets, no database."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from appliance.domain.events import EventKind
from appliance.domain.recordings import STORED_PATH
from appliance.errors import InvalidInput

DEFAULT_PORT = 7443  # the failover service's own port (mutual TLS between the two)
MIN_SECRET = 16  # a pairing secret guessed offline from one observed pairing must be long


class HaRole(StrEnum):
    STANDALONE = "STANDALONE"
    PRIMARY = "PRIMARY"
    STANDBY = "STANDBY"


RANGES = {"period_seconds": (1, 86_400), "takeover_seconds": (3, 3_600)}


@dataclass(frozen=True)
class HaSettings:
    """The manual's 主备设置 plus takeover: role, the peer, what is synced and how often."""

    role: HaRole = HaRole.STANDALONE
    peer_address: str = ""
    recording_sync: bool = True
    config_sync: bool = True
    period_seconds: int = 60
    takeover_seconds: int = 15
    witness: str = ""

    def changed(self, **changes: Any) -> HaSettings:
        """These settings with the changes applied and checked; each fault at its field."""
        for name, (low, high) in RANGES.items():
            value = changes.get(name)
            if value is not None and not low <= int(value) <= high:
                raise InvalidInput(
                    f"{name} must be within {low}..{high}",
                    field=name,
                    code="out_of_range",
                    params={"min": low, "max": high, "value": value},
                )
        if changes.get("role") is not None:
            changes["role"] = HaRole(changes["role"])
        for name in ("peer_address", "witness"):
            if changes.get(name) is not None:
                text = str(changes[name]).strip()
                if text:
                    parse_address(text, DEFAULT_PORT if name == "peer_address" else None, name)
                changes[name] = text
        after = replace(self, **{k: v for k, v in changes.items() if v is not None})
        if after.role is not HaRole.STANDALONE and not after.peer_address:
            raise InvalidInput(
                "a primary or standby needs its peer's address",
                field="peer_address",
                code="required",
            )
        return after


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def parse_address(text: str, default_port: int | None, field: str) -> tuple[str, int | None]:
    """host, host:port, [v6] or [v6]:port; the port is default_port when not given."""
    host, port = text, default_port
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?", text)
    if bracketed:
        host, given = bracketed.group(1), bracketed.group(2)
        port = int(given) if given else default_port
    elif text.count(":") == 1:
        host, given = text.split(":")
        if not given.isdigit():
            raise _bad_address(field, text)
        port = int(given)
    if port is not None and not 1 <= port <= 65_535:
        raise _bad_address(field, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.fullmatch(host):
            raise _bad_address(field, text) from None
    return host, port


def _bad_address(field: str, text: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {text!r} is not a host or host:port", field=field, code="invalid_format"
    )


def check_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET:
        raise InvalidInput(
            f"the pairing secret needs at least {MIN_SECRET} characters",
            field="pairing_secret",
            code="too_short",
            params={"min": MIN_SECRET},
        )
    if len(secret) > 200:
        raise InvalidInput(
            "the pairing secret is too long",
            field="pairing_secret",
            code="too_long",
            params={"max": 200},
        )
    return secret


def pairing_proof(secret: str, side: str, nonces: tuple[bytes, bytes], fps: tuple[str, str]) -> str:
    """What one side shows it knows the secret with, bound to both nonces and both TLS
    certificates' fingerprints (primary's first): a relay between two other connections
    holds neither certificate's key, so its proofs name the wrong certificates."""
    message = b"|".join(
        [b"recorder-ha-pair-v1", side.encode(), *nonces, *(f.encode() for f in fps)]
    )
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def proofs_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Change(StrEnum):
    """What an entry of the primary's event log means to its standby."""

    RECORDING = "recording"  # send the recording's row (its file when the standby lacks it)
    DELETION = "deletion"
    CONFIGURATION = "configuration"  # send the configuration as it is now
    NOTHING = "nothing"


_RECORDING = {
    EventKind.RECORDING_STORED,
    EventKind.RECORDING_IMPORTED,
    EventKind.RECORDING_SCORED,
    EventKind.RECORDING_TAGGED,
    EventKind.RECORDING_UNTAGGED,
    EventKind.RECORDING_PROTECTED,
    EventKind.RECORDING_PLAYED,
}
_CONFIGURATION = {
    EventKind.SETTINGS_CHANGED,
    EventKind.DEVICE_CREATED,
    EventKind.DEVICE_CHANGED,
    EventKind.DEVICE_DELETED,
    EventKind.ORGANIZATION_CREATED,
    EventKind.ORGANIZATION_CHANGED,
    EventKind.ORGANIZATION_DELETED,
    EventKind.ROLE_CREATED,
    EventKind.ROLE_CHANGED,
    EventKind.ROLE_DELETED,
    EventKind.EMPLOYEE_CREATED,
    EventKind.EMPLOYEE_CHANGED,
    EventKind.EMPLOYEE_DELETED,
    EventKind.EMPLOYEES_IMPORTED,
    EventKind.USER_CREATED,
    EventKind.USER_PASSWORD_CHANGED,
    EventKind.USER_ACCESS_ENDED,
    EventKind.USER_DISABLED,
    EventKind.USER_ENABLED,
    EventKind.TOKEN_CREATED,
    EventKind.TOKEN_REVOKED,
    EventKind.ALARM_SETTINGS_CHANGED,
}


def change_of(kind: str, *, recordings: bool, configuration: bool, handover: bool) -> Change:
    """What to send for one event. A standby hands over only recordings it made itself
    (while it was primary, or before it learnt of a newer one): never deletions or
    configuration, which the primary owns."""
    if handover:  # only the recordings it made: its copies' scores and plays are the primary's
        made = kind in (EventKind.RECORDING_STORED, EventKind.RECORDING_IMPORTED)
        return Change.RECORDING if made and recordings else Change.NOTHING
    if kind in _RECORDING:
        return Change.RECORDING if recordings else Change.NOTHING
    if kind == EventKind.RECORDING_DELETED:
        return Change.DELETION if recordings else Change.NOTHING
    if kind in _CONFIGURATION and configuration:
        return Change.CONFIGURATION
    return Change.NOTHING


@dataclass(frozen=True)
class PeerView:
    """What a standby knows when it decides whether to take over."""

    paired: bool
    silent_seconds: float  # since the primary was last heard
    witness_configured: bool
    witness_reachable: bool


def should_take_over(role: HaRole, takeover_seconds: int, view: PeerView) -> bool:
    """A paired standby takes over once the primary has been silent for the takeover time,
    and only while it still reaches the witness: a standby cut off from both is the one
    that is isolated, and two primaries would split the recordings."""
    if role is not HaRole.STANDBY or not view.paired:
        return False
    if view.silent_seconds < takeover_seconds:
        return False
    return view.witness_reachable or not view.witness_configured


def newer_primary(own_epoch: int, own_since: str, peer_epoch: int, peer_since: str) -> bool:
    """Of two primaries, whether the peer is the newer (it wins, this one steps down):
    the higher promotion count, then the later promotion time (ISO text, UTC)."""
    return (peer_epoch, peer_since) > (own_epoch, own_since)


# --- what a paired appliance sends, checked before it is applied ---------------------------

_TEXT, _INT, _FLAG, _TIME = "text", "int", "flag", "time"
_ROW: dict[str, tuple[str, bool]] = {  # column: (kind, may be null)
    "sn": (_TEXT, False), "device_id": (_INT, True), "call_id": (_TEXT, False),
    "kind": (_TEXT, False), "direction": (_TEXT, True), "caller": (_TEXT, False),
    "callee": (_TEXT, False), "started_at": (_TIME, False), "duration": (_INT, False),
    "duration_ms": (_INT, False), "score": (_INT, True), "play_count": (_INT, False),
    "tag_count": (_INT, False), "file_format": (_TEXT, False), "relpath": (_TEXT, False),
    "disk_size": (_INT, False), "plain_size": (_INT, False), "sha256": (_TEXT, False),
    "encrypted": (_FLAG, False), "source": (_TEXT, False), "created_at": (_TIME, False),
    "deleted_at": (_TIME, True), "caller_org_id": (_INT, True), "callee_org_id": (_INT, True),
    "protected": (_FLAG, False), "deleted_reason": (_TEXT, True),
}  # fmt: skip
# A recording's rows in other tables, as a peer sends them (and db/ha_queries reads them).
CHILD_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "tag": {"name": (_TEXT, False), "position": ("number", True), "user_id": (_INT, True),
            "created_at": (_TIME, False), "kind": (_TEXT, False), "started_at": (_TIME, False)},
    "score_event": {"user_id": (_INT, True), "score": (_INT, False), "created_at": (_TIME, False)},
    "play_event": {"user_id": (_INT, True), "ip": (_TEXT, False), "created_at": (_TIME, False)},
}  # fmt: skip
TEXT_MAX = 1000
CHILDREN_MAX = 10_000
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _value(kind: str, nullable: bool, value: Any, column: str) -> Any:
    if value is None:
        if nullable:
            return None
    elif kind == _TEXT and isinstance(value, str) and len(value) <= TEXT_MAX:
        return value
    elif kind == _INT and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 2**62:
            return value
    elif kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif kind == _FLAG and (isinstance(value, bool) or value in (0, 1)):
        return bool(value)
    elif kind == _TIME and isinstance(value, str) and len(value) <= 40:
        try:
            datetime.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise InvalidInput(f"{column}: {value!r} is not what the column holds", field=column)


def checked_recording(payload: Any) -> dict[str, Any]:
    """A recording as a peer sent it, with only the columns and children we know, each of
    its type; its file's path of the store's own form. InvalidInput otherwise."""
    if not isinstance(payload, dict) or not isinstance(payload.get("row"), dict):
        raise InvalidInput("a recording without its row", field="row")
    given = payload["row"]
    row = {c: _value(k, n, given.get(c), c) for c, (k, n) in _ROW.items()}  # never an id
    if not STORED_PATH.fullmatch(row["relpath"]) or not _SHA256.fullmatch(row["sha256"]):
        raise InvalidInput(f"relpath {row['relpath']!r} is not the store's", field="relpath")
    checked: dict[str, Any] = {"row": row}
    for table, columns in CHILD_COLUMNS.items():
        rows = payload.get(table, [])
        if not isinstance(rows, list) or len(rows) > CHILDREN_MAX:
            raise InvalidInput(f"{table}: not a list of at most {CHILDREN_MAX}", field=table)
        checked[table] = [
            {
                c: _value(k, n, r.get(c) if isinstance(r, dict) else None, c)
                for c, (k, n) in columns.items()
            }
            for r in rows
        ]
    return checked


def has_an_administrator(users: Any) -> bool:
    """Whether a configuration keeps someone who can sign in and administer: a snapshot
    without one (a fault, or a hostile peer) would lock everyone out."""
    return isinstance(users, list) and any(
        isinstance(u, dict) and u.get("is_admin") in (True, 1) and u.get("enabled") in (True, 1)
        for u in users
    )
