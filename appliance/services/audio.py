"""A recording's audio: the files to send, checked, transcoded on demand and cached, read by range; plays counted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from pony.orm import db_session

from appliance.db import recording_queries
from appliance.db.entities import PlayEvent, Recording, by_id
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import Action
from appliance.domain.settings import FileFormat
from appliance.errors import IntegrityError, NotFound
from appliance.media.cache import TranscodeCache
from appliance.media.codec import EXTENSIONS, encode_stream, open_audio_file
from appliance.media.crypto import EncryptedWriter
from appliance.media.mp3 import open_own_mp3
from appliance.media.store import INTEGRITY_MESSAGE, StoredFile
from appliance.services import audit, events
from appliance.services.access import access_of, permitted
from appliance.services.context import Actor, AppContext, utcnow

log = logging.getLogger(__name__)

PLAY_DEDUP_SECONDS = 30


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
    events.record(EventKind.RECORDING_PLAYED, actor, id=r.id, sn=r.sn)
    return True
