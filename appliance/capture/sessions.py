"""Recording sessions (RFC 7866): from the SIPREC INVITE to the stored recording.

The orchestrator of a call: it takes the SIP requests of its dialog (`dialog.py` says
the answers), opens and closes its media legs (`media.py`), moves it through its states
(`call.py`) and hands the rows and the store to what runs behind the calls (`behind.py`).
The SIP side runs on the event loop; the audio goes from the RTP receiver thread to the
spool, and at the end of the call a worker thread turns the spool into a recording.

Capture never waits on the database: an INVITE is answered from what is known in memory
(`known.py`), the live-call rows are written behind, and a call that cannot be stored
stays in the spool and is tried again until the database takes it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.capture import spool
from appliance.capture.behind import LiveRows, Stores
from appliance.capture.call import Call, CallState, Counters
from appliance.capture.dialog import ACK_TIMEOUT, Dialogs, local_address_for
from appliance.capture.finalize import leftovers
from appliance.capture.known import CACHE_FILE, Known
from appliance.capture.media import Media
from appliance.capture.rtp.ports import PortsExhausted
from appliance.capture.rtp.receiver import monotonic_ms
from appliance.capture.sip import responses
from appliance.capture.sip.message import SipParseError, SipRequest
from appliance.capture.sip.offer import RecordingOffer, parse_offer
from appliance.capture.sip.peer import Peer
from appliance.capture.sip.sdp import recordable
from appliance.capture.sip.server import Answered
from appliance.capture.spool import CallInfo, CallSeal
from appliance.domain.settings import UnknownSourcePolicy
from appliance.services import devices, ha
from appliance.services.active_calls import LiveCall
from appliance.services.context import AppContext

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))

DB_THREADS = 2  # rows, refreshes, registrations: a locked database blocks these, nothing else
KNOWN_WAIT = 0.2  # an INVITE waits at most this for the database's view of devices/settings
START_WAIT = 5.0  # at start, for the first view; then the cached one
REFRESH_SECONDS = 5.0
# Sessions from one address answered but neither ACKed nor sending media yet; a real SRC's
# are confirmed within a round trip, so even a busy one has few at any moment.
UNCONFIRMED_STREAMS_PER_SOURCE = 400  # two hundred two-party calls being set up at once
UNCONFIRMED_STREAMS_IN_ALL = 1600  # from new addresses (AUTO_REGISTER): a third of the ports

R = TypeVar("R")


class Sessions:
    """The calls in progress, by Call-ID, and what each SIP request of theirs does."""

    def __init__(self, ctx: AppContext, answered: Answered) -> None:
        self.ctx = ctx
        self.spool_dir = ctx.config.data_dir / "spool"
        self.calls: dict[str, Call] = {}  # by Call-ID
        self.counters = Counters()
        self.dialogs = Dialogs(answered, self.counters)
        self.media = Media(ctx.config.http_host)
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()  # loops and retries, cancelled at stop
        self._db = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="capture-db")
        self._syncer = ThreadPoolExecutor(1, "capture-sync")  # fsyncs, behind the answers
        self.known = Known(ctx.config.data_dir / CACHE_FILE, self._in_db)
        self.stores = Stores(ctx, self.counters, self._background)
        self.rows = LiveRows(self._in_db, self.stores.wake)
        self._registering: set[str] = set()

    async def _in_db(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking database call on the capture's own threads: a database that holds
        them (a write lock, a dead server) cannot take the threads the answers need."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    # --- life cycle ------------------------------------------------------------------

    async def load_known(self) -> None:
        """The cached view first, then the database's if it answers within START_WAIT."""
        self.known.load_file()
        await self.known.fresh(START_WAIT)

    async def start(self, sip_port: int) -> None:
        self.dialogs.sip_port = sip_port
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.media.use(self.known.now.settings)
        left = await asyncio.to_thread(leftovers, self.spool_dir)
        if left:
            log.warning("storing %d call(s) left in the spool by the previous run", len(left))
        for folder in left:
            self.stores.queue(folder)
        self.media.receiver.start()
        for loop in (self._watch_silence(), self.rows.run(), self._refresh_known()):
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
        await asyncio.to_thread(self.media.receiver.stop)
        self._db.shutdown(wait=False, cancel_futures=True)
        self.stores.shutdown()
        self._syncer.shutdown(wait=False, cancel_futures=True)
        c, r = self.counters, self.media.receiver.counters
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
            len(self.stores.unstored),
            c.damaged,
            r.packets,
            r.rejected,
        )

    async def _refresh_known(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            owners = self.known.now.owners
            known = await self.known.fresh(REFRESH_SECONDS)
            self.media.use(known.settings)
            if known.owners != owners:
                # An extension changed hands: the live rows name the parties' new organisations.
                for call in list(self.calls.values()):
                    self._want_row(call)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- requests --------------------------------------------------------------------

    def handles(self, request: SipRequest) -> bool:
        return request.call_id in self.calls

    def invite(self, request: SipRequest, peer: Peer) -> None:
        """A new recording session: 100 Trying now, the answer once its streams are ready."""
        refuse = self.dialogs.refuse
        if ha.standby_now(self.ctx.config.data_dir):
            # A session recording group (Oracle, AudioCodes, OpenSIPS, FreeSWITCH) moves on
            # to the next recorder in its list: the primary, while it lives.
            refuse(request, peer, 503, "Service Unavailable", "standby: the primary records")
            return
        try:
            offer = parse_offer(request)
        except SipParseError as exc:
            refuse(request, peer, 488, "Not Acceptable Here", str(exc))
            return
        if not any(recordable(m) for m in offer.sdp.audio):
            refuse(
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
            refuse(request, peer, 503, "Service Unavailable", crowded)
            return
        call = Call(uuid4().hex, request, peer, offer)
        self.calls[request.call_id] = call
        self.dialogs.respond(call, request, responses.build(request, 100, "Trying", peer.source))
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
        reply = self.dialogs.reply
        if call.state not in (CallState.ACTIVE, CallState.SETUP):
            reply(call, request, 481, "Call/Transaction Does Not Exist")
            return
        has_sdp = b"v=0" in request.body
        if not request.body.strip():
            reply(call, request, 200, "OK")
            return
        try:
            offer = parse_offer(request) if has_sdp else None
        except SipParseError as exc:
            self.dialogs.refuse(request, peer, 488, "Not Acceptable Here", str(exc))
            return
        if offer is None:
            self._update_parties(call, request, None)
            reply(call, request, 200, "OK")
            return
        if call.state is CallState.SETUP:
            # Glare with our own answer still pending (RFC 3261 §14.2).
            reply(call, request, 491, "Request Pending")
            return
        self._update_parties(call, request, offer)
        try:
            self.media.apply(call, offer)
        except PortsExhausted as exc:
            log.error("re-offer in %s: %s", call.key, exc)
            reply(call, request, 503, "Service Unavailable")
            return
        call.offer = offer
        call.sdp_version += 1
        ok = reply(call, request, 200, "OK", self.dialogs.sdp(call), "application/sdp")
        if request.method == "INVITE":
            self.dialogs.reacknowledge(call, ok, self._spawn)

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
        self.dialogs.reply(call, request, 200, "OK")
        self._spawn(self._end(call, send_bye=False))

    def cancel(self, request: SipRequest, peer: Peer) -> None:
        """CANCEL before the answer ends the session unrecorded; after it, it changes nothing."""
        call = self.calls[request.call_id]
        peer.send(responses.build(request, 200, "OK", peer.source, to_tag=call.local_tag))
        if not call.move(CallState.CANCELLED):
            return
        self.counters.cancelled += 1
        self.dialogs.terminated(call, peer.source)

    # --- answering -------------------------------------------------------------------

    async def _setup(self, call: Call) -> None:
        """Answer from memory: the database's view if it gives it within KNOWN_WAIT, else
        the last one known; the live-call row and a new device's registration follow."""
        request, peer = call.invite, call.peer
        ip = peer.source[0]
        try:
            known = await self.known.fresh(KNOWN_WAIT)
            call.settings = known.settings  # the call's one snapshot of the settings
            self.media.use(call.settings)
            device_id = await asyncio.to_thread(devices.match_push_source, ip, list(known.sources))
            if call.state is CallState.CANCELLED:
                self.calls.pop(request.call_id, None)
                return
            register = (
                device_id is None
                and call.settings.unknown_push_source is UnknownSourcePolicy.AUTO_REGISTER
            )
            if device_id is None and not register:
                call.move(CallState.CANCELLED)
                self.calls.pop(request.call_id, None)
                self.dialogs.refuse(request, peer, 403, "Forbidden", f"{ip} is not a push device")
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
            self.media.apply(call, call.offer)
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
            self.dialogs.refuse(
                request,
                peer,
                status,
                "Service Unavailable" if status == 503 else "Server Internal Error",
                str(exc),
            )
            return
        if not call.move(CallState.ACTIVE):  # cancelled while the streams were opened
            self._abandon(call)
            return
        self.counters.calls += 1
        self._want_row(call)
        if register:
            self._spawn(self._register(ip))
        ok = self.dialogs.accept(call)
        call.acked.clear()
        self._spawn(self._confirm(call, ok))

    async def _confirm(self, call: Call, ok: bytes) -> None:
        """A session never confirmed by an ACK that got no media either is junk (a flood, a
        client gone): it is dropped unrecorded. One with media is recorded all the same."""
        if await self.dialogs.await_ack(call, ok) or call.state is not CallState.ACTIVE:
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
        closing = self.media.close(call.legs) if call.legs else None
        self.media.release([leg.port for leg in call.legs])
        if call.folder != Path():
            # After the receiver has closed the legs: an open of a leg still queued there
            # would otherwise create its file again in a folder already gone.
            self._spawn(self._remove_after(closing, call.folder))
        self.rows.drop(call.key)

    @staticmethod
    async def _remove_after(closing: Future[None] | None, folder: Path) -> None:
        if closing is not None:
            # The receiver had stopped, or an open failed: the folder goes all the same.
            await asyncio.gather(asyncio.wrap_future(closing), return_exceptions=True)
        await asyncio.to_thread(spool.remove, folder)

    async def _end(self, call: Call, *, send_bye: bool) -> None:
        if not call.move(CallState.ENDING):
            call.move(CallState.CANCELLED)  # not answered yet: the setup drops it
            return
        call.acked.set()  # whatever waits for an ACK stops waiting: the call is over
        self.calls.pop(call.invite.call_id, None)
        self.rows.drop(call.key)
        if send_bye:
            self.dialogs.bye(call)
        ports = [leg.port for leg in call.legs]
        await asyncio.wrap_future(self.media.close(call.legs))
        self.media.release(ports)
        if call.unconfirmed:
            # Never ACKed, no media (a flood, or a client gone at once): nothing to keep.
            self.counters.unconfirmed += 1
            spool.remove(call.folder)
            return
        await self.stores.store_or_queue(call.folder)

    # --- behind the calls ------------------------------------------------------------

    def _want_row(self, call: Call) -> None:
        info = call.info
        if info is None:
            return
        started = datetime.fromisoformat(info.answered_at)
        orgs = self.known.now.party_orgs(info.device_id, info.caller, info.callee)
        self.rows.want(call.key, LiveCall(info.device_id, info.caller, info.callee, started, *orgs))

    async def _watch_silence(self) -> None:
        """End calls whose streams all went quiet (the SRC vanished without a BYE)."""
        while True:
            await asyncio.sleep(1)
            now = monotonic_ms()
            for call in list(self.calls.values()):
                # last_ms is 0 until the receiver thread has opened the leg (a burst).
                live = [leg for leg in call.legs if not leg.paused and leg.last_ms]
                if call.state is not CallState.ACTIVE or not live:
                    continue
                limit_ms = call.settings.rtp_timeout_seconds * 1000
                if now - max(leg.last_ms for leg in live) > limit_ms:
                    log.warning("call %s: no RTP for %d s, ending it", call.key, limit_ms // 1000)
                    self.counters.timed_out += 1
                    self._spawn(self._end(call, send_bye=True))

    def tcp_dialog_sources(self) -> set[tuple[str, int]]:
        return {c.peer.source for c in self.calls.values() if c.peer.transport == "TCP"}

    def active(self) -> int:
        return sum(1 for c in self.calls.values() if c.state is CallState.ACTIVE)
