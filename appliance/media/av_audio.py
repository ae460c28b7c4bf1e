"""Audio that only a full codec library decodes (GSM 6.10, as Asterisk's wav49 and .gsm
files hold it), through PyAV's FFmpeg decoders, as PCM16 in pieces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import av
import av.error

from appliance.errors import AudioDecodeError
from appliance.media.pcm import BLOCK_FRAMES, PcmStream

# Raw .gsm has no header: FFmpeg must be told its container, and its rate is always 8 kHz.
CONTAINERS = {"gsm": "gsm", "wav49": "wav"}


def open_with_av(fh: BinaryIO, container: str | None) -> PcmStream:
    """Decode fh (at any position; read from its start) to mono or stereo PCM16."""
    fh.seek(0)
    try:
        source = av.open(fh, mode="r", format=CONTAINERS.get(container or "", None))
    except (av.error.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(f"the audio cannot be opened: {exc}") from exc
    if not source.streams.audio:
        source.close()
        raise AudioDecodeError("the file holds no audio")
    stream = source.streams.audio[0]
    rate = stream.codec_context.sample_rate or 8000
    if not 4000 <= rate <= 96000:  # as for WAV: a 1 Hz header would make hours of audio
        source.close()
        raise AudioDecodeError(f"sample rate {rate} Hz is not supported")
    channels = min(max(stream.codec_context.channels or 1, 1), 2)
    resampler = av.AudioResampler(
        format="s16", layout="stereo" if channels == 2 else "mono", rate=rate
    )
    return PcmStream(rate, channels, None, _blocks(source, resampler, channels))


def _packets(source: av.container.InputContainer) -> Iterator[tuple[av.Packet, bool]]:
    """The audio stream's packets, each with whether it is the last."""
    held: av.Packet | None = None
    for packet in source.demux(audio=0):
        if packet.size == 0:
            continue  # the demuxer's flush marker
        if held is not None:
            yield held, False
        held = packet
    if held is not None:
        yield held, True


def _blocks(
    source: av.container.InputContainer, resampler: av.AudioResampler, channels: int
) -> Iterator[bytes]:
    step = BLOCK_FRAMES * 2 * channels
    pending = bytearray()
    decoded = 0
    try:
        for packet, last in _packets(source):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # Writers pad the data chunk to an even length: a stray byte after the last
                # whole block is not damage. A bad packet anywhere else is.
                if last and decoded:
                    break
                raise
            for frame in frames:
                assert isinstance(frame, av.AudioFrame)
                for out in resampler.resample(frame):
                    pending += bytes(out.planes[0])[: out.samples * 2 * channels]
                    decoded += out.samples
            while len(pending) >= step:
                yield bytes(pending[:step])
                del pending[:step]
        for out in resampler.resample(None):
            pending += bytes(out.planes[0])[: out.samples * 2 * channels]
    except (av.error.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(f"the audio does not decode: {exc}") from exc
    finally:
        source.close()
    if not decoded:
        raise AudioDecodeError("the audio holds no samples")
    if pending:
        yield bytes(pending)
