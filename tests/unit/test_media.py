from __future__ import annotations

import struct

import pytest

from appliance.domain.settings import FileFormat
from appliance.errors import AudioDecodeError
from appliance.media.codec import decode_audio, encode_audio
from appliance.media.mp3 import check_mp3, read_own_mp3
from appliance.media.pcm import Pcm
from tests.support.audio import tone_pcm, wav_bytes


def test_wav_formats_decode_to_pcm16():
    pcm = tone_pcm(0.5)
    for fmt in ("pcm", "ulaw", "alaw"):
        out = decode_audio(wav_bytes(pcm, 8000, fmt=fmt))
        assert (out.rate, out.channels, out.frames) == (8000, 1, 4000)
    stereo = decode_audio(wav_bytes(pcm + pcm, 8000, channels=2))
    assert stereo.channels == 2 and stereo.frames == 4000


def test_8_bit_wav_is_unsigned():
    body = bytes([128, 255, 0])
    data = b"RIFF" + struct.pack("<I", 36 + 3) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    data += b"data" + struct.pack("<I", 3) + body + b"\x00"
    out = decode_audio(data)
    assert struct.unpack("<3h", out.samples) == (0, 127 * 256, -128 * 256)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd", "before its fmt"),
        (b"RIFF\x00\x00\x00\x00WAVE", "no fmt"),
        (wav_bytes(b"\x00" * 100, 8000)[:-10], "truncated"),
        (b"OggS" + b"\x00" * 100, "neither WAV"),
    ],
)
def test_bad_wav_is_explained(data, text):
    with pytest.raises(AudioDecodeError, match=text):
        decode_audio(data)


def test_unsupported_wav_layouts():
    header = b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 6, 8000, 96000, 12, 16)
    with pytest.raises(AudioDecodeError, match="6 channels"):
        decode_audio(header + b"data\x00\x00\x00\x00")
    header = b"RIFF\x00\x00\x00\x00WAVEfmt " + struct.pack("<IHHIIHH", 16, 0x11, 1, 8000, 4000, 1, 4)
    with pytest.raises(AudioDecodeError, match="format tag 17"):
        decode_audio(header + b"data\x00\x00\x00\x00")


def test_mp3_round_trip_keeps_the_timeline():
    pcm = Pcm(tone_pcm(2.0), 8000, 1)
    mp3 = encode_audio(pcm, FileFormat.MP3)
    assert check_mp3(mp3) > 10
    back = read_own_mp3(mp3, pcm.duration_ms)
    assert back.frames == pcm.frames


def test_mp3_walker_rejects_cut_and_garbage():
    mp3 = encode_audio(Pcm(tone_pcm(1.0), 8000, 1), FileFormat.MP3)
    with pytest.raises(AudioDecodeError, match="truncated"):
        check_mp3(mp3[:-7])
    with pytest.raises(AudioDecodeError, match="corrupt"):
        check_mp3(mp3[:200] + b"\x00" * 300 + mp3[200:])
    check_mp3(mp3 + b"TAG" + b"\x00" * 125)  # an ID3v1 trailer is fine


def test_unusual_rates_are_resampled_for_mp3():
    pcm = Pcm(tone_pcm(1.0, rate=7000), 7000, 1)
    assert check_mp3(encode_audio(pcm, FileFormat.MP3)) > 0
