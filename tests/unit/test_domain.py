from __future__ import annotations

from datetime import datetime

import pytest

from appliance.domain.accounts import check_new_password, lock_seconds
from appliance.domain.devices import check_address
from appliance.domain.recordings import (
    RecordingFilter,
    RecordingMeta,
    archive_name,
    format_duration,
    party_pattern,
    sn_base,
    unique_names,
)
from appliance.domain.settings import FileFormat, Settings
from appliance.errors import InvalidInput


def test_sn_and_archive_names_follow_the_manual():
    when = datetime(2021, 1, 13, 15, 1, 2)
    assert sn_base(when, "269") == "20210113_150102_269"
    assert sn_base(when, "") == "20210113_150102_0"
    assert archive_name("201", "269", when, "mp3") == "201-269-20210113150102.mp3"
    assert archive_name("a/b", "", when, "wav") == "a_b-unknown-20210113150102.wav"


def test_unique_names():
    assert unique_names(["a.mp3", "a.mp3", "b.mp3", "a.mp3"]) == ["a.mp3", "a(2).mp3", "b.mp3", "a(3).mp3"]
    assert unique_names(["a(2).mp3", "a.mp3", "a.mp3"]) == ["a(2).mp3", "a.mp3", "a(3).mp3"]


def test_duration_and_party_pattern():
    assert format_duration(3) == "00:00:03"
    assert format_duration(3 * 3600 + 61) == "03:01:01"
    assert party_pattern("0301*") == ("0301", True)
    assert party_pattern("201") == ("201", False)


def test_settings_round_trip_and_validation():
    s = Settings()
    assert Settings.from_store(s.to_store()) == s
    changed = s.changed(file_format=FileFormat.WAV, disk_usage_limit=61)
    assert s.diff(changed) == {"file_format": ("MP3", "WAV"), "disk_usage_limit": ("90", "61")}
    for bad in ({"sip_port": 1023}, {"sip_port": 65536}, {"disk_usage_limit": 100}, {"log_level": 0},
                {"rtp_port_min": 30000, "rtp_port_max": 30000}, {"rtp_port_min": 1000},
                {"sip_port": 20000}, {"rtp_timeout_seconds": 2}):
        with pytest.raises(InvalidInput):
            s.changed(**bad)
    assert Settings.from_store({"sip_port": "garbage", "file_format": "OGG"}) == Settings()


def test_upload_meta_parsing():
    meta = RecordingMeta.parse({"call_id": "c1", "caller": "+8613800000000", "callee": "201",
                             "started_at": "2024-05-01T09:30:00Z"})
    assert meta.started_at.utcoffset().total_seconds() == 0
    with pytest.raises(InvalidInput, match="offset"):
        RecordingMeta.parse({"call_id": "c1", "started_at": "2024-05-01T09:30:00"})


def test_filter_validation():
    with pytest.raises(InvalidInput):
        RecordingFilter(min_duration=5, max_duration=1).validate()
    with pytest.raises(InvalidInput):
        RecordingFilter(score=101).validate()
    with pytest.raises(InvalidInput):
        RecordingFilter(caller="9" * 200).validate()


def test_password_rules_and_back_off():
    with pytest.raises(InvalidInput, match="8 characters"):
        check_new_password("Ab1", "admin")
    with pytest.raises(InvalidInput, match="two kinds"):
        check_new_password("abcdefghij", "admin")
    with pytest.raises(InvalidInput, match="login"):
        check_new_password("Admin2024x", "admin2024X")
    check_new_password("Good-Pass-1", "admin")
    assert [lock_seconds(n) for n in (4, 5, 6, 7, 20)] == [0, 30, 60, 120, 3600]


def test_device_addresses():
    for ok in ("192.0.2.1", "2001:db8::1", "pbx.example.com", "pbx.example.com:5060", "192.0.2.1:5060"):
        assert check_address("address", ok) == ok
    for bad in ("not an address", "-bad.example.com", "host:99999", ""):
        with pytest.raises(InvalidInput):
            check_address("address", bad)
