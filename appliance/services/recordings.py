"""Recording use cases: ingest, search, detail, score, tag, delete, play."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from pony.orm import commit, db_session, flush
from pony.orm.core import TransactionIntegrityError

from appliance.db import device_queries, org_queries, recording_queries
from appliance.db.entities import PlayEvent, Recording, ScoreEvent, Tag, by_id
from appliance.db.recording_queries import Criteria, RecordingRow
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import Action, Scope
from appliance.domain.recordings import (
    RecordingFilter,
    UploadMeta,
    check_score,
    check_tag,
    sn_base,
    sn_with_suffix,
)
from appliance.domain.settings import FileFormat
from appliance.errors import IntegrityError, InvalidInput, NotFound
from appliance.media.cache import TranscodeCache
from appliance.media.codec import EXTENSIONS, encode_stream, open_audio_file
from appliance.media.crypto import EncryptedWriter
from appliance.media.mp3 import open_own_mp3
from appliance.media.pcm import Pcm, PcmStream
from appliance.media.store import INTEGRITY_MESSAGE, Scratch, StoredFile
from appliance.services import audit, events, settings
from appliance.services.access import Tree, access_of, permitted
from appliance.services.context import Actor, AppContext, to_local, to_utc, utcnow
from appliance.services.extension_owners import party_orgs

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 200
PLAY_DEDUP_SECONDS = 30


@dataclass(frozen=True)
class TagView:
    name: str
    offset: float | None


@dataclass(frozen=True)
class RecordingView:
    id: int
    sn: str
    device: str
    caller: str
    caller_org: str | None
    callee: str
    callee_org: str | None
    started_at: datetime  # aware, UTC
    duration: int
    score: int | None
    tags: list[TagView]
    play_count: int
    kind: str
    file_format: str
    direction: str | None


@dataclass(frozen=True)
class IngestResult:
    id: int
    sn: str
    created: bool


@dataclass(frozen=True)
class Selection:
    """Either explicit ids, or everything a filter matches."""

    ids: list[int] | None = None
    filter: RecordingFilter | None = None


def views_of(found: list[RecordingRow]) -> list[RecordingView]:
    ids = [r.id for r in found]
    tags = recording_queries.tags_for(ids) if any(r.tag_count for r in found) else {}
    devices = device_queries.addresses(sorted({r.device_id for r in found if r.device_id}))
    orgs = org_queries.org_names(
        {i for r in found for i in (r.caller_org_id, r.callee_org_id) if i is not None}
    )
    return [
        RecordingView(
            id=r.id,
            sn=r.sn,
            device=devices.get(r.device_id, "") if r.device_id else "",
            caller=r.caller,
            caller_org=orgs.get(r.caller_org_id) if r.caller_org_id else None,
            callee=r.callee,
            callee_org=orgs.get(r.callee_org_id) if r.callee_org_id else None,
            started_at=r.started_at,
            duration=r.duration,
            score=r.score,
            tags=[TagView(n, o) for n, o in tags.get(r.id, [])],
            play_count=r.play_count,
            kind=r.kind,
            file_format=r.file_format,
            direction=r.direction,
        )
        for r in found
    ]


def criteria_for(f: RecordingFilter, scope: Scope) -> Criteria:
    """Resolve the filter's names (device, organisations) to ids under the actor's scope."""
    f = f.validate()
    device_ids = device_queries.ids_matching(f.device) if f.device else None
    org_ids: dict[str, frozenset[int] | None] = {"caller": None, "callee": None}
    if f.caller_org or f.callee_org:
        tree = Tree.load()
        for party, name in (("caller", f.caller_org), ("callee", f.callee_org)):
            if name:
                found = tree.id_of(name)
                org_ids[party] = tree.below([found]) if found is not None else frozenset()
    return Criteria(
        f,
        scope=scope,
        device_ids=device_ids,
        caller_org_ids=org_ids["caller"],
        callee_org_ids=org_ids["callee"],
        show_zero_duration=settings.current().show_zero_duration,
    )


# --- ingest --------------------------------------------------------------------------


def _existing(device_id: int | None, call_id: str) -> IngestResult | None:
    r = Recording.get(device_id=device_id, call_id=call_id)
    return IngestResult(r.id, r.sn, False) if r else None


def ingest_upload(
    ctx: AppContext, actor: Actor, device_id: int, meta: UploadMeta, audio: bytes | Scratch
) -> IngestResult:
    """Store an uploaded recording once per (device, call_id); duration comes from the audio.

    The audio is read from its scratch file piece by piece, never whole in memory."""
    with db_session:
        found = _existing(device_id, meta.call_id)
    if found:
        return found
    fh = io.BytesIO(audio) if isinstance(audio, bytes) else audio.open()
    with fh:
        stream = open_audio_file(fh)
        return store_pcm(ctx, actor, device_id, meta, stream, source="upload")


def store_pcm(
    ctx: AppContext,
    actor: Actor,
    device_id: int | None,
    meta: UploadMeta,
    pcm: Pcm | PcmStream,
    source: str,
) -> IngestResult:
    """The one pipeline every capture path ends in: encode, encrypt, write, index; the
    audio is encoded and sealed block by block as it comes."""
    conf = settings.current()
    stream = pcm if isinstance(pcm, PcmStream) else PcmStream.of(pcm)
    started = to_utc(meta.started_at).replace(microsecond=0)
    with ctx.store.create(
        started, EXTENSIONS[conf.file_format], encrypted=conf.encryption
    ) as writer:
        frames = encode_stream(stream, conf.file_format, writer)
        stored = writer.commit()
    duration_ms = frames * 1000 // stream.rate if stream.rate else 0
    base = sn_base(to_local(started), meta.callee)
    for attempt in range(1000):
        try:
            with db_session:
                found = _existing(device_id, meta.call_id)
                if found:
                    ctx.store.remove(stored.relpath)
                    return found
                n = attempt
                while recording_queries.sn_taken(sn_with_suffix(base, n)):
                    n += 1
                caller_org, callee_org = party_orgs(device_id, meta.caller, meta.callee)
                r = Recording(
                    sn=sn_with_suffix(base, n),
                    caller_org_id=caller_org,
                    callee_org_id=callee_org,
                    device_id=device_id,
                    call_id=meta.call_id,
                    kind=meta.kind.value,
                    direction=meta.direction.value if meta.direction else None,
                    caller=meta.caller,
                    callee=meta.callee,
                    started_at=started,
                    duration=(duration_ms + 500) // 1000,
                    duration_ms=duration_ms,
                    play_count=0,
                    tag_count=0,
                    file_format=conf.file_format.value,
                    relpath=stored.relpath,
                    disk_size=stored.disk_size,
                    plain_size=stored.plain_size,
                    sha256=stored.sha256,
                    encrypted=stored.encrypted,
                    source=source,
                    created_at=utcnow(),
                )
                r.flush()
                audit.record(
                    actor,
                    AuditType.UPLOAD,
                    "recording_stored",
                    sn=r.sn,
                    caller=meta.caller,
                    callee=meta.callee,
                    duration=r.duration,
                    source=source,
                )
                # Capture's calls arrive here from its background store path, never from
                # the SIP or RTP loop: the capture does not wait on this row either.
                events.record(
                    EventKind.RECORDING_STORED,
                    actor,
                    id=r.id,
                    sn=r.sn,
                    device_id=device_id,
                    call_id=meta.call_id,
                    caller=meta.caller,
                    callee=meta.callee,
                    started_at=started.isoformat(),
                    duration=r.duration,
                    source=source,
                )
                return IngestResult(r.id, r.sn, True)
        except TransactionIntegrityError:
            continue  # a concurrent insert took the SN or the call id: look again
    ctx.store.remove(stored.relpath)
    raise InvalidInput("could not allocate a serial number for this recording", code="no_serial")


# --- reading -------------------------------------------------------------------------


@db_session
def search(
    actor: Actor, f: RecordingFilter, page: int, page_size: int
) -> tuple[int, list[RecordingView]]:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        bad = "page" if page < 1 else "page_size"
        raise InvalidInput(
            f"page must be >= 1 and pageSize 1..{MAX_PAGE_SIZE}",
            field=bad,
            code="out_of_range",
            params={
                "min": 1,
                "max": None if bad == "page" else MAX_PAGE_SIZE,
                "value": page if bad == "page" else page_size,
            },
        )
    criteria = criteria_for(f, access_of(actor).scope)
    found = recording_queries.search(criteria, page_size, (page - 1) * page_size)
    total = recording_queries.count(criteria)
    return total, views_of(found)


@db_session
def get(actor: Actor, recording_id: int) -> RecordingView:
    """One recording; outside the actor's scope it is as missing as a deleted one."""
    found = recording_queries.by_ids([recording_id], access_of(actor).scope)
    if not found:
        raise NotFound("no such recording")
    return views_of(found)[0]


def _live(actor: Actor, recording_id: int, action: Action) -> Recording:
    """A live recording the actor sees and may act on."""
    if not permitted(access_of(actor), action, [recording_id]):
        raise NotFound("no such recording")
    return by_id(Recording, recording_id)


@db_session
def score(actor: Actor, recording_id: int, value: int) -> RecordingView:
    check_score(value)
    r = _live(actor, recording_id, Action.SCORE_TAG)
    r.score = value
    ScoreEvent(recording_id=r.id, user_id=actor.user_id, score=value, created_at=utcnow())
    audit.record(actor, AuditType.SCORE, "scored", sn=r.sn, score=value)
    events.record(EventKind.RECORDING_SCORED, actor, id=r.id, sn=r.sn, score=value)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def tag(actor: Actor, recording_id: int, name: str, offset: float | None) -> RecordingView:
    """Tag at a playback offset; the same name again moves the tag to the new offset."""
    r = _live(actor, recording_id, Action.SCORE_TAG)
    name, offset = check_tag(name, offset, r.duration)
    existing = Tag.get(recording_id=r.id, name=name)
    if existing is None:
        Tag(
            recording_id=r.id,
            name=name,
            position=offset,
            user_id=actor.user_id,
            created_at=utcnow(),
            kind=r.kind,
            started_at=r.started_at,
        )
        r.tag_count += 1
    else:
        existing.position = offset
    if offset is None:
        audit.record(actor, AuditType.TAG, "tagged", sn=r.sn, tag=name)
    else:
        audit.record(actor, AuditType.TAG, "tagged_at", sn=r.sn, tag=name, offset=f"{offset:.1f}")
    events.record(EventKind.RECORDING_TAGGED, actor, id=r.id, sn=r.sn, tag=name, offset=offset)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def untag(actor: Actor, recording_id: int, name: str) -> RecordingView:
    r = _live(actor, recording_id, Action.SCORE_TAG)
    existing = Tag.get(recording_id=r.id, name=name)
    if existing is None:
        raise NotFound(f"recording has no tag {name!r}")
    existing.delete()
    r.tag_count -= 1
    audit.record(actor, AuditType.TAG, "untagged", sn=r.sn, tag=name)
    events.record(EventKind.RECORDING_UNTAGGED, actor, id=r.id, sn=r.sn, tag=name)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def tag_suggestions(actor: Actor, prefix: str, limit: int = 20) -> list[str]:
    scope = access_of(actor).scope
    return recording_queries.tag_suggestions(prefix.strip(), max(1, min(limit, 100)), scope)


def delete(ctx: AppContext, actor: Actor, ids: list[int], event: str = "deleted") -> int:
    """Mark deleted (the row stays for the standby and the audit) and remove the files;
    `event` names why in the audit trail."""
    removed: list[tuple[str, str]] = []
    with db_session:
        scope = access_of(actor).scope_for(Action.DELETE)
        now = utcnow()
        for row in recording_queries.by_ids(sorted(set(ids)), scope):
            r = by_id(Recording, row.id)
            r.deleted_at = now
            removed.append((r.relpath, r.sha256))
            audit.record(actor, AuditType.DELETE, event, sn=r.sn, caller=r.caller, callee=r.callee)
            events.record(
                EventKind.RECORDING_DELETED,
                actor,
                id=r.id,
                sn=r.sn,
                caller=r.caller,
                callee=r.callee,
                reason="circular" if event == "deleted_circular" else "deleted",
            )
        commit()
    for relpath, sha256 in removed:
        ctx.store.remove(relpath)
        transcodes(ctx).remove(sha256)
    return len(removed)


# --- audio ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioFile:
    """Bytes to send: a stored file, or its transcoded copy in the cache (both read lazily)."""

    recording_id: int
    sn: str
    caller: str
    callee: str
    started_at: datetime
    file_format: FileFormat
    duration_ms: int
    stored: StoredFile
    copy: Path | None = None
    copy_size: int = 0

    @property
    def size(self) -> int:
        return self.copy_size if self.copy is not None else self.stored.plain_size


_caches: dict[Path, TranscodeCache] = {}
_caches_lock = threading.Lock()


def transcodes(ctx: AppContext) -> TranscodeCache:
    """The process's cache of transcoded copies for this data directory."""
    with _caches_lock:
        found = _caches.get(ctx.store.root)
        if found is None:
            found = _caches[ctx.store.root] = TranscodeCache(ctx.store, ctx.master)
            found.clean_partial()
        return found


def stored_file(r: Recording) -> StoredFile:
    return StoredFile(r.relpath, r.disk_size, r.plain_size, r.sha256, r.encrypted)


@db_session
def audio_files(actor: Actor, ids: list[int], action: Action) -> list[AudioFile]:
    """The files of the recordings among ids that the actor sees, if the action is allowed."""
    found = permitted(access_of(actor), action, ids)
    out = []
    for row in found:
        r = by_id(Recording, row.id)
        out.append(
            AudioFile(
                r.id,
                r.sn,
                r.caller or "",
                r.callee or "",
                r.started_at,
                FileFormat(r.file_format),
                r.duration_ms,
                stored_file(r),
            )
        )
    return out


def open_audio(
    ctx: AppContext, actor: Actor, recording_id: int, fmt: FileFormat | None
) -> AudioFile:
    """The audio to send, checked against its checksum before anything is sent."""
    found = audio_files(actor, [recording_id], Action.PLAY)
    if not found:
        raise NotFound("no such recording")
    return transcode(ctx, found[0], fmt)


def verify(ctx: AppContext, audio: AudioFile) -> None:
    """Raise IntegrityError (and say so in the log) when the stored file is damaged."""
    try:
        ctx.store.verify(audio.stored)
    except IntegrityError as exc:
        log.error(
            "recording %s (id %d) failed its integrity check: %s", audio.sn, audio.recording_id, exc
        )
        raise IntegrityError(INTEGRITY_MESSAGE) from None


def transcode(
    ctx: AppContext, audio: AudioFile, fmt: FileFormat | None, *, patient: bool = False
) -> AudioFile:
    """The stored file, or its copy in another format: made once, then read from the cache
    (patient: wait for a free conversion slot instead of answering Busy)."""
    verify(ctx, audio)
    if fmt is None or fmt is audio.file_format:
        return audio
    target: FileFormat = fmt

    def make(writer: EncryptedWriter) -> None:
        with ctx.store.open_plain(audio.stored) as fh:
            if audio.file_format is FileFormat.MP3:
                stream = open_own_mp3(fh, audio.duration_ms)
            else:
                stream = open_audio_file(fh)
            encode_stream(stream, target, _Patching(writer))

    cache = transcodes(ctx)
    copy = cache.get(audio.stored.sha256, EXTENSIONS[target], make, patient=patient)
    return replace(audio, file_format=target, copy=copy, copy_size=cache.size_of(copy))


class _Patching:
    """An EncryptedWriter as the encoders' sink."""

    def __init__(self, writer: EncryptedWriter) -> None:
        self.write = writer.write
        self._writer = writer

    def patch_head(self, data: bytes) -> None:
        self._writer.patch(0, data)


def read_range(ctx: AppContext, audio: AudioFile, start: int, end: int) -> Iterator[bytes]:
    if audio.copy is not None:
        yield from transcodes(ctx).read_range(audio.copy, start, end)
        return
    yield from ctx.store.read_range(audio.stored, start, end)


@db_session
def count_play(actor: Actor, recording_id: int) -> bool:
    """One play per listening, not per Range request: repeats within 30 s are not counted."""
    now = utcnow()
    if recording_queries.recent_play(
        recording_id, actor.user_id, now - timedelta(seconds=PLAY_DEDUP_SECONDS)
    ):
        return False
    r = by_id(Recording, recording_id)
    r.play_count += 1
    PlayEvent(recording_id=r.id, user_id=actor.user_id, ip=actor.ip, created_at=now)
    audit.record(actor, AuditType.PLAY, "played", sn=r.sn)
    return True
