"""Recording metadata (RFC 7865) in every dialect seen from real senders: the RFC's
namespace, the older urn:ietf:params:xml:ns:recording, BroadWorks' siprec, prefixed or not,
'participant_id' or 'id'. Elements are matched by local name, so namespaces do not matter."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from appliance.capture.sip.message import SipParseError
from appliance.domain.recordings import clean_party


@dataclass
class Participant:
    id: str
    aor: str = ""
    name: str = ""
    sends: list[str] = field(default_factory=list)  # stream ids

    @property
    def number(self) -> str:
        """The user part of the address of record: 'sip:+861012@host;user=phone' -> '+861012',
        cleaned as an uploaded party is."""
        return clean_party(user_part(self.aor))


@dataclass
class Metadata:
    participants: list[Participant] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # stream id -> SDP label
    session_ids: list[str] = field(default_factory=list)

    def sender_of(self, label: str) -> Participant | None:
        """Who speaks on the stream with this SDP label."""
        for participant in self.participants:
            for stream_id in participant.sends:
                if self.labels.get(stream_id) == label:
                    return participant
        return None


def user_part(uri: str) -> str:
    text = uri.strip().strip("<>")
    for scheme in ("sips:", "sip:", "tel:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    return text.split("@")[0].split(";")[0].strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _attr(element: ET.Element, *names: str) -> str:
    for key, value in element.attrib.items():
        if _local(key) in names:
            return value.strip()
    return ""


def parse_metadata(data: bytes) -> Metadata:
    """Parse the XML; raise SipParseError when it is not XML at all."""
    try:
        # defusedxml: entity expansion and external entities in a sender's XML are refused.
        root = fromstring(data.strip())
    except ET.ParseError as exc:
        raise SipParseError(f"recording metadata is not XML: {exc}") from None
    except DefusedXmlException as exc:
        raise SipParseError(f"recording metadata refused: {exc!r}") from None
    meta = Metadata()
    by_id: dict[str, Participant] = {}
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "participant":
            pid = _attr(element, "participant_id", "id")
            participant = by_id.setdefault(pid, Participant(pid))
            for child in element.iter():
                if _local(child.tag) == "nameid":
                    participant.aor = participant.aor or _attr(child, "aor")
                elif _local(child.tag) == "name" and (child.text or "").strip():
                    participant.name = participant.name or child.text.strip()
                elif _local(child.tag) == "send" and (child.text or "").strip():
                    participant.sends.append(child.text.strip())  # RFC 7865 draft form
            if participant not in meta.participants:
                meta.participants.append(participant)
        elif tag == "stream":
            sid = _attr(element, "stream_id", "id")
            for child in element:
                if _local(child.tag) == "label" and child.text:
                    meta.labels[sid] = child.text.strip()
        elif tag == "session":
            meta.session_ids.append(_attr(element, "session_id", "id"))
        elif tag == "participantstreamassoc":
            pid = _attr(element, "participant_id", "id")
            participant = by_id.setdefault(pid, Participant(pid))
            if participant not in meta.participants:
                meta.participants.append(participant)
            for child in element:
                if _local(child.tag) == "send" and (child.text or "").strip():
                    participant.sends.append(child.text.strip())
    return meta
