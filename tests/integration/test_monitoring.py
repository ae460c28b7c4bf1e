"""Monitoring with real parts on 127.0.0.1: net-snmp's snmptrapd receives the raise and the
clear of alarms (v2c and v3 authPriv, traps and informs) decoded by name with our MIB,
snmpget and snmpwalk read the agent, aiosmtpd receives the alarm mail over STARTTLS and
implicit TLS, and the thresholds, the quiet line and the mail refusals are met for real."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.server import ApplianceServer, Client, prepare_admin
from tests.support.smtp import PASSWORD, USER, CertificateAuthority, MailServer
from tests.support.snmp import AUTH_KEY, COMMUNITY, PRIV_KEY, TrapReceiver, snmp_tool
from tests.support.snmp import USER as SNMP_USER

# CPU alarms and delays are measured: not beside another test process.
pytestmark = pytest.mark.alone

RECEIVERS = "mutation($r: [SnmpReceiverInput!]!) { setSnmpReceivers(receivers: $r) { __typename ... on UserError { message field rule } } }"
RULE = "mutation($i: AlarmEventInput!) { updateAlarmEvent(input: $i) { __typename ... on UserError { message field rule } } }"
MAIL = "mutation($i: MailSettingsInput!) { updateMailSettings(input: $i) { __typename ... on UserError { message field rule } } }"
AGENT = "mutation($i: SnmpAgentInput!) { updateSnmpAgent(input: $i) { __typename ... on UserError { message field rule } } }"
ALARMS = """query($f: AlarmFilter) { alarms(filter: $f, pageSize: 50) { total items {
  id event level state value threshold message raisedAt clearedAt subject delivery } } }"""


class Monitored:
    def __init__(self, server: ApplianceServer, admin: Client, ca: CertificateAuthority) -> None:
        self.server, self.admin, self.ca = server, admin, ca
        self.engine_id = admin.data("{ alarmSettings { engineId } }")["alarmSettings"]["engineId"]

    def ok(self, query: str, variables: dict[str, Any]) -> None:
        data = self.admin.data(query, variables)
        result = next(iter(data.values()))
        assert result["__typename"] != "UserError", result

    def rule(self, event: str, **changes: Any) -> None:
        rule = {"event": event, "onScreen": True, "email": False, "level": "MEDIUM", "threshold": None, "recipients": []}
        self.ok(RULE, {"i": {**rule, **changes}})

    def alarms(self, **filter: Any) -> list[dict[str, Any]]:
        return self.admin.data(ALARMS, {"f": filter})["alarms"]["items"]

    def wait_alarm(self, timeout: float = 30, **filter: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not (found := self.alarms(**filter)):
            assert time.monotonic() < deadline, f"no alarm {filter}: {self.alarms()}"
            time.sleep(0.3)
        return found[0]

    def drill(self, verb: str, event: str, *args: str) -> str:
        return self.server.cli("admin", "alarm", verb, event, *args).stdout


@pytest.fixture(scope="module")
def monitored():
    ca = CertificateAuthority()
    # Sampling every second; the test CA is what the appliance's TLS trusts (SSL_CERT_FILE).
    server = ApplianceServer(monitor=True, env={"RECORDER_MONITOR_SECONDS": "1", "SSL_CERT_FILE": str(ca.ca_file)}).start()
    try:
        admin, _ = prepare_admin(server)
        yield Monitored(server, admin, ca)
    finally:
        server.stop()


def _v2c(port: int, notify: str = "TRAP") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "version": "V2C", "community": COMMUNITY, "notify": notify}


def _v3(port: int, notify: str = "TRAP") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "version": "V3", "user": SNMP_USER, "authProtocol": "SHA256",
            "authKey": AUTH_KEY, "privProtocol": "AES128", "privKey": PRIV_KEY, "notify": notify}


def test_traps_v2c_and_v3_carry_the_raise_and_the_clear_by_name(monitored):
    v2c = TrapReceiver(monitored.engine_id, v3=False).start()
    v3 = TrapReceiver(monitored.engine_id, v2c=False).start()
    try:
        monitored.ok(RECEIVERS, {"r": [_v2c(v2c.port), _v3(v3.port)]})
        monitored.rule("MEMORY_HIGH", threshold=1, level="LOW")  # any machine uses more
        alarm = monitored.wait_alarm(event="MEMORY_HIGH", state="ACTIVE")
        assert alarm["threshold"] == 1 and alarm["value"] > 1 and alarm["level"] == "LOW"
        for receiver in (v2c, v3):
            raised = receiver.wait_for("RECORDER-MIB::recorderAlarmRaised", f"recorderAlarmEvent.{alarm['id']} = INTEGER: memoryHigh(2)")
            assert f"recorderAlarmLevel.{alarm['id']} = INTEGER: low(1)" in raised
            assert f"recorderAlarmThreshold.{alarm['id']} = INTEGER: 1" in raised
            assert "memory usage" in raised
        monitored.rule("MEMORY_HIGH", threshold=100)  # clears a few points below: now
        for receiver in (v2c, v3):
            receiver.wait_for("RECORDER-MIB::recorderAlarmCleared", f"recorderAlarmEvent.{alarm['id']} = INTEGER: memoryHigh(2)")
        cleared = monitored.wait_alarm(event="MEMORY_HIGH", state="CLEARED")
        assert cleared["id"] == alarm["id"] and cleared["clearedAt"]
        # Raised once, cleared once: one of each per receiver, however many samples passed.
        for receiver in (v2c, v3):
            mine = [n for n in receiver.notifications() if f"recorderAlarmEvent.{alarm['id']} " in n]
            assert len(mine) == 2, mine
        delivery = monitored.alarms(event="MEMORY_HIGH")[0]["delivery"]
        assert delivery == {f"snmp 127.0.0.1:{v2c.port}": "sent", f"snmp 127.0.0.1:{v3.port}": "sent"}
    finally:
        monitored.ok(RECEIVERS, {"r": []})
        v2c.stop()
        v3.stop()


def test_an_inform_is_sent_again_until_the_receiver_acknowledges_it(monitored):
    port = free_port(udp=True)
    monitored.ok(RECEIVERS, {"r": [_v3(port, "INFORM")]})
    try:
        out = monitored.drill("raise", "BACKUP_FAILED", "--error", "target full")
        alarm_id = out.split()[1]
        time.sleep(8)  # the first attempt (three sends, 2 s apart) goes unanswered: nothing listens
        receiver = TrapReceiver(monitored.engine_id, port=port).start()
        try:
            receiver.wait_for("recorderAlarmRaised", f"recorderAlarmEvent.{alarm_id} = INTEGER: backupFailed(5)", timeout=60)
            deadline = time.monotonic() + 10
            while "sent" not in (outcome := monitored.alarms(event="BACKUP_FAILED")[0]["delivery"].get(f"snmp 127.0.0.1:{port}", "")):
                assert time.monotonic() < deadline, outcome
                time.sleep(0.3)
            assert outcome.startswith("sent (attempt "), outcome
        finally:
            receiver.stop()
    finally:
        monitored.ok(RECEIVERS, {"r": []})
        monitored.drill("clear", "BACKUP_FAILED")


def test_the_agent_answers_v2c_and_v3_authpriv_and_nothing_else(monitored):
    port = free_port(udp=True)
    community = f"poll-{uuid.uuid4().hex[:6]}"
    monitored.ok(AGENT, {"i": {"enabled": True, "host": "127.0.0.1", "port": port, "community": community,
                              "v3Users": [{"user": "poller", "authProtocol": "SHA256", "authKey": "poller-auth-1",
                                           "privProtocol": "AES256", "privKey": "poller-priv-1"}]}})
    target = f"127.0.0.1:{port}"
    v3 = ["-v3", "-l", "authPriv", "-u", "poller", "-a", "SHA-256", "-A", "poller-auth-1", "-x", "AES-256", "-X", "poller-priv-1"]
    try:
        deadline = time.monotonic() + 20
        while (got := snmp_tool("snmpget", "-v2c", "-c", community, "-r0", "-t1", target, "SNMPv2-MIB::sysName.0")).returncode:
            assert time.monotonic() < deadline, got.stderr
        monitored.drill("raise", "BACKUP_FAILED", "--error", "agent drill")
        time.sleep(2.5)  # the next sample puts it in the table
        walk = snmp_tool("snmpwalk", "-v2c", "-c", community, target, "RECORDER-MIB::recorderMIB").stdout
        assert "RECORDER-MIB::recorderCpuPercent.0 = Gauge32:" in walk
        assert "RECORDER-MIB::recorderDiskPercent.0 = Gauge32:" in walk
        assert "RECORDER-MIB::recorderActiveCalls.0 = Gauge32: 0 calls" in walk
        assert 'RECORDER-MIB::recorderServiceName.2 = STRING: "capture"' in walk or "recorderServiceName.2 = STRING: capture" in walk
        assert "recorderServiceState.1 = INTEGER: running(1)" in walk  # the api
        assert "INTEGER: backupFailed(5)" in walk and "backup failed: agent drill" in walk
        system = snmp_tool("snmpwalk", *v3, target, "SNMPv2-MIB::system")
        assert system.returncode == 0, system.stderr
        assert "SNMPv2-MIB::sysDescr.0 = STRING: Call recorder" in system.stdout
        assert "SNMPv2-MIB::sysObjectID.0 = OID: RECORDER-MIB::recorderMIB" in system.stdout
        one = snmp_tool("snmpget", *v3, target, "RECORDER-MIB::recorderMemoryPercent.0", "RECORDER-MIB::recorderRecordingsToday.0")
        assert one.returncode == 0 and "recorderMemoryPercent.0 = Gauge32:" in one.stdout, one
        # noAuthNoPriv, authNoPriv, a wrong community, a wrong key: no value comes back.
        for refused in (
            ["-v3", "-l", "noAuthNoPriv", "-u", "poller"],
            ["-v3", "-l", "authNoPriv", "-u", "poller", "-a", "SHA-256", "-A", "poller-auth-1"],
            ["-v2c", "-c", "wrong-community"],
            [*v3[:-1], "wrong-priv-key"],
        ):
            got = snmp_tool("snmpget", *refused, "-r0", "-t1", target, "SNMPv2-MIB::sysName.0")
            assert got.returncode != 0 and "sysName.0 = STRING" not in got.stdout, (refused, got)
        # Sets are refused whoever asks.
        name = snmp_tool("snmpget", "-v2c", "-c", community, target, "SNMPv2-MIB::sysName.0").stdout
        for writer in (["-v2c", "-c", community], v3):
            got = snmp_tool("snmpset", *writer, "-r0", "-t1", target, "SNMPv2-MIB::sysName.0", "s", "owned")
            assert got.returncode != 0, got
        assert snmp_tool("snmpget", "-v2c", "-c", community, target, "SNMPv2-MIB::sysName.0").stdout == name
    finally:
        monitored.ok(AGENT, {"i": {"enabled": False, "host": "127.0.0.1", "port": port, "clearCommunity": True}})
        monitored.drill("clear", "BACKUP_FAILED")


@pytest.mark.parametrize("security", ["STARTTLS", "TLS"])
def test_alarm_mail_arrives_in_the_chosen_language(monitored, security):
    server = MailServer(monitored.ca, security).start()
    language = {"STARTTLS": "zh-CN", "TLS": "en"}[security]
    try:
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": server.port, "security": security, "username": USER,
                                 "password": PASSWORD, "sender": "recorder@example.com", "language": language}})
        monitored.rule("BACKUP_FAILED", email=True, recipients=["noc@example.com", "boss@example.com"], level="HIGH")
        monitored.drill("raise", "BACKUP_FAILED", "--error", "NAS unreachable")
        raised = server.wait_for(1)[0]
        assert server.inbox.envelopes[0] == ("recorder@example.com", ["noc@example.com", "boss@example.com"])
        body = raised.get_content()
        if language == "zh-CN":
            assert raised["Subject"].startswith("【高】备份失败")
            assert "告警事件：备份失败" in body and "内容：备份失败：NAS unreachable" in body
        else:
            assert raised["Subject"].startswith("[High] Backup failed")
            assert "Event: Backup failed" in body and "Alarm: Backup failed: NAS unreachable" in body
        monitored.drill("clear", "BACKUP_FAILED")
        cleared = server.wait_for(2)[1]
        assert ("【已恢复】" if language == "zh-CN" else "[Cleared]") in cleared["Subject"]
        tested = monitored.admin.data(
            'mutation { sendTestEmail(to: "noc@example.com") { __typename ... on TestResult { ok reason serverAnswer } } }'
        )["sendTestEmail"]
        assert tested == {"__typename": "TestResult", "ok": True, "reason": None, "serverAnswer": None}
        assert len(server.wait_for(3)) == 3
        # A wrong password is said in plain words, with the server's own answer.
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": server.port, "security": security, "username": USER,
                                 "password": "Not-The-Password", "sender": "recorder@example.com", "language": language}})
        refused = monitored.admin.data(
            'mutation { sendTestEmail(to: "noc@example.com") { __typename ... on TestResult { ok reason serverAnswer } } }'
        )["sendTestEmail"]
        assert refused["ok"] is False and refused["reason"] == "wrong_password", refused
        assert "535" in refused["serverAnswer"]
    finally:
        monitored.rule("BACKUP_FAILED", level="HIGH")
        server.stop()


def test_an_untrusted_certificate_and_a_dead_server_are_said_plainly(monitored):
    other_ca = CertificateAuthority()  # not the one the appliance trusts
    server = MailServer(other_ca, "TLS").start()
    try:
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": server.port, "security": "TLS", "username": USER,
                                 "password": PASSWORD, "sender": "recorder@example.com"}})
        result = monitored.admin.data('mutation { sendTestEmail(to: "noc@example.com") { ... on TestResult { ok reason serverAnswer } } }')
        assert result["sendTestEmail"]["reason"] == "tls_failed", result
    finally:
        server.stop()
    monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": free_port(), "security": "STARTTLS", "sender": "recorder@example.com"}})
    result = monitored.admin.data('mutation { sendTestEmail(to: "noc@example.com") { ... on TestResult { ok reason serverAnswer } } }')
    assert result["sendTestEmail"]["reason"] == "unreachable", result
    assert server.inbox.messages == []


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("host", "999.1.1.1:25", "invalid_format"),
        ("host", "smtp..example.com", "invalid_format"),
        ("host", "999.1.1.1", "invalid_format"),
        ("port", 0, "out_of_range"),
        ("port", 65536, "out_of_range"),
        ("sender", "not-an-address", "invalid_format"),
    ],
)
def test_bad_mail_settings_are_refused_at_their_field(monitored, field, value, rule):
    good = {"host": "127.0.0.1", "port": 25, "security": "NONE", "sender": "recorder@example.com"}
    result = monitored.admin.data(MAIL, {"i": {**good, field: value}})["updateMailSettings"]
    assert result["__typename"] == "UserError" and result["field"] == field, result
    assert result["rule"] == rule, result


@pytest.mark.parametrize(
    ("receiver", "field", "rule"),
    [
        ({"host": "127.0.0.1:162"}, "host", "invalid_format"),
        ({"host": "bad host"}, "host", "invalid_format"),
        ({"host": "300.1.1.1"}, "host", "invalid_format"),
        ({"port": 70000}, "port", "out_of_range"),
        ({"version": "V2C", "community": ""}, "community", "required"),
        ({"version": "V3", "user": "noc", "authKey": "short", "privKey": "long-enough-1"}, "authKey", "too_short"),
        ({"version": "V3", "user": "noc", "authKey": "long-enough-1", "privKey": "7chars!"}, "privKey", "too_short"),
        ({"version": "V3", "user": "", "authKey": "long-enough-1", "privKey": "long-enough-1"}, "user", "required"),
    ],
)
def test_bad_trap_receivers_are_refused_at_their_field(monitored, receiver, field, rule):
    given = {"host": "127.0.0.1", "port": 162, "version": "V2C", "community": "public", **receiver}
    result = monitored.admin.data(RECEIVERS, {"r": [given]})["setSnmpReceivers"]
    assert result["__typename"] == "UserError" and (result["field"], result["rule"]) == (field, rule), result


def test_bad_event_settings_are_refused_at_their_field(monitored):
    for changes, field, rule in (
        ({"event": "CPU_HIGH", "threshold": 101}, "threshold", "out_of_range"),
        ({"event": "NO_RECORDING", "threshold": 0}, "threshold", "out_of_range"),
        ({"event": "BACKUP_FAILED", "email": True, "recipients": []}, "recipients", "required"),
        ({"event": "BACKUP_FAILED", "recipients": ["noc@"]}, "recipients", "invalid_format"),
    ):
        rule_input = {"onScreen": True, "email": False, "level": "LOW", "threshold": None, "recipients": [], **changes}
        result = monitored.admin.data(RULE, {"i": rule_input})["updateAlarmEvent"]
        assert result["__typename"] == "UserError" and (result["field"], result["rule"]) == (field, rule), (changes, result)


def test_usage_thresholds_raise_once_and_clear_once(monitored):
    monitored.rule("STORAGE_HIGH", threshold=1)
    monitored.rule("CPU_HIGH", threshold=1)
    stop = time.monotonic() + 4
    while time.monotonic() < stop:  # a busy core: the machine's CPU is above 1 %
        sum(range(10_000))
    storage = monitored.wait_alarm(event="STORAGE_HIGH", state="ACTIVE")
    # A busy machine may have raised CPU_HIGH at its default 90 % before: the one at 1 %.
    deadline = time.monotonic() + 30
    while not [a for a in monitored.alarms(event="CPU_HIGH") if a["threshold"] == 1]:
        assert time.monotonic() < deadline, monitored.alarms(event="CPU_HIGH")
        time.sleep(0.3)
    assert storage["value"] >= 1 and storage["threshold"] == 1
    time.sleep(3)  # more samples above the threshold raise nothing more
    assert len(monitored.alarms(event="STORAGE_HIGH")) == 1
    monitored.rule("STORAGE_HIGH", threshold=100)
    monitored.rule("CPU_HIGH", threshold=100)
    cleared = monitored.wait_alarm(event="STORAGE_HIGH", state="CLEARED")
    assert cleared["id"] == storage["id"]
    monitored.wait_alarm(event="CPU_HIGH", state="CLEARED")
    assert len(monitored.alarms(event="STORAGE_HIGH")) == 1


def test_the_saved_password_is_never_sent_to_a_server_it_was_not_given_for(monitored):
    """A stolen session points the mail at its own server and asks for a test mail: the
    saved password stays behind, since changing the server needs it typed again."""
    from tests.support import smtp

    honest = MailServer(monitored.ca, "STARTTLS").start()
    thief = MailServer(monitored.ca, "STARTTLS").start()
    try:
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": honest.port, "security": "STARTTLS", "username": USER,
                                 "password": PASSWORD, "sender": "recorder@example.com"}})
        changed = monitored.admin.data(
            "mutation($i: MailSettingsInput!) { updateMailSettings(input: $i) { ... on AlarmSettings { mail { passwordSet } } } }",
            {"i": {"host": "127.0.0.1", "port": thief.port, "security": "STARTTLS", "username": USER,
                   "sender": "recorder@example.com"}},
        )["updateMailSettings"]
        assert changed["mail"]["passwordSet"] is False
        smtp.OFFERED.clear()
        monitored.admin.data('mutation { sendTestEmail(to: "noc@example.com") { __typename } }')
        assert PASSWORD.encode() not in smtp.OFFERED
        assert thief.inbox.messages == []
        # Back to the honest server, the password typed again: the account works.
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": honest.port, "security": "STARTTLS", "username": USER,
                                 "password": PASSWORD, "sender": "recorder@example.com"}})
        # The same server again with an empty password keeps it.
        monitored.ok(MAIL, {"i": {"host": "127.0.0.1", "port": honest.port, "security": "STARTTLS", "username": USER,
                                 "sender": "recorder@example.com", "language": "en"}})
        ok = monitored.admin.data('mutation { sendTestEmail(to: "noc@example.com") { ... on TestResult { ok } } }')
        assert ok["sendTestEmail"]["ok"] is True
    finally:
        honest.stop()
        thief.stop()
