"""Managing recording sources and authenticating them."""

from __future__ import annotations

import hmac
import ipaddress
import math
import secrets
import socket
import time
from dataclasses import dataclass, replace
from datetime import datetime

from pony.orm import commit, db_session

from appliance.db import device_queries, org_queries, pull_queries
from appliance.db.entities import Device, by_id
from appliance.domain.audit import AuditType
from appliance.domain.devices import DeviceMode, DeviceSpec, IntervalUnit, PullProtocol, host_of
from appliance.domain.events import EventKind
from appliance.domain.pull import AfterFetch, PullAuth
from appliance.domain.throttle import DeviceAuthThrottle
from appliance.errors import AccountLocked, AuthenticationFailed, Conflict, NotFound
from appliance.media.crypto import MasterKey
from appliance.services import audit, events
from appliance.services.context import SYSTEM, Actor, utcnow


@dataclass(frozen=True)
class DeviceView:
    id: int
    alias: str
    mode: DeviceMode
    address: str
    cache_address: str
    pullback_hours: int
    pull_protocol: PullProtocol | None
    pull_path: str
    pull_username: str
    pull_interval: int
    pull_interval_unit: IntervalUnit
    pull_auth: PullAuth
    pull_pattern: str
    pull_after: AfterFetch
    pull_move_to: str
    pull_tls_fingerprint: str
    pull_host_key: str  # SFTP: pinned at the first sign-in
    pull_blocked: str  # why the device is stopped ("host_key_changed"), "" when it runs
    pull_found_key: str  # the key its server shows now, for an administrator to accept
    last_success_at: datetime | None
    created_at: datetime


def view_of(d: Device) -> DeviceView:
    return DeviceView(
        id=d.id,
        alias=d.alias,
        mode=DeviceMode(d.mode),
        address=d.address,
        cache_address=d.cache_address or "",
        pullback_hours=d.pullback_hours,
        pull_protocol=PullProtocol(d.pull_protocol) if d.pull_protocol else None,
        pull_path=d.pull_path or "",
        pull_username=d.pull_username or "",
        pull_interval=d.pull_interval,
        pull_interval_unit=IntervalUnit(d.pull_interval_unit),
        pull_auth=PullAuth(d.pull_auth),
        pull_pattern=d.pull_pattern or "",
        pull_after=AfterFetch(d.pull_after),
        pull_move_to=d.pull_move_to or "",
        pull_tls_fingerprint=d.pull_tls_fingerprint or "",
        pull_host_key=d.pull_host_key or "",
        pull_blocked=d.pull_blocked or "",
        pull_found_key=d.pull_found_key or "",
        last_success_at=d.last_success_at,
        created_at=d.created_at,
    )


def spec_of(d: Device, master: MasterKey) -> DeviceSpec:
    """The device as it was saved, its secret opened."""
    v = view_of(d)
    return DeviceSpec(
        alias=v.alias,
        mode=v.mode,
        address=v.address,
        secret=master.open_text(d.secret_sealed),
        cache_address=v.cache_address,
        pullback_hours=v.pullback_hours,
        pull_protocol=v.pull_protocol,
        pull_path=v.pull_path,
        pull_username=v.pull_username,
        pull_interval=v.pull_interval,
        pull_interval_unit=v.pull_interval_unit,
        pull_auth=v.pull_auth,
        pull_pattern=v.pull_pattern,
        pull_after=v.pull_after,
        pull_move_to=v.pull_move_to,
        pull_tls_fingerprint=v.pull_tls_fingerprint,
    )


def _columns(spec: DeviceSpec, master: MasterKey) -> dict[str, object]:
    return {
        "alias": spec.alias,
        "mode": spec.mode.value,
        "address": spec.address,
        "secret_sealed": master.seal_text(spec.secret),
        "cache_address": spec.cache_address,
        "pullback_hours": spec.pullback_hours,
        "pull_protocol": spec.pull_protocol.value if spec.pull_protocol else "",
        "pull_path": spec.pull_path,
        "pull_username": spec.pull_username,
        "pull_interval": spec.pull_interval,
        "pull_interval_unit": spec.pull_interval_unit.value,
        "pull_auth": spec.pull_auth.value,
        "pull_pattern": spec.pull_pattern,
        "pull_after": spec.pull_after.value,
        "pull_move_to": spec.pull_move_to,
        "pull_tls_fingerprint": spec.pull_tls_fingerprint,
    }


@db_session
def list_devices(actor: Actor, mode: DeviceMode | None = None) -> list[DeviceView]:
    actor.require_admin()  # aliases and addresses are the administrators' (README)
    return [
        view_of(by_id(Device, i)) for i in device_queries.ids_by_mode(mode.value if mode else None)
    ]


@db_session
def create(actor: Actor, spec: DeviceSpec, master: MasterKey) -> DeviceView:
    actor.require_admin()
    spec.validate()
    if Device.get(alias=spec.alias):
        raise Conflict(
            f"a device named {spec.alias!r} already exists",
            params={"value": spec.alias},
        )
    d = Device(created_at=utcnow(), **_columns(spec, master))
    d.flush()
    audit.record(
        actor,
        AuditType.DEVICE,
        "device_created",
        mode=spec.mode.value,
        alias=spec.alias,
        address=spec.address,
    )
    events.record(
        EventKind.DEVICE_CREATED,
        actor,
        id=d.id,
        alias=spec.alias,
        mode=spec.mode.value,
        address=spec.address,
    )
    return view_of(d)


@db_session
def update(actor: Actor, device_id: int, spec: DeviceSpec, master: MasterKey) -> DeviceView:
    """Change a device; an empty secret keeps the current one."""
    actor.require_admin()
    d = Device.get(id=device_id)
    if d is None:
        raise NotFound("no such device")
    if not spec.secret:
        spec = replace(spec, secret=master.open_text(d.secret_sealed))
    spec.validate()
    other = Device.get(alias=spec.alias)
    if other is not None and other.id != device_id:
        raise Conflict(
            f"a device named {spec.alias!r} already exists",
            params={"value": spec.alias},
        )
    before = (d.mode, d.pull_protocol, d.address)
    d.set(**_columns(spec, master))
    if before != (d.mode, d.pull_protocol, d.address):
        # Another server: the key pinned for the old one says nothing about it.
        d.pull_host_key, d.pull_blocked, d.pull_found_key = "", "", ""
    audit.record(actor, AuditType.DEVICE, "device_changed", alias=spec.alias, address=spec.address)
    events.record(
        EventKind.DEVICE_CHANGED,
        actor,
        id=d.id,
        alias=spec.alias,
        mode=spec.mode.value,
        address=spec.address,
    )
    return view_of(d)


@db_session
def delete(actor: Actor, device_id: int) -> None:
    actor.require_admin()
    d = Device.get(id=device_id)
    if d is None:
        raise NotFound("no such device")
    if device_queries.has_recordings(device_id):
        raise Conflict(
            f"device {d.alias} has recordings; it cannot be deleted",
            code="in_use",
            params={"value": d.alias, "by": "recordings"},
        )
    bound = org_queries.orgs_bound_to(device_id)
    if bound:
        raise Conflict(
            f"device {d.alias} is bound to {', '.join(bound)}; unbind it first",
            code="in_use",
            params={"value": d.alias, "by": "organisations", "names": list(bound)},
        )
    audit.record(actor, AuditType.DEVICE, "device_deleted", alias=d.alias, address=d.address)
    events.record(EventKind.DEVICE_DELETED, actor, id=d.id, alias=d.alias, address=d.address)
    pull_queries.forget_device(device_id)
    d.delete()


# In the API process's memory, bounded, for the reasons given for sign-ins (accounts.py).
_throttle = DeviceAuthThrottle()


@db_session
def authenticate(alias: str, secret: str, master: MasterKey, ip: str = "unknown") -> DeviceView:
    """A device proves itself with its alias and secret (HTTP Basic on uploads).
    Raises AccountLocked (seconds to wait) while failures from there are limited."""
    key = alias[:128]  # bounded memory per key, whatever a client sends
    began = time.monotonic()
    wait = _throttle.begin(key, ip, began)
    if wait:
        raise AccountLocked(math.ceil(wait))
    d = Device.get(alias=alias)
    # A pull device's secret is the password the PBX's FTP/HTTP server knows (and may send
    # in clear): it must not also let anyone upload recordings in that device's name.
    if d is not None and d.mode != DeviceMode.PUSH.value:
        d = None
    expected = master.open_text(d.secret_sealed) if d else "\0invalid"
    if not hmac.compare_digest(expected.encode(), secret.encode()) or d is None:
        count = _throttle.failed(key, ip, time.monotonic())
        if count:
            who = Actor(None, alias[:64], "", False, ip, "device")
            audit.record(who, AuditType.DEVICE, "device_auth_failed", alias=alias[:64], count=count)
            commit()  # the audit entry must outlive the exception
        raise AuthenticationFailed("unknown device or wrong secret")
    _throttle.succeeded(key, ip, began)
    return view_of(d)


def _resolves_to(host: str, ip: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return False
    return any(info[4][0] == ip for info in infos)


@db_session
def push_sources() -> list[tuple[int, str]]:
    """(device id, host) for each push device's address and cache address: what the capture
    keeps in memory to answer without the database."""
    return [
        (d, host_of(a))
        for d, address, cache in device_queries.push_addresses()
        for a in (address, cache)
        if a
    ]


def match_push_source(ip: str, sources: list[tuple[int, str]]) -> int | None:
    """The push device a SIPREC session from `ip` belongs to: its address or cache address
    is that IP, or a name resolving to it (no database; names may take a DNS lookup)."""
    for device_id, host in sources:
        if host == ip:
            return device_id
    for device_id, host in sources:
        if not _is_ip(host) and _resolves_to(host, ip):
            return device_id
    return None


def register_push_source(ip: str, master: MasterKey) -> int | None:
    """The push device named after an unknown source (AUTO_REGISTER), made if missing."""
    spec = DeviceSpec(
        alias=f"sip-{ip.replace(':', '-')}",
        mode=DeviceMode.PUSH,
        address=ip,
        secret=secrets.token_urlsafe(18),
    )
    with db_session:
        found = Device.get(alias=spec.alias)
        if found is not None:
            return int(found.id)
    try:
        return create(SYSTEM, spec, master).id
    except Conflict:  # registered meanwhile by a concurrent session from the same source
        with db_session:
            found = Device.get(alias=spec.alias)
            return int(found.id) if found else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
