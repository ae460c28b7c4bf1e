"""A SIPREC offer understood: the streams to receive and who speaks on each."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from appliance.capture.sip.message import SipParseError, SipRequest
from appliance.capture.sip.metadata import Metadata, Participant, parse_metadata, user_part
from appliance.capture.sip.multipart import split
from appliance.capture.sip.sdp import Media, SessionDescription, parse_sdp
from appliance.domain.recordings import clean_party

log = logging.getLogger(__name__)

METADATA_TYPES = ("application/rs-metadata+xml", "application/rs-metadata")


@dataclass
class Leg:
    media: Media
    speaker: Participant | None


@dataclass
class RecordingOffer:
    sdp: SessionDescription
    metadata: Metadata | None
    caller: str
    callee: str
    legs: list[Leg] = field(default_factory=list)


def _is_metadata(content_type: str, disposition: str, body: bytes) -> bool:
    if content_type in METADATA_TYPES or "recording-session" in disposition.lower():
        return True
    return content_type.endswith("xml") and b"recording" in body[:400]


MAX_STREAMS = 16  # a recording session has one or two, a conference a few more


def parse_offer(request: SipRequest, agreed: SessionDescription | None = None) -> RecordingOffer:
    """The offer's SDP is required, unless the streams were `agreed` before (metadata alone
    in an UPDATE); metadata is optional, and unreadable metadata is logged and ignored
    rather than losing the call."""
    parts = split(request.body, request.header("content-type"))
    sdp_part = next((p for p in parts if p.content_type == "application/sdp"), None)
    if sdp_part is None:
        sdp_part = next((p for p in parts if p.body.lstrip().startswith(b"v=0")), None)
    if sdp_part is None and agreed is None:
        raise SipParseError("the INVITE carries no SDP")
    sdp = parse_sdp(sdp_part.body) if sdp_part is not None else agreed
    assert sdp is not None
    if not sdp.audio:
        raise SipParseError("the SDP offers no audio stream")
    if len(sdp.media) > MAX_STREAMS:
        # Each stream takes an RTP port and a file: 2,500 in one INVITE took every port.
        raise SipParseError(
            f"the SDP offers {len(sdp.media)} streams; at most {MAX_STREAMS} are recorded"
        )
    metadata = None
    for part in parts:
        if part is not sdp_part and _is_metadata(
            part.content_type, part.headers.get("content-disposition", ""), part.body
        ):
            try:
                metadata = parse_metadata(part.body)
            except SipParseError as exc:
                log.warning("ignoring recording metadata (Call-ID %s): %s", request.call_id, exc)
            break
    legs = [
        Leg(m, metadata.sender_of(m.label) if metadata and m.label is not None else None)
        for m in sdp.audio
    ]
    if (
        metadata
        and all(leg.speaker is None for leg in legs)
        and len(legs) == len(metadata.participants)
    ):
        # Metadata with participants and streams but no association (Connectel): the
        # streams come in the participants' order.
        for leg, participant in zip(legs, metadata.participants, strict=True):
            leg.speaker = participant
    caller, callee = _parties(request, metadata, legs)
    return RecordingOffer(sdp, metadata, caller, callee, legs)


def _parties(request: SipRequest, metadata: Metadata | None, legs: list[Leg]) -> tuple[str, str]:
    """Caller and callee numbers: the metadata's first two participants (vendors list the
    originator first, whatever order their streams come in), else the streams' speakers,
    else the INVITE's From and To. Cleaned and bounded as uploaded parties are: a sender
    may put anything in them."""
    people = list(metadata.participants) if metadata is not None else []
    for leg in legs:
        if leg.speaker is not None and leg.speaker not in people:
            people.append(leg.speaker)
    numbers = [n for n in (p.number or clean_party(p.name) for p in people) if n]
    if len(numbers) >= 2:
        return numbers[0], numbers[1]
    from_ = clean_party(user_part((request.header("from") or "").split(";")[0].split("<")[-1]))
    to = clean_party(user_part((request.header("to") or "").split(";")[0].split("<")[-1]))
    if len(numbers) == 1:
        return numbers[0], to
    return from_, to
