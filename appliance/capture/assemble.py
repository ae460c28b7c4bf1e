"""A spooled call into one recording's audio: decode each leg onto its timeline, mix."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from appliance.capture import spool
from appliance.capture.rtp.packet import RtpPacket, RtpParseError
from appliance.capture.rtp.timeline import Timeline
from appliance.capture.spool import CallInfo, CallSeal
from appliance.media.crypto import MasterKey
from appliance.media.mix import RATE, mix
from appliance.media.pcm import Pcm, g711_to_pcm16

log = logging.getLogger(__name__)

SAMPLES_PER_MS = RATE // 1000
DECODERS = {"PCMU": False, "PCMA": True}  # encoding -> alaw flag
MARKERS = (spool.PAUSE, spool.RESUME)


@dataclass(frozen=True)
class AssembledCall:
    info: CallInfo
    pcm: Pcm
    started_at: datetime  # aware, UTC: the call's first audio
    skipped: int  # datagrams that were not audio we decode (malformed, DTMF events, RTCP)
    datagrams: int  # all the RTP the call received, audio or not


def _leg_records(folder: Path, index: int, seal: CallSeal) -> list[tuple[int, int, bytes]]:
    return list(spool.records(spool.leg_data(folder, index, seal)))


def _caller_first(info: CallInfo) -> list[int]:
    """Leg indexes with the caller's stream first and the callee's second (stereo L/R)."""
    order = list(range(len(info.legs)))
    rank = {info.caller: 0, info.callee: 1}
    return sorted(order, key=lambda i: (rank.get(info.legs[i].party, 2), i))


def assemble(folder: Path, master: MasterKey, *, stereo: bool, gain: int) -> AssembledCall:
    seal = CallSeal.load(master, folder)
    info = spool.read_info(folder, seal)
    legs = {i: _leg_records(folder, i, seal) for i in range(len(info.legs))}
    arrivals = [t for recs in legs.values() for kind, t, _ in recs if kind not in MARKERS]
    zero = min(arrivals, default=info.answered_ms)
    skipped = 0
    timelines: dict[int, Timeline] = {}
    for index, recs in legs.items():
        timeline = timelines[index] = Timeline()
        codecs = info.legs[index].codecs
        for length, arrival, data in recs:
            if length in (spool.PAUSE, spool.RESUME):
                timeline.resync()
                continue
            try:
                packet = RtpPacket.parse(data)
            except RtpParseError:
                skipped += 1
                continue
            alaw = DECODERS.get(codecs.get(packet.payload_type, "").upper())
            if alaw is None:
                skipped += 1  # telephone-event, comfort noise, RTCP on a muxed port
                continue
            audio = g711_to_pcm16(packet.payload, alaw=alaw)
            timeline.add(packet.ssrc, packet.timestamp, audio, (arrival - zero) * SAMPLES_PER_MS)
    length = max((t.samples for t in timelines.values()), default=0)
    pcm_legs = [timelines[i].render(length) for i in _caller_first(info)]
    started = datetime.fromisoformat(info.answered_at) + timedelta(
        milliseconds=zero - info.answered_ms
    )
    return AssembledCall(
        info, mix(pcm_legs, stereo=stereo, gain=gain), started, skipped, len(arrivals)
    )
