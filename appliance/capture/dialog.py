"""The SIP side of a recording session: answers (remembered for retransmissions), our
Contact and SDP, the 200's retransmission until its ACK, and our BYE."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.capture.call import Call, CallState, Counters
from appliance.capture.sip import requests, responses
from appliance.capture.sip.message import SipRequest
from appliance.capture.sip.peer import Peer
from appliance.capture.sip.sdp import answer_sdp
from appliance.capture.sip.server import Answered

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))

T1 = 0.5  # RFC 3261 timer T1: the 200 OK is resent at T1, 2T1, 4T1... until the ACK
T2 = 4.0  # ...no further apart than T2
ACK_TIMEOUT = 64 * T1  # Timer H: no ACK by then, the answer was never confirmed


def local_address_for(peer_ip: str) -> str:
    """Our address on the route to the peer: what the answer's SDP must name."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((peer_ip, 9))  # UDP connect sends nothing
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class Dialogs:
    """Builds and sends what the recorder says in its sessions' dialogs."""

    def __init__(self, answered: Answered, counters: Counters) -> None:
        self.answered = answered
        self.counters = counters
        self.sip_port = 0

    def respond(self, call: Call, request: SipRequest, data: bytes) -> None:
        self.answered.remember(request, data)
        call.peer.send(data)

    def reply(
        self,
        call: Call,
        request: SipRequest,
        status: int,
        reason: str,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> bytes:
        data = responses.build(
            request,
            status,
            reason,
            call.peer.source,
            to_tag=call.local_tag,
            headers=[("Contact", self.contact(call))] if status == 200 else [],
            body=body,
            content_type=content_type,
        )
        self.respond(call, request, data)
        return data

    def refuse(self, request: SipRequest, peer: Peer, status: int, reason: str, why: str) -> None:
        self.counters.refused += 1
        log.info(
            "refused a SIPREC session from %s:%d: %s",
            *peer.source,
            why,
            extra=RateLimit(stream_id="refused"),  # a flood of refusals: a line every 10 s
        )
        # One line, whatever the cause's text holds (a driver's error spans several).
        warning = '399 recorder "' + " ".join(why.split())[:200].replace('"', "'") + '"'
        data = responses.build(
            request,
            status,
            reason,
            peer.source,
            to_tag=responses.new_tag(),
            headers=[("Warning", warning)],
        )
        self.answered.remember(request, data)
        peer.send(data)

    def contact(self, call: Call) -> str:
        transport = ";transport=tcp" if call.peer.transport == "TCP" else ""
        return f"<sip:recorder@{call.address}:{self.sip_port}{transport}>"

    def sdp(self, call: Call) -> bytes:
        session_id = int(call.key[:8], 16)
        return answer_sdp(session_id, call.sdp_version, call.address, call.streams)

    def accept(self, call: Call) -> bytes:
        """The 200 to the INVITE, with our streams; sent and remembered."""
        ok = responses.build(
            call.invite,
            200,
            "OK",
            call.peer.source,
            to_tag=call.local_tag,
            headers=[
                ("Contact", self.contact(call)),
                ("Allow", responses.ALLOW),
                ("Supported", "siprec"),
            ],
            body=self.sdp(call),
            content_type="application/sdp",
        )
        self.respond(call, call.invite, ok)
        return ok

    def terminated(self, call: Call, source: tuple[str, int]) -> None:
        """487 to an INVITE cancelled before its answer (`source`: the CANCEL's)."""
        data = responses.build(
            call.invite, 487, "Request Terminated", source, to_tag=call.local_tag
        )
        self.respond(call, call.invite, data)

    def bye(self, call: Call) -> None:
        local = (call.address, self.sip_port)
        call.peer.send(requests.bye(call.invite, call.local_tag, local, call.peer.transport, 1))

    async def await_ack(self, call: Call, ok: bytes) -> bool:
        """Over UDP a 200 to an INVITE is resent until its ACK comes (RFC 3261 §13.3.1.4);
        over TCP it is sent once. True once the ACK came within ACK_TIMEOUT."""
        delay, waited = T1, 0.0
        while waited < ACK_TIMEOUT:
            step = min(delay, ACK_TIMEOUT - waited) if call.peer.transport == "UDP" else ACK_TIMEOUT
            try:
                await asyncio.wait_for(call.acked.wait(), step)
                return True
            except TimeoutError:
                waited += step
                if call.state is not CallState.ACTIVE:
                    return False
                if call.peer.transport == "UDP" and waited < ACK_TIMEOUT:
                    call.peer.send(ok)
                delay = min(delay * 2, T2)
        return call.acked.is_set()

    def reacknowledge(
        self, call: Call, ok: bytes, spawn: Callable[[Coroutine[Any, Any, Any]], None]
    ) -> None:
        """A re-INVITE's 200 is resent until its ACK; a missing one changes nothing."""
        call.acked.clear()
        if call.peer.transport == "UDP":
            spawn(self.await_ack(call, ok))
