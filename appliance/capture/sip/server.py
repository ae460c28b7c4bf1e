"""The recording server's answers to SIP requests, independent of the transport."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from log_rate_limit import StreamRateLimitFilter

from appliance.capture.sip import responses
from appliance.capture.sip.message import SipMessage, SipRequest, answerable
from appliance.capture.sip.peer import Peer

if TYPE_CHECKING:
    from appliance.capture.sessions import Sessions

log = logging.getLogger(__name__)
# What senders cause is logged at most once per line every 10 s (see transport.py).
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id="file_line_no"))

ACCEPT = "application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed"


def is_siprec(request: SipRequest) -> bool:
    """An offer from a session recording client (RFC 7866 §6.1), however the vendor marks it."""
    if "siprec" in request.tokens("require") | request.tokens("supported"):
        return True
    if "+sip.src" in (request.header("contact") or "").lower():
        return True
    return b"rs-metadata" in request.body.lower()


class Answered:
    """The last answer sent for each request, so a retransmission gets it again."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str, int], bytes] = {}

    def remember(self, request: SipRequest, response: bytes) -> None:
        if len(self._sent) > 10_000:  # a retransmission comes within 32 s: keep it short
            self._sent.clear()
        self._sent[(request.call_id, request.method, request.cseq[0])] = response

    def get(self, request: SipRequest) -> bytes | None:
        return self._sent.get((request.call_id, request.method, request.cseq[0]))


class SipHandler:
    """Answers requests; SIPREC sessions go to `sessions`. A retransmitted request gets
    the last answer sent for it, whatever took that answer long."""

    def __init__(self, sessions: Sessions | None = None, answered: Answered | None = None) -> None:
        self.sessions = sessions
        self.answered = answered if answered is not None else Answered()

    def handle(self, message: SipMessage, peer: Peer) -> None:
        if not isinstance(message, SipRequest):
            return  # responses to our BYEs: nothing waits for them
        sessions = self.sessions
        if message.method == "ACK":
            if sessions is not None:
                sessions.ack(message)
            return
        known = self.answered.get(message)
        if known is not None:
            peer.send(known)
            return
        method = message.method
        in_call = sessions is not None and sessions.handles(message)
        if in_call and sessions is not None:
            if method == "BYE":
                sessions.bye(message, peer)
                return
            if method == "CANCEL":
                sessions.cancel(message, peer)
                return
            if method in ("INVITE", "UPDATE") and self._in_dialog(message):
                sessions.reoffer(message, peer)
                return
        if (
            method == "INVITE"
            and sessions is not None
            and not self._in_dialog(message)
            and not in_call
            and is_siprec(message)
        ):
            sessions.invite(message, peer)
            return
        reply = self._answer(message, peer.source)
        self.answered.remember(message, reply)
        peer.send(reply)

    def tcp_dialog_sources(self) -> set[tuple[str, int]]:
        """The TCP connections (by their source) that calls in progress talk over."""
        return self.sessions.tcp_dialog_sources() if self.sessions is not None else set()

    def bad_request(self, data: bytes, peer: Peer, why: str) -> None:
        """Bytes the parser refused: a 400 saying why, when they hold a request whole enough
        to answer (RFC 3261 §8.2.6); anything else is only dropped."""
        request = answerable(data)
        if request is None:
            return
        warning = '399 recorder "' + " ".join(why.split())[:160].replace('"', "'") + '"'
        peer.send(
            responses.build(
                request, 400, "Bad Request", peer.source, headers=[("Warning", warning)]
            )
        )

    @staticmethod
    def _in_dialog(request: SipRequest) -> bool:
        return ";tag=" in (request.header("to") or "").lower()

    def _answer(self, request: SipRequest, source: tuple[str, int]) -> bytes:
        build = responses.build
        method = request.method
        if method == "OPTIONS":
            return build(
                request,
                200,
                "OK",
                source,
                to_tag=responses.new_tag(),
                headers=[
                    ("Allow", responses.ALLOW),
                    ("Accept", ACCEPT),
                    ("Supported", "siprec"),
                ],
            )
        if method in ("BYE", "CANCEL", "UPDATE") or (
            method == "INVITE" and self._in_dialog(request)
        ):
            return build(request, 481, "Call/Transaction Does Not Exist", source)
        if method == "INVITE":
            if not is_siprec(request):
                log.info(
                    "refused a non-SIPREC INVITE from %s:%d (Call-ID %s)", *source, request.call_id
                )
                return build(
                    request,
                    488,
                    "Not Acceptable Here",
                    source,
                    to_tag=responses.new_tag(),
                    headers=[
                        (
                            "Warning",
                            '399 recorder "only SIPREC recording sessions (RFC 7866) are accepted"',
                        ),
                        ("Accept", ACCEPT),
                    ],
                )
            return build(
                request,
                482,
                "Loop Detected",
                source,
                to_tag=responses.new_tag(),
                headers=[("Warning", '399 recorder "this Call-ID already has a session"')],
            )
        return build(
            request,
            405,
            "Method Not Allowed",
            source,
            headers=[
                ("Allow", responses.ALLOW),
            ],
        )
