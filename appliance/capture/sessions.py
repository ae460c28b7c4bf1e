"""Recording sessions (RFC 7866): from the SIPREC INVITE to the stored recording.

The SIP side (dialogs, answers, pause and resume, metadata updates, the end of a call)
runs on the event loop; the audio goes from the RTP receiver thread to the spool, and
at the end of the call a worker thread turns the spool into a recording.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from appliance.capture import spool
from appliance.capture.finalize import finalize, recover
from appliance.capture.rtp.ports import PortPool, PortsExhausted
from appliance.capture.rtp.receiver import Leg, RtpReceiver, monotonic_ms
from appliance.capture.sip import requests, responses
from appliance.capture.sip.message import SipParseError, SipRequest
from appliance.capture.sip.offer import RecordingOffer, parse_offer
from appliance.capture.sip.peer import Peer
from appliance.capture.sip.sdp import AnsweredStream, answer_sdp, recordable
from appliance.capture.spool import CallInfo, LegInfo
from appliance.domain.settings import Settings
from appliance.services import active_calls, devices, settings
from appliance.services.context import AppContext

log = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 timer T1: the 200 OK is resent at T1, 2T1, 4T1... until the ACK
ANSWER_RETRIES = 7
FINALIZING_AT_ONCE = 2  # stores run beside the receiver thread; more would starve it


@dataclass(eq=False)
class Call:
    key: str
    invite: SipRequest
    peer: Peer
    offer: RecordingOffer
    local_tag: str = field(default_factory=responses.new_tag)
    state: str = "setup"  # setup -> active -> ending; or cancelled
    legs: list[Leg] = field(default_factory=list)
    streams: list[AnsweredStream] = field(default_factory=list)
    stream_leg: dict[int, int] = field(default_factory=dict)  # m-line index -> leg index
    info: CallInfo | None = None
    folder: Path = Path()
    address: str = "127.0.0.1"  # ours, as the SRC reaches us
    sdp_version: int = 1
    acked: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Counters:
    calls: int = 0
    recorded: int = 0
    refused: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0


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


class Sessions:
    def __init__(self, ctx: AppContext, remember: Callable[[SipRequest, bytes], None]) -> None:
        self.ctx = ctx
        self.remember = remember  # the handler's cache, so retransmissions get the answer
        self.spool_dir = ctx.config.data_dir / "spool"
        self.receiver = RtpReceiver()
        self.calls: dict[str, Call] = {}  # by Call-ID
        self.counters = Counters()
        self.sip_port = 0
        self._pool: PortPool | None = None
        self._pool_range = (0, 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._finalizing = asyncio.Semaphore(FINALIZING_AT_ONCE)
        self._watch: asyncio.Task[None] | None = None
        self._settings = Settings()

    # --- life cycle ------------------------------------------------------------------

    async def start(self, sip_port: int) -> None:
        self.sip_port = sip_port
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(active_calls.forget_all)
        recovered = await asyncio.to_thread(recover, self.ctx, self.spool_dir)
        if recovered:
            log.warning("finalised %d call(s) left in the spool by the previous run", recovered)
        await self._refresh_settings()
        self.receiver.start()
        self._watch = asyncio.create_task(self._watch_silence())

    async def stop(self) -> None:
        """SIGTERM: every call in progress is ended (BYE) and stored."""
        if self._watch is not None:
            self._watch.cancel()
        ending = [self._end(call, send_bye=True) for call in list(self.calls.values())]
        await asyncio.gather(*ending, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await asyncio.to_thread(self.receiver.stop)
        c, r = self.counters, self.receiver.counters
        log.info(
            "capture stopped: %d calls answered, %d recorded, %d failed to store, %d refused, "
            "%d cancelled, %d ended for RTP silence; %d RTP packets, %d non-RTP datagrams dropped",
            c.calls,
            c.recorded,
            c.failed,
            c.refused,
            c.cancelled,
            c.timed_out,
            r.packets,
            r.rejected,
        )

    async def _refresh_settings(self) -> None:
        self._settings = await asyncio.to_thread(settings.current)
        wanted = (self._settings.rtp_port_min, self._settings.rtp_port_max)
        if self._pool is None or self._pool_range != wanted:
            # Calls in progress keep their ports; new calls take them from the new range.
            self._pool = PortPool(self.ctx.config.http_host, *wanted)
            self._pool_range = wanted

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- requests --------------------------------------------------------------------

    def handles(self, request: SipRequest) -> bool:
        return request.call_id in self.calls

    def invite(self, request: SipRequest, peer: Peer) -> None:
        """A new recording session: 100 Trying now, the answer once its streams are ready."""
        try:
            offer = parse_offer(request)
        except SipParseError as exc:
            self._refuse(request, peer, 488, "Not Acceptable Here", str(exc))
            return
        if not any(recordable(m) for m in offer.sdp.audio):
            self._refuse(
                request,
                peer,
                488,
                "Not Acceptable Here",
                "no codec the recorder takes (PCMU, PCMA)",
            )
            return
        call = Call(uuid4().hex, request, peer, offer)
        self.calls[request.call_id] = call
        self._respond(call, request, responses.build(request, 100, "Trying", peer.source))
        self._spawn(self._setup(call))

    def reoffer(self, request: SipRequest, peer: Peer) -> None:
        """re-INVITE or UPDATE in a call: pause/resume, new streams, new metadata."""
        call = self.calls[request.call_id]
        if call.state not in ("active", "setup"):
            self._reply(call, request, 481, "Call/Transaction Does Not Exist")
            return
        has_sdp = b"v=0" in request.body
        if not request.body.strip():
            self._reply(call, request, 200, "OK")
            return
        try:
            offer = parse_offer(request) if has_sdp else None
        except SipParseError as exc:
            self._refuse(request, peer, 488, "Not Acceptable Here", str(exc))
            return
        if offer is None:
            self._update_parties(call, request, None)
            self._reply(call, request, 200, "OK")
            return
        if call.state == "setup":
            # Glare with our own answer still pending (RFC 3261 §14.2).
            self._reply(call, request, 491, "Request Pending")
            return
        self._update_parties(call, request, offer)
        try:
            self._apply_streams(call, offer)
        except PortsExhausted as exc:
            log.error("re-offer in %s: %s", call.key, exc)
            self._reply(call, request, 503, "Service Unavailable")
            return
        call.offer = offer
        call.sdp_version += 1
        ok = self._reply(call, request, 200, "OK", self._answer(call), "application/sdp")
        if request.method == "INVITE":
            self._await_ack(call, ok)

    def ack(self, request: SipRequest) -> None:
        call = self.calls.get(request.call_id)
        if call is not None:
            call.acked.set()

    def bye(self, request: SipRequest, peer: Peer) -> None:
        call = self.calls[request.call_id]
        self._reply(call, request, 200, "OK")
        self._spawn(self._end(call, send_bye=False))

    def cancel(self, request: SipRequest, peer: Peer) -> None:
        """CANCEL before the answer ends the session unrecorded; after it, it changes nothing."""
        call = self.calls[request.call_id]
        build = responses.build
        peer.send(build(request, 200, "OK", peer.source, to_tag=call.local_tag))
        if call.state != "setup":
            return
        call.state = "cancelled"
        self.counters.cancelled += 1
        terminated = build(
            call.invite, 487, "Request Terminated", peer.source, to_tag=call.local_tag
        )
        self._respond(call, call.invite, terminated)

    # --- answering -------------------------------------------------------------------

    def _respond(self, call: Call, request: SipRequest, data: bytes) -> None:
        self.remember(request, data)
        call.peer.send(data)

    def _reply(
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
            headers=[("Contact", self._contact(call))] if status == 200 else [],
            body=body,
            content_type=content_type,
        )
        self._respond(call, request, data)
        return data

    def _refuse(self, request: SipRequest, peer: Peer, status: int, reason: str, why: str) -> None:
        self.counters.refused += 1
        log.info("refused a SIPREC session from %s:%d: %s", *peer.source, why)
        warning = '399 recorder "' + why.replace('"', "'") + '"'
        data = responses.build(
            request,
            status,
            reason,
            peer.source,
            to_tag=responses.new_tag(),
            headers=[("Warning", warning)],
        )
        self.remember(request, data)
        peer.send(data)

    def _contact(self, call: Call) -> str:
        transport = ";transport=tcp" if call.peer.transport == "TCP" else ""
        return f"<sip:recorder@{call.address}:{self.sip_port}{transport}>"

    def _answer(self, call: Call) -> bytes:
        session_id = int(call.key[:8], 16)
        return answer_sdp(session_id, call.sdp_version, call.address, call.streams)

    async def _setup(self, call: Call) -> None:
        request, peer = call.invite, call.peer
        try:
            await self._refresh_settings()
            device_id = await asyncio.to_thread(
                devices.push_device_at,
                peer.source[0],
                self._settings.unknown_push_source,
                self.ctx.master,
            )
            if call.state == "cancelled":
                self.calls.pop(request.call_id, None)
                return
            if device_id is None:
                call.state = "cancelled"
                self.calls.pop(request.call_id, None)
                self._refuse(
                    request, peer, 403, "Forbidden", f"{peer.source[0]} is not a push device"
                )
                return
            call.address = await asyncio.to_thread(local_address_for, peer.source[0])
            call.folder = self.spool_dir / call.key
            call.info = CallInfo(
                key=call.key,
                call_id=request.call_id,
                device_id=device_id,
                caller=call.offer.caller,
                callee=call.offer.callee,
                answered_at=datetime.now(UTC).isoformat(),
                answered_ms=monotonic_ms(),
            )
            call.folder.mkdir(parents=True, exist_ok=True)
            self._apply_streams(call, call.offer)
            await asyncio.to_thread(
                active_calls.started,
                call.key,
                device_id,
                call.info.caller,
                call.info.callee,
                datetime.now(UTC),
            )
        except Exception as exc:
            log.exception("could not set up the recording session %s", request.call_id)
            self._abandon(call)
            status = 503 if isinstance(exc, PortsExhausted) else 500
            self._refuse(
                request,
                peer,
                status,
                "Service Unavailable" if status == 503 else "Server Internal Error",
                str(exc),
            )
            return
        if call.state == "cancelled":  # cancelled while the row was written
            self._abandon(call)
            await asyncio.to_thread(active_calls.ended, call.key)
            return
        call.state = "active"
        self.counters.calls += 1
        ok = responses.build(
            request,
            200,
            "OK",
            peer.source,
            to_tag=call.local_tag,
            headers=[
                ("Contact", self._contact(call)),
                ("Allow", responses.ALLOW),
                ("Supported", "siprec"),
            ],
            body=self._answer(call),
            content_type="application/sdp",
        )
        self._respond(call, request, ok)
        self._await_ack(call, ok)

    def _await_ack(self, call: Call, ok: bytes) -> None:
        """Over UDP a 200 to an INVITE is resent until its ACK comes (RFC 3261 §13.3.1.4)."""
        call.acked.clear()
        if call.peer.transport == "UDP":
            self._spawn(self._resend_ok(call, ok))

    async def _resend_ok(self, call: Call, ok: bytes) -> None:
        delay = T1
        for _ in range(ANSWER_RETRIES):
            try:
                await asyncio.wait_for(call.acked.wait(), delay)
                return
            except TimeoutError:
                if call.state != "active":
                    return
                call.peer.send(ok)
                delay = min(delay * 2, 4.0)

    def _apply_streams(self, call: Call, offer: RecordingOffer) -> None:
        """Open a leg for each new recordable stream, keep the old ones, pause or resume."""
        assert call.info is not None and self._pool is not None
        speakers = {id(leg.media): leg.speaker for leg in offer.legs}
        streams: list[AnsweredStream] = []
        changed = False
        for index, media in enumerate(offer.sdp.media):
            known = call.stream_leg.get(index)
            codecs = recordable(media) if media.kind == "audio" else {}
            if known is None and codecs and media.port:
                sock = self._pool.bind()
                known = len(call.legs)
                leg = Leg(sock, spool.leg_path(call.folder, known))
                speaker = speakers.get(id(media))
                call.legs.append(leg)
                call.stream_leg[index] = known
                call.info.legs.append(LegInfo(codecs, speaker.number if speaker else ""))
                self.receiver.open(leg)
                changed = True
            if known is None:
                streams.append(AnsweredStream(media, 0, {}))
                continue
            leg = call.legs[known]
            if codecs and codecs != call.info.legs[known].codecs:
                call.info.legs[known].codecs.update(codecs)
                changed = True
            self.receiver.set_paused(leg, media.paused or not codecs)
            streams.append(AnsweredStream(media, leg.port, call.info.legs[known].codecs))
        call.streams = streams
        if changed:
            spool.write_info(call.folder, call.info)

    def _update_parties(
        self, call: Call, request: SipRequest, offer: RecordingOffer | None
    ) -> None:
        """New metadata in a re-INVITE or UPDATE names the parties anew."""
        if offer is None:
            try:
                offer = parse_offer(request, agreed=call.offer.sdp)
            except SipParseError:
                return
        if offer.metadata is None or call.info is None:
            return
        info = call.info
        if (offer.caller, offer.callee) == (info.caller, info.callee):
            return
        info.caller, info.callee = offer.caller, offer.callee
        speakers = {leg.media.label: leg.speaker for leg in offer.legs}
        for index, leg_index in call.stream_leg.items():
            media = offer.sdp.media[index] if index < len(offer.sdp.media) else None
            speaker = speakers.get(media.label) if media is not None else None
            if speaker is not None:
                info.legs[leg_index].party = speaker.number
        spool.write_info(call.folder, info)
        log.info("call %s now %s -> %s", call.key, info.caller, info.callee)
        self._spawn(
            asyncio.to_thread(
                active_calls.parties_changed, call.key, info.device_id, info.caller, info.callee
            )
        )

    # --- the end of a call -----------------------------------------------------------

    def _abandon(self, call: Call) -> None:
        """Drop a session that never got answered: its ports and folder go, nothing is stored."""
        self.calls.pop(call.invite.call_id, None)
        if call.legs:
            self.receiver.close(call.legs)
            for leg in call.legs:
                if self._pool is not None:
                    self._pool.release(leg.port)
        if call.folder != Path():
            spool.remove(call.folder)

    async def _end(self, call: Call, *, send_bye: bool) -> None:
        if call.state != "active":
            if call.state == "setup":
                call.state = "cancelled"
            return
        call.state = "ending"
        self.calls.pop(call.invite.call_id, None)
        if send_bye:
            local = (call.address, self.sip_port)
            call.peer.send(requests.bye(call.invite, call.local_tag, local, call.peer.transport, 1))
        ports = [leg.port for leg in call.legs]
        await asyncio.wrap_future(self.receiver.close(call.legs))
        for port in ports:
            if self._pool is not None:
                self._pool.release(port)
        async with self._finalizing:
            try:
                await asyncio.to_thread(finalize, self.ctx, call.folder)
                self.counters.recorded += 1
            except Exception:
                self.counters.failed += 1
                log.exception(
                    "could not store call %s; its audio stays in %s", call.key, call.folder
                )

    async def _watch_silence(self) -> None:
        """End calls whose streams all went quiet (the SRC vanished without a BYE)."""
        while True:
            await asyncio.sleep(1)
            limit_ms = self._settings.rtp_timeout_seconds * 1000
            now = monotonic_ms()
            for call in list(self.calls.values()):
                live = [leg for leg in call.legs if not leg.paused]
                if call.state != "active" or not live:
                    continue
                if now - max(leg.last_ms for leg in live) > limit_ms:
                    log.warning("call %s: no RTP for %d s, ending it", call.key, limit_ms // 1000)
                    self.counters.timed_out += 1
                    self._spawn(self._end(call, send_bye=True))

    def active(self) -> int:
        return sum(1 for c in self.calls.values() if c.state == "active")
