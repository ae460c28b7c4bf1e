"""A spooled call into a recording through the one store pipeline, then out of the spool."""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.capture import spool
from appliance.capture.assemble import assemble
from appliance.domain.recordings import RecordingKind, UploadMeta
from appliance.domain.settings import ChannelMode
from appliance.services import active_calls, settings
from appliance.services.context import SYSTEM, AppContext
from appliance.services.recordings import IngestResult, store_pcm

log = logging.getLogger(__name__)


def finalize(ctx: AppContext, folder: Path) -> IngestResult:
    """Store the call; the spool folder goes only once its recording is safely stored, and
    storing twice (a crash between the two) finds the first recording by its call id."""
    conf = settings.current()
    call = assemble(folder, stereo=conf.channel_mode is ChannelMode.STEREO, gain=conf.mixing_gain)
    info = call.info
    meta = UploadMeta(
        call_id=info.call_id,
        caller=info.caller,
        callee=info.callee,
        started_at=call.started_at,
        kind=RecordingKind.CALL,
        direction=None,
    )
    result = store_pcm(ctx, SYSTEM, info.device_id, meta, call.pcm, source="siprec")
    active_calls.ended(info.key)
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


def recover(ctx: AppContext, spool_dir: Path) -> int:
    """Finalise every call a previous run left in the spool (a crash or a kill -9)."""
    done = 0
    for folder in spool.folders(spool_dir):
        if not (folder / spool.CALL_FILE).exists():
            spool.remove(folder)  # never answered: no audio can be in it
            continue
        try:
            finalize(ctx, folder)
            done += 1
        except Exception:
            log.exception("could not finalise the spooled call in %s; it stays there", folder)
    return done
