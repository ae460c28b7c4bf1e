"""The time_zone setting: validated as an IANA name, defaulting to the system's zone."""

from __future__ import annotations

import os

import pytest

from appliance.domain.settings import Settings
from appliance.errors import InvalidInput
from appliance.services.settings import system_time_zone


def test_an_iana_name_is_kept_and_read_back():
    changed = Settings().changed(time_zone="America/New_York")
    assert Settings.from_store(changed.to_store()).time_zone == "America/New_York"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "asia/shanghai", "/etc/localtime", "../UTC"])
def test_other_names_are_refused_on_time_zone(name):
    with pytest.raises(InvalidInput) as refused:
        Settings().changed(time_zone=name)
    assert refused.value.field == "time_zone"


def test_the_system_zone_comes_from_tz_then_etc_timezone_then_the_localtime_link(tmp_path, monkeypatch):
    monkeypatch.delenv("TZ", raising=False)
    assert system_time_zone(tmp_path) == "UTC"  # nothing names a zone
    os.symlink("/usr/share/zoneinfo/Europe/London", tmp_path / "localtime")
    assert system_time_zone(tmp_path) == "Europe/London"
    (tmp_path / "timezone").write_text("Asia/Shanghai\n")
    assert system_time_zone(tmp_path) == "Asia/Shanghai"
    monkeypatch.setenv("TZ", ":America/New_York")
    assert system_time_zone(tmp_path) == "America/New_York"
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")  # a POSIX rule, not a name: skipped
    assert system_time_zone(tmp_path) == "Asia/Shanghai"
