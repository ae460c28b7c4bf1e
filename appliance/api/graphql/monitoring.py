"""Monitoring and alarms (监控告警, 告警设置): metrics, the alarm list, the settings, tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from appliance import words
from appliance.api.graphql.context import IsAdmin, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call, graphql_errors
from appliance.api.graphql.events import NEWEST_EVENT
from appliance.api.graphql.inputs import input_of, to_domain
from appliance.domain import alarms as domain
from appliance.domain import mail as mail_domain
from appliance.domain import metrics as metrics_domain
from appliance.domain import snmp as snmp_domain
from appliance.domain.events import EventKind
from appliance.errors import InvalidInput
from appliance.monitor import mail
from appliance.monitor.sampler import Sampler, published
from appliance.monitor.service import alarm_of
from appliance.monitor.snmp.notify import engine_id, send_test
from appliance.services import alarms, events
from appliance.services.context import Actor, utcnow

ALARM_PAGE_MAX = 200

AlarmEventType = strawberry.enum(domain.AlarmEvent, name="AlarmEvent")
AlarmLevelType = strawberry.enum(domain.AlarmLevel, name="AlarmLevel")
AlarmStateType = strawberry.enum(domain.AlarmState, name="AlarmState")
MailSecurityType = strawberry.enum(mail_domain.MailSecurity, name="MailSecurity")
SnmpVersionType = strawberry.enum(snmp_domain.SnmpVersion, name="SnmpVersion")
AuthProtocolType = strawberry.enum(snmp_domain.AuthProtocol, name="SnmpAuthProtocol")
PrivProtocolType = strawberry.enum(snmp_domain.PrivProtocol, name="SnmpPrivProtocol")
NotifyKindType = strawberry.enum(snmp_domain.NotifyKind, name="SnmpNotify")
ServiceStateType = strawberry.enum(metrics_domain.ServiceState, name="ServiceState")


# --- metrics ------------------------------------------------------------------------------


@strawberry.type
class ServiceStatus:
    name: str = strawberry.field(description="api, capture, scheduler, monitor or failover")
    state: ServiceStateType  # type: ignore[valid-type]
    pid: int | None
    since: datetime | None = strawberry.field(description="When its process started")


@strawberry.type
class MetricSample:
    at: datetime
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    active_calls: int
    packets_per_second: float
    kernel_drops: int
    calls_set_up_last_minute: int
    calls_refused_last_minute: int

    @classmethod
    def of(cls, s: metrics_domain.MetricSample) -> MetricSample:
        return cls(
            at=s.at,
            cpu_percent=s.cpu_percent,
            memory_percent=s.memory_percent,
            disk_percent=s.disk_percent,
            active_calls=s.active_calls,
            packets_per_second=s.packets_per_s,
            kernel_drops=s.drops,
            calls_set_up_last_minute=s.setups_last_minute,
            calls_refused_last_minute=s.refused_last_minute,
        )


@strawberry.type
class SystemMetrics:
    sampled_at: datetime
    cpu_percent: float
    memory_percent: float
    disk_percent: float = strawberry.field(description="Of the partition holding the recordings")
    memory_total: float = strawberry.field(description="Bytes")
    disk_total: float = strawberry.field(description="Bytes")
    disk_free: float = strawberry.field(description="Bytes")
    active_calls: int = strawberry.field(description="Calls being recorded now")
    calls_set_up_last_minute: int
    calls_refused_last_minute: int
    packets_per_second: float
    packets_total: float = strawberry.field(description="RTP packets since the capture started")
    kernel_drops: int = strawberry.field(
        description="Datagrams the kernel dropped on the capture's sockets since it started"
    )
    recordings_today: int
    spool_bytes: float
    last_recording_at: datetime | None
    services: list[ServiceStatus]


# One reading per API process at most every 2 s, however many consoles poll.
_SAMPLER: Sampler | None = None
_SAMPLER_LOCK = threading.Lock()
_LAST: tuple[float, metrics_domain.SystemMetrics] | None = None
FRESH_S = 2.0


def _read_metrics(data_dir_text: str) -> metrics_domain.SystemMetrics:
    """The monitor's latest reading (it sees /proc; this process may not), else one taken
    here, at most one every 2 s whoever asks."""
    global _SAMPLER, _LAST
    data_dir = Path(data_dir_text)
    found = published(data_dir)
    if found is not None:
        return found
    with _SAMPLER_LOCK:
        if _LAST is None or time.monotonic() - _LAST[0] >= FRESH_S:
            _SAMPLER = _SAMPLER or Sampler(data_dir)
            _LAST = (time.monotonic(), _SAMPLER.read().metrics)
        return _LAST[1]


def _metrics_of(m: metrics_domain.SystemMetrics) -> SystemMetrics:
    s = m.sample
    return SystemMetrics(
        sampled_at=s.at,
        cpu_percent=s.cpu_percent,
        memory_percent=s.memory_percent,
        disk_percent=s.disk_percent,
        memory_total=float(m.memory_total),
        disk_total=float(m.disk_total),
        disk_free=float(m.disk_free),
        active_calls=s.active_calls,
        calls_set_up_last_minute=s.setups_last_minute,
        calls_refused_last_minute=s.refused_last_minute,
        packets_per_second=s.packets_per_s,
        packets_total=float(m.packets_total),
        kernel_drops=s.drops,
        recordings_today=m.recordings_today,
        spool_bytes=float(m.spool_bytes),
        last_recording_at=m.last_recording_at,
        services=[
            ServiceStatus(name=x.name, state=x.state, pid=x.pid, since=x.since) for x in m.services
        ],
    )


# --- alarms -------------------------------------------------------------------------------


@strawberry.type
class Alarm:
    id: strawberry.ID
    event: AlarmEventType  # type: ignore[valid-type]
    level: AlarmLevelType  # type: ignore[valid-type]
    state: AlarmStateType  # type: ignore[valid-type]
    value: float | None
    threshold: float | None
    message: str = strawberry.field(description="The condition in English (logs, traps)")
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    subject: str = strawberry.field(description="The process, for the two 'ended' events")
    params: JSON = strawberry.field(
        description="What the message is made of (service, pid, error), for the console's words"
    )
    delivery: JSON = strawberry.field(
        description="Per channel (mail, snmp host:port): sent, or why not yet"
    )
    on_screen: bool = strawberry.field(
        default=True, description="Whether the event pops up in the console (its switch)"
    )

    @classmethod
    def of(cls, a: domain.Alarm, on_screen: bool = True) -> Alarm:
        return cls(
            id=strawberry.ID(str(a.id)),
            event=a.event,
            level=a.level,
            state=a.state,
            value=a.value,
            threshold=a.threshold,
            message=a.message,
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by,
            subject=a.subject,
            params=JSON(a.params),
            delivery=JSON(a.delivery),
            on_screen=on_screen,
        )


@strawberry.type
class AlarmPage:
    total: int
    items: list[Alarm]


if TYPE_CHECKING:
    AlarmFilter = domain.AlarmFilter
else:
    AlarmFilter = input_of(domain.AlarmFilter, "AlarmFilter")


def _filter(given: object | None) -> domain.AlarmFilter:
    return to_domain(given, domain.AlarmFilter).checked()


# --- settings -----------------------------------------------------------------------------


@strawberry.type
class AlarmEventSettings:
    event: AlarmEventType  # type: ignore[valid-type]
    on_screen: bool
    email: bool
    level: AlarmLevelType  # type: ignore[valid-type]
    threshold: int | None = strawberry.field(description="Percent, or minutes for NO_RECORDING")
    threshold_min: int | None
    threshold_max: int | None
    unit: str | None = strawberry.field(description="% or min")
    recipients: list[str]


@strawberry.type
class MailSettings:
    host: str
    port: int
    security: MailSecurityType  # type: ignore[valid-type]
    username: str
    password_set: bool = strawberry.field(description="The password is never shown")
    sender: str
    language: str = strawberry.field(description="The mails' language: zh-CN, zh-TW or en")


@strawberry.type
class MailPreset:
    key: str
    name: str
    host: str
    port: int
    security: MailSecurityType  # type: ignore[valid-type]


@strawberry.type
class SnmpReceiver:
    host: str
    port: int
    version: SnmpVersionType  # type: ignore[valid-type]
    community_set: bool
    user: str | None
    auth_protocol: AuthProtocolType | None  # type: ignore[valid-type]
    priv_protocol: PrivProtocolType | None  # type: ignore[valid-type]
    notify: NotifyKindType  # type: ignore[valid-type]


@strawberry.type
class SnmpUser:
    user: str
    auth_protocol: AuthProtocolType  # type: ignore[valid-type]
    priv_protocol: PrivProtocolType  # type: ignore[valid-type]


@strawberry.type
class SnmpAgent:
    enabled: bool
    host: str
    port: int
    community_set: bool
    v3_users: list[SnmpUser]


@strawberry.type
class AlarmSettings:
    events: list[AlarmEventSettings]
    mail: MailSettings
    mail_presets: list[MailPreset]
    snmp_receivers: list[SnmpReceiver]
    snmp_agent: SnmpAgent
    engine_id: str = strawberry.field(
        description="The appliance's SNMP engine id (hex): v3 trap receivers name it"
    )

    @classmethod
    def of(cls, s: alarms.AlarmSettings, fingerprint: bytes) -> AlarmSettings:
        m = s.mail
        return cls(
            events=[
                AlarmEventSettings(
                    event=r.event,
                    on_screen=r.on_screen,
                    email=r.email,
                    level=r.level,
                    threshold=r.threshold,
                    threshold_min=domain.THRESHOLDS[r.event][0]
                    if r.event in domain.THRESHOLDS
                    else None,
                    threshold_max=domain.THRESHOLDS[r.event][1]
                    if r.event in domain.THRESHOLDS
                    else None,
                    unit=domain.UNITS.get(r.event),
                    recipients=list(r.recipients),
                )
                for r in s.rules.values()
            ],
            mail=MailSettings(
                host=m.host,
                port=m.port,
                security=m.security,
                username=m.username,
                password_set=bool(m.password),
                sender=m.sender,
                language=m.language,
            ),
            mail_presets=[
                MailPreset(key=p.key, name=p.name, host=p.host, port=p.port, security=p.security)
                for p in mail_domain.PRESETS
            ],
            snmp_receivers=[
                SnmpReceiver(
                    host=r.host,
                    port=r.port,
                    version=r.version,
                    community_set=bool(r.community),
                    user=r.usm.user if r.usm else None,
                    auth_protocol=r.usm.auth_protocol if r.usm else None,
                    priv_protocol=r.usm.priv_protocol if r.usm else None,
                    notify=r.notify,
                )
                for r in s.receivers
            ],
            snmp_agent=SnmpAgent(
                enabled=s.agent.enabled,
                host=s.agent.host,
                port=s.agent.port,
                community_set=bool(s.agent.community),
                v3_users=[
                    SnmpUser(
                        user=u.user, auth_protocol=u.auth_protocol, priv_protocol=u.priv_protocol
                    )
                    for u in s.agent.users
                ],
            ),
            engine_id=engine_id(fingerprint).hex(),
        )


@strawberry.input
class AlarmEventInput:
    event: AlarmEventType  # type: ignore[valid-type]
    on_screen: bool
    email: bool
    level: AlarmLevelType  # type: ignore[valid-type]
    threshold: int | None = None
    recipients: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class MailSettingsInput:
    host: str
    port: int
    security: MailSecurityType  # type: ignore[valid-type]
    username: str = ""
    password: str = strawberry.field(default="", description="Empty keeps the saved one")
    sender: str = ""
    language: str = strawberry.field(default="zh-CN", description="zh-CN, zh-TW or en")


@strawberry.input
class SnmpReceiverInput:
    host: str
    port: int = 162
    version: SnmpVersionType = snmp_domain.SnmpVersion.V2C  # type: ignore[valid-type]
    community: str = strawberry.field(default="", description="v2c; empty keeps the saved one")
    user: str = strawberry.field(default="", description="v3")
    auth_protocol: AuthProtocolType = snmp_domain.AuthProtocol.SHA256  # type: ignore[valid-type]
    auth_key: str = strawberry.field(default="", description="v3; empty keeps the saved one")
    priv_protocol: PrivProtocolType = snmp_domain.PrivProtocol.AES128  # type: ignore[valid-type]
    priv_key: str = strawberry.field(default="", description="v3; empty keeps the saved one")
    notify: NotifyKindType = snmp_domain.NotifyKind.TRAP  # type: ignore[valid-type]

    def to_domain(self) -> snmp_domain.SnmpReceiver:
        usm = None
        if self.version is snmp_domain.SnmpVersion.V3:
            usm = snmp_domain.UsmUser(
                self.user, self.auth_protocol, self.auth_key, self.priv_protocol, self.priv_key
            )
        return snmp_domain.SnmpReceiver(
            self.host, self.port, self.version, self.community, usm, self.notify
        )


@strawberry.input
class SnmpUserInput:
    user: str
    auth_protocol: AuthProtocolType = snmp_domain.AuthProtocol.SHA256  # type: ignore[valid-type]
    auth_key: str = strawberry.field(default="", description="Empty keeps the saved one")
    priv_protocol: PrivProtocolType = snmp_domain.PrivProtocol.AES128  # type: ignore[valid-type]
    priv_key: str = strawberry.field(default="", description="Empty keeps the saved one")


@strawberry.input
class SnmpAgentInput:
    enabled: bool
    host: str = "0.0.0.0"  # noqa: S104 - the NOC's network; the agent is off by default
    port: int = 161
    community: str = strawberry.field(default="", description="v2c; empty keeps the saved one")
    clear_community: bool = strawberry.field(default=False, description="Turn v2c off")
    v3_users: list[SnmpUserInput] = strawberry.field(default_factory=list)


@strawberry.type
class TestResult:
    ok: bool
    reason: str | None = strawberry.field(
        default=None,
        description="Why not, as a word the console translates: wrong_password, tls_failed, "
        "relay_refused, sender_refused, unreachable, timeout, unknown_host, no_starttls, "
        "no_auth, disconnected, refused, not_configured",
    )
    server_answer: str | None = strawberry.field(
        default=None, description="What went wrong, with the server's own answer"
    )


@strawberry.type
class TrapTestResult:
    receiver: str
    ok: bool
    message: str


AlarmEventResult = Annotated[AlarmEventSettings | UserError, strawberry.union("AlarmEventResult")]
AlarmSettingsResult = Annotated[AlarmSettings | UserError, strawberry.union("AlarmSettingsResult")]
TestEmailResult = Annotated[TestResult | UserError, strawberry.union("TestEmailResult")]
AcknowledgeResult = Annotated[Alarm | UserError, strawberry.union("AcknowledgeAlarmResult")]


def _send_test_mail(actor: Actor, master: object, to: str) -> TestResult:
    settings = alarms.settings_for(actor, master)  # type: ignore[arg-type]
    to = domain.check_email("to", to)
    lang = settings.mail.language
    w = words.words(lang)["alarmMail"]
    host = socket.gethostname()
    subject = words.fill(w["testSubject"], host=host)
    body = words.fill(w["testBody"], host=host, time=f"{utcnow():%Y-%m-%d %H:%M:%S} UTC")
    try:
        mail.send(settings.mail, [to], subject, body)
        result = TestResult(ok=True)
    except mail.MailFailure as exc:
        result = TestResult(ok=False, reason=exc.code, server_answer=str(exc))
    alarms.audit_test(actor, "test_mail_sent", to=to)
    return result


@strawberry.type
class MonitoringQueries:
    @strawberry.field(permission_classes=[IsAdmin], description="CPU, memory, disk and calls now")
    async def system_metrics(self, info: Info) -> SystemMetrics:
        data_dir = str(context_of(info).app.config.data_dir)
        return _metrics_of(await call(_read_metrics, data_dir))

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="The monitor's samples (every 10 s) of the last `minutes` (a day at most)",
    )
    async def metric_history(self, info: Info, minutes: int = 60) -> list[MetricSample]:
        since = utcnow() - timedelta(minutes=max(1, min(minutes, 1440)))
        found = await call(alarms.samples, actor_of(info), since)
        return [MetricSample.of(s) for s in found]

    @strawberry.field(permission_classes=[IsAdmin])
    async def alarms(
        self, info: Info, filter: AlarmFilter | None = None, page: int = 1, page_size: int = 20
    ) -> AlarmPage:
        page = max(1, page)
        page_size = max(1, min(page_size, ALARM_PAGE_MAX))
        with graphql_errors():
            f = _filter(filter)
        total, found = await call(alarms.search, actor_of(info), f, page, page_size)
        return AlarmPage(total=total, items=[Alarm.of(a) for a in found])

    @strawberry.field(permission_classes=[IsAdmin])
    async def alarm_settings(self, info: Info) -> AlarmSettings:
        master = context_of(info).app.master
        found = await call(alarms.settings_for, actor_of(info), master)
        return AlarmSettings.of(found, master.fingerprint)


@strawberry.type
class MonitoringMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_alarm_event(self, info: Info, input: AlarmEventInput) -> AlarmEventResult:
        rule = domain.EventRule(
            input.event,
            on_screen=input.on_screen,
            email=input.email,
            level=input.level,
            threshold=input.threshold,
            recipients=tuple(input.recipients),
        )
        result = await attempt(alarms.update_rule, actor_of(info), rule)
        if isinstance(result, UserError):
            return result
        master = context_of(info).app.master
        settings = await call(alarms.settings_for, actor_of(info), master)
        return next(
            e
            for e in AlarmSettings.of(settings, master.fingerprint).events
            if e.event == result.event
        )

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_mail_settings(
        self, info: Info, input: MailSettingsInput
    ) -> AlarmSettingsResult:
        master = context_of(info).app.master
        given = mail_domain.MailSettings(
            host=input.host,
            port=input.port,
            security=input.security,
            username=input.username,
            password=input.password,
            sender=input.sender,
            language=input.language,
        )
        result = await attempt(alarms.update_mail, actor_of(info), given, master)
        return await _saved(info, result)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Send a test mail with the saved settings; says the server's refusal",
    )
    async def send_test_email(self, info: Info, to: str) -> TestEmailResult:
        master = context_of(info).app.master
        return await attempt(_send_test_mail, actor_of(info), master, to)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def set_snmp_receivers(
        self, info: Info, receivers: list[SnmpReceiverInput]
    ) -> AlarmSettingsResult:
        master = context_of(info).app.master
        given = [r.to_domain() for r in receivers]
        result = await attempt(alarms.set_receivers, actor_of(info), given, master)
        return await _saved(info, result)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def update_snmp_agent(self, info: Info, input: SnmpAgentInput) -> AlarmSettingsResult:
        master = context_of(info).app.master
        given = snmp_domain.SnmpAgent(
            enabled=input.enabled,
            host=input.host,
            port=input.port,
            community=input.community,
            users=tuple(
                snmp_domain.UsmUser(
                    u.user, u.auth_protocol, u.auth_key, u.priv_protocol, u.priv_key
                )
                for u in input.v3_users
            ),
        )
        result = await attempt(
            alarms.update_agent, actor_of(info), given, master, input.clear_community
        )
        return await _saved(info, result)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="A test notification to every receiver, now; each one's outcome",
    )
    async def send_test_trap(self, info: Info) -> list[TrapTestResult]:
        actor = actor_of(info)
        master = context_of(info).app.master
        settings = await call(alarms.settings_for, actor, master)
        outcomes = await send_test(settings.receivers, master.fingerprint, socket.gethostname())
        await call(alarms.audit_test, actor, "test_trap_sent")
        return [
            TrapTestResult(receiver=label, ok=outcome == "sent", message=outcome)
            for label, outcome in outcomes.items()
        ]

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def acknowledge_alarm(self, info: Info, id: strawberry.ID) -> AcknowledgeResult:
        with graphql_errors():
            alarm_id = _id(id)
        result = await attempt(alarms.acknowledge, actor_of(info), alarm_id)
        return result if isinstance(result, UserError) else Alarm.of(result)


async def _saved(info: Info, result: object) -> AlarmSettingsResult:
    """A settings mutation's answer: its refusal, or the whole page as now saved."""
    if isinstance(result, UserError):
        return result
    master = context_of(info).app.master
    return AlarmSettings.of(
        await call(alarms.settings_for, actor_of(info), master), master.fingerprint
    )


def _id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise InvalidInput(f"{value!r} is not an id", field="id", code="not_an_id")
    return int(value)


ALARM_KINDS = (EventKind.ALARM_RAISED.value, EventKind.ALARM_CLEARED.value)


@strawberry.type
class MonitoringSubscriptions:
    @strawberry.subscription(
        permission_classes=[IsAdmin],
        description="Each alarm as it is raised and as it is cleared (administrators only)",
    )
    async def alarms(self, info: Info) -> AsyncGenerator[Alarm, None]:
        actor = actor_of(info)
        last = await call(events.latest_id)
        async for _ in NEWEST_EVENT.changes():
            while True:
                batch = await call(events.seen_by, actor, last)
                for entry in batch:
                    if entry.kind in ALARM_KINDS:
                        try:
                            alarm = alarm_of(entry)
                        except (KeyError, ValueError, TypeError):
                            continue
                        yield Alarm.of(alarm, on_screen=bool(entry.params.get("on_screen", True)))
                if batch:
                    last = batch[-1].id
                if len(batch) < events.BATCH:
                    break
