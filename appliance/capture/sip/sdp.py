"""SDP offers (RFC 4566) as far as a recorder needs them: each audio stream's address,
port, codecs, direction and label."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.capture.sip.message import SipParseError

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
        return self.direction == "inactive" or held or self.port == 0

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
            if len(fields) < 4 or not fields[1].split("/")[0].isdigit():
                raise SipParseError(f"bad m= line {value!r}")
            pts = [int(p) for p in fields[3:] if p.isdigit()]
            current = Media(
                fields[0].lower(),
                int(fields[1].split("/")[0]),
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
                if pt.isdigit():
                    current.codecs[int(pt)] = enc_name.strip()
                    if rate.split("/")[0].isdigit():
                        current.rates[int(pt)] = int(rate.split("/")[0])
            elif name == "ptime" and arg.strip().isdigit():
                current.ptime = int(arg.strip())
            else:
                current.other.append(value)
    if not sd.media:
        raise SipParseError("the SDP has no m= line")
    return sd
