"""The recording server's answers to SIP requests, independent of the transport."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from appliance.capture.sip import responses
from appliance.capture.sip.message import SipMessage, SipRequest

log = logging.getLogger(__name__)

ACCEPT = "application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed"


def is_siprec(request: SipRequest) -> bool:
    """An offer from a session recording client (RFC 7866 §6.1), however the vendor marks it."""
    if "siprec" in request.tokens("require") | request.tokens("supported"):
        return True
    if "+sip.src" in (request.header("contact") or "").lower():
        return True
    return b"rs-metadata" in request.body.lower()


@dataclass
class Counters:
    requests: int = 0
    malformed: int = 0
    refused: int = 0


class SipHandler:
    """Turns one request into at most one response; retransmissions get the same answer."""

    def __init__(self) -> None:
        self.counters = Counters()
        self._answered: dict[tuple[str, str, int], bytes] = {}

    def handle(self, message: SipMessage, source: tuple[str, int]) -> bytes | None:
        if not isinstance(message, SipRequest):
            return None  # we send no requests, so no response is ours
        self.counters.requests += 1
        if message.method == "ACK":
            return None
        key = (message.call_id, message.method, message.cseq[0])
        if key in self._answered:
            return self._answered[key]
        reply = self._answer(message, source)
        if len(self._answered) > 10_000:  # a retransmission comes within 32 s: keep it short
            self._answered.clear()
        self._answered[key] = reply
        return reply

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
        in_dialog = ";tag=" in (request.header("to") or "").lower()
        if method in ("BYE", "CANCEL", "UPDATE") or (method == "INVITE" and in_dialog):
            return build(request, 481, "Call/Transaction Does Not Exist", source)
        if method == "INVITE":
            self.counters.refused += 1
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
            log.warning(
                "refused a SIPREC session from %s:%d: this build records uploads only", *source
            )
            return build(
                request,
                503,
                "Service Unavailable",
                source,
                to_tag=responses.new_tag(),
                headers=[("Retry-After", "300")],
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
