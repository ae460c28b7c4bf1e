"""Recording sessions (RFC 7866): from the SIPREC INVITE to the stored recording.

The SIP side (dialogs, answers, pause and resume, metadata updates, the end of a call)
runs on the event loop; the audio goes from the RTP receiver thread to the spool, and
at the end of the call a worker thread turns the spool into a recording.

Capture never waits on the database: an INVITE is answered from what is known in memory
(`known.py`), the live-call rows are written behind, and a call that cannot be stored
stays in the spool and is tried again until the database takes it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.capture import spool
from appliance.capture.finalize import SpoolDamaged, finalize, leftovers, set_aside
from appliance.capture.known import CACHE_FILE, Known
from appliance.capture.rtp.ports import PortPool, PortsExhausted
from appliance.capture.rtp.receiver import Leg, RtpReceiver, monotonic_ms
from appliance.capture.sip import requests, responses
from appliance.capture.sip.message import SipParseError, SipRequest
from appliance.capture.sip.offer import MAX_STREAMS, RecordingOffer, parse_offer
from appliance.capture.sip.peer import Peer
from appliance.capture.sip.sdp import AnsweredStream, answer_sdp, recordable
from appliance.capture.spool import CallInfo, CallSeal, LegInfo, LegWriter
from appliance.domain.settings import Settings, UnknownSourcePolicy
from appliance.services import active_calls, devices
from appliance.services.active_calls import LiveCall
from appliance.services.context import AppContext

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))

T1 = 0.5  # RFC 3261 timer T1: the 200 OK is resent at T1, 2T1, 4T1... until the ACK
T2 = 4.0  # ...no further apart than T2
ACK_TIMEOUT = 64 * T1  # Timer H: no ACK by then, the answer was never confirmed
FINALIZING_AT_ONCE = 2  # stores run beside the receiver thread; more would starve it
DB_THREADS = 2  # rows, refreshes, registrations: a locked database blocks these, nothing else
KNOWN_WAIT = 0.2  # an INVITE waits at most this for the database's view of devices/settings
START_WAIT = 5.0  # at start, for the first view; then the cached one
REFRESH_SECONDS = 5.0
RETRY_MAX_SECONDS = 30.0  # back-off ceiling for rows and stores while the database is away
# Sessions from one address answered but neither ACKed nor sending media yet; a real SRC's
# are confirmed within a round trip, so even a busy one has few at any moment.
UNCONFIRMED_STREAMS_PER_SOURCE = 400  # two hundred two-party calls being set up at once
UNCONFIRMED_STREAMS_IN_ALL = 1600  # from new addresses (AUTO_REGISTER): a third of the ports

R = TypeVar("R")


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
    seal: CallSeal | None = None  # the key that seals its spool files
    address: str = "127.0.0.1"  # ours, as the SRC reaches us
    sdp_version: int = 1
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    confirmed: bool = False  # an ACK of the answer ever came

    @property
    def has_media(self) -> bool:
        return any(leg.packets for leg in self.legs)

    @property
    def unconfirmed(self) -> bool:
        """Neither ACKed nor sending media: junk if it stays so (a flood, a client gone)."""
        return not self.confirmed and not self.has_media


@dataclass
class Counters:
    calls: int = 0
    recorded: int = 0
    refused: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0  # store attempts that failed (the call stays in the spool for a retry)
    unconfirmed: int = 0  # answered, never ACKed, no media: dropped unrecorded
    damaged: int = 0  # spooled calls that could not be read, set aside in spool-damaged/


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


def _report_open(done: Future[None]) -> None:
    """A stream the receiver could not open (out of files): its call records silence there."""
    exc = done.exception()
    if exc is not None:
        log.error(
            "could not open a stream's spool file: %s", exc, extra=RateLimit(stream_id="leg-open")
        )


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
        self._background: set[asyncio.Task[None]] = set()  # loops and retries, cancelled at stop
        self._db = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="capture-db")
        self._store_threads = ThreadPoolExecutor(FINALIZING_AT_ONCE, "capture-store")
        self._syncer = ThreadPoolExecutor(1, "capture-sync")  # fsyncs, behind the answers
        self.known = Known(ctx.config.data_dir / CACHE_FILE, self._in_db)
        # Live-call rows as they should be (None: gone), and those not yet written.
        self._rows: dict[str, LiveCall | None] = {}
        self._rows_dirty: set[str] = set()
        self._rows_wake = asyncio.Event()
        self._registering: set[str] = set()
        self._unstored: list[Path] = []  # calls in the spool waiting for the database
        self._retrying: asyncio.Task[None] | None = None
        self._store_wake = asyncio.Event()

    async def _in_db(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking database call on the capture's own threads: a database that holds
        them (a write lock, a dead server) cannot take the threads the answers need."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    @property
    def _settings(self) -> Settings:
        return self.known.now.settings

    # --- life cycle ------------------------------------------------------------------

    async def load_known(self) -> None:
        """The cached view first, then the database's if it answers within START_WAIT."""
        self.known.load_file()
        await self.known.fresh(START_WAIT)

    async def start(self, sip_port: int) -> None:
        self.sip_port = sip_port
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._use_settings(self._settings)
        left = await asyncio.to_thread(leftovers, self.spool_dir)
        if left:
            log.warning("storing %d call(s) left in the spool by the previous run", len(left))
        for folder in left:
            self._queue_store(folder)
        self.receiver.start()
        self._rows_wake.set()  # the first write clears the rows a crash left behind
        for loop in (self._watch_silence(), self._sync_rows(), self._refresh_known()):
            task = asyncio.create_task(loop)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """SIGTERM: every call in progress is ended (BYE) and stored; what cannot be stored
        now stays in the spool for the next start, and rows not written are reconciled then."""
        ending = [self._end(call, send_bye=True) for call in list(self.calls.values())]
        await asyncio.gather(*ending, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await asyncio.to_thread(self.receiver.stop)
        self._db.shutdown(wait=False, cancel_futures=True)
        self._store_threads.shutdown(wait=False, cancel_futures=True)
        self._syncer.shutdown(wait=False, cancel_futures=True)
        c, r = self.counters, self.receiver.counters
        log.info(
            "capture stopped: %d calls answered, %d recorded, %d failed to store, %d refused, "
            "%d cancelled, %d ended for RTP silence, %d never confirmed (no ACK, no media), "
            "%d waiting in the spool, %d damaged set aside; %d RTP packets, "
            "%d non-RTP datagrams dropped",
            c.calls,
            c.recorded,
            c.failed,
            c.refused,
            c.cancelled,
            c.timed_out,
            c.unconfirmed,
            len(self._unstored),
            c.damaged,
            r.packets,
            r.rejected,
        )

    async def _refresh_known(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            owners = self.known.now.owners
            known = await self.known.fresh(REFRESH_SECONDS)
            self._use_settings(known.settings)
            if known.owners != owners:
                # An extension changed hands: the live rows name the parties' new organisations.
                for call in list(self.calls.values()):
                    self._want_row(call)

    def _use_settings(self, conf: Settings) -> None:
        wanted = (conf.rtp_port_min, conf.rtp_port_max)
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
        crowded = self._unconfirmed_crowd(peer.source[0], len(offer.sdp.audio))
        if crowded:
            # A flood of INVITEs never ACKed would hold every RTP port for 32 s each.
            self._refuse(request, peer, 503, "Service Unavailable", crowded)
            return
        call = Call(uuid4().hex, request, peer, offer)
        self.calls[request.call_id] = call
        self._respond(call, request, responses.build(request, 100, "Trying", peer.source))
        self._spawn(self._setup(call))

    def _unconfirmed_crowd(self, ip: str, streams: int) -> str:
        """Why a new session of `streams` streams from `ip` must wait, or "": too many
        streams (ports) in sessions neither ACKed nor sending media, from that address or
        (addresses being many) in all."""
        mine = every = 0
        for c in self.calls.values():
            if not c.unconfirmed:
                continue
            held = len(c.offer.sdp.audio)
            every += held
            mine += held if c.peer.source[0] == ip else 0
        if mine + streams > UNCONFIRMED_STREAMS_PER_SOURCE:
            return f"{mine} streams from this address are not confirmed (no ACK, no media)"
        if every + streams > UNCONFIRMED_STREAMS_IN_ALL:
            return f"{every} streams are not confirmed (no ACK, no media)"
        return ""

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
            self._reacknowledge(call, ok)

    def ack(self, request: SipRequest) -> None:
        call = self.calls.get(request.call_id)
        if call is not None:
            call.acked.set()
            info, seal = call.info, call.seal
            if not call.confirmed and info is not None and seal is not None and call.legs:
                info.confirmed = True  # so a restart keeps it even without media
                spool.write_info(call.folder, info, seal)
            call.confirmed = True

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
        self.remember(request, data)
        peer.send(data)

    def _contact(self, call: Call) -> str:
        transport = ";transport=tcp" if call.peer.transport == "TCP" else ""
        return f"<sip:recorder@{call.address}:{self.sip_port}{transport}>"

    def _answer(self, call: Call) -> bytes:
        session_id = int(call.key[:8], 16)
        return answer_sdp(session_id, call.sdp_version, call.address, call.streams)

    async def _setup(self, call: Call) -> None:
        """Answer from memory: the database's view if it gives it within KNOWN_WAIT, else
        the last one known; the live-call row and a new device's registration follow."""
        request, peer = call.invite, call.peer
        ip = peer.source[0]
        try:
            known = await self.known.fresh(KNOWN_WAIT)
            self._use_settings(known.settings)
            device_id = await asyncio.to_thread(devices.match_push_source, ip, list(known.sources))
            if call.state == "cancelled":
                self.calls.pop(request.call_id, None)
                return
            register = (
                device_id is None
                and known.settings.unknown_push_source is UnknownSourcePolicy.AUTO_REGISTER
            )
            if device_id is None and not register:
                call.state = "cancelled"
                self.calls.pop(request.call_id, None)
                self._refuse(request, peer, 403, "Forbidden", f"{ip} is not a push device")
                return
            call.address = await asyncio.to_thread(local_address_for, ip)
            call.folder = self.spool_dir / call.key
            call.info = CallInfo(
                key=call.key,
                call_id=request.call_id,
                device_id=device_id,
                caller=call.offer.caller,
                callee=call.offer.callee,
                answered_at=datetime.now(UTC).isoformat(),
                answered_ms=monotonic_ms(),
                source=ip,
            )
            call.seal = CallSeal.create(self.ctx.master, call.folder)
            self._syncer.submit(spool.sync_key, call.folder)
            self._apply_streams(call, call.offer)
        except Exception as exc:
            log.error(
                "could not set up the recording session %s: %s",
                request.call_id,
                exc,
                exc_info=not isinstance(exc, PortsExhausted),
                extra=RateLimit(stream_id="setup-failed"),  # ports out: once per 10 s
            )
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
        if call.state == "cancelled":  # cancelled while the streams were opened
            self._abandon(call)
            return
        call.state = "active"
        self.counters.calls += 1
        self._want_row(call)
        if register:
            self._spawn(self._register(ip))
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
        call.acked.clear()
        self._spawn(self._confirm(call, ok))

    async def _confirm(self, call: Call, ok: bytes) -> None:
        """A session never confirmed by an ACK that got no media either is junk (a flood, a
        client gone): it is dropped unrecorded. One with media is recorded all the same."""
        if await self._await_ack(call, ok) or call.state != "active":
            return
        if call.has_media:
            log.warning("call %s: no ACK came, but its media did; recording it", call.key)
            return
        log.info(
            "call %s: no ACK and no media in %d s, dropping it",
            call.key,
            ACK_TIMEOUT,
            extra=RateLimit(stream_id="unconfirmed"),
        )
        await self._end(call, send_bye=True)  # RFC 3261 §13.3.1.4: end the dialog

    async def _await_ack(self, call: Call, ok: bytes) -> bool:
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
                if call.state != "active":
                    return False
                if call.peer.transport == "UDP" and waited < ACK_TIMEOUT:
                    call.peer.send(ok)
                delay = min(delay * 2, T2)
        return call.acked.is_set()

    def _reacknowledge(self, call: Call, ok: bytes) -> None:
        """A re-INVITE's 200 is resent until its ACK; a missing one changes nothing."""
        call.acked.clear()
        if call.peer.transport == "UDP":
            self._spawn(self._await_ack(call, ok))

    async def _register(self, ip: str) -> None:
        """A new push device for an unknown source (AUTO_REGISTER); while the database is
        away the calls keep their source in call.json and finalize registers it."""
        if ip in self._registering:
            return
        self._registering.add(ip)
        try:
            device_id = await self._in_db(devices.register_push_source, ip, self.ctx.master)
        except Exception as exc:
            log.warning("could not register the push source %s yet: %s", ip, exc)
            return
        finally:
            self._registering.discard(ip)
        if device_id is None:
            return
        self.known.add_source(device_id, ip)
        for call in list(self.calls.values()):
            info = call.info
            if (
                info is not None
                and call.seal is not None
                and info.device_id is None
                and info.source == ip
            ):
                info.device_id = device_id
                spool.write_info(call.folder, info, call.seal)
                self._want_row(call)

    def _apply_streams(self, call: Call, offer: RecordingOffer) -> None:
        """Open a leg for each new recordable stream, keep the old ones, pause or resume."""
        assert call.info is not None and call.seal is not None and self._pool is not None
        speakers = {id(leg.media): leg.speaker for leg in offer.legs}
        streams: list[AnsweredStream] = []
        changed = False
        for index, media in enumerate(offer.sdp.media):
            known = call.stream_leg.get(index)
            codecs = recordable(media) if media.kind == "audio" else {}
            if known is None and codecs and media.port and len(call.legs) < MAX_STREAMS:
                sock = self._pool.bind()
                known = len(call.legs)
                leg = Leg(sock, LegWriter(call.seal, call.folder, known))
                speaker = speakers.get(id(media))
                call.legs.append(leg)
                call.stream_leg[index] = known
                call.info.legs.append(LegInfo(codecs, speaker.number if speaker else ""))
                self.receiver.open(leg).add_done_callback(_report_open)
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
            spool.write_info(call.folder, call.info, call.seal)

    def _update_parties(
        self, call: Call, request: SipRequest, offer: RecordingOffer | None
    ) -> None:
        """New metadata in a re-INVITE or UPDATE names the parties anew."""
        if offer is None:
            try:
                offer = parse_offer(request, agreed=call.offer.sdp)
            except SipParseError:
                return
        if offer.metadata is None or call.info is None or call.seal is None:
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
        spool.write_info(call.folder, info, call.seal)
        log.info("call %s now %s -> %s", call.key, info.caller, info.callee)
        self._want_row(call)

    # --- the end of a call -----------------------------------------------------------

    def _abandon(self, call: Call) -> None:
        """Drop a session that is not recorded: its ports and folder go, nothing is stored."""
        self.calls.pop(call.invite.call_id, None)
        closing = self.receiver.close(call.legs) if call.legs else None
        for leg in call.legs:
            if self._pool is not None:
                self._pool.release(leg.port)
        if call.folder != Path():
            # After the receiver has closed the legs: an open of a leg still queued there
            # would otherwise create its file again in a folder already gone.
            self._spawn(self._remove_after(closing, call.folder))
        self._drop_row(call.key)

    @staticmethod
    async def _remove_after(closing: Future[None] | None, folder: Path) -> None:
        if closing is not None:
            # The receiver had stopped, or an open failed: the folder goes all the same.
            await asyncio.gather(asyncio.wrap_future(closing), return_exceptions=True)
        await asyncio.to_thread(spool.remove, folder)

    async def _end(self, call: Call, *, send_bye: bool) -> None:
        if call.state != "active":
            if call.state == "setup":
                call.state = "cancelled"
            return
        call.state = "ending"
        call.acked.set()  # whatever waits for an ACK stops waiting: the call is over
        self.calls.pop(call.invite.call_id, None)
        self._drop_row(call.key)
        if send_bye:
            local = (call.address, self.sip_port)
            call.peer.send(requests.bye(call.invite, call.local_tag, local, call.peer.transport, 1))
        ports = [leg.port for leg in call.legs]
        await asyncio.wrap_future(self.receiver.close(call.legs))
        for port in ports:
            if self._pool is not None:
                self._pool.release(port)
        if call.unconfirmed:
            # Never ACKed, no media (a flood, or a client gone at once): nothing to keep.
            self.counters.unconfirmed += 1
            spool.remove(call.folder)
            return
        await self._store_or_queue(call.folder)

    # --- storing, and the rows, behind the calls --------------------------------------

    async def _store(self, folder: Path) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._store_threads, finalize, self.ctx, folder)
        except SpoolDamaged as exc:
            # Retrying cannot mend it, and a call retried forever would hold up the others.
            try:
                where = await asyncio.to_thread(set_aside, folder)
            except OSError as move:
                log.error("a spooled call cannot be read (%s) nor set aside: %s", exc, move)
                return False
            self.counters.damaged += 1
            log.error("a spooled call cannot be read (%s); set aside in %s", exc, where)
            return True
        except Exception as exc:
            self.counters.failed += 1
            if folder not in self._unstored:
                log.exception("could not store the call in %s; it stays there", folder)
            else:
                log.warning("could not store the call in %s yet: %s", folder, exc)
            return False
        self.counters.recorded += 1
        return True

    async def _store_or_queue(self, folder: Path) -> None:
        """Store now, unless calls already wait for the database: then join them rather
        than hold a store thread for the length of a lock timeout."""
        if self._unstored or not await self._store(folder):
            self._queue_store(folder)

    def _queue_store(self, folder: Path) -> None:
        if folder not in self._unstored:
            self._unstored.append(folder)
        if self._retrying is None:
            self._retrying = asyncio.create_task(self._retry_stores())
            self._background.add(self._retrying)
            self._retrying.add_done_callback(self._background.discard)

    async def _retry_stores(self) -> None:
        """Store the spooled calls one by one while the database takes them; when it does
        not, back off (and wake early once a row write shows it is back). A call that fails
        goes to the back of the line, so one that cannot be stored holds up no other."""
        delay = 1.0
        try:
            while self._unstored:
                folder = self._unstored[0]
                if (folder / spool.CALL_FILE).exists() and not await self._store(folder):
                    if folder in self._unstored:
                        self._unstored.remove(folder)
                        self._unstored.append(folder)
                    try:
                        await asyncio.wait_for(self._store_wake.wait(), delay)
                    except TimeoutError:
                        pass
                    self._store_wake.clear()
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
                    continue
                if folder in self._unstored:
                    self._unstored.remove(folder)
                delay = 1.0
        finally:
            self._retrying = None

    def _want_row(self, call: Call) -> None:
        info = call.info
        if info is None:
            return
        started = datetime.fromisoformat(info.answered_at)
        orgs = self.known.now.party_orgs(info.device_id, info.caller, info.callee)
        live = LiveCall(info.device_id, info.caller, info.callee, started, *orgs)
        if self._rows.get(call.key) == live:
            return
        self._rows[call.key] = live
        self._rows_dirty.add(call.key)
        self._rows_wake.set()

    def _drop_row(self, key: str) -> None:
        if key in self._rows:
            self._rows[key] = None
            self._rows_dirty.add(key)
            self._rows_wake.set()

    async def _sync_rows(self) -> None:
        """Write the live-call rows behind the calls, batched, retried with back-off; the
        first write after a start also removes every row no call of ours has (a crash's)."""
        exclusive, delay = True, 1.0
        while True:
            await self._rows_wake.wait()
            self._rows_wake.clear()
            keys = set(self._rows) if exclusive else set(self._rows_dirty)
            self._rows_dirty -= keys
            batch = {k: self._rows.get(k) for k in keys}
            try:
                await self._in_db(functools.partial(active_calls.sync, batch, exclusive=exclusive))
            except Exception as exc:
                log.warning("live-call rows not written yet (%d): %s", len(batch), exc)
                self._rows_dirty |= keys
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                self._rows_wake.set()
                continue
            if delay > 1.0:
                self._store_wake.set()  # a write went through again: so may the stores
            exclusive, delay = False, 1.0
            for key, live in batch.items():
                if live is None and key not in self._rows_dirty and self._rows.get(key) is None:
                    self._rows.pop(key, None)

    async def _watch_silence(self) -> None:
        """End calls whose streams all went quiet (the SRC vanished without a BYE)."""
        while True:
            await asyncio.sleep(1)
            limit_ms = self._settings.rtp_timeout_seconds * 1000
            now = monotonic_ms()
            for call in list(self.calls.values()):
                # last_ms is 0 until the receiver thread has opened the leg (a burst).
                live = [leg for leg in call.legs if not leg.paused and leg.last_ms]
                if call.state != "active" or not live:
                    continue
                if now - max(leg.last_ms for leg in live) > limit_ms:
                    log.warning("call %s: no RTP for %d s, ending it", call.key, limit_ms // 1000)
                    self.counters.timed_out += 1
                    self._spawn(self._end(call, send_bye=True))

    def tcp_dialog_sources(self) -> set[tuple[str, int]]:
        return {c.peer.source for c in self.calls.values() if c.peer.transport == "TCP"}

    def active(self) -> int:
        return sum(1 for c in self.calls.values() if c.state == "active")
