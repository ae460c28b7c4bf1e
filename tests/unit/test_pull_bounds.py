"""What a hostile PBX cannot make the appliance spend: bytes beyond the listed size, a
GSM file whose header claims 1 Hz (hours of audio from a few kilobytes)."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess

import pytest

from appliance.errors import AudioDecodeError, TransferFailed
from appliance.media.codec import open_audio_file
from appliance.media.crypto import MasterKey
from appliance.media.partial import SealedPartial
from appliance.pull.runner import _Reporting, _Run
from tests.support.audio import tone_pcm, wav_bytes


class _Quiet(_Run):
    def report(self, force: bool = False) -> None:
        pass  # no database here: the lease is not what is tested


def test_bytes_beyond_the_listed_size_are_refused(tmp_path):
    partial = SealedPartial(tmp_path / "a.part", MasterKey(os.urandom(32)), {"path": "a"})
    sink = _Reporting(partial, _Quiet(1, "me"), size=10)
    sink.write(b"x" * 10)
    with pytest.raises(TransferFailed) as refused:
        sink.write(b"y")
    assert refused.value.code == "longer_than_listed"


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox writes the GSM test file")
def test_a_wav49_claiming_one_hertz_is_not_decoded(tmp_path):
    source = tmp_path / "s.wav"
    source.write_bytes(wav_bytes(tone_pcm(1.0, 8000), 8000))
    gsm = tmp_path / "g.WAV"
    subprocess.run(["sox", str(source), "-t", "wav", "-e", "gsm-full-rate", str(gsm)], check=True)
    data = bytearray(gsm.read_bytes())
    fmt = data.index(b"fmt ")
    struct.pack_into("<I", data, fmt + 12, 1)  # the sample rate field
    with pytest.raises(AudioDecodeError):
        stream = open_audio_file(io.BytesIO(bytes(data)))
        for _ in stream.blocks:
            pass
