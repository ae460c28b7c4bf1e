"""SDP offers (RFC 4566) as far as a recorder needs them: each audio stream's address,
port, codecs, direction and label."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.capture.sip.message import SipParseError, is_number, number

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Static payload types (RFC 3551) that a sender may use without an rtpmap line.
STATIC = {0: "PCMU", 8: "PCMA", 9: "G722", 18: "G729"}


@dataclass
class Media:
    kind: str
    port: int
    protocol: str
    payload_types: list[int]
    address: str = ""
    direction: str = "sendrecv"
    label: str | None = None
    codecs: dict[int, str] = field(default_factory=dict)  # payload type -> encoding name
    rates: dict[int, int] = field(default_factory=dict)
    ptime: int | None = None
    other: list[str] = field(default_factory=list)  # attributes kept for the answer

    @property
    def paused(self) -> bool:
        """No audio will come: inactive, or held with the 0.0.0.0 address (RFC 3264 §8.4)."""
        held = self.address in ("0.0.0.0", "::")  # noqa: S104 - an address read, not bound
        return self.direction in ("inactive", "recvonly") or held or self.port == 0

    def codec(self, pt: int) -> str:
        return self.codecs.get(pt, STATIC.get(pt, "")).upper()


@dataclass
class SessionDescription:
    origin: str = ""
    address: str = ""
    direction: str = "sendrecv"
    media: list[Media] = field(default_factory=list)

    @property
    def audio(self) -> list[Media]:
        return [m for m in self.media if m.kind == "audio"]


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse an offer; raise SipParseError when it has no usable m= line."""
    sd = SessionDescription()
    current: Media | None = None
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        key, value = line[0], line[2:].strip()
        if key == "o":
            sd.origin = value
        elif key == "c":
            parts = value.split()
            address = parts[2].split("/")[0] if len(parts) >= 3 else ""
            if current is None:
                sd.address = address
            else:
                current.address = address
        elif key == "m":
            fields = value.split()
            if len(fields) < 4:
                raise SipParseError(f"bad m= line {value[:80]!r}")
            port = number("m= port", fields[1].split("/")[0])
            pts = [int(p) for p in fields[3:] if is_number(p)]
            current = Media(
                fields[0].lower(),
                port,
                fields[2],
                pts,
                address=sd.address,
                direction=sd.direction,
            )
            sd.media.append(current)
        elif key == "a":
            name, _, arg = value.partition(":")
            name = name.strip().lower()
            if name in DIRECTIONS:
                if current is None:
                    sd.direction = name
                else:
                    current.direction = name
            elif current is None:
                continue
            elif name == "label":
                current.label = arg.strip()
            elif name == "rtpmap":
                pt, _, encoding = arg.strip().partition(" ")
                enc_name, _, rate = encoding.partition("/")
                if is_number(pt):
                    current.codecs[int(pt)] = enc_name.strip()
                    if is_number(rate.split("/")[0]):
                        current.rates[int(pt)] = int(rate.split("/")[0])
            elif name == "ptime" and is_number(arg.strip()):
                current.ptime = int(arg.strip())
            else:
                current.other.append(value)
    if not sd.media:
        raise SipParseError("the SDP has no m= line")
    return sd


RECORDED = ("PCMU", "PCMA")  # what the recorder decodes; G.722 has no well-kept library
EVENTS = "TELEPHONE-EVENT"  # accepted so senders keep DTMF off the audio, then ignored


def recordable(media: Media) -> dict[int, str]:
    """The offered payload types the recorder takes, in the offer's order of preference;
    empty when the stream carries no codec it can record."""
    chosen = {pt: media.codec(pt) for pt in media.payload_types if media.codec(pt) in RECORDED}
    if not chosen:
        return {}
    chosen.update({pt: EVENTS for pt in media.payload_types if media.codec(pt) == EVENTS})
    return chosen


@dataclass
class AnsweredStream:
    offer: Media
    port: int  # 0 rejects the stream
    codecs: dict[int, str]


def answer_sdp(session_id: int, version: int, address: str, streams: list[AnsweredStream]) -> bytes:
    """The recorder's answer (RFC 3264): it only receives, so every stream is recvonly,
    or inactive while the offer pauses it."""
    lines = [
        "v=0",
        f"o=recorder {session_id} {version} IN IP4 {address}",
        "s=recorder",
        f"c=IN IP4 {address}",
        "t=0 0",
    ]
    for s in streams:
        if s.port == 0:
            first = s.offer.payload_types[0] if s.offer.payload_types else 0
            lines.append(f"m={s.offer.kind} 0 {s.offer.protocol} {first}")
            continue
        lines.append(f"m=audio {s.port} {s.offer.protocol} {' '.join(map(str, s.codecs))}")
        for pt, name in s.codecs.items():
            if name == EVENTS:
                lines += [f"a=rtpmap:{pt} telephone-event/8000", f"a=fmtp:{pt} 0-15"]
            else:
                lines.append(f"a=rtpmap:{pt} {name}/8000")
        if s.offer.ptime:
            lines.append(f"a=ptime:{s.offer.ptime}")
        if s.offer.label is not None:
            lines.append(f"a=label:{s.offer.label}")
        lines.append("a=inactive" if s.offer.paused else "a=recvonly")
    return ("\r\n".join(lines) + "\r\n").encode()
