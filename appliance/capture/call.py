"""One recording session as the capture holds it, and the states it goes through."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from appliance.capture.rtp.receiver import Leg
from appliance.capture.sip import responses
from appliance.capture.sip.message import SipRequest
from appliance.capture.sip.offer import RecordingOffer
from appliance.capture.sip.peer import Peer
from appliance.capture.sip.sdp import AnsweredStream
from appliance.capture.spool import CallInfo, CallSeal
from appliance.domain.settings import Settings


class CallState(Enum):
    SETUP = "setup"  # INVITE taken, its streams being opened; not answered yet
    ACTIVE = "active"  # answered: recording
    ENDING = "ending"  # BYE sent or received: its legs close, then it is stored
    CANCELLED = "cancelled"  # ended before the answer (CANCEL, refused, BYE): not recorded


# Every move a call makes, and only these: a late CANCEL, a second BYE or a BYE racing the
# answer find their move refused and change nothing.
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.SETUP: frozenset({CallState.ACTIVE, CallState.CANCELLED}),
    CallState.ACTIVE: frozenset({CallState.ENDING}),
    CallState.ENDING: frozenset(),
    CallState.CANCELLED: frozenset(),
}


@dataclass(eq=False)
class Call:
    key: str
    invite: SipRequest
    peer: Peer
    offer: RecordingOffer
    local_tag: str = field(default_factory=responses.new_tag)
    state: CallState = CallState.SETUP
    settings: Settings = field(default_factory=Settings)  # as known when it was answered
    legs: list[Leg] = field(default_factory=list)
    streams: list[AnsweredStream] = field(default_factory=list)
    stream_leg: dict[int, int] = field(default_factory=dict)  # m-line index -> leg index
    info: CallInfo | None = None
    folder: Path = Path()
    seal: CallSeal | None = None  # the key that seals its spool files
    address: str = "127.0.0.1"  # ours, as the SRC reaches us
    sdp_version: int = 1
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    confirmed: bool = False  # an ACK of the answer ever came

    def move(self, to: CallState) -> bool:
        """Go to `to` if the call may from where it is; False (and no change) if not."""
        if to not in TRANSITIONS[self.state]:
            return False
        self.state = to
        return True

    @property
    def has_media(self) -> bool:
        return any(leg.packets for leg in self.legs)

    @property
    def unconfirmed(self) -> bool:
        """Neither ACKed nor sending media: junk if it stays so (a flood, a client gone)."""
        return not self.confirmed and not self.has_media


@dataclass
class Counters:
    calls: int = 0
    recorded: int = 0
    refused: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0  # store attempts that failed (the call stays in the spool for a retry)
    unconfirmed: int = 0  # answered, never ACKed, no media: dropped unrecorded
    damaged: int = 0  # spooled calls that could not be read, set aside in spool-damaged/
