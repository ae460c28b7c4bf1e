"""A session's media: a leg (socket, spool file) per recordable stream, its RTP port from
the pool, opened, paused, resumed and closed on the receiver thread."""

from __future__ import annotations

import logging
from concurrent.futures import Future

from log_rate_limit import RateLimit, StreamRateLimitFilter

from appliance.capture import spool
from appliance.capture.call import Call
from appliance.capture.rtp.ports import PortPool
from appliance.capture.rtp.receiver import Leg, RtpReceiver
from appliance.capture.sip.offer import MAX_STREAMS, RecordingOffer
from appliance.capture.sip.sdp import AnsweredStream, recordable
from appliance.capture.spool import LegInfo, LegWriter
from appliance.domain.settings import Settings

log = logging.getLogger(__name__)
log.addFilter(StreamRateLimitFilter(period_sec=10, default_stream_id=None))


def _report_open(done: Future[None]) -> None:
    """A stream the receiver could not open (out of files): its call records silence there."""
    exc = done.exception()
    if exc is not None:
        log.error(
            "could not open a stream's spool file: %s", exc, extra=RateLimit(stream_id="leg-open")
        )


class Media:
    """The RTP receiver and the port pool the legs of every call take from."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.receiver = RtpReceiver()
        self._pool: PortPool | None = None
        self._pool_range = (0, 0)

    def use(self, conf: Settings) -> None:
        """The port range of these settings, for the legs opened from now on."""
        wanted = (conf.rtp_port_min, conf.rtp_port_max)
        if self._pool is None or self._pool_range != wanted:
            # Calls in progress keep their ports; new calls take them from the new range.
            self._pool = PortPool(self.host, *wanted)
            self._pool_range = wanted

    def apply(self, call: Call, offer: RecordingOffer) -> None:
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

    def close(self, legs: list[Leg]) -> Future[None]:
        """Stop receiving on these legs (on the receiver thread); done once closed."""
        return self.receiver.close(legs)

    def release(self, ports: list[int]) -> None:
        """Give the ports back to the pool (once their sockets are closed or closing)."""
        for port in ports:
            if self._pool is not None:
                self._pool.release(port)
