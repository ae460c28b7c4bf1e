"""SNMP (SPEC R-MON-4): the NOC's trap receivers and the read-only agent's settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from appliance.domain.devices import check_host
from appliance.domain.rules import check_count, check_length, check_range
from appliance.errors import InvalidInput


class SnmpVersion(StrEnum):
    V2C = "V2C"
    V3 = "V3"


class AuthProtocol(StrEnum):
    SHA = "SHA"
    SHA256 = "SHA256"


class PrivProtocol(StrEnum):
    AES128 = "AES128"
    AES256 = "AES256"


class NotifyKind(StrEnum):
    TRAP = "TRAP"
    INFORM = "INFORM"  # acknowledged by the receiver, sent again until it is


KEY_MIN, KEY_MAX = 8, 64  # RFC 3414: USM passwords of fewer than 8 characters are refused
COMMUNITY_MAX, USER_MAX = 64, 32
RECEIVERS_MAX, AGENT_USERS_MAX = 10, 10
SECRET_FIELDS = ("community", "auth_key", "priv_key")


def _key(field: str, value: str) -> str:
    if len(value) < KEY_MIN:
        raise InvalidInput(
            f"{field}: at least {KEY_MIN} characters",
            field=field,
            code="too_short",
            params={"min": KEY_MIN},
        )
    return check_length(field, value, KEY_MAX)


@dataclass(frozen=True)
class UsmUser:
    """An SNMPv3 user: authPriv only (noAuthNoPriv and authNoPriv are refused)."""

    user: str
    auth_protocol: AuthProtocol = AuthProtocol.SHA256
    auth_key: str = ""
    priv_protocol: PrivProtocol = PrivProtocol.AES128
    priv_key: str = ""

    def validate(self) -> UsmUser:
        check_length("user", self.user.strip(), USER_MAX)
        _key("auth_key", self.auth_key)
        _key("priv_key", self.priv_key)
        return replace(self, user=self.user.strip())


@dataclass(frozen=True)
class SnmpReceiver:
    """A NOC's trap receiver."""

    host: str
    port: int = 162
    version: SnmpVersion = SnmpVersion.V2C
    community: str = ""
    usm: UsmUser | None = None
    notify: NotifyKind = NotifyKind.TRAP

    def validate(self) -> SnmpReceiver:
        host = check_host("host", self.host)
        check_range("port", self.port, 1, 65535)
        if self.version is SnmpVersion.V2C:
            check_length("community", self.community, COMMUNITY_MAX)
            return replace(self, host=host, usm=None)
        if self.usm is None:
            raise InvalidInput("a v3 receiver needs its user", field="user", code="required")
        return replace(self, host=host, community="", usm=self.usm.validate())

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class SnmpAgent:
    """The read-only agent NOCs poll; off unless an administrator turns it on."""

    enabled: bool = False
    host: str = "0.0.0.0"  # noqa: S104 - the agent is for the NOC's network; off by default
    port: int = 161
    community: str = ""  # v2c; empty: v2c is off and only v3 users answer
    users: tuple[UsmUser, ...] = field(default_factory=tuple)

    def validate(self) -> SnmpAgent:
        host = check_host("host", self.host)
        check_range("port", self.port, 1, 65535)
        if self.community:
            check_length("community", self.community, COMMUNITY_MAX)
        check_count("users", self.users, AGENT_USERS_MAX)
        users = tuple(u.validate() for u in self.users)
        names = [u.user for u in users]
        for name in names:
            if names.count(name) > 1:
                raise InvalidInput(
                    f"user {name} is given twice",
                    field="user",
                    code="duplicate",
                    params={"value": name},
                )
        if self.enabled and not self.community and not users:
            raise InvalidInput(
                "the agent needs a community or a v3 user", field="community", code="required"
            )
        return replace(self, host=host, users=users)


def check_receivers(receivers: list[SnmpReceiver]) -> list[SnmpReceiver]:
    check_count("receivers", receivers, RECEIVERS_MAX)
    return [r.validate() for r in receivers]


def usm_to_store(u: UsmUser, seal: Any) -> dict[str, Any]:
    return {
        "user": u.user,
        "auth_protocol": u.auth_protocol.value,
        "auth_key": seal(u.auth_key),
        "priv_protocol": u.priv_protocol.value,
        "priv_key": seal(u.priv_key),
    }


def usm_from_store(stored: dict[str, Any], unseal: Any) -> UsmUser:
    return UsmUser(
        user=str(stored["user"]),
        auth_protocol=AuthProtocol(stored["auth_protocol"]),
        auth_key=unseal(stored["auth_key"]),
        priv_protocol=PrivProtocol(stored["priv_protocol"]),
        priv_key=unseal(stored["priv_key"]),
    )


def receiver_to_store(r: SnmpReceiver, seal: Any) -> dict[str, Any]:
    return {
        "host": r.host,
        "port": r.port,
        "version": r.version.value,
        "community": seal(r.community) if r.community else "",
        "usm": usm_to_store(r.usm, seal) if r.usm else None,
        "notify": r.notify.value,
    }


def receiver_from_store(stored: dict[str, Any], unseal: Any) -> SnmpReceiver:
    return SnmpReceiver(
        host=str(stored["host"]),
        port=int(stored["port"]),
        version=SnmpVersion(stored["version"]),
        community=unseal(stored["community"]) if stored.get("community") else "",
        usm=usm_from_store(stored["usm"], unseal) if stored.get("usm") else None,
        notify=NotifyKind(stored.get("notify", NotifyKind.TRAP)),
    )


def agent_to_store(a: SnmpAgent, seal: Any) -> dict[str, Any]:
    return {
        "enabled": a.enabled,
        "host": a.host,
        "port": a.port,
        "community": seal(a.community) if a.community else "",
        "users": [usm_to_store(u, seal) for u in a.users],
    }


def agent_from_store(stored: dict[str, Any], unseal: Any) -> SnmpAgent:
    return SnmpAgent(
        enabled=bool(stored.get("enabled", False)),
        host=str(stored.get("host", "0.0.0.0")),  # noqa: S104
        port=int(stored.get("port", 161)),
        community=unseal(stored["community"]) if stored.get("community") else "",
        users=tuple(usm_from_store(u, unseal) for u in stored.get("users", ())),
    )
