"""The pair's pure rules: settings, addresses, proofs, what a change means, when to take over."""

from __future__ import annotations

import pytest

from appliance.domain.events import EventKind
from appliance.domain.ha import (
    Change,
    HaRole,
    HaSettings,
    PeerView,
    change_of,
    newer_primary,
    pairing_proof,
    parse_address,
    should_take_over,
)
from appliance.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.12", ("192.0.2.12", 7443)),
        ("192.0.2.12:9000", ("192.0.2.12", 9000)),
        ("standby.example", ("standby.example", 7443)),
        ("[2001:db8::2]", ("2001:db8::2", 7443)),
        ("[2001:db8::2]:8443", ("2001:db8::2", 8443)),
    ],
)
def test_addresses(text, expected):
    assert parse_address(text, 7443, "peer_address") == expected


@pytest.mark.parametrize("text", ["a b", "host:0", "host:70000", "host:x", "-host", "[::1", "a:b:c"])
def test_bad_addresses_are_refused_at_their_field(text):
    with pytest.raises(InvalidInput) as refused:
        parse_address(text, 7443, "witness")
    assert (refused.value.field, refused.value.code) == ("witness", "invalid_format")


def test_settings_are_checked_and_a_pair_needs_a_peer():
    s = HaSettings().changed(role="STANDBY", peer_address=" 192.0.2.1 ", period_seconds=300)
    assert (s.role, s.peer_address, s.period_seconds) == (HaRole.STANDBY, "192.0.2.1", 300)
    with pytest.raises(InvalidInput) as refused:
        HaSettings().changed(role="PRIMARY")
    assert (refused.value.field, refused.value.code) == ("peer_address", "required")
    with pytest.raises(InvalidInput) as refused:
        HaSettings().changed(takeover_seconds=2)
    assert refused.value.params == {"min": 3, "max": 3600, "value": 2}


def test_a_proof_is_bound_to_the_secret_the_side_the_nonces_and_both_certificates():
    args = ("a shared pairing secret", "standby", (b"n1", b"n2"), ("fp-primary", "fp-standby"))
    proof = pairing_proof(*args)
    assert proof == pairing_proof(*args)
    assert proof != pairing_proof("another shared secret", *args[1:])
    assert proof != pairing_proof(args[0], "primary", *args[2:])
    assert proof != pairing_proof(args[0], args[1], (b"n1", b"n3"), args[3])
    # A relay terminating TLS shows its own certificate: the proof names another one.
    assert proof != pairing_proof(args[0], args[1], args[2], ("fp-primary", "fp-relay"))


def test_what_a_change_means_to_the_standby():
    assert change_of(EventKind.RECORDING_STORED, recordings=True, configuration=True, handover=False) is Change.RECORDING
    assert change_of(EventKind.RECORDING_PLAYED, recordings=True, configuration=True, handover=False) is Change.RECORDING
    assert change_of(EventKind.RECORDING_DELETED, recordings=True, configuration=True, handover=False) is Change.DELETION
    assert change_of(EventKind.EMPLOYEE_CHANGED, recordings=True, configuration=True, handover=False) is Change.CONFIGURATION
    assert change_of(EventKind.EMPLOYEE_CHANGED, recordings=True, configuration=False, handover=False) is Change.NOTHING
    assert change_of(EventKind.RECORDING_STORED, recordings=False, configuration=True, handover=False) is Change.NOTHING
    assert change_of(EventKind.ALARM_RAISED, recordings=True, configuration=True, handover=False) is Change.NOTHING
    # A standby hands over only what it recorded: never deletions or configuration.
    assert change_of(EventKind.RECORDING_STORED, recordings=True, configuration=True, handover=True) is Change.RECORDING
    assert change_of(EventKind.RECORDING_DELETED, recordings=True, configuration=True, handover=True) is Change.NOTHING
    assert change_of(EventKind.SETTINGS_CHANGED, recordings=True, configuration=True, handover=True) is Change.NOTHING
    # Nor what was done to its copies (a play on the standby): the primary's state stands.
    assert change_of(EventKind.RECORDING_PLAYED, recordings=True, configuration=True, handover=True) is Change.NOTHING
    assert change_of(EventKind.RECORDING_SCORED, recordings=True, configuration=True, handover=True) is Change.NOTHING


@pytest.mark.parametrize(
    ("role", "silent", "witness", "reachable", "takes"),
    [
        (HaRole.STANDBY, 16, False, False, True),  # no witness: silence is enough
        (HaRole.STANDBY, 14, False, False, False),
        (HaRole.STANDBY, 16, True, True, True),
        (HaRole.STANDBY, 16, True, False, False),  # isolated: neither answers
        (HaRole.PRIMARY, 60, False, False, False),
        (HaRole.STANDALONE, 60, False, False, False),
    ],
)
def test_when_a_standby_takes_over(role, silent, witness, reachable, takes):
    view = PeerView(paired=True, silent_seconds=silent, witness_configured=witness, witness_reachable=reachable)
    assert should_take_over(role, 15, view) is takes


def test_an_unpaired_standby_never_takes_over():
    view = PeerView(paired=False, silent_seconds=999, witness_configured=False, witness_reachable=False)
    assert should_take_over(HaRole.STANDBY, 15, view) is False


def test_the_newer_primary_wins():
    assert newer_primary(1, "2026-12-06T10:00:00+00:00", 2, "2026-12-06T09:00:00+00:00")
    assert newer_primary(2, "2026-12-06T09:00:00+00:00", 2, "2026-12-06T10:00:00+00:00")
    assert not newer_primary(3, "", 2, "2026-12-06T10:00:00+00:00")
