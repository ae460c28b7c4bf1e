"""A call's legs into one recording: mono mixed with the mixing gain, or one party per
stereo channel (the channel-mode setting)."""

from __future__ import annotations

from appliance.media.pcm import Pcm, audioop

RATE = 8000  # G.711 legs


def _padded(legs: list[bytes]) -> list[bytes]:
    """Equal lengths: a leg that ended early is silent to the end of the call."""
    longest = max((len(leg) for leg in legs), default=0)
    return [leg + b"\0" * (longest - len(leg)) for leg in legs]


def mix(legs: list[bytes], *, stereo: bool, gain: int = 1, rate: int = RATE) -> Pcm:
    """PCM16 legs (first = caller) into one Pcm; clipping saturates instead of wrapping."""
    if not legs:
        return Pcm(b"", rate, 1)
    legs = _padded(legs)
    if gain != 1:  # a multiply per sample costs, and gain 1 is the default
        legs = [audioop.mul(leg, 2, gain) for leg in legs]
    if stereo and len(legs) >= 2:
        left = audioop.tostereo(legs[0], 2, 1, 0)
        right = audioop.tostereo(legs[1], 2, 0, 1)
        for extra in legs[2:]:  # a third stream (a conference) goes to both sides
            both = audioop.tostereo(extra, 2, 1, 1)
            left = audioop.add(left, both, 2)
        return Pcm(audioop.add(left, right, 2), rate, 2)
    mixed = legs[0]
    for leg in legs[1:]:
        mixed = audioop.add(mixed, leg, 2)
    return Pcm(mixed, rate, 1)
