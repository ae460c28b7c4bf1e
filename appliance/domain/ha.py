"""Primary and standby (主备): the pair's settings, pairing proofs, what a change means to
the standby, and when a standby may take over. Pure: no sockets, no database."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from appliance.domain.events import EventKind
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
    if kind in _RECORDING:
        return Change.RECORDING if recordings else Change.NOTHING
    if kind == EventKind.RECORDING_DELETED and not handover:
        return Change.DELETION if recordings else Change.NOTHING
    if kind in _CONFIGURATION and configuration and not handover:
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
