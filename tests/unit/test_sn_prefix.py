"""A partial SN finds its recordings: the prefix and the start-time window it implies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.recordings import sn_base, sn_prefix, sn_start_window

ZONES = ["UTC", "Asia/Shanghai", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns"]


@given(
    st.datetimes(min_value=datetime(2001, 1, 2), max_value=datetime(2098, 12, 30), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
    st.integers(min_value=8, max_value=19),
)
def test_every_prefix_of_an_sn_from_its_day_on_bounds_its_start(started, zone, length):
    sn = sn_base(started.astimezone(ZoneInfo(zone)), "201")
    window = sn_start_window(sn[:length])
    assert window is not None
    low, high = window
    assert low <= started < high
    assert high - low == timedelta(days=3)


def test_prefixes_that_name_no_day_read_the_whole_index():
    assert sn_start_window("2024") is None
    assert sn_start_window("20241332") is None  # no 32nd of the 13th month
    assert sn_start_window("abc") is None


def test_a_trailing_star_means_the_same_as_none():
    assert sn_prefix("20240501_09*") == sn_prefix("20240501_09") == "20240501_09"
    assert sn_prefix("*") == "*"


def test_the_first_and_last_days_there_are_name_no_window():
    assert sn_start_window("99991231") is None and sn_start_window("00010101") is None
