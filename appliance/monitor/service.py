"""`recorder monitor`: samples every few seconds, raises and clears alarms, notifies.

The sampling and the rules run in a worker thread; notifications (mail in threads of
their own, SNMP on the loop) are tasks that retry with back-off, so a black-holed SMTP
server or trap receiver delays nothing else. Raises and clears go through the database
and its event log, which the notifier follows; the database's own outage cannot, so it
is notified directly and written to the list once the database is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from appliance import words
from appliance.domain.alarms import (
    THRESHOLDS,
    Alarm,
    AlarmEvent,
    AlarmState,
    Decision,
    decide,
    decide_condition,
    default_rule,
    describe,
)
from appliance.domain.events import Event, EventKind
from appliance.domain.snmp import SnmpAgent
from appliance.monitor import lifecycle, mail
from appliance.monitor.sampler import Reading, Sampler, publish
from appliance.monitor.snmp.agent import Agent, snapshot
from appliance.monitor.snmp.notify import Notifier, SnmpFailure
from appliance.services import alarms, events
from appliance.services.alarms import AlarmSettings
from appliance.services.context import AppContext, to_local, utcnow

log = logging.getLogger(__name__)

READER = "alarm-notifier"
SETTINGS_COPY = "run/alarm-settings.json"
RETRY_FIRST_S, RETRY_LONGEST_S = 5.0, 600.0
GIVE_UP_AFTER_S = 6 * 3600.0
PRUNE_EVERY_S = 3600.0


def _safely(change: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Raise or clear, and go on with the other events whatever happens to this one (two
    monitors overlapping at a restart meet on the active-alarm index)."""
    try:
        change(*args, **kwargs)
    except Exception:
        log.exception("monitor: %s of %s failed", change.__name__, args[0] if args else "?")


def _local(at: datetime | None) -> str:
    return "-" if at is None else f"{to_local(at):%Y-%m-%d %H:%M:%S}"


def mail_text(alarm: Alarm, lang: str, host: str) -> tuple[str, str]:
    """Subject and body of an alarm's mail, in lang."""
    w = words.words(lang)["alarmMail"]
    event = words.alarm_word(lang, "alarmEvents", alarm.event)
    level = words.alarm_word(lang, "alarmLevels", alarm.level)
    subject = words.fill(
        w["cleared" if alarm.state is AlarmState.CLEARED else "raised"],
        level=level,
        event=event,
        host=host,
    )
    body = words.fill(
        w["body"],
        event=event,
        level=level,
        state=words.alarm_word(lang, "alarmStates", alarm.state),
        text=words.alarm_text(lang, alarm.event, alarm.value, alarm.threshold, alarm.params),
        value="-" if alarm.value is None else f"{alarm.value:.0f}",
        threshold="-" if alarm.threshold is None else f"{alarm.threshold:.0f}",
        host=host,
        raisedAt=_local(alarm.raised_at),
        clearedAt=_local(alarm.cleared_at),
    )
    return subject, body


def alarm_of(event: Event) -> Alarm:
    """The alarm an ALARM_RAISED or ALARM_CLEARED entry describes."""
    p = event.params
    rule = default_rule(AlarmEvent(p["event"]))
    return Alarm(
        id=int(p["id"]),
        event=rule.event,
        level=type(rule.level)(p["level"]),
        state=AlarmState(p["state"]),
        value=p.get("value"),
        threshold=p.get("threshold"),
        message=str(p.get("message", "")),
        raised_at=datetime.fromisoformat(p["raised_at"]),
        cleared_at=datetime.fromisoformat(p["cleared_at"]) if p.get("cleared_at") else None,
        params=dict(p.get("params") or {}),
        subject=str(p.get("subject", "")),
    )


class MonitorService:
    name = "monitor"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.interval = float(ctx.config.monitor_seconds)
        self.sampler = Sampler(ctx.config.data_dir)
        self.settings: AlarmSettings | None = None
        self.agent: Agent | None = None
        self._agent_refused: SnmpAgent | None = None  # settings whose address was refused
        self.database_alarm: Alarm | None = None  # raised while the database is away
        self.started_at = utcnow()
        self.host = socket.gethostname()
        self._stop = asyncio.Event()
        self._following = threading.Event()  # set: stop following the event log
        self._tasks: set[asyncio.Task[None]] = set()
        self._mail_threads = ThreadPoolExecutor(2, thread_name_prefix="alarm-mail")
        self._notes = ThreadPoolExecutor(1, thread_name_prefix="alarm-notes")
        self._copied: dict[str, str] | None = None
        self._last_prune = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- life cycle ----------------------------------------------------------------

    async def start(self) -> asyncio.Task[None]:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._follow, name="alarm-notifier", daemon=True).start()
        return asyncio.create_task(self._sample_loop())

    async def stop(self) -> None:
        self._stop.set()
        self._following.set()
        for task in list(self._tasks):
            task.cancel()
        if self.agent is not None:
            self.agent.stop()
        self._mail_threads.shutdown(wait=False, cancel_futures=True)
        self._notes.shutdown(wait=False, cancel_futures=True)

    def status(self) -> str:
        return f"monitor: sampling every {self.interval:g} s"

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sampling and the rules ----------------------------------------------------

    async def _sample_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reading, active = await asyncio.to_thread(self._sample_and_evaluate)
                self._serve_agent(reading, active)
            except Exception:  # a bad sample must not end the monitor
                log.exception("monitor: sampling failed")
            wait = max(0.1, self.interval - (time.monotonic() - started))
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=wait)
            except TimeoutError:
                pass

    def _sample_and_evaluate(self) -> tuple[Reading, list[Alarm]]:
        """The reading, evaluated, and the alarms active after it (for the agent, which
        answers from memory on the loop)."""
        self.ctx.try_connect()  # started without the database: connect once it answers
        reading = self.sampler.read()
        try:
            publish(self.ctx.config.data_dir, reading.metrics)
        except OSError as exc:
            log.warning("monitor: cannot publish the metrics: %s", exc)
        self._evaluate(reading)
        active = [] if self.database_alarm is None else [self.database_alarm]
        if reading.database_error is None:
            try:
                active = alarms.active_alarms() + active
            except Exception as exc:  # the database just went: the agent says what it knew
                log.debug("monitor: active alarms unread: %s", exc)
        return reading, active

    def _evaluate(self, reading: Reading) -> None:
        if reading.database_error is not None:
            self._database_away(reading.database_error)
            return
        if self.database_alarm is not None:
            self._database_back()
        try:
            rows = alarms.stored_rows()
        except Exception:
            log.exception("monitor: reading the alarm settings failed")
            return
        self.settings = alarms.settings_from(rows, self.ctx.master)
        self._keep_copy(rows)
        sample = reading.metrics.sample
        alarms.add_sample(sample)
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            alarms.prune_samples()
        active = {(a.event, a.subject): a for a in alarms.active_alarms()}
        measured = {
            AlarmEvent.CPU_HIGH: sample.cpu_percent,
            AlarmEvent.MEMORY_HIGH: sample.memory_percent,
            AlarmEvent.STORAGE_HIGH: sample.disk_percent,
            AlarmEvent.NO_RECORDING: self._minutes_without_recording(reading),
        }
        for event in THRESHOLDS:
            rule = self.settings.rules[event]
            value = measured[event]
            decision = decide(rule, value, (event, "") in active)
            if decision is Decision.RAISE:
                _safely(alarms.raise_alarm, event, value=round(value, 1))
            elif decision is Decision.CLEAR:
                _safely(alarms.clear_alarm, event)
        self._processes(reading, active)

    def _minutes_without_recording(self, reading: Reading) -> float:
        """Since the newest recording, or since the monitor started when that is older (a
        restart after a quiet weekend does not raise at once)."""
        last = reading.metrics.last_recording_at
        since = self.started_at if last is None or last < self.started_at else last
        return max(0.0, (reading.metrics.sample.at - since).total_seconds() / 60)

    def _processes(self, reading: Reading, active: dict[tuple[AlarmEvent, str], Alarm]) -> None:
        data_dir = self.ctx.config.data_dir
        for mark in reading.marks:
            replaced = mark.role.endswith(".aborted")
            subject = mark.role.removesuffix(".aborted")
            event = (
                AlarmEvent.CAPTURE_ABORTED
                if "capture" in mark.services
                else AlarmEvent.SERVICE_ABORTED
            )
            aborted = replaced or mark.aborted
            holds = aborted and not alarms.reported_since(event, subject, mark.started_at)
            if holds:
                _safely(
                    alarms.raise_alarm,
                    event,
                    subject=subject,
                    service=", ".join(mark.services),
                    pid=mark.pid,
                )
            elif (
                not replaced
                and decide_condition(aborted, (event, subject) in active) is Decision.CLEAR
            ):
                _safely(alarms.clear_alarm, event, subject=subject)
            if replaced:
                lifecycle.forget(data_dir, mark.role)

    def _keep_copy(self, rows: dict[str, str]) -> None:
        """The settings' rows beside the data (secrets still sealed): a monitor started
        while the database is away still knows whom to tell."""
        if rows == self._copied:
            return
        target = self.ctx.config.data_dir / SETTINGS_COPY
        try:
            temporary = target.with_name(target.name + ".tmp")
            temporary.write_text(json.dumps(rows), encoding="utf-8")
            temporary.replace(target)
            self._copied = rows
        except OSError as exc:
            log.warning("monitor: cannot keep a copy of the alarm settings: %s", exc)

    def _known_settings(self) -> AlarmSettings | None:
        """The settings last read, else the copy beside the data (never the database)."""
        if self.settings is None:
            try:
                rows = json.loads((self.ctx.config.data_dir / SETTINGS_COPY).read_text("utf-8"))
                self.settings = alarms.settings_from(rows, self.ctx.master)
            except (OSError, ValueError, TypeError):
                return None
        return self.settings

    def _database_away(self, error: str) -> None:
        if self.database_alarm is not None:
            return
        known = self._known_settings()
        rules = known.rules if known else None
        rule = (
            rules[AlarmEvent.DATABASE_ERROR] if rules else default_rule(AlarmEvent.DATABASE_ERROR)
        )
        now = utcnow()
        self.database_alarm = Alarm(
            id=int(now.timestamp()),  # the list's id comes once the database is back
            event=AlarmEvent.DATABASE_ERROR,
            level=rule.level,
            state=AlarmState.ACTIVE,
            value=None,
            threshold=None,
            message=describe(AlarmEvent.DATABASE_ERROR, None, None, error=error),
            raised_at=now,
            params={"error": error},
        )
        log.error("monitor: %s", self.database_alarm.message)
        self._from_thread(self.database_alarm, record=False)

    def _database_back(self) -> None:
        assert self.database_alarm is not None
        cleared = replace(self.database_alarm, state=AlarmState.CLEARED, cleared_at=utcnow())
        try:
            alarms.record_missed(cleared)
        except Exception as exc:  # back for a moment only: written at the next good sample
            log.warning("monitor: the database alarm is not written yet: %s", exc)
            return
        self.database_alarm = None
        log.info("monitor: the database answers again")
        self._from_thread(cleared, record=False)

    def _from_thread(self, alarm: Alarm, *, record: bool) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._notify, alarm, record, self._known_settings())

    # --- the agent -----------------------------------------------------------------

    def _serve_agent(self, reading: Reading, active: list[Alarm]) -> None:
        wanted = self.settings.agent if self.settings else None
        running = self.agent.settings if self.agent else self._agent_refused
        if wanted != running:
            self._agent_refused = None
            if self.agent is not None:
                self.agent.stop()
                self.agent = None
            if wanted is not None and wanted.enabled:
                try:
                    self.agent = Agent.start(wanted, self.ctx.master.fingerprint)
                    log.info("SNMP agent on %s:%d", wanted.host, wanted.port)
                except OSError as exc:
                    self._agent_refused = wanted  # tried again once the settings change
                    log.error(
                        "SNMP agent cannot listen on %s:%d: %s",
                        wanted.host,
                        wanted.port,
                        exc.strerror or exc,
                    )
        if self.agent is not None:
            self.agent.update(snapshot(reading.metrics, active, self.host))

    # --- notifications -------------------------------------------------------------

    def _follow(self) -> None:
        """Follow the event log (at least once: a restart sends again what it had not
        finished), handing raises and clears to the loop."""
        delay = 1.0
        while not self._following.is_set():
            try:
                if not self.ctx.try_connect():
                    raise ConnectionError("the database does not answer")
                start = events.cursor_of(READER)
                for event in events.follow(
                    READER, start if start is not None else events.latest_id(), self._following
                ):
                    self._handle(event)
                    delay = 1.0
                return
            except Exception as exc:
                log.debug("alarm notifier waits for the database: %s", exc)
                self._following.wait(delay)
                delay = min(delay * 2, 30.0)

    def _handle(self, event: Event) -> None:
        loop = self._loop
        if loop is None:
            return
        if event.kind not in (EventKind.ALARM_RAISED, EventKind.ALARM_CLEARED):
            return
        if event.params.get("notified"):
            return  # sent directly while the database was away
        try:
            alarm = alarm_of(event)
        except (KeyError, ValueError, TypeError):
            log.warning("event %d describes no alarm", event.id)
            return
        # Whether to mail, and whom, as the event's rule said when it was raised or cleared
        # (the entry carries it: settings read now may be ahead of the log); the account
        # and the receivers as they are now.
        email = event.params.get("email")
        recipients = event.params.get("recipients")
        to = [str(r) for r in recipients] if email and isinstance(recipients, list) else []
        settings = alarms.current(self.ctx.master)
        loop.call_soon_threadsafe(self._notify, alarm, True, settings, to)

    def _notify(
        self,
        alarm: Alarm,
        record: bool,
        settings: AlarmSettings | None,
        to: list[str] | None = None,
    ) -> None:
        """Mail (to `to`, else to the event's recipients if its rule says so) and traps."""
        if settings is None:
            log.error("monitor: no alarm settings known yet; %s not sent", alarm.message)
            return
        if to is None:
            rule = settings.rules[alarm.event]
            to = list(rule.recipients) if rule.email else []
        if to and settings.mail.configured:
            subject, body = mail_text(alarm, settings.mail.language, self.host)
            account, recipients = settings.mail, to

            async def send_mail() -> None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    self._mail_threads, mail.send, account, recipients, subject, body
                )

            self._spawn(self._deliver(alarm, "mail", send_mail, record))
        for receiver in settings.receivers:
            # An engine per delivery, closed with it: receivers come and go with the
            # settings, and a retry must not find its engine closed by a change.
            notifier = Notifier(receiver, self.ctx.master.fingerprint)

            async def send_trap(n: Notifier = notifier) -> None:
                await n.alarm(alarm)

            self._spawn(
                self._deliver(alarm, f"snmp {receiver.label}", send_trap, record, notifier.close)
            )

    async def _deliver(
        self,
        alarm: Alarm,
        channel: str,
        send: Callable[[], Awaitable[None]],
        record: bool,
        done: Callable[[], None] = lambda: None,
    ) -> None:
        """Send until it goes (or six hours pass), waiting longer after each failure; the
        alarm in the list says how it went."""
        try:
            outcome = await self._attempts(alarm, channel, send, record)
        finally:
            done()
        if record:
            await self._note(alarm, channel, outcome)

    async def _attempts(
        self, alarm: Alarm, channel: str, send: Callable[[], Awaitable[None]], record: bool
    ) -> str:
        delay, give_up = RETRY_FIRST_S, time.monotonic() + GIVE_UP_AFTER_S
        attempt = 1
        while True:
            try:
                await send()
                return "sent" if attempt == 1 else f"sent (attempt {attempt})"
            except (mail.MailFailure, SnmpFailure, OSError) as exc:
                outcome = f"failed (attempt {attempt}): {exc}"
                log.warning("alarm %d %s: %s", alarm.id, channel, outcome)
            if time.monotonic() > give_up or self._stop.is_set():
                return outcome
            if record:
                await self._note(alarm, channel, outcome + f"; retrying in {delay:.0f} s")
            await asyncio.sleep(delay)
            delay, attempt = min(delay * 2, RETRY_LONGEST_S), attempt + 1

    async def _note(self, alarm: Alarm, channel: str, outcome: str) -> None:
        try:
            # One writer of the delivery notes: two channels' outcomes never race.
            await asyncio.get_running_loop().run_in_executor(
                self._notes, alarms.note_delivery, alarm.id, channel, outcome
            )
        except Exception as exc:  # the database away: the warning logged says it
            log.debug("alarm %d: delivery not noted: %s", alarm.id, exc)
