"""The RTP receivers: one thread draining every stream's socket into the spool.

Per packet the work is kept tiny (one recv, a record header, two list appends); the
spool files are written in batches every FLUSH_SECONDS, each batch sealed as one frame,
so a crash loses at most that much audio. Everything else (order, loss, decoding,
mixing) happens once, at the end of the call, from the spool. The thread owns the legs; other threads talk to it only
through commands, so no lock is taken per packet.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.capture.spool import PAUSE, RECORD, RESUME, LegWriter

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))

FLUSH_SECONDS = 0.5
MAX_DATAGRAM = 2048


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(eq=False)
class Leg:
    """One stream of one call: its socket, its spool file, what arrived since the flush."""

    sock: socket.socket
    spool: LegWriter
    pending: list[bytes] = field(default_factory=list)
    paused: bool = False
    last_ms: int = 0  # arrival of the latest packet, monotonic ms (read by other threads)
    packets: int = 0
    rejected: int = 0  # datagrams that are not RTP version 2

    port: int = field(init=False)  # known while the socket lives: read after it is closed

    def __post_init__(self) -> None:
        self.port = int(self.sock.getsockname()[1])


@dataclass
class Counters:
    packets: int = 0  # of the streams closed so far
    rejected: int = 0
    lost_flushes: int = 0  # flushes the disk refused


class RtpReceiver:
    def __init__(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.flush_seconds = flush_seconds
        self.counters = Counters()
        self._legs: dict[int, Leg] = {}
        self._commands: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = (
            SimpleQueue()
        )
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = select.epoll()
        self._poll.register(self._wake, select.EPOLLIN)
        self._running = False
        self._thread: threading.Thread | None = None

    # --- called from other threads ---------------------------------------------------

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._run, name="rtp-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush and close every leg, then end the thread."""
        if self._thread is None:
            return
        self._call(self._close_all).result(timeout=30)
        self._running = False
        os.eventfd_write(self._wake, 1)
        self._thread.join(timeout=10)
        self._thread = None

    def packets_total(self) -> int:
        """RTP packets received since start (closed streams and open ones); read from
        another thread, so a count a moment old."""
        return self.counters.packets + sum(leg.packets for leg in list(self._legs.values()))

    def open(self, leg: Leg) -> Future[None]:
        return self._call(self._open, leg)

    def set_paused(self, leg: Leg, paused: bool) -> Future[None]:
        return self._call(self._set_paused, leg, paused)

    def close(self, legs: list[Leg]) -> Future[None]:
        """Flush the legs' last audio to the spool and release their sockets."""
        return self._call(self._close, legs)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        if self._thread is None:
            done.set_exception(RuntimeError("the RTP receiver is not running"))
            return done
        self._commands.put((fn, args, done))
        os.eventfd_write(self._wake, 1)
        return done

    # --- the receiver thread ---------------------------------------------------------

    def _run(self) -> None:
        legs, record = self._legs, RECORD.pack
        recv_errors = (BlockingIOError, InterruptedError, ConnectionRefusedError)
        next_flush = time.monotonic() + self.flush_seconds
        while self._running:
            events = self._poll.poll(self.flush_seconds / 2)
            now_ms = monotonic_ms()
            for fd, _ in events:
                leg = legs.get(fd)
                if leg is None:
                    if fd == self._wake:
                        self._run_commands()
                    continue
                try:
                    data = leg.sock.recv(MAX_DATAGRAM)
                except recv_errors:
                    continue
                # Not RTP v2 (STUN, garbage): dropped here so the spool holds media only.
                if len(data) < 12 or data[0] & 0xC0 != 0x80:
                    leg.rejected += 1
                    continue
                leg.last_ms = now_ms
                if leg.paused:
                    continue  # a paused stream is not recorded, whatever the sender does
                leg.pending.append(record(len(data), now_ms))
                leg.pending.append(data)
                leg.packets += 1
            if time.monotonic() >= next_flush:
                self._flush_all()
                next_flush = time.monotonic() + self.flush_seconds

    def _run_commands(self) -> None:
        try:
            os.eventfd_read(self._wake)
        except BlockingIOError:
            pass
        while True:
            try:
                fn, args, done = self._commands.get_nowait()
            except Empty:
                return
            try:
                done.set_result(fn(*args))
            except Exception as exc:
                done.set_exception(exc)

    def _open(self, leg: Leg) -> None:
        leg.sock.setblocking(False)
        try:
            leg.spool.open()
        except OSError:
            leg.sock.close()  # its call was dropped meanwhile, or the disk refuses: no leak
            raise
        leg.last_ms = monotonic_ms()
        self._legs[leg.sock.fileno()] = leg
        self._poll.register(leg.sock.fileno(), select.EPOLLIN)

    def _set_paused(self, leg: Leg, paused: bool) -> None:
        if leg.paused == paused:
            return
        leg.paused = paused
        leg.last_ms = monotonic_ms()
        leg.pending.append(RECORD.pack(PAUSE if paused else RESUME, leg.last_ms))
        self._flush(leg)

    def _flush(self, leg: Leg) -> None:
        if leg.pending:
            data = b"".join(leg.pending)
            leg.pending = []
            try:
                leg.spool.write(data)
            except OSError as exc:
                # A full or failing disk loses this flush, not the thread every call needs.
                self.counters.lost_flushes += 1
                log.error(
                    "spool write failed (%s); %d bytes of audio lost",
                    exc,
                    len(data),
                    extra=RateLimit(stream_id="spool-write"),
                )

    def _flush_all(self) -> None:
        for leg in self._legs.values():
            if leg.pending:
                self._flush(leg)

    def _close(self, legs: list[Leg]) -> None:
        for leg in legs:
            fd = leg.sock.fileno()
            if fd == -1 or self._legs.pop(fd, None) is None:
                leg.sock.close()  # never opened here (its open failed): still released
                leg.spool.close()
                continue
            self._poll.unregister(fd)
            self._drain(leg)
            self._flush(leg)
            self.counters.packets += leg.packets
            self.counters.rejected += leg.rejected
            leg.spool.close()
            leg.sock.close()

    def _drain(self, leg: Leg) -> None:
        """Read what the kernel still holds for a stream that is being closed."""
        now_ms = monotonic_ms()
        while not leg.paused:
            try:
                data = leg.sock.recv(MAX_DATAGRAM)
            except OSError:
                return
            if len(data) >= 12 and data[0] & 0xC0 == 0x80:
                leg.pending += [RECORD.pack(len(data), now_ms), data]
                leg.packets += 1

    def _close_all(self) -> None:
        self._close(list(self._legs.values()))
