"""`recorder failover`: this appliance's side of a primary/standby pair.

It listens on its own port (mutual TLS with the paired peer's pinned certificate) and:
- pairs, once, with the peer given the same pairing secret (the primary asks);
- sends a heartbeat every second and hears the peer's;
- pushes its event log to the peer every period and on "sync now": the primary all it
  changed, a standby only what it recorded itself (a handover after a split);
- as standby, takes over when the primary has been silent for the takeover time while the
  witness still answers; as primary, steps down when it meets a newer primary.
Capture never waits on any of this: the spool and the database are the record.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import ssl
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.domain.ha import (
    DEFAULT_PORT,
    HaRole,
    PeerView,
    newer_primary,
    pairing_proof,
    parse_address,
    proofs_match,
    should_take_over,
)
from appliance.errors import ApplianceError
from appliance.ha import link, vrrp
from appliance.ha.link import LinkError
from appliance.ha.tls import (
    NodeIdentity,
    der_of,
    fingerprint,
    peer_certificate,
    pem_of,
    require_pinned,
)
from appliance.ha.witness import reachable
from appliance.services import ha
from appliance.services.context import AppContext

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))
_QUIET = RateLimit(stream_id="pair-connections")  # a flood of them: a line every 10 s

TICK = 1.0
CONNECT_TIMEOUT = 3.0
PAIR_FAILURES_PER_ADDRESS = 5  # a minute
PAIR_FAILURES_IN_ALL = 30
# Connections at once: the peer needs three (heartbeat, its push, ours); more are someone
# else's, closed before any TLS work.
CONNECTIONS_IN_ALL = 16
CONNECTIONS_PER_ADDRESS = 6
HANDSHAKE_SECONDS = 5.0
MAX_KEYS = 16
FAILBACK_DRAIN_SECONDS = 25.0


def _problem(exc: BaseException, doing: str) -> str:
    """The word for the console's "last problem" (services.ha.PROBLEMS)."""
    if isinstance(exc, LinkError):
        return exc.problem if exc.problem in ha.PROBLEMS else "other"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, (OSError, TimeoutError)):
        return "unreachable"
    return "sync" if doing == "sync" else "other"


def _keys_of(message: dict[str, Any]) -> list[bytes]:
    given = message.get("keys")
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_KEYS:
        raise LinkError("the peer sent no master keys")
    keys = [base64.b64decode(str(k), validate=True) for k in given]
    if any(len(k) != 32 for k in keys):
        raise LinkError("the peer sent a key that is not 32 bytes")
    return keys


@dataclass
class _Heard:
    """When the peer was last heard (either way), on the monotonic clock."""

    at: float
    role: str = ""
    epoch: int = 0
    promoted_at: str = ""


class FailoverService:
    name = "failover"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.identity = NodeIdentity(ctx.config.data_dir / "ha")
        (ctx.config.data_dir / ha.FINGERPRINT_FILE).write_text(
            self.identity.fingerprint + "\n", encoding="ascii"
        )
        self._stop = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._served_pem: str | None = None
        self._heard = _Heard(time.monotonic())
        self._side: ha.Side | None = None
        self._pushing: asyncio.Task[None] | None = None
        self._last_push = 0.0
        self._pair_failures: list[tuple[float, str]] = []
        self._connections: Counter[str] = Counter()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> asyncio.Task[None]:
        self._side = await asyncio.to_thread(ha.side, self.ctx.master)
        await self._listen(self._side)
        return asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> str:
        side = self._side
        role = side.settings.role.value.lower() if side else "?"
        return f"role {role}, pair port {self.ctx.config.ha_port}"

    async def _listen(self, side: ha.Side) -> None:
        """Listen while in a pair (a standalone appliance opens no port for it), with a
        context that pins the peer's certificate as it is now."""
        wanted = side.settings.role is not HaRole.STANDALONE
        if self._server is not None and (not wanted or side.peer_pem != self._served_pem):
            self._server.close()
            self._server = None
        if not wanted or self._server is not None:
            return
        host = self.ctx.config.ha_host or self.ctx.config.http_host
        try:
            # Plain TCP first: a connection over the caps is closed before any TLS work,
            # so a flood costs neither file descriptors nor handshakes.
            context = self.identity.server_context(side.peer_pem)
            self._server = await asyncio.start_server(
                lambda r, w: self._admit(r, w, context), host, self.ctx.config.ha_port
            )
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", host, self.ctx.config.ha_port, exc)
            await asyncio.to_thread(
                ha.note_problem,
                "listen",
                f"cannot listen on port {self.ctx.config.ha_port}: {exc.strerror}",
            )
            return
        self._served_pem = side.peer_pem

    async def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    await self._tick()
                except Exception:  # the database away, say: try again next second
                    log.exception("failover tick")
                try:
                    await asyncio.wait_for(self._stop.wait(), TICK)
                except TimeoutError:
                    pass
        finally:
            if self._pushing is not None:
                self._pushing.cancel()
            if self._server is not None:
                self._server.close()

    async def _tick(self) -> None:
        side = self._side = await asyncio.to_thread(ha.side, self.ctx.master)
        await asyncio.to_thread(self._publish, side)
        await self._listen(side)
        settings = side.settings
        if settings.role is HaRole.STANDALONE or not settings.peer_address:
            return
        if not side.peer_pem:
            if settings.role is HaRole.PRIMARY and side.secret:
                await self._guarded(self._pair(side), "pairing")
            return
        await self._guarded(self._beat(side), "")
        if settings.role is HaRole.STANDBY and side.failback_requested:
            await self._guarded(self._failback(side), "failback")
        if (self._pushing is None or self._pushing.done()) and self._push_due(side):
            self._pushing = asyncio.create_task(self._guarded(self._push(side), "sync"))
        if settings.role is HaRole.STANDBY:
            await self._maybe_take_over(side)

    def _publish(self, side: ha.Side) -> None:
        """The role for this appliance's other processes, the tie-breaker for keepalived,
        and keepalived's state back (a thread: files and the database)."""
        data = self.ctx.config.data_dir
        ha.write_role(data, side.settings.role)
        primary = side.settings.role is HaRole.PRIMARY
        seen = vrrp.steer(data / "ha", primary, side.epoch)
        if seen != side.vrrp_state:
            ha.note_vrrp(seen)

    async def _guarded(self, work: Any, doing: str) -> None:
        """Run one exchange with the peer; why it failed goes to the status (the console's
        "last problem"), whatever it was: a sync that stalls must say so."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            expected = isinstance(
                exc, (LinkError, OSError, ssl.SSLError, ApplianceError, TimeoutError)
            )
            why = f"{doing}: {exc}" if doing else str(exc)
            if expected:
                log.info("peer: %s", why)
            else:
                log.exception("peer: %s", why)
            try:
                await asyncio.to_thread(ha.note_problem, _problem(exc, doing), why)
            except Exception:  # the database away: the log has it
                log.warning("could not note the peer's problem", exc_info=True)

    def _push_due(self, side: ha.Side) -> bool:
        if side.sync_requested_at is not None:
            return True
        return time.monotonic() - self._last_push >= side.settings.period_seconds

    # --- connections -----------------------------------------------------------------------

    async def _open(self, side: ha.Side) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = parse_address(side.settings.peer_address, DEFAULT_PORT, "peer_address")
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=self.identity.client_context(side.peer_pem),
                server_hostname="recorder-ha",
            ),
            CONNECT_TIMEOUT,
        )  # fmt: skip
        if side.peer_pem:
            try:
                require_pinned(peer_certificate(writer.get_extra_info("ssl_object")), side.peer_pem)
            except ApplianceError:
                await link.close(writer)
                raise
        return reader, writer

    def _hello(self, side: ha.Side, op: str) -> dict[str, Any]:
        return {
            "op": op,
            "role": side.settings.role.value,
            "epoch": side.epoch,
            "promoted_at": side.promoted_at,
        }

    async def _heard_from(self, message: dict[str, Any]) -> None:
        self._heard = _Heard(
            time.monotonic(),
            str(message.get("role", "")),
            int(message.get("epoch", 0) or 0),
            str(message.get("promoted_at", "")),
        )
        await asyncio.to_thread(ha.note_peer, self._heard.role, self._heard.epoch)
        side = self._side
        if (
            side is not None
            and side.settings.role is HaRole.PRIMARY
            and self._heard.role == HaRole.PRIMARY.value
            and newer_primary(
                side.epoch, side.promoted_at, self._heard.epoch, self._heard.promoted_at
            )
        ):
            await asyncio.to_thread(ha.step_down, self._heard.epoch)
            self._side = await asyncio.to_thread(ha.side, self.ctx.master)
            await asyncio.to_thread(self._publish, self._side)

    async def _beat(self, side: ha.Side) -> None:
        reader, writer = await self._open(side)
        try:
            await link.send(writer, self._hello(side, "beat"))
            await self._heard_from(await link.expect(reader, "beat", CONNECT_TIMEOUT))
        finally:
            await link.close(writer)

    async def _failback(self, side: ha.Side) -> None:
        """As standby asked to become primary: the primary first sends everything it has,
        then this side takes the role (the primary steps down when it hears of it)."""
        reader, writer = await self._open(side)
        try:
            await link.send(writer, self._hello(side, "failback"))
            await link.expect(reader, "drained", FAILBACK_DRAIN_SECONDS)
        finally:
            await link.close(writer)
        await asyncio.to_thread(ha.finish_failback)
        self._side = await asyncio.to_thread(ha.side, self.ctx.master)
        await asyncio.to_thread(self._publish, self._side)

    async def _drain(self) -> None:
        """As primary asked by its standby for a failback: one complete push now."""
        if self._pushing is not None and not self._pushing.done():
            await asyncio.wait([self._pushing])
        side = await asyncio.to_thread(ha.side, self.ctx.master)
        self._pushing = asyncio.create_task(self._push(side))  # the ticks' push waits for it
        await self._pushing

    # --- pairing ---------------------------------------------------------------------------
    #
    # The primary (which dials the address it was given) proves the secret first; the
    # standby answers with its own proof only to a primary that has proved it, so a client
    # without the secret learns nothing it could test guesses against. Both proofs name
    # both certificates: a relay that terminates TLS holds neither key, and its proofs name
    # its own certificate. The master keys go last, each only to a proven side.

    async def _pair(self, side: ha.Side) -> None:
        """As primary: prove the secret, check the standby's proof, swap master keys."""
        reader, writer = await self._open(side)
        try:
            seen = peer_certificate(writer.get_extra_info("ssl_object"))
            if seen is None:
                raise LinkError("the peer showed no certificate")
            fps = (self.identity.fingerprint, fingerprint(seen))
            ours = secrets.token_bytes(16)
            await link.send(
                writer, {"op": "pair", "nonce": ours.hex(), "cert": self.identity.cert_pem}
            )
            answer = await link.expect(reader, "pair", limit=link.FIRST_MESSAGE)
            theirs = bytes.fromhex(str(answer.get("nonce", "")))
            proof = pairing_proof(side.secret, "primary", (ours, theirs), fps)
            await link.send(writer, {"op": "pair_proof", "proof": proof})
            reply = await link.expect(reader, "pair_key", limit=link.FIRST_MESSAGE)
            expected = pairing_proof(side.secret, "standby", (ours, theirs), fps)
            if not proofs_match(str(reply.get("proof", "")), expected):
                raise LinkError(
                    "the standby does not know the pairing secret (or a relay is in between)",
                    "secret_differs",
                )
            peer_keys = _keys_of(reply)
            await link.send(writer, {"op": "pair_key", "keys": self._keys()})
            await link.expect(reader, "paired", limit=link.FIRST_MESSAGE)
            await asyncio.to_thread(ha.record_pairing, self.ctx.master, pem_of(seen), peer_keys)
            log.info("paired with %s", side.settings.peer_address)
            await self._paired()
        finally:
            await link.close(writer)

    def _pairing_allowed(self, source: str) -> bool:
        """Failed proofs per minute: a few per address, a few more in all (a guesser from
        one address cannot keep the real primary from pairing)."""
        now = time.monotonic()
        self._pair_failures = [(t, a) for t, a in self._pair_failures if now - t < 60]
        mine = sum(1 for _, a in self._pair_failures if a == source)
        return mine < PAIR_FAILURES_PER_ADDRESS and len(self._pair_failures) < PAIR_FAILURES_IN_ALL

    async def _answer_pairing(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first: dict[str, Any],
        source: str,
    ) -> None:
        side = await asyncio.to_thread(ha.side, self.ctx.master)
        if side.settings.role is not HaRole.STANDBY or not side.secret:
            await link.send(
                writer,
                {"op": "refused", "problem": "not_waiting", "why": "not waiting to be paired"},
            )
            return
        if not self._pairing_allowed(source):
            await link.send(
                writer,
                {
                    "op": "refused",
                    "problem": "too_many_attempts",
                    "why": "too many failed pairings; wait a minute",
                },
            )
            return
        cert_pem = str(first.get("cert", ""))
        try:
            fps = (fingerprint(der_of(cert_pem)), self.identity.fingerprint)
            theirs = bytes.fromhex(str(first.get("nonce", "")))
        except ValueError:
            await link.send(writer, {"op": "refused", "why": "malformed pairing request"})
            return
        ours = secrets.token_bytes(16)
        await link.send(writer, {"op": "pair", "nonce": ours.hex()})
        # Counted as failed until proved: leaving here costs a guess as well.
        self._pair_failures.append((time.monotonic(), source))
        claim = await link.expect(reader, "pair_proof", limit=link.FIRST_MESSAGE)
        expected = pairing_proof(side.secret, "primary", (theirs, ours), fps)
        if not proofs_match(str(claim.get("proof", "")), expected):
            await asyncio.to_thread(
                ha.note_problem, "secret_differs", "pairing: the primary's secret differs"
            )
            await link.send(
                writer,
                {"op": "refused", "problem": "secret_differs", "why": "the pairing secret differs"},
            )
            return
        self._pair_failures.pop()
        proof = pairing_proof(side.secret, "standby", (theirs, ours), fps)
        await link.send(writer, {"op": "pair_key", "proof": proof, "keys": self._keys()})
        answer = await link.expect(reader, "pair_key", limit=link.FIRST_MESSAGE)
        peer_keys = _keys_of(answer)
        await asyncio.to_thread(ha.record_pairing, self.ctx.master, cert_pem, peer_keys)
        await link.send(writer, {"op": "paired"})
        log.info("paired with the primary at %s", side.settings.peer_address)
        await self._paired()

    def _keys(self) -> list[str]:
        """Our master key and those of peers we hold files of: a new standby after a
        takeover must open the old primary's files too."""
        return [base64.b64encode(k).decode() for k in self.ctx.master.export()][:MAX_KEYS]

    async def _paired(self) -> None:
        """Listen with the peer's certificate pinned at once (its first heartbeat follows
        within a second), and count the pairing as having heard from it."""
        self._heard = _Heard(time.monotonic())
        self._side = await asyncio.to_thread(ha.side, self.ctx.master)
        await self._listen(self._side)

    # --- pushing (either side; the primary all, a standby its own recordings) -------------------

    async def _push(self, side: ha.Side) -> None:
        reader, writer = await self._open(side)
        complete = False
        applied: int | None = None  # what the peer has applied, once it has said
        try:
            await link.send(writer, self._hello(side, "hello"))
            answer = await link.expect(reader, "hello")
            await self._heard_from(answer)
            side = self._side or side
            applied = int(answer.get("applied", 0))
            handover = side.settings.role is not HaRole.PRIMARY
            if not handover and await asyncio.to_thread(ha.needs_full_copy, applied):
                applied = await self._full_copy(reader, writer, side, applied)
            while True:
                batch = await asyncio.to_thread(ha.outgoing, applied, side.settings, handover)
                if batch is None:
                    complete = True
                    break
                applied = await self._send_batch(reader, writer, batch)
            await link.send(writer, {"op": "done"})
        finally:
            await link.close(writer)
            self._last_push = time.monotonic()
            if applied is not None and (side.settings.role is HaRole.PRIMARY or complete):
                await asyncio.to_thread(ha.note_synced, applied, complete)

    async def _full_copy(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        side: ha.Side,
        applied: int,
    ) -> int:
        """Everything to a new standby (or one that missed entries retention removed): the
        configuration, then every recording; then the log from where the copy began. Its
        batches leave the standby's cursor where it was until the last, so a copy broken
        off starts again (what arrived is not sent twice: the files are there)."""
        mark = await asyncio.to_thread(ha.newest_event_id)
        log.info("a full copy to the standby, then the log after entry %d", mark)
        after: int | None = None
        while True:
            found = await asyncio.to_thread(ha.full_copy, after, side.settings, applied)
            if found is None:
                break
            batch, after = found
            await self._send_batch(reader, writer, batch)
        return await self._send_batch(reader, writer, ha.Outgoing(mark))

    async def _send_batch(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, batch: ha.Outgoing
    ) -> int:
        """One batch, the files the peer asks for, its answer: the entry it applied up to."""
        await link.send(writer, {"op": "batch", "last_id": batch.last_id, "items": batch.items})
        wanted = await link.expect(reader, "need")
        for number in wanted.get("files", []):
            relpath, size = batch.files.get(int(number), ("", -1))
            path = self.ctx.store.path(relpath) if relpath else None
            if path is None or not path.is_file() or path.stat().st_size != size:
                await link.send(writer, {"op": "file", "n": number, "size": -1})
                continue  # deleted meanwhile: its deletion follows in the log
            await link.send(writer, {"op": "file", "n": number, "size": size})
            await link.send_file(writer, path, size)
        done = await link.expect(reader, "applied", 600)
        return int(done["last_id"])

    # --- the peer's connections ---------------------------------------------------------------

    async def _admit(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext
    ) -> None:
        source = str((writer.get_extra_info("peername") or ("?",))[0])
        if (
            sum(self._connections.values()) >= CONNECTIONS_IN_ALL
            or self._connections[source] >= CONNECTIONS_PER_ADDRESS
        ):
            writer.transport.abort()
            return
        self._connections[source] += 1
        try:
            await writer.start_tls(context, ssl_handshake_timeout=HANDSHAKE_SECONDS)
            await self._connection(reader, writer, source)
        except (LinkError, ApplianceError, OSError, ssl.SSLError, TimeoutError) as exc:
            log.info("a pair connection from %s ended: %s", source, exc, extra=_QUIET)
        except Exception:  # a malformed message from a peer: never the service's end
            log.warning("a pair connection from %s failed", source, exc_info=True, extra=_QUIET)
        finally:
            self._connections[source] -= 1
            if not self._connections[source]:
                del self._connections[source]
            await link.close(writer)

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str
    ) -> None:
        seen = peer_certificate(writer.get_extra_info("ssl_object"))
        if seen is None:  # not the peer: it may only ask to pair, in a small message
            first = await link.receive(reader, 10, limit=link.FIRST_MESSAGE)
            if first.get("op") == "pair":
                await self._answer_pairing(reader, writer, first, source)
            else:
                await link.send(
                    writer, {"op": "refused", "problem": "not_paired", "why": "not paired"}
                )
            return
        side = await asyncio.to_thread(ha.side, self.ctx.master)
        require_pinned(seen, side.peer_pem)
        first = await link.receive(reader, 10)
        peer = fingerprint(seen)
        op = first.get("op")
        if op not in ("beat", "hello", "failback"):
            await link.send(writer, {"op": "refused", "why": f"unexpected {op!r}"})
            return
        await self._heard_from(first)
        if op == "failback":
            await self._drain()
            await link.send(writer, {"op": "drained"})
            return
        side = self._side or side
        reply = self._hello(side, op)
        if op == "hello":
            reply["applied"] = await asyncio.to_thread(ha.applied_from, peer)
        await link.send(writer, reply)
        if op == "hello":
            await self._receive_batches(reader, writer, peer, first)

    async def _receive_batches(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        hello: dict[str, Any],
    ) -> None:
        while True:
            message = await link.receive(reader, 600)
            if message.get("op") == "done":
                return
            if message.get("op") != "batch":
                raise LinkError(f"expected a batch, got {message.get('op')!r}")
            given = message.get("items")
            items = ha.checked_items(given if isinstance(given, list) else [])
            side = self._side
            if (
                side is not None
                and side.settings.role is HaRole.PRIMARY
                and not (
                    hello.get("role") == HaRole.PRIMARY.value
                    and newer_primary(
                        side.epoch,
                        side.promoted_at,
                        int(hello.get("epoch", 0)),
                        str(hello.get("promoted_at", "")),
                    )
                )
            ):
                # A primary takes only recordings from a standby or an older primary (its
                # handover): its own configuration and deletions stand.
                items = [i for i in items if i.get("t") == "recording"]
            wanted = await asyncio.to_thread(ha.files_wanted, self.ctx, items)
            await link.send(writer, {"op": "need", "files": wanted})
            by_number = {int(item["n"]): item for item in items}
            waiting, missing = set(wanted), set()
            while waiting:
                announce = await link.expect(reader, "file")
                number, size = int(announce["n"]), int(announce["size"])
                if number not in waiting:
                    raise LinkError(f"the peer sent file {number}, which was not asked for")
                waiting.discard(number)
                if size < 0:
                    missing.add(number)  # deleted meanwhile: its row waits for the deletion
                    continue
                await self._receive_file(reader, by_number[number]["payload"]["row"], size)
            keep = [item for item in items if int(item["n"]) not in missing]
            await asyncio.to_thread(ha.apply, self.ctx, peer, int(message["last_id"]), keep)
            await link.send(writer, {"op": "applied", "last_id": int(message["last_id"])})

    async def _receive_file(
        self, reader: asyncio.StreamReader, row: dict[str, Any], size: int
    ) -> None:
        store_writer = self.ctx.store.receive(str(row["relpath"]))
        try:

            async def sink(piece: bytes) -> None:
                await asyncio.to_thread(store_writer.write, piece)

            await link.receive_file(reader, size, sink)
            await asyncio.to_thread(store_writer.commit, str(row["sha256"]))
        except BaseException:
            store_writer.abort()
            raise

    # --- takeover --------------------------------------------------------------------------

    async def _maybe_take_over(self, side: ha.Side) -> None:
        silent = time.monotonic() - self._heard.at
        takeover = side.settings.takeover_seconds
        if silent < takeover:
            return
        witness = side.settings.witness
        view = PeerView(
            paired=bool(side.peer_pem),
            silent_seconds=silent,
            witness_configured=bool(witness),
            witness_reachable=bool(witness) and await reachable(witness),
        )
        if should_take_over(side.settings.role, takeover, view):
            await asyncio.to_thread(ha.take_over, "primary_silent", round(silent, 1))
            self._side = await asyncio.to_thread(ha.side, self.ctx.master)
            await asyncio.to_thread(self._publish, self._side)
        elif witness and not view.witness_reachable:
            await asyncio.to_thread(
                ha.note_problem, "isolated", "primary and witness both unreachable: not taking over"
            )
