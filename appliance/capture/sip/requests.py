"""Requests the recorder sends itself: the BYE that ends a call it gave up on."""

from __future__ import annotations

import secrets

from appliance.capture.sip.message import SipRequest
from appliance.capture.sip.responses import SERVER


def _uri(header: str) -> str:
    """The URI inside a Contact or Record-Route value (<sip:...> or bare)."""
    if "<" in header and ">" in header:
        return header[header.index("<") + 1 : header.index(">")]
    return header.split(";")[0].strip()


def bye(
    invite: SipRequest, local_tag: str, local: tuple[str, int], transport: str, cseq: int
) -> bytes:
    """A BYE from the answering side of the INVITE's dialog (RFC 3261 §12.1.1, §15)."""
    contact = invite.header("contact")
    target = _uri(contact) if contact else invite.uri
    to = invite.header("to") or ""
    if ";tag=" not in to.lower():
        to = f"{to};tag={local_tag}"
    lines = [
        f"BYE {target} SIP/2.0",
        f"Via: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
    ]
    lines += [f"Route: {route}" for route in invite.all("record-route")]
    lines += [
        f"From: {to}",
        f"To: {invite.header('from')}",
        f"Call-ID: {invite.call_id}",
        f"CSeq: {cseq} BYE",
        f"User-Agent: {SERVER}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
