"""What pulled file names say, per layout, and the names refused before any fetch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.devices import DeviceMode, DeviceSpec, PullEndpoint, PullProtocol
from appliance.domain.pull import (
    NamePattern,
    PullReason,
    Recognised,
    recognise,
    safe_relpath,
    unsafe_name,
    voicemail_siblings,
    with_voicemail_text,
)
from appliance.domain.recordings import Direction, RecordingKind
from appliance.errors import InvalidInput

DAY = "monitor/2025/03/27/"


@pytest.mark.parametrize(
    ("name", "caller", "callee", "direction"),
    [
        ("in-2001-13800138000", "13800138000", "2001", Direction.IN),
        ("external-2004-13700137000", "13700137000", "2004", Direction.IN),
        ("out-13900139000-2002", "2002", "13900139000", Direction.OUT),
        ("internal-2003-2001", "2001", "2003", Direction.INTERNAL),
        ("exten-2008-2001", "2001", "2008", Direction.INTERNAL),
        ("q-600-13600136000", "13600136000", "600", None),
        ("rg-601-13500135000", "13500135000", "601", None),
        ("parked-70-2001", "2001", "70", None),
        ("generic-2005-2001", "2001", "2005", None),
        ("ondemand-2006-2001", "2001", "2006", None),
        ("force-2009-2001", "2001", "2009", None),
        ("conf-8001-2001", "2001", "8001", None),
        ("page-2010-2001", "2001", "2010", None),
    ],
)
def test_freepbx_types_give_parties_and_direction(name, caller, callee, direction):
    found = recognise(f"{DAY}{name}-20250327-101517-1743042917.12206.wav")
    assert isinstance(found, Recognised)
    call = found.call
    assert (call.caller, call.callee, call.direction, call.kind) == (caller, callee, direction, RecordingKind.CALL)
    assert call.started_at == datetime(2025, 3, 27, 10, 15, 17) and call.local_time


def test_the_extension_is_after_the_last_dot_only_and_wav49_is_upper_case():
    found = recognise(f"{DAY}in-2001-100-20250327-101517-1743042917.12206.WAV")
    assert isinstance(found, Recognised) and found.audio == "wav49"
    assert isinstance(recognise(f"{DAY}out-100-2001-20250327-101517-1743042917.1.gsm"), Recognised)
    assert recognise(f"{DAY}in-2001-100-20250327-101517-1743042917.12206") is PullReason.NOT_AUDIO
    assert recognise(f"{DAY}in-2001-100-20250327-101517-1743042917.12206.txt") is PullReason.NOT_AUDIO


def test_the_conference_form():
    found = recognise(f"{DAY}8000-8000-always-20250327-110000-1743046800.5.wav")
    assert isinstance(found, Recognised)
    assert (found.call.caller, found.call.callee, found.call.layout) == ("8000", "8000", "freepbx-conference")


def test_grandstream_time_is_its_epoch_in_utc():
    found = recognise("2025/auto-1743050000-2016-2017.wav")
    assert isinstance(found, Recognised)
    assert (found.call.caller, found.call.callee) == ("2016", "2017")
    assert found.call.started_at == datetime(2025, 3, 27, 4, 33, 20, tzinfo=UTC) and not found.call.local_time


def test_voicemail_takes_its_parties_and_time_from_the_txt():
    found = recognise("voicemail/default/2001/INBOX/msg0000.wav")
    assert isinstance(found, Recognised) and found.call.companion == "voicemail/default/2001/INBOX/msg0000.txt"
    text = '[message]\norigmailbox=2001\ncallerid="Alice Chen" <13000130000>\norigtime=1743066000\nduration=3\n'
    call = with_voicemail_text(found.call, text)
    assert call is not None
    assert (call.caller, call.callee, call.kind, call.direction) == ("13000130000", "2001", RecordingKind.VOICEMAIL, Direction.IN)
    assert call.started_at == datetime(2025, 3, 27, 9, 0, tzinfo=UTC)
    assert with_voicemail_text(found.call, "[message]\ncallerid=2002\n") is None  # no time: not made up
    assert recognise("voicemail/default/2001/unavail.wav") is PullReason.UNRECOGNISED
    assert recognise("voicemail/default/2001/tmp/msg0000.wav") is PullReason.UNRECOGNISED


def test_one_voicemail_message_in_several_formats_is_fetched_once():
    paths = [f"vm/d/2001/INBOX/msg0000.{e}" for e in ("gsm", "WAV", "wav", "txt")] + ["vm/d/2001/INBOX/msg0001.gsm"]
    assert voicemail_siblings(paths) == {"vm/d/2001/INBOX/msg0000.gsm", "vm/d/2001/INBOX/msg0000.WAV"}


def test_nothing_unknown_is_stored_under_made_up_parties():
    for name in ("holiday-music.wav", "in-2001-100-2025032-101517-1.1.wav", "in-2001-100-20251327-101517-1.1.wav"):
        assert recognise(f"{DAY}{name}") is PullReason.UNRECOGNISED, name


def test_a_device_pattern_and_its_validation():
    pattern = NamePattern.parse("{YYYY}{MM}{DD}-{hh}{mm}{ss}_{caller}_{callee}")
    found = recognise("rec/20250403-143000_5001_13800005001.wav", pattern)
    assert isinstance(found, Recognised)
    assert (found.call.caller, found.call.callee, found.call.started_at) == ("5001", "13800005001", datetime(2025, 4, 3, 14, 30))
    by_epoch = NamePattern.parse("{any}_{epoch}_{callee}")
    found = recognise("x/rec_1743050000_2017.mp3", by_epoch)
    assert isinstance(found, Recognised) and found.call.started_at.tzinfo is UTC
    for bad, code in (("{caller}_{when}", "unknown_field"), ("{caller}-{callee}", "incomplete_pattern"),
                      ("{caller}{caller}{epoch}", "duplicate_field"), ("a/{caller}{epoch}", "invalid_format"),
                      ("{caller}{epoch", "invalid_format")):
        with pytest.raises(InvalidInput) as refused:
            NamePattern.parse(bad)
        assert refused.value.code == code, bad


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "a\\b", "x\x00.wav", "x\x01.wav", "x\x7f.wav", "x" * 256])
def test_unsafe_names(name):
    assert unsafe_name(name) is not None


@given(st.text(min_size=1, max_size=40))
def test_a_name_that_passes_never_climbs_or_carries_control_characters(name):
    if unsafe_name(name) is None:
        assert name not in (".", "..") and "/" not in name and all(ord(c) >= 32 and ord(c) != 127 for c in name)


def test_paths_are_bounded_in_depth_and_never_absolute():
    assert safe_relpath("/etc/passwd") is PullReason.UNSAFE_NAME
    assert safe_relpath("a/../b.wav") is PullReason.UNSAFE_NAME
    assert safe_relpath("/".join(["d"] * 20) + "/x.wav") is PullReason.TOO_DEEP
    assert safe_relpath("monitor/2025/03/27/x.wav") is None


def test_addresses_hosts_urls_and_folders():
    parse = PullEndpoint.parse
    assert parse(PullProtocol.FTP, "10.0.0.5", "monitor") == PullEndpoint(PullProtocol.FTP, "10.0.0.5", 21, "monitor")
    assert parse(PullProtocol.SFTP, "pbx.example.com:2222", "/var/spool/asterisk").port == 2222
    assert parse(PullProtocol.HTTPS, "https://pbx.local/rec/monitor/", "").root == "/rec/monitor"
    assert parse(PullProtocol.SFTP, "sftp://[::1]:2222/x", "y") == PullEndpoint(PullProtocol.SFTP, "::1", 2222, "/x/y")
    for protocol, address, folder, field in (
        (PullProtocol.FTP, "sftp://10.0.0.5", "", "address"),
        (PullProtocol.HTTP, "http://u:p@10.0.0.5/", "", "address"),
        (PullProtocol.FTP, "10.0.0.5", "../etc", "pull_path"),
        (PullProtocol.FTP, "999.1.1.1", "", "address"),
    ):
        with pytest.raises(InvalidInput) as refused:
            parse(protocol, address, folder)
        assert refused.value.field == field


def test_a_pull_device_spec_refuses_what_its_protocol_cannot_do():
    base = dict(alias="pbx", mode=DeviceMode.PULL, address="10.0.0.5", secret="secret")
    from appliance.domain.pull import AfterFetch, PullAuth

    for extra, field in (({"pull_auth": PullAuth.KEY}, "pull_auth"),
                         ({"pull_after": AfterFetch.DELETE}, "pull_after"),
                         ({"pull_after": AfterFetch.MOVE, "pull_move_to": "../x", "pull_protocol": PullProtocol.FTP},
                          "pull_move_to"),
                         ({"pull_tls_fingerprint": "AB:CD"}, "pull_tls_fingerprint")):
        with pytest.raises(InvalidInput) as refused:
            DeviceSpec(**{"pull_protocol": PullProtocol.HTTP, **base, **extra}).validate()
        assert refused.value.field == field
