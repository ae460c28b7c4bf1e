"""Building responses to requests (RFC 3261 §8.2.6), answered to the packet's source."""

from __future__ import annotations

import secrets

from appliance import __version__
from appliance.capture.sip.message import SipRequest

SERVER = f"recorder/{__version__}"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"


def _via_with_source(via: str, source: tuple[str, int]) -> str:
    """Mark the top Via with where the request really came from (RFC 3581 rport)."""
    host, port = source
    parts = [p for p in via.split(";") if not p.strip().lower().startswith("received=")]
    out = []
    for p in parts:
        if p.strip().lower() == "rport":
            p = f"rport={port}"
        out.append(p)
    out.append(f"received={host}")
    return ";".join(out)


def new_tag() -> str:
    return secrets.token_hex(6)


def build(
    request: SipRequest,
    status: int,
    reason: str,
    source: tuple[str, int],
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> bytes:
    vias = request.all("via")
    lines = [f"SIP/2.0 {status} {reason}"]
    for i, via in enumerate(vias):
        lines.append(f"Via: {_via_with_source(via, source) if i == 0 else via}")
    to = request.header("to") or ""
    if to_tag and ";tag=" not in to.lower() and status > 100:
        to = f"{to};tag={to_tag}"
    seq, method = request.cseq
    lines += [
        f"From: {request.header('from')}",
        f"To: {to}",
        f"Call-ID: {request.call_id}",
        f"CSeq: {seq} {method}",
        f"Server: {SERVER}",
    ]
    lines += [f"{name}: {value}" for name, value in headers or []]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
