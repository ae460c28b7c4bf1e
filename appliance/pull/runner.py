"""One run of a pull device: sign in, list, fetch what is new and settled, store each
through the one ingest pipeline, then keep the run's figures. Also "test connection"."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.domain.alarms import AlarmEvent
from appliance.domain.pull import (
    SETTLE_SECONDS,
    AfterFetch,
    PullCounts,
    PulledCall,
    PullProblem,
    PullReason,
    Recognised,
    recognise,
    split_extension,
    voicemail_siblings,
    with_voicemail_text,
)
from appliance.domain.recordings import RecordingMeta
from appliance.errors import (
    AudioDecodeError,
    Conflict,
    InvalidInput,
    NotFound,
    StorageError,
    TransferFailed,
)
from appliance.media.codec import open_audio_file
from appliance.media.partial import SealedPartial
from appliance.services import alarms, ingest, jobs, pulls, settings
from appliance.services.context import Actor, AppContext, utcnow
from appliance.services.pulls import PullConfig, PullRun
from appliance.transfer import Credentials, RemoteFile, TransferClient, connect, read_small, walk

log = logging.getLogger(__name__)

LEASE_S = 120.0  # renewed with every progress report; a dead run's device waits this long
PROGRESS_S = 1.0
COMPANION_MAX = 16 * 1024  # a voicemail's msgNNNN.txt
YEARS = (1970, 9998)  # the years a recording may start in, as for uploads
TEST_ENTRIES = 20
FAILURES_ALARM = 3  # runs in a row that could not reach or list the device
# A file may take 5 minutes, or longer at 20 kB/s.
MIN_TRANSFER_S = 300.0
MIN_RATE = 20_000
CALL_ID_PREFIX = "pull:"


def _credentials(cfg: PullConfig) -> Credentials:
    return Credentials(
        username=cfg.username,
        password=cfg.password,
        private_key=cfg.private_key,
        tls_fingerprint=cfg.tls_fingerprint,
        host_key=cfg.host_key,
    )


def _sign_in(cfg: PullConfig) -> TransferClient:
    if cfg.blocked:
        raise TransferFailed(
            cfg.blocked, "stopped until an administrator accepts the server's new key",
            found=cfg.found_key,
        )  # fmt: skip
    try:
        client = connect(cfg.endpoint, _credentials(cfg))
    except TransferFailed as exc:
        if exc.code == "host_key_changed":
            pulls.block(cfg.device_id, exc.code, exc.found)
        raise
    if client.host_key and not cfg.host_key:
        pulls.pin_host_key(cfg.device_id, client.host_key)
    return client


def call_id_of(path: str) -> str:
    """The recording's key per device: the remote path (a hash when very long)."""
    text = CALL_ID_PREFIX + path
    if len(text) <= 200 and text.isprintable():
        return text
    return CALL_ID_PREFIX + "sha256:" + hashlib.sha256(path.encode()).hexdigest()


def _mtime_key(f: RemoteFile) -> int:
    return int(f.mtime) if f.mtime is not None else -1


def _changed(listed: RemoteFile, now: RemoteFile | None) -> bool:
    """Whether the file changed since the listing. An index page gives minutes where a
    HEAD gives seconds: times are compared to the minute."""
    if now is None:
        return False  # gone or not statable: what arrived is judged by its size
    if now.size != listed.size:
        return True
    if now.mtime is None or listed.mtime is None:
        return False
    return int(now.mtime // 60) != int(listed.mtime // 60)


@dataclass
class _Run:
    """A run's figures as they grow, reported to the database about once a second."""

    device_id: int
    owner: str
    counts: PullCounts = field(default_factory=PullCounts)
    listed: int = 0
    to_fetch: int = 0
    done: int = 0
    error: str = ""
    detail: str = ""
    reported_at: float = 0.0

    def add(
        self, field: str, path: str = "", reason: PullReason | None = None, detail: str = ""
    ) -> None:
        problem = PullProblem(path, reason, detail[:300]) if reason is not None else None
        self.counts = self.counts.plus(field, problem)

    def snapshot(self, running: bool) -> PullRun:
        return PullRun(
            running=running,
            at=None,
            error=self.error,
            detail=self.detail,
            counts=self.counts,
            listed=self.listed,
            to_fetch=self.to_fetch,
            done=self.done,
            failures_in_a_row=0,
        )

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.reported_at >= PROGRESS_S:
            self.reported_at = now
            if not pulls.report_progress(self.device_id, self.owner, LEASE_S, self.snapshot(True)):
                raise TransferFailed("lease_lost", "another run took this device over")


def run_device(ctx: AppContext, device_id: int, actor: Actor) -> PullRun:
    """Fetch what is new from one device now; raises Conflict if a run is under way."""
    actor.require_admin()
    cfg = pulls.config(device_id, ctx.master)
    owner = jobs.lease_owner()
    if not pulls.begin(device_id, owner, LEASE_S):
        raise Conflict("this device is being fetched from already", code="pull_running")
    run = _Run(device_id, owner)
    try:
        run.report(force=True)
        session = _Session(cfg)
        try:
            _fetch_all(ctx, cfg, session, run)
        finally:
            session.close()
    except TransferFailed as exc:
        run.error, run.detail = exc.code, exc.detail
        log.warning("pull from device %s: %s", device_id, exc)
    except Exception as exc:  # a bug must still free the lease and say so on the device
        run.error, run.detail = "internal_error", f"{type(exc).__name__}: {exc}"
        log.exception("pull from device %s failed", device_id)
    finally:
        failures = pulls.finish(device_id, owner, run.snapshot(False), actor)
    _alarm(cfg, run, failures)
    return replace(run.snapshot(False), failures_in_a_row=failures)


def _alarm(cfg: PullConfig, run: _Run, failures: int) -> None:
    """A device failing run after run raises PULL_FAILED (once); a good run clears it."""
    try:
        if failures >= FAILURES_ALARM:
            alarms.raise_alarm(
                AlarmEvent.PULL_FAILED, value=failures, subject=cfg.alias,
                device=cfg.alias, error=f"{run.error} {run.detail}".strip()[:300],
            )  # fmt: skip
        elif not run.error:
            alarms.clear_alarm(AlarmEvent.PULL_FAILED, subject=cfg.alias)
    except Exception:  # the run's figures are kept; an alarm table away must not undo that
        log.exception("the pull alarm of device %s", cfg.alias)


class _Session:
    """A run's signed-in connection. After a broken transfer the next file gets a fresh
    one: a control connection that timed out answers nothing more."""

    def __init__(self, cfg: PullConfig) -> None:
        self.cfg = cfg
        self.client = _sign_in(cfg)
        self.broken = False

    def current(self) -> TransferClient:
        if self.broken:
            self.client.close()
            self.client = _sign_in(self.cfg)  # a server gone for good ends the run here
            self.broken = False
        return self.client

    def close(self) -> None:
        self.client.close()


def _fetch_all(ctx: AppContext, cfg: PullConfig, session: _Session, run: _Run) -> None:
    skip = cfg.move_to.strip("/") if cfg.after is AfterFetch.MOVE else ""
    listing = walk(session.current(), skip_dir=skip)
    for problem in listing.problems:
        run.add("unrecognised", problem.path, problem.reason, problem.detail)
    run.listed = len(listing.files)
    known = pulls.fetched_keys(cfg.device_id)
    paths = [f.path for f in listing.files]
    siblings = voicemail_siblings(paths)
    # A .txt beside a recording of the same name is its companion (voicemail), not a stray.
    stems = {split_extension(p)[0] for p in paths if not p.endswith(".txt")}
    now = time.time()
    limit = ctx.config.max_upload_bytes
    todo: list[tuple[RemoteFile, Recognised]] = []
    for f in listing.files:
        if f.path in siblings:
            continue  # the same voicemail message in a format less wanted
        found = recognise(f.path, cfg.pattern)
        if isinstance(found, PullReason):
            if f.path.endswith(".txt") and split_extension(f.path)[0] in stems:
                continue
            run.add("unrecognised", f.path, found)
            continue
        if (f.path, f.size, _mtime_key(f)) in known:
            run.add("already_had")
        elif f.size > limit:
            run.add("failed", f.path, PullReason.TOO_LARGE, f"{f.size} > {limit} bytes")
        elif f.mtime is not None and now - f.mtime < SETTLE_SECONDS:
            run.add("waiting")  # the PBX may still be writing it
        else:
            todo.append((f, found))
    run.to_fetch = len(todo)
    zone = ZoneInfo(settings.current().time_zone)
    for f, found in todo:
        run.report()
        _fetch_one(ctx, cfg, session, run, f, found, zone)
        run.done += 1


def _partial_path(ctx: AppContext, cfg: PullConfig, path: str) -> Path:
    digest = hashlib.sha256(path.encode()).hexdigest()
    return ctx.config.data_dir / "pull" / str(cfg.device_id) / f"{digest}.part"


def _fetch_one(
    ctx: AppContext,
    cfg: PullConfig,
    session: _Session,
    run: _Run,
    f: RemoteFile,
    found: Recognised,
    zone: ZoneInfo,
) -> None:
    key = (f.path, f.size, _mtime_key(f))
    call_id = call_id_of(f.path)
    stored = pulls.recording_of(cfg.device_id, call_id)
    if stored is not None:  # fetched before under another size or time (touched, moved back)
        pulls.remember(cfg.device_id, *key, stored)
        run.add("already_had")
        return
    client = session.current()
    try:
        call = _complete(client, found.call, zone)
    except TransferFailed as exc:
        session.broken = True
        run.add("failed", f.path, PullReason.NO_COMPANION, exc.detail or exc.code)
        return
    if call is None:
        run.add("failed", f.path, PullReason.NO_COMPANION)
        return
    if not YEARS[0] <= call.started_at.year <= YEARS[1]:
        # As uploads: a time no call has would sort last for circular recording.
        run.add("failed", f.path, PullReason.BAD_TIME, call.started_at.isoformat())
        return
    partial = SealedPartial(
        _partial_path(ctx, cfg, f.path),
        ctx.master,
        {"path": f.path, "size": f.size, "mtime": _mtime_key(f)},
    )
    if partial.size > f.size:  # a server that sent more, or ignored a resume: start over
        partial.discard()
        partial = SealedPartial(
            _partial_path(ctx, cfg, f.path), ctx.master,
            {"path": f.path, "size": f.size, "mtime": _mtime_key(f)},
        )  # fmt: skip
    try:
        if partial.size < f.size:
            try:
                client.download(f.path, _Reporting(partial, run, f.size), partial.size, f.size)
            except BaseException:
                partial.flush(durable=True)  # what came is kept for the next run to resume
                raise
            partial.flush(durable=False)
        if partial.size != f.size:
            if _changed(f, client.stat(f.path)):
                partial.discard()
                run.add("waiting")
                return
            run.add(
                "failed", f.path, PullReason.TRANSFER_FAILED,
                f"{partial.size} of {f.size} bytes arrived",
            )  # fmt: skip
            return
        if _changed(f, client.stat(f.path)):
            partial.discard()  # written to while we read it: the next run takes it whole
            run.add("waiting")
            return
        meta = RecordingMeta(
            call_id=call_id,
            caller=call.caller,
            callee=call.callee,
            started_at=call.started_at,
            kind=call.kind,
            direction=call.direction,
        )
        result = _store(ctx, cfg, partial, meta, found.audio)
    except TransferFailed as exc:
        session.broken = True
        run.add("failed", f.path, PullReason.TRANSFER_FAILED, exc.detail or exc.code)
        if exc.code == "longer_than_listed" or partial.size == 0:
            # Nothing of a file that lies about its size is kept, and nothing is kept of
            # one that sent no byte (refused, gone): there is nothing to resume from.
            partial.discard()
        else:
            partial.close()
        return
    except AudioDecodeError as exc:
        partial.discard()
        run.add("failed", f.path, PullReason.UNDECODABLE, str(exc))
        return
    except (InvalidInput, StorageError) as exc:
        partial.close()
        run.add("failed", f.path, PullReason.STORE_FAILED, str(exc))
        return
    partial.discard()
    pulls.remember(cfg.device_id, *key, result.id)
    run.add("fetched" if result.created else "already_had")
    _after(cfg, client, run, f.path)


class _Reporting:
    """The partial file as a transfer's sink, renewing the run's lease as bytes come: one
    long file must not let the lease lapse."""

    def __init__(self, partial: SealedPartial, run: _Run, size: int) -> None:
        self.partial, self.run, self.size = partial, run, size
        # A server trickling bytes must not hold the device (and a scheduler slot) forever.
        self.deadline = time.monotonic() + max(MIN_TRANSFER_S, size / MIN_RATE)

    def write(self, data: bytes, /) -> int:
        if self.partial.tell() + len(data) > self.size:
            raise TransferFailed("longer_than_listed", f"more than the {self.size} bytes listed")
        if time.monotonic() > self.deadline:
            raise TransferFailed("timeout", "the transfer is too slow")
        self.run.report()
        return self.partial.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.partial.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        return self.partial.truncate(size)

    def tell(self) -> int:
        return self.partial.tell()


def _complete(client: TransferClient, call: PulledCall, zone: ZoneInfo) -> PulledCall | None:
    """The call with its voicemail text read and its wall-clock time made aware."""
    if call.companion:
        text = read_small(client, call.companion, COMPANION_MAX)
        completed = with_voicemail_text(call, text.decode("utf-8", errors="replace"))
        if completed is None:
            return None
        call = completed
    if call.local_time:
        call = replace(call, started_at=_aware(call.started_at, zone), local_time=False)
    return call


def _aware(wall: datetime, zone: ZoneInfo) -> datetime:
    return datetime.combine(wall.date(), wall.time(), zone)


def _store(
    ctx: AppContext, cfg: PullConfig, partial: SealedPartial, meta: RecordingMeta, audio: str
) -> ingest.IngestResult:
    """Decrypt the fetched bytes into a sealed scratch file (decoders need to seek), and
    store them through the one pipeline."""
    scratch = ctx.store.scratch()
    try:
        for block in partial.plain():
            scratch.write(block)
        with scratch.open() as fh:
            stream = open_audio_file(fh, "gsm" if audio == "gsm" else None)
            device = Actor(None, cfg.alias[:64], "", False, cfg.endpoint.host, "device")
            return ingest.store_pcm(ctx, device, cfg.device_id, meta, stream, source="pull")
    finally:
        scratch.close()


def _after(cfg: PullConfig, client: TransferClient, run: _Run, path: str) -> None:
    if cfg.after is AfterFetch.KEEP:
        return
    try:
        if cfg.after is AfterFetch.DELETE:
            client.delete(path)
        else:
            client.move(path, cfg.move_to.strip("/"))
    except TransferFailed as exc:
        run.counts = replace(
            run.counts,
            problems=(
                *run.counts.problems,
                PullProblem(path, PullReason.AFTER_FETCH_FAILED, exc.detail or exc.code),
            )[: PullCounts.PROBLEMS_KEPT],
        )


@dataclass(frozen=True)
class PullTest:
    ok: bool
    error: str
    detail: str
    found: str  # a certificate or host key fingerprint the server showed
    host_key: str
    entries: list[str]


def test_device(ctx: AppContext, device_id: int, actor: Actor) -> PullTest:
    """Sign in and list the device's folder (its first entries), or say why not."""
    actor.require_admin()
    cfg = pulls.config(device_id, ctx.master)
    try:
        client = _sign_in(cfg)
    except TransferFailed as exc:
        return PullTest(False, exc.code, exc.detail, exc.found, cfg.host_key, [])
    try:
        entries = client.list_dir("")
        names = sorted(e.name + ("/" if e.is_dir else "") for e in entries)[:TEST_ENTRIES]
        return PullTest(True, "", "", "", client.host_key or cfg.host_key, names)
    except TransferFailed as exc:
        return PullTest(False, exc.code, exc.detail, exc.found, client.host_key, [])
    finally:
        client.close()


_running: set[int] = set()
_running_lock = threading.Lock()
PARALLEL_MAX = 2  # devices fetched from at once by one scheduler


def run_due(ctx: AppContext, actor: Actor) -> None:
    """The scheduler's job: start a run for each pull device whose interval has passed.

    Runs go on in threads of their own, so a long fetch never holds up the scheduler's
    other jobs (circular recording above all); each device's lease keeps a run single."""
    for device_id in pulls.due(utcnow()):
        with _running_lock:
            if device_id in _running or len(_running) >= PARALLEL_MAX:
                continue
            _running.add(device_id)
        threading.Thread(
            target=_run_in_background, args=(ctx, device_id, actor), daemon=True,
            name=f"pull-{device_id}",
        ).start()  # fmt: skip


def _run_in_background(ctx: AppContext, device_id: int, actor: Actor) -> None:
    try:
        run_device(ctx, device_id, actor)
    except (Conflict, NotFound):
        pass  # "fetch now" has it, or the device went meanwhile
    except Exception:
        log.exception("pull from device %s failed", device_id)
    finally:
        with _running_lock:
            _running.discard(device_id)
