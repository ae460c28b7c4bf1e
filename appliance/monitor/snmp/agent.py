"""The read-only SNMP agent NOCs poll: v2c (a community) and v3 (authPriv users only).

Answers come from a snapshot the monitor replaces after each sample, so a request never
waits on the database or the disk. No SET responder is registered: sets are refused.
"""

from __future__ import annotations

import bisect
import socket
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.smi.instrum import AbstractMibInstrumController

from appliance import __version__
from appliance.domain.alarms import Alarm
from appliance.domain.metrics import SystemMetrics
from appliance.domain.snmp import SnmpAgent
from appliance.monitor.snmp import oids
from appliance.monitor.snmp.notify import AUTH, PRIV, alarm_varbinds, engine_id, text, uptime_ticks

Oid = tuple[int, ...]
READ_VIEW = (1, 3, 6, 1)
SYS_UPTIME = (*oids.SYSTEM, oids.SYS_UPTIME, 0)


def snapshot(metrics: SystemMetrics, alarms: list[Alarm], host_name: str) -> list[tuple[Oid, Any]]:
    """Every object the agent answers, in OID order (sysUpTime is read when asked)."""
    s = metrics.sample
    m = oids.METRICS
    age = -1
    if metrics.last_recording_at is not None:
        age = max(0, int((s.at - metrics.last_recording_at).total_seconds()))
    found: list[tuple[Oid, Any]] = [
        ((*oids.SYSTEM, oids.SYS_DESCR, 0), text(f"Call recorder {__version__} on {host_name}")),
        ((*oids.SYSTEM, oids.SYS_OBJECT_ID, 0), rfc1902.ObjectIdentifier(oids.RECORDER_MIB)),
        (SYS_UPTIME, rfc1902.TimeTicks(0)),
        ((*oids.SYSTEM, oids.SYS_CONTACT, 0), text("")),
        ((*oids.SYSTEM, oids.SYS_NAME, 0), text(host_name)),
        ((*oids.SYSTEM, oids.SYS_LOCATION, 0), text("")),
        ((*oids.SYSTEM, oids.SYS_SERVICES, 0), rfc1902.Integer32(72)),  # applications + end-to-end
        ((*m, oids.CPU, 0), rfc1902.Gauge32(round(s.cpu_percent))),
        ((*m, oids.MEMORY, 0), rfc1902.Gauge32(round(s.memory_percent))),
        ((*m, oids.DISK, 0), rfc1902.Gauge32(round(s.disk_percent))),
        ((*m, oids.ACTIVE_CALLS, 0), rfc1902.Gauge32(s.active_calls)),
        ((*m, oids.SETUPS, 0), rfc1902.Gauge32(s.setups_last_minute)),
        ((*m, oids.REFUSED, 0), rfc1902.Gauge32(s.refused_last_minute)),
        ((*m, oids.PACKETS_PER_S, 0), rfc1902.Gauge32(round(s.packets_per_s))),
        ((*m, oids.PACKETS, 0), rfc1902.Counter64(metrics.packets_total)),
        ((*m, oids.DROPS, 0), rfc1902.Gauge32(min(s.drops, 2**32 - 1))),
        ((*m, oids.RECORDINGS_TODAY, 0), rfc1902.Gauge32(metrics.recordings_today)),
        ((*m, oids.SPOOL_KBYTES, 0), rfc1902.Gauge32(min(metrics.spool_bytes // 1024, 2**32 - 1))),
        ((*m, oids.LAST_RECORDING_AGE, 0), rfc1902.Integer32(min(age, 2**31 - 1))),
    ]
    for index, service in enumerate(metrics.services, start=1):
        found.append(((*oids.SERVICE_ENTRY, oids.SERVICE_NAME, index), text(service.name)))
        found.append(
            (
                (*oids.SERVICE_ENTRY, oids.SERVICE_STATE, index),
                rfc1902.Integer32(oids.STATE_NUMBERS[service.state]),
            )
        )
    for alarm in alarms:
        found += alarm_varbinds(alarm)
    return sorted(found, key=lambda pair: pair[0])


class _Objects(AbstractMibInstrumController):
    """Answers GET, GETNEXT and GETBULK from the snapshot, through the engine's access
    control (a request below authPriv from a v3 user, or outside the view, gets nothing)."""

    def __init__(self) -> None:
        self.oids: list[Oid] = []
        self.values: list[Any] = []

    def replace(self, objects: list[tuple[Oid, Any]]) -> None:
        self.oids, self.values = [o for o, _ in objects], [v for _, v in objects]

    def _value(self, index: int) -> Any:
        if self.oids[index] == SYS_UPTIME:
            return rfc1902.TimeTicks(uptime_ticks())
        return self.values[index]

    def _allowed(self, oid: Oid, value: Any, idx: int, **ctx: Any) -> bool:
        check = ctx.get("acFun")
        if check is None:  # no access control to ask: answer nothing rather than all
            return False
        # True: outside the requester's view (skip it); an AuthorizationError propagates.
        return not check("read", (rfc1902.ObjectName(oid), value), idx=idx, **ctx)

    def read_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        oids_now, answers = self.oids, []
        for idx, (name, _) in enumerate(var_binds):
            oid = tuple(name)
            at = bisect.bisect_left(oids_now, oid)
            if at < len(oids_now) and oids_now[at] == oid:
                value = self._value(at)
                if self._allowed(oid, value, idx, **ctx):
                    answers.append((name, value))
                    continue
            answers.append((name, rfc1905.noSuchObject))
        return answers

    def read_next_variables(self, *var_binds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        oids_now, answers = self.oids, []
        for idx, (name, _) in enumerate(var_binds):
            at = bisect.bisect_right(oids_now, tuple(name))
            while at < len(oids_now):
                value = self._value(at)
                if self._allowed(oids_now[at], value, idx, **ctx):
                    answers.append((rfc1902.ObjectName(oids_now[at]), value))
                    break
                at += 1
            else:
                answers.append((name, rfc1905.endOfMibView))
        return answers


@dataclass
class Agent:
    """One running agent; `stop` closes its socket."""

    snmp_engine: engine.SnmpEngine
    objects: _Objects
    settings: SnmpAgent

    @classmethod
    def start(cls, settings: SnmpAgent, fingerprint: bytes) -> Agent:
        """Bind now (an address in use is said at once, not later), then answer."""
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((settings.host, settings.port))
        except OSError:
            sock.close()
            raise
        snmp_engine = engine.SnmpEngine(snmpEngineID=rfc1902.OctetString(engine_id(fingerprint)))
        transport = udp.UdpAsyncioTransport() if family == socket.AF_INET else None
        if transport is None:
            from pysnmp.carrier.asyncio.dgram import udp6

            config.add_transport(
                snmp_engine,
                udp6.DOMAIN_NAME,
                udp6.Udp6AsyncioTransport().open_server_mode(sock=sock),
            )
        else:
            config.add_transport(
                snmp_engine, udp.DOMAIN_NAME, transport.open_server_mode(sock=sock)
            )
        if settings.community:
            config.add_v1_system(snmp_engine, "recorder-read", settings.community)
            config.add_vacm_user(snmp_engine, 2, "recorder-read", "noAuthNoPriv", READ_VIEW)
        for u in settings.users:
            config.add_v3_user(
                snmp_engine,
                u.user,
                AUTH[u.auth_protocol],
                u.auth_key,
                PRIV[u.priv_protocol],
                u.priv_key,
            )
            config.add_vacm_user(snmp_engine, 3, u.user, "authPriv", READ_VIEW)
        objects = _Objects()
        snmp_context = context.SnmpContext(snmp_engine)
        snmp_context.unregister_context_name(b"")
        snmp_context.register_context_name(b"", objects)
        cmdrsp.GetCommandResponder(snmp_engine, snmp_context)
        cmdrsp.NextCommandResponder(snmp_engine, snmp_context)
        cmdrsp.BulkCommandResponder(snmp_engine, snmp_context)
        return cls(snmp_engine, objects, settings)

    def update(self, objects: list[tuple[Oid, Any]]) -> None:
        self.objects.replace(objects)

    def stop(self) -> None:
        dispatcher = self.snmp_engine.transport_dispatcher
        if dispatcher is not None:
            dispatcher.close_dispatcher()
