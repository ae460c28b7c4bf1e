"""The alarm rules: raised once, cleared once (hysteresis), and the settings' refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.alarms import (
    AlarmEvent,
    Decision,
    EventRule,
    decide,
    decide_condition,
    default_rule,
    rules_from_store,
)
from appliance.domain.mail import MailSettings
from appliance.domain.snmp import SnmpAgent, SnmpReceiver, SnmpVersion, UsmUser, check_receivers
from appliance.errors import InvalidInput
from appliance.monitor.snmp.notify import date_and_time, engine_id


def _run(rule: EventRule, values: list[float]) -> list[Decision]:
    active, out = False, []
    for v in values:
        d = decide(rule, v, active)
        active = {Decision.RAISE: True, Decision.CLEAR: False}.get(d, active)
        out.append(d)
    return out


def test_a_usage_hovering_at_its_threshold_raises_once():
    rule = EventRule(AlarmEvent.CPU_HIGH, threshold=90).validate()
    seen = _run(rule, [80, 90, 89, 91, 88, 90, 86, 84.9, 90])
    assert seen.count(Decision.RAISE) == 2 and seen.count(Decision.CLEAR) == 1
    assert seen[1] == Decision.RAISE and seen[7] == Decision.CLEAR and seen[8] == Decision.RAISE


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=200), st.integers(1, 100))
def test_raises_and_clears_alternate(values, threshold):
    rule = EventRule(AlarmEvent.MEMORY_HIGH, threshold=threshold).validate()
    changes = [d for d in _run(rule, values) if d is not Decision.KEEP]
    assert changes == [Decision.RAISE, Decision.CLEAR] * (len(changes) // 2) + [Decision.RAISE] * (len(changes) % 2)


def test_the_quiet_line_clears_as_soon_as_a_recording_comes():
    rule = EventRule(AlarmEvent.NO_RECORDING, threshold=60).validate()
    assert _run(rule, [59, 60, 61, 59.5, 0]) == [Decision.KEEP, Decision.RAISE, Decision.KEEP, Decision.CLEAR, Decision.KEEP]


def test_a_fact_raises_and_clears_on_its_change():
    assert decide_condition(True, False) is Decision.RAISE
    assert decide_condition(True, True) is Decision.KEEP
    assert decide_condition(False, True) is Decision.CLEAR


def test_the_manuals_defaults_and_a_damaged_store():
    rules = rules_from_store({"CPU_HIGH": {"threshold": "ninety"}, "NO_RECORDING": "nonsense"})
    assert list(rules) == list(AlarmEvent)
    assert rules[AlarmEvent.CPU_HIGH] == default_rule(AlarmEvent.CPU_HIGH)
    assert rules[AlarmEvent.NO_RECORDING].threshold == 180
    assert rules[AlarmEvent.BACKUP_FAILED].threshold is None
    assert all(r.level.value == "LOW" for r in rules.values())


@pytest.mark.parametrize(
    ("rule", "field", "code"),
    [
        (EventRule(AlarmEvent.CPU_HIGH, threshold=0), "threshold", "out_of_range"),
        (EventRule(AlarmEvent.NO_RECORDING, threshold=10081), "threshold", "out_of_range"),
        (EventRule(AlarmEvent.BACKUP_FAILED, email=True), "recipients", "required"),
        (EventRule(AlarmEvent.BACKUP_FAILED, recipients=("a@b",)), "recipients", "invalid_format"),
        (EventRule(AlarmEvent.BACKUP_FAILED, recipients=tuple(f"n{i}@example.com" for i in range(21))), "recipients", "too_many"),
    ],
)
def test_bad_rules_are_refused_at_their_field(rule, field, code):
    with pytest.raises(InvalidInput) as refused:
        rule.validate()
    assert (refused.value.field, refused.value.code) == (field, code)


@pytest.mark.parametrize(
    ("receiver", "field", "code"),
    [
        (SnmpReceiver("10.0.0.1:162"), "host", "invalid_format"),
        (SnmpReceiver("256.1.1.1", community="c"), "host", "invalid_format"),
        (SnmpReceiver("noc.example.com", port=0, community="c"), "port", "out_of_range"),
        (SnmpReceiver("noc.example.com"), "community", "required"),
        (SnmpReceiver("noc.example.com", version=SnmpVersion.V3), "user", "required"),
        (SnmpReceiver("noc.example.com", version=SnmpVersion.V3, usm=UsmUser("noc", auth_key="1234567", priv_key="12345678")), "auth_key", "too_short"),
    ],
)
def test_bad_receivers_are_refused_at_their_field(receiver, field, code):
    with pytest.raises(InvalidInput) as refused:
        check_receivers([receiver])
    assert (refused.value.field, refused.value.code) == (field, code)


def test_an_agent_needs_a_way_in_and_unique_users():
    with pytest.raises(InvalidInput) as refused:
        SnmpAgent(enabled=True).validate()
    assert refused.value.field == "community"
    user = UsmUser("noc", auth_key="auth-key-1", priv_key="priv-key-1")
    with pytest.raises(InvalidInput) as refused:
        SnmpAgent(enabled=True, users=(user, user)).validate()
    assert refused.value.code == "duplicate"
    assert SnmpAgent(enabled=False).validate().host == "0.0.0.0"


def test_mail_settings_need_a_sender_once_a_server_is_named():
    with pytest.raises(InvalidInput) as refused:
        MailSettings(host="smtp.163.com").validate()
    assert refused.value.field == "sender"
    assert MailSettings().validate().configured is False
    assert MailSettings(host=" smtp.163.com ", sender="a@example.com").validate().host == "smtp.163.com"


def test_the_engine_id_is_stable_per_appliance_and_well_formed():
    first, again, other = engine_id(b"12345678"), engine_id(b"12345678"), engine_id(b"87654321")
    assert first == again != other
    assert first[:5] == bytes.fromhex("80001f8805") and len(first) == 13  # RFC 3411 format 5


def test_date_and_time_is_snmpv2_tc_in_utc():
    octets = date_and_time(datetime(2026, 12, 5, 17, 4, 9, 350000, tzinfo=UTC))
    assert octets == bytes([0x07, 0xEA, 12, 5, 17, 4, 9, 3]) + b"+\x00\x00"
