"""Traps and informs to the NOC's receivers (pysnmp 7, hlapi v3arch asyncio).

One SnmpEngine per receiver (a v2c and a v3 target sharing one engine got the v3 trap
sent twice), all with the appliance's fixed engine id so v3 receivers can authenticate
its traps. An inform is sent again until the receiver acknowledges it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    send_notification,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto import rfc1902

from appliance.domain.alarms import Alarm, AlarmState
from appliance.domain.snmp import AuthProtocol, NotifyKind, PrivProtocol, SnmpReceiver, UsmUser
from appliance.monitor.snmp import oids

AUTH = {AuthProtocol.SHA: usmHMACSHAAuthProtocol, AuthProtocol.SHA256: usmHMAC192SHA256AuthProtocol}
# net-snmp's AES-256 is the Blumenthal key extension (draft-blumenthal-aes-usm-04).
PRIV = {
    PrivProtocol.AES128: usmAesCfb128Protocol,
    PrivProtocol.AES256: usmAesBlumenthalCfb256Protocol,
}
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SYS_UPTIME = (*oids.SYSTEM, oids.SYS_UPTIME, 0)
INFORM_TIMEOUT_S = 2.0
INFORM_RETRIES = 2  # per attempt; the notifier tries again later with back-off
TEXT_MAX = 255  # DisplayString's size

_started = time.monotonic()


def engine_id(fingerprint: bytes) -> bytes:
    """The appliance's SNMP engine id (RFC 3411): NET-SNMP's enterprise number, format 5
    (octets), then 8 octets derived from the master key's fingerprint (stable across
    restarts and upgrades, different per appliance)."""
    return (
        bytes.fromhex("80001f8805") + hashlib.sha256(b"snmp-engine-id" + fingerprint).digest()[:8]
    )


def uptime_ticks() -> int:
    return int((time.monotonic() - _started) * 100) % 2**32


def date_and_time(at: datetime) -> bytes:
    """SNMPv2-TC DateAndTime, in UTC (11 octets, with the offset)."""
    u = at.astimezone(UTC)
    return (
        bytes(
            [
                u.year >> 8,
                u.year & 0xFF,
                u.month,
                u.day,
                u.hour,
                u.minute,
                u.second,
                u.microsecond // 100000,
            ]
        )
        + b"+\x00\x00"
    )


def text(value: str) -> rfc1902.OctetString:
    return rfc1902.OctetString(
        value.encode("utf-8")[:TEXT_MAX].decode("utf-8", "ignore").encode("utf-8")
    )


def alarm_varbinds(alarm: Alarm) -> list[tuple[tuple[int, ...], Any]]:
    """The columns of recorderAlarmEntry for this alarm (its id is the instance)."""
    entry = oids.ALARM_ENTRY
    return [
        ((*entry, oids.ALARM_EVENT, alarm.id), rfc1902.Integer32(oids.EVENT_NUMBERS[alarm.event])),
        ((*entry, oids.ALARM_LEVEL, alarm.id), rfc1902.Integer32(oids.LEVEL_NUMBERS[alarm.level])),
        ((*entry, oids.ALARM_VALUE, alarm.id), rfc1902.Integer32(round(alarm.value or 0))),
        ((*entry, oids.ALARM_THRESHOLD, alarm.id), rfc1902.Integer32(round(alarm.threshold or 0))),
        ((*entry, oids.ALARM_TEXT, alarm.id), text(alarm.message)),
        (
            (*entry, oids.ALARM_RAISED_TIME, alarm.id),
            rfc1902.OctetString(date_and_time(alarm.raised_at)),
        ),
    ]


def _auth(receiver: SnmpReceiver) -> CommunityData | UsmUserData:
    if receiver.usm is None:
        # v2c is what many NOCs still run; v3 is offered beside it.
        return CommunityData(receiver.community, mpModel=1)  # noqa: S508
    u: UsmUser = receiver.usm
    return UsmUserData(
        u.user,
        u.auth_key,
        u.priv_key,
        authProtocol=AUTH[u.auth_protocol],
        privProtocol=PRIV[u.priv_protocol],
    )


class SnmpFailure(Exception):
    """A notification the receiver did not take (an inform unacknowledged, a bad address)."""


class Notifier:
    """Sends to one receiver; keeps its engine (and so its v3 time window) between sends."""

    def __init__(self, receiver: SnmpReceiver, fingerprint: bytes) -> None:
        self.receiver = receiver
        self.engine = SnmpEngine(snmpEngineID=rfc1902.OctetString(engine_id(fingerprint)))

    async def send(
        self, notification: tuple[int, ...], varbinds: list[tuple[tuple[int, ...], Any]]
    ) -> None:
        r = self.receiver
        inform = r.notify is NotifyKind.INFORM
        try:
            target = await UdpTransportTarget.create(
                (r.host, r.port),
                timeout=INFORM_TIMEOUT_S if inform else 1,
                retries=INFORM_RETRIES if inform else 0,
            )
        except Exception as exc:  # pysnmp's own error for a name that does not resolve
            raise SnmpFailure(f"{r.label}: {exc}") from None
        bound = [
            ObjectType(ObjectIdentity(SYS_UPTIME), rfc1902.TimeTicks(uptime_ticks())),
            ObjectType(ObjectIdentity(SNMP_TRAP_OID), rfc1902.ObjectIdentifier(notification)),
            *(ObjectType(ObjectIdentity(oid), value) for oid, value in varbinds),
        ]
        error, status, _index, _ = await send_notification(
            self.engine, _auth(r), target, ContextData(), "inform" if inform else "trap", *bound
        )
        if error is not None:
            raise SnmpFailure(f"{r.label}: {error}")
        if status:
            raise SnmpFailure(f"{r.label}: {status.prettyPrint()}")

    async def alarm(self, alarm: Alarm) -> None:
        kind = oids.ALARM_CLEARED if alarm.state is AlarmState.CLEARED else oids.ALARM_RAISED
        await self.send(kind, alarm_varbinds(alarm))

    async def test(self, host_name: str) -> None:
        message = f"test notification from the call recorder {host_name}"
        await self.send(
            oids.TEST_NOTIFICATION, [((*oids.ALARM_ENTRY, oids.ALARM_TEXT, 0), text(message))]
        )

    def close(self) -> None:
        dispatcher = self.engine.transport_dispatcher
        if dispatcher is not None:
            dispatcher.close_dispatcher()


async def send_test(
    receivers: list[SnmpReceiver], fingerprint: bytes, host_name: str
) -> dict[str, str]:
    """A test notification to each receiver at once: label -> "sent" or why not."""

    async def one(receiver: SnmpReceiver) -> str:
        notifier = Notifier(receiver, fingerprint)
        try:
            await notifier.test(host_name)
            return "sent"
        except SnmpFailure as exc:
            return str(exc)
        finally:
            notifier.close()

    outcomes = await asyncio.gather(*(one(r) for r in receivers))
    return {r.label: outcome for r, outcome in zip(receivers, outcomes, strict=True)}
