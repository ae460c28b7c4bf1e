"""A SIPREC recording client in plain Python over UDP, for tests that need exact control:
when each answer came, an ACK left out, headers no real client would send, many calls at
once. sipp drives the ordinary calls (tests/support/sipp.py)."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from appliance.capture.sip.message import SipResponse, parse
from tests.support import sipp
from tests.support.rtp_send import SAMPLES, encode, packet, tone_pcm

TYPE = f"multipart/mixed;boundary={sipp.BOUNDARY}"


@dataclass
class SiprecCall:
    sip_port: int
    body: str
    from_: str = "<sip:src@127.0.0.1>"
    to: str = "<sip:srs@127.0.0.1>"
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    sock: socket.socket = field(init=False)
    answer: SipResponse | None = None
    answered_in: float = 0.0  # seconds from the INVITE to the final answer
    rtp_ports: list[int] = field(default_factory=list)
    to_tag: str = ""
    # The recorder's address and ours: 127.0.0.1, or addresses inside network namespaces
    # the tests made (tests/support/netns.py), where this client then runs.
    host: str = "127.0.0.1"
    bind: str = "127.0.0.1"
    media_host: str = "127.0.0.1"  # where the answer's SDP says to send the RTP

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.bind, 0))
        self.local = self.sock.getsockname()[1]

    def request(self, method: str, cseq: int, body: str = "", content_type: str = "") -> bytes:
        to = self.to + (f";tag={self.to_tag}" if self.to_tag else "")
        data = body.encode()
        head = (
            f"{method} sip:srs@{self.host}:{self.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.bind}:{self.local};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
            f"From: {self.from_};tag=src{self.local}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:src@{self.bind}:{self.local}>;+sip.src\r\n"
            "Max-Forwards: 70\r\n"
            + ("Require: siprec\r\n" if method == "INVITE" else "")
            + (f"Content-Type: {content_type}\r\n" if content_type else "")
            + f"Content-Length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, (self.host, self.sip_port))

    def final(self, method: str, timeout: float, resend: bytes = b"") -> SipResponse:
        """The first final answer to `method` (provisional ones and resends skipped). Over
        UDP a request nothing has answered yet is sent again at 0.5, 1, 2 s... (RFC 3261
        Timer A/E), as every real client does: a burst can lose a datagram."""
        deadline = time.monotonic() + timeout
        interval, next_resend, heard = 0.5, time.monotonic() + 0.5, False
        while True:
            now = time.monotonic()
            if resend and not heard and now >= next_resend:
                self.send(resend)
                interval = min(interval * 2, 4.0)
                next_resend = now + interval
            wait = deadline - now
            if resend and not heard:
                wait = min(wait, next_resend - now)
            self.sock.settimeout(max(0.01, wait))
            try:
                message = parse(self.sock.recv(65536))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                continue
            if isinstance(message, SipResponse) and message.cseq[1] == method:
                heard = True
                if message.status >= 200:
                    return message

    def invite_bytes(self) -> bytes:
        content_type = TYPE if "--" + sipp.BOUNDARY in self.body else "application/sdp"
        return self.request("INVITE", 1, self.body, content_type)

    def invite(self, timeout: float = 10) -> SipResponse:
        started = time.monotonic()
        invite = self.invite_bytes()
        self.send(invite)
        self.answer = self.final("INVITE", timeout, resend=invite)
        self.answered_in = time.monotonic() - started
        self.to_tag = (re.search(r";tag=([^;>\s]+)", self.answer.header("to") or "") or [None, ""])[1]
        if self.answer.status == 200:
            self.rtp_ports = [int(p) for p in re.findall(rb"m=audio (\d+)", self.answer.body)]
            found = re.search(rb"c=IN IP4 ([0-9.]+)", self.answer.body)
            self.media_host = found.group(1).decode() if found else self.host
        return self.answer

    def ack(self) -> None:
        self.send(self.request("ACK", 1))

    def bye(self, timeout: float = 10) -> int:
        bye = self.request("BYE", 2)
        self.send(bye)
        return self.final("BYE", timeout, resend=bye).status

    def close(self) -> None:
        self.sock.close()


def invite_all(calls: list[SiprecCall], timeout: float = 10) -> None:
    """Every INVITE sent at once, each waiting for its own answer."""
    threads = [threading.Thread(target=call.invite, args=(timeout,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def send_tones(calls: list[SiprecCall], seconds: float, freq: float = 1000) -> int:
    """A tone on every stream of every call, in 20 ms PCMU packets paced together; returns
    the packets sent per stream."""
    count = int(seconds * 50)
    payloads = [encode(tone_pcm(freq, SAMPLES, n * SAMPLES), "PCMU") for n in range(count)]
    targets = [(call.sock, call.media_host, port, 0x1000 + i) for i, call in enumerate(calls) for port in call.rtp_ports]
    start = time.monotonic()
    for n, payload in enumerate(payloads):
        for sock, host, port, ssrc in targets:
            sock.sendto(packet(0, n, n * SAMPLES, ssrc, payload), (host, port))
        time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
    return count
