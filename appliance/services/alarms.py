"""Alarms: their settings (告警设置), raising and clearing them, the list, acknowledging.

A raise or a clear is written with its event-log entry in one transaction; the notifiers
(the console's pop-up, e-mail, SNMP) follow the log. Secrets (the SMTP password, SNMP
communities and keys) are kept sealed by the master key and never leave through a view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pony.orm import db_session

from appliance import words
from appliance.db import alarm_queries, settings_queries
from appliance.db.sql import delete_in_batches
from appliance.domain.alarms import (
    Alarm,
    AlarmEvent,
    AlarmFilter,
    EventRule,
    describe,
    rules_from_store,
)
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.mail import MailSettings
from appliance.domain.metrics import MetricSample
from appliance.domain.snmp import (
    SnmpAgent,
    SnmpReceiver,
    agent_from_store,
    agent_to_store,
    check_receivers,
    receiver_from_store,
    receiver_to_store,
)
from appliance.errors import NotFound
from appliance.media.crypto import MasterKey
from appliance.services import audit, events
from appliance.services.context import SYSTEM, Actor, utcnow

RULES_KEY = "alarm.rules"
MAIL_KEY = "alarm.mail"
RECEIVERS_KEY = "alarm.snmp_receivers"
AGENT_KEY = "alarm.snmp_agent"
SAMPLES_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class AlarmSettings:
    """Everything the 告警设置 page holds, secrets included (for the notifiers only)."""

    rules: dict[AlarmEvent, EventRule]
    mail: MailSettings
    receivers: list[SnmpReceiver]
    agent: SnmpAgent


ALARM_KEYS = (RULES_KEY, MAIL_KEY, RECEIVERS_KEY, AGENT_KEY)


def _parsed(stored: dict[str, str], key: str) -> Any:
    text = stored.get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _stored(key: str) -> Any:
    return _parsed(settings_queries.load_all(), key)


def _save(key: str, value: Any) -> None:
    settings_queries.save({key: json.dumps(value, ensure_ascii=False)})


def _rules() -> dict[AlarmEvent, EventRule]:
    stored = _stored(RULES_KEY)
    return rules_from_store(stored if isinstance(stored, dict) else {})


def settings_from(stored: dict[str, str], master: MasterKey) -> AlarmSettings:
    """The settings from their stored rows (secrets sealed), as the database or the
    monitor's copy beside it holds them."""
    rules = _parsed(stored, RULES_KEY)
    mail_stored = _parsed(stored, MAIL_KEY)
    mail = MailSettings()
    if isinstance(mail_stored, dict):
        sealed = str(mail_stored.get("password") or "")
        mail = MailSettings.from_store(mail_stored, master.open_text(sealed) if sealed else "")
    receivers: list[SnmpReceiver] = []
    for r in _parsed(stored, RECEIVERS_KEY) or []:
        try:
            receivers.append(receiver_from_store(r, master.open_text))
        except (KeyError, ValueError, TypeError):
            continue  # unreadable: the page shows the others; saving again replaces it
    agent_stored = _parsed(stored, AGENT_KEY)
    agent = SnmpAgent()
    if isinstance(agent_stored, dict):
        try:
            agent = agent_from_store(agent_stored, master.open_text)
        except (KeyError, ValueError, TypeError):
            pass
    return AlarmSettings(
        rules_from_store(rules if isinstance(rules, dict) else {}), mail, receivers, agent
    )


def _load(master: MasterKey) -> AlarmSettings:
    return settings_from(settings_queries.load_all(), master)


@db_session
def stored_rows() -> dict[str, str]:
    """The alarm settings' rows as stored (secrets sealed by the master key)."""
    return {k: v for k, v in settings_queries.load_all().items() if k in ALARM_KEYS}


@db_session
def current(master: MasterKey) -> AlarmSettings:
    """The settings with their secrets, for the monitor and the tests sent from the API."""
    return _load(master)


@db_session
def settings_for(actor: Actor, master: MasterKey) -> AlarmSettings:
    actor.require_admin()
    return _load(master)


def _changed(actor: Actor, part: str, event: str, **params: str | int | float) -> None:
    audit.record(actor, AuditType.ALARM, event, **params)
    events.record(EventKind.ALARM_SETTINGS_CHANGED, actor, part=part, **params)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {before.get(k)} -> {v}" for k, v in after.items() if before.get(k) != v)


@db_session
def update_rule(actor: Actor, rule: EventRule) -> EventRule:
    actor.require_admin()
    rule = rule.validate()
    rules = _rules()
    before = rules[rule.event].to_store()
    rules[rule.event] = rule
    _save(RULES_KEY, {e.value: r.to_store() for e, r in rules.items()})
    changes = _changes(before, rule.to_store())
    if changes:
        _changed(actor, "rules", "alarm_event_changed", alarm=rule.event.value, changes=changes)
    return rule


@db_session
def update_mail(actor: Actor, mail: MailSettings, master: MasterKey) -> MailSettings:
    """Change the sending account; an empty password keeps the saved one while the server
    and account stay the same."""
    actor.require_admin()
    before = _load(master).mail
    # The saved password goes only to the server it was given for: changing where it is
    # sent (host, port, security, account) needs it typed again, or a stolen session could
    # point the test mail at its own server and read the password off the wire.
    same_server = (mail.host.strip(), mail.port, mail.security, mail.username.strip()) == (
        before.host,
        before.port,
        before.security,
        before.username,
    )
    if not mail.password and same_server:
        mail = replace(mail, password=before.password)
    mail = replace(mail.validate(), language=words.language(mail.language))
    _save(MAIL_KEY, mail.to_store(master.seal_text(mail.password) if mail.password else ""))
    shown = {
        **mail.to_store(""),
        "password": "(changed)" if mail.password != before.password else "",
    }
    was = {**before.to_store(""), "password": ""}
    changes = _changes(was, shown)
    if changes:
        _changed(actor, "mail", "mail_settings_changed", changes=changes)
    return mail


def _keep_secrets(given: SnmpReceiver, saved: list[SnmpReceiver]) -> SnmpReceiver:
    """A receiver sent back without its secrets keeps those of the saved one it names."""
    same = next(
        (
            s
            for s in saved
            if (s.host, s.port, s.version) == (given.host, given.port, given.version)
            and (s.usm.user if s.usm else "") == (given.usm.user if given.usm else "")
        ),
        None,
    )
    if same is None:
        return given
    if not given.community:
        given = replace(given, community=same.community)
    if given.usm is not None and same.usm is not None:
        usm = given.usm
        if not usm.auth_key:
            usm = replace(usm, auth_key=same.usm.auth_key)
        if not usm.priv_key:
            usm = replace(usm, priv_key=same.usm.priv_key)
        given = replace(given, usm=usm)
    return given


@db_session
def set_receivers(
    actor: Actor, receivers: list[SnmpReceiver], master: MasterKey
) -> list[SnmpReceiver]:
    """Replace the NOC's trap receivers; a secret left empty keeps the saved one."""
    actor.require_admin()
    saved = _load(master).receivers
    receivers = check_receivers([_keep_secrets(r, saved) for r in receivers])
    _save(RECEIVERS_KEY, [receiver_to_store(r, master.seal_text) for r in receivers])
    listed = ", ".join(f"{r.label} {r.version.value} {r.notify.value}" for r in receivers)
    _changed(actor, "receivers", "snmp_receivers_changed", receivers=listed or "-")
    return receivers


@db_session
def update_agent(
    actor: Actor, agent: SnmpAgent, master: MasterKey, clear_community: bool = False
) -> SnmpAgent:
    """Change the read-only agent; an empty community or key keeps the saved one (unless
    the community is cleared: v2c off)."""
    actor.require_admin()
    before = _load(master).agent
    if not agent.community and not clear_community:
        agent = replace(agent, community=before.community)
    saved_users = {u.user: u for u in before.users}
    users = []
    for u in agent.users:
        old = saved_users.get(u.user.strip())
        if old is not None:
            u = replace(u, auth_key=u.auth_key or old.auth_key, priv_key=u.priv_key or old.priv_key)
        users.append(u)
    agent = replace(agent, users=tuple(users)).validate()
    _save(AGENT_KEY, agent_to_store(agent, master.seal_text))

    def shown(a: SnmpAgent) -> dict[str, Any]:
        return {
            "enabled": a.enabled,
            "host": a.host,
            "port": a.port,
            "v2c": bool(a.community),
            "users": ",".join(u.user for u in a.users),
        }

    changes = _changes(shown(before), shown(agent))
    if agent.community != before.community:
        changes = "; ".join(c for c in (changes, "community changed") if c)
    if changes:
        _changed(actor, "agent", "snmp_agent_changed", changes=changes)
    return agent


@db_session
def audit_test(actor: Actor, event: str, **params: str | int | float) -> None:
    """A test mail or trap an administrator sent (the audit trail keeps who and when)."""
    audit.record(actor, AuditType.ALARM, event, **params)


# --- raising and clearing -------------------------------------------------------------


def _announce(kind: EventKind, alarm: Alarm, rule: EventRule, **extra: Any) -> None:
    events.record(
        kind,
        SYSTEM,
        id=alarm.id,
        event=alarm.event.value,
        level=alarm.level.value,
        state=alarm.state.value,
        value=alarm.value,
        threshold=alarm.threshold,
        message=alarm.message,
        subject=alarm.subject,
        params=alarm.params,
        raised_at=alarm.raised_at.isoformat(),
        cleared_at=alarm.cleared_at.isoformat() if alarm.cleared_at else None,
        on_screen=rule.on_screen,
        # The rule as it stood: the notifier mails as it said, however far behind it reads.
        email=rule.email,
        recipients=list(rule.recipients),
        **extra,
    )


@db_session
def raise_alarm(
    event: AlarmEvent,
    value: float | None = None,
    subject: str = "",
    at: datetime | None = None,
    **params: Any,
) -> Alarm | None:
    """Raise an occurrence of the event, unless one is active already (then None)."""
    if alarm_queries.active(event, subject) is not None:
        return None
    rule = _rules()[event]
    threshold = None if rule.threshold is None else float(rule.threshold)
    message = describe(event, value, threshold, **params)
    alarm_id = alarm_queries.insert(
        event, subject, rule.level, value, threshold, message, params, at or utcnow()
    )
    alarm = alarm_queries.by_id(alarm_id)
    assert alarm is not None
    _announce(EventKind.ALARM_RAISED, alarm, rule)
    return alarm


@db_session
def clear_alarm(event: AlarmEvent, subject: str = "") -> Alarm | None:
    """Clear the active occurrence of the event, if there is one (it keeps the value that
    raised it)."""
    active = alarm_queries.active(event, subject)
    if active is None:
        return None
    alarm_queries.clear(active.id, utcnow())
    cleared = alarm_queries.by_id(active.id)
    assert cleared is not None
    _announce(EventKind.ALARM_CLEARED, cleared, _rules()[event])
    return cleared


@db_session
def record_missed(alarm: Alarm) -> Alarm:
    """An alarm raised (and perhaps cleared) while the database was away, written now. Its
    notifications went out directly then: the log entry says so, and only the console's
    pop-up follows it."""
    rule = _rules()[alarm.event]
    alarm_id = alarm_queries.insert(
        alarm.event,
        alarm.subject,
        alarm.level,
        alarm.value,
        alarm.threshold,
        alarm.message,
        alarm.params,
        alarm.raised_at,
        alarm.cleared_at,
    )
    for channel, outcome in alarm.delivery.items():
        alarm_queries.set_delivery(alarm_id, channel, outcome)
    written = alarm_queries.by_id(alarm_id)
    assert written is not None
    _announce(EventKind.ALARM_RAISED, written, rule, notified=True)
    if written.cleared_at is not None:
        _announce(EventKind.ALARM_CLEARED, written, rule, notified=True)
    return written


@db_session
def active_alarms() -> list[Alarm]:
    return alarm_queries.all_active()


@db_session
def reported_since(event: AlarmEvent, subject: str, since: datetime) -> bool:
    return alarm_queries.raised_since(event, subject, since)


@db_session
def note_delivery(alarm_id: int, channel: str, outcome: str) -> None:
    alarm_queries.set_delivery(alarm_id, channel, outcome[:300])


# --- the list ---------------------------------------------------------------------------


@db_session
def search(actor: Actor, f: AlarmFilter, page: int, page_size: int) -> tuple[int, list[Alarm]]:
    actor.require_admin()
    return alarm_queries.search(f, page_size, (page - 1) * page_size)


@db_session
def export_rows(actor: Actor, f: AlarmFilter, limit: int) -> list[Alarm]:
    actor.require_admin()
    return alarm_queries.search(f, limit, 0)[1]


@db_session
def acknowledge(actor: Actor, alarm_id: int) -> Alarm:
    actor.require_admin()
    alarm = alarm_queries.by_id(alarm_id)
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id}", code="not_found")
    if alarm_queries.acknowledge(alarm_id, utcnow(), actor.login):
        audit.record(
            actor, AuditType.ALARM, "alarm_acknowledged", id=alarm_id, alarm=alarm.event.value
        )
        events.record(EventKind.ALARM_ACKNOWLEDGED, actor, id=alarm_id, event=alarm.event.value)
    found = alarm_queries.by_id(alarm_id)
    assert found is not None
    return found


def prune(before: datetime) -> int:
    """Cleared alarms older than `before` (the log retention job); how many went."""
    return delete_in_batches(alarm_queries.delete_before, before)


# --- metric samples ---------------------------------------------------------------------


@db_session
def add_sample(sample: MetricSample) -> None:
    alarm_queries.add_sample(sample)


@db_session
def samples(actor: Actor, since: datetime) -> list[MetricSample]:
    actor.require_admin()
    return alarm_queries.samples_since(max(since, utcnow() - SAMPLES_KEPT))


def prune_samples() -> int:
    return delete_in_batches(alarm_queries.delete_samples_before, utcnow() - SAMPLES_KEPT)


@db_session
def recording_activity(since: datetime) -> tuple[datetime | None, int]:
    """The newest recording's arrival, and how many arrived since `since` (today)."""
    return alarm_queries.last_recording_at(), alarm_queries.stored_since(since)
