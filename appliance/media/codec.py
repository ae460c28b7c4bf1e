"""One entry point for turning uploaded bytes into PCM and PCM into the stored format."""

from __future__ import annotations

from appliance.domain.settings import FileFormat
from appliance.errors import AudioDecodeError
from appliance.media.mp3 import looks_like_mp3, read_mp3, write_mp3
from appliance.media.pcm import Pcm
from appliance.media.wav import is_wav, read_wav, write_wav

EXTENSIONS = {FileFormat.MP3: "mp3", FileFormat.WAV: "wav"}
MEDIA_TYPES = {FileFormat.MP3: "audio/mpeg", FileFormat.WAV: "audio/wav"}


def decode_audio(data: bytes) -> Pcm:
    """WAV (PCM, G.711) or MP3 to PCM16; raise AudioDecodeError for anything else."""
    if not data:
        raise AudioDecodeError("the audio is empty")
    if is_wav(data):
        return read_wav(data)
    if looks_like_mp3(data):
        return read_mp3(data)
    raise AudioDecodeError("the audio is neither WAV (PCM, A-law, μ-law) nor MP3")


def encode_audio(pcm: Pcm, fmt: FileFormat) -> bytes:
    return write_mp3(pcm) if fmt is FileFormat.MP3 else write_wav(pcm)


def format_of(data_head: bytes) -> FileFormat:
    return FileFormat.WAV if is_wav(data_head) else FileFormat.MP3
