"""A spooled call into a recording through the one store pipeline, then out of the spool."""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.capture import spool
from appliance.capture.assemble import assemble
from appliance.domain.recordings import RecordingKind, RecordingMeta, clean_party
from appliance.domain.settings import ChannelMode
from appliance.errors import IntegrityError
from appliance.services import devices, settings
from appliance.services.context import SYSTEM, AppContext
from appliance.services.ingest import IngestResult, store_pcm

log = logging.getLogger(__name__)

DAMAGED = "spool-damaged"  # beside the spool: folders that can never be stored, kept for a look


class SpoolDamaged(Exception):
    """A spooled call whose files cannot be read (damaged, or under another master key):
    trying again cannot help, unlike a database or a disk that is away."""


def finalize(ctx: AppContext, folder: Path) -> IngestResult | None:
    """Store the call; the spool folder goes only once its recording is safely stored, and
    storing twice (a crash between the two) finds the first recording by its call id. A call
    answered for an unknown source (AUTO_REGISTER) while the database was away registers
    its device here."""
    conf = settings.current()
    try:
        call = assemble(
            folder,
            ctx.master,
            stereo=conf.channel_mode is ChannelMode.STEREO,
            gain=conf.mixing_gain,
        )
    except (ValueError, KeyError, TypeError, IntegrityError) as exc:
        raise SpoolDamaged(f"{folder.name}: {exc}") from exc
    info = call.info
    if not info.confirmed and not call.datagrams:
        # Left by a crash: never ACKed and no media, junk as it would have been live.
        log.info("call %s: no ACK and no media before the restart; nothing to store", info.key)
        spool.remove(folder)
        return None
    device_id = info.device_id
    if device_id is None and info.source:
        device_id = devices.register_push_source(info.source, ctx.master)
    meta = RecordingMeta(
        call_id=info.call_id,
        caller=clean_party(info.caller),
        callee=clean_party(info.callee),
        started_at=call.started_at,
        kind=RecordingKind.CALL,
        direction=None,
    )
    result = store_pcm(ctx, SYSTEM, device_id, meta, call.pcm, source="siprec")
    spool.remove(folder)
    log.info(
        "recorded %s (%s -> %s, %d ms, %d datagrams skipped)",
        result.sn,
        info.caller,
        info.callee,
        call.pcm.duration_ms,
        call.skipped,
    )
    return result


def leftovers(spool_dir: Path) -> list[Path]:
    """The calls a previous run left in the spool (a crash, a kill -9, a database that was
    away), to be stored; folders of sessions never answered hold no audio and go."""
    found = []
    for folder in spool.folders(spool_dir):
        if (folder / spool.CALL_FILE).exists():
            found.append(folder)
        else:
            spool.remove(folder)
    return found


def set_aside(folder: Path) -> Path:
    """Move a damaged call out of the spool, so it is neither retried nor lost."""
    target = folder.parent.parent / DAMAGED / folder.name
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    return target
