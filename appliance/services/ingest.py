"""Ingest: the one pipeline every source ends in (upload, SIPREC, later pull), from RecordingMeta and audio to a stored, indexed recording."""

from __future__ import annotations

import io
from dataclasses import dataclass

from pony.orm import db_session
from pony.orm.core import TransactionIntegrityError

from appliance.db import recording_queries
from appliance.db.entities import Recording
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.recordings import (
    RecordingMeta,
    sn_base,
    sn_with_suffix,
)
from appliance.errors import InvalidInput
from appliance.media.codec import EXTENSIONS, encode_stream, open_audio_file
from appliance.media.pcm import Pcm, PcmStream
from appliance.media.store import Scratch
from appliance.services import audit, events, settings
from appliance.services.context import Actor, AppContext, to_local, to_utc, utcnow
from appliance.services.extension_owners import party_orgs


@dataclass(frozen=True)
class IngestResult:
    id: int
    sn: str
    created: bool


def _existing(device_id: int | None, call_id: str) -> IngestResult | None:
    r = Recording.get(device_id=device_id, call_id=call_id)
    return IngestResult(r.id, r.sn, False) if r else None


def ingest_upload(
    ctx: AppContext, actor: Actor, device_id: int, meta: RecordingMeta, audio: bytes | Scratch
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
    meta: RecordingMeta,
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
