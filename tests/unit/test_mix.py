"""Mixing a call's legs: parties on the right channels, gain applied, nothing wraps."""

from __future__ import annotations

import struct

from appliance.media.mix import mix


def pcm(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_mono_sums_the_legs_and_pads_the_shorter():
    out = mix([pcm(100, 200, 300), pcm(1, 2)], stereo=False)
    assert out.channels == 1 and samples(out.samples) == [101, 202, 300]


def test_stereo_puts_caller_left_and_callee_right():
    out = mix([pcm(100, 200), pcm(-5, -6, -7)], stereo=True)
    assert out.channels == 2 and samples(out.samples) == [100, -5, 200, -6, 0, -7]


def test_gain_multiplies_and_saturates_instead_of_wrapping():
    out = mix([pcm(1000, 20000), pcm(0, 20000)], stereo=False, gain=3)
    assert samples(out.samples) == [3000, 32767]


def test_one_mixed_stream_stays_mono_even_in_stereo_mode():
    out = mix([pcm(7, 8)], stereo=True)
    assert out.channels == 1 and samples(out.samples) == [7, 8] and out.duration_ms == 0
