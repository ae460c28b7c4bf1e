"""A minimal SIP peer for tests that need exact bytes on the wire (sipp drives real calls)."""

from __future__ import annotations

import socket
import uuid

from appliance.capture.sip.message import SipMessage, frame_length, parse


def request(method: str, *, body: bytes = b"", content_type: str | None = None,
            extra: str = "", call_id: str | None = None, cseq: int = 1, to_tag: str = "") -> bytes:
    head = (
        f"{method} sip:srs@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:src@198.51.100.7>;tag=src1\r\n"
        f"To: <sip:srs@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
        f"Call-ID: {call_id or uuid.uuid4().hex}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:src@198.51.100.7:5060>\r\n"
        f"{extra}"
        + (f"Content-Type: {content_type}\r\n" if content_type else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def udp_exchange(port: int, data: bytes, timeout: float = 5) -> SipMessage:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        return parse(s.recv(65536))


def tcp_exchange(port: int, data: bytes, replies: int = 1, timeout: float = 5) -> list[SipMessage]:
    out: list[SipMessage] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buffer = b""
        while len(out) < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while (n := frame_length(buffer)) is not None:
                out.append(parse(buffer[:n]))
                buffer = buffer[n:]
    return out
