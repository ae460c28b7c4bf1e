"""Uploaded audio is stored faithfully, encrypted on disk, and served with exact Range reads."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import miniaudio
import numpy as np
import pytest

from tests.support.audio import (
    best_correlation,
    pcm_of_wav,
    resample,
    speech_wav,
    tone_pcm,
    wav_bytes,
)
from tests.support.server import create_device, prepare_admin


def _stored_files(appliance) -> list[Path]:
    return sorted((appliance.server.data_dir / "recordings").rglob("*.enc"), key=lambda p: p.stat().st_mtime)


def _recording(appliance, rec_id: str) -> dict:
    return appliance.api.data(
        "query($id: ID!) { recording(id: $id) { id sn duration fileFormat caller callee playCount startedAt } }",
        {"id": rec_id},
    )["recording"]


def test_speech_survives_mp3_storage(appliance, unique):
    original = speech_wav()
    ref, ref_rate = pcm_of_wav(original)
    r = appliance.upload(original, caller=unique, callee="2002")
    assert r.status_code == 201, r.text
    rec = _recording(appliance, r.json()["id"])
    assert rec["fileFormat"] == "MP3"
    expected_seconds = len(ref) / ref_rate
    assert abs(rec["duration"] - expected_seconds) <= 0.5 + 1e-9

    mp3 = appliance.api.http.get(f"/api/v1/recordings/{rec['id']}/audio").content
    decoded = miniaudio.mp3_read_s16(mp3)
    got = np.frombuffer(decoded.samples.tobytes(), dtype="<i2").astype(np.float64)
    got = resample(got, decoded.sample_rate, ref_rate)
    # Duration within 0.1 s (LAME pads a frame at each end), same sound.
    assert abs(len(got) / ref_rate - expected_seconds) < 0.1
    assert best_correlation(ref, got, max_lag=3000) > 0.9


@pytest.mark.parametrize("encoding", ["ulaw", "alaw", "pcm"])
def test_g711_and_pcm_wav_uploads_decode_to_the_same_tone(appliance, unique, encoding):
    pcm = tone_pcm(2.0, rate=8000, freq=440)
    r = appliance.upload(wav_bytes(pcm, 8000, fmt=encoding), caller=unique)
    assert r.status_code == 201, r.text
    rec_id = r.json()["id"]
    assert _recording(appliance, rec_id)["duration"] == 2
    wav = appliance.api.http.get(f"/api/v1/recordings/{rec_id}/audio?format=wav")
    assert wav.status_code == 200
    assert wav.headers["content-type"] == "audio/wav"
    got, rate = pcm_of_wav(wav.content)
    assert rate == 8000
    ref = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert abs(len(got) - len(ref)) <= 8  # the timeline is exact to a millisecond
    assert best_correlation(ref, got, max_lag=2000) > 0.95


def test_mp3_upload_is_accepted_and_measured(appliance, unique):
    import lameenc

    enc = lameenc.Encoder()
    enc.set_in_sample_rate(8000)
    enc.set_channels(1)
    enc.set_bit_rate(32)
    mp3 = bytes(enc.encode(tone_pcm(3.0)) + enc.flush())
    r = appliance.upload(mp3, filename="call.mp3", caller=unique)
    assert r.status_code == 201, r.text
    assert _recording(appliance, r.json()["id"])["duration"] == 3


def test_file_on_disk_holds_no_plaintext_audio(appliance, unique):
    r = appliance.upload(speech_wav("privacy check"), caller=unique)
    assert r.status_code == 201
    plain = appliance.api.http.get(f"/api/v1/recordings/{r.json()['id']}/audio").content
    newest = _stored_files(appliance)[-1]
    on_disk = newest.read_bytes()
    assert on_disk[:4] == b"RCE1"
    assert len(on_disk) > len(plain)
    # No 32-byte window of the audio appears anywhere in the stored file.
    for start in range(0, len(plain) - 32, 97):
        assert plain[start : start + 32] not in on_disk


def test_range_reads_return_exact_bytes(appliance, unique):
    r = appliance.upload(speech_wav("range reads " * 20), caller=unique)
    rec_id = r.json()["id"]
    url = f"/api/v1/recordings/{rec_id}/audio"
    full = appliance.api.http.get(url).content
    size = len(full)
    assert size > 70_000  # spans several 64 KiB encryption chunks
    rng = random.Random(7)
    cases = [(0, 0), (0, size - 1), (size - 1, size - 1), (65535, 65536), (65536, 65536 + 10)]
    cases += [tuple(sorted((rng.randrange(size), rng.randrange(size)))) for _ in range(25)]
    for start, end in cases:
        got = appliance.api.http.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert got.status_code == 206
        assert got.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert got.content == full[start : end + 1]
    tail = appliance.api.http.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == full[-100:]
    open_end = appliance.api.http.get(url, headers={"Range": f"bytes={size - 50}-"})
    assert open_end.content == full[-50:]


def test_range_past_the_end_is_416(appliance, unique):
    rec_id = appliance.upload(wav_bytes(tone_pcm(1.0), 8000), caller=unique).json()["id"]
    url = f"/api/v1/recordings/{rec_id}/audio"
    size = len(appliance.api.http.get(url).content)
    for header in (f"bytes={size}-", f"bytes={size + 1000}-{size + 2000}", "bytes=-0"):
        r = appliance.api.http.get(url, headers={"Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"


def test_wav_to_mp3_transcoding_on_download(fresh_server):
    """A recording stored as WAV, asked for as MP3, is an MP3 of the same sound and length."""
    admin, _ = prepare_admin(fresh_server)
    set_wav = admin.data('mutation { updateSettings(input: {fileFormat: WAV}) { ... on Settings { fileFormat } } }')
    assert set_wav["updateSettings"] == {"fileFormat": "WAV"}
    device = create_device(admin)
    pcm = tone_pcm(2.0, freq=440)
    r = httpx.post(
        fresh_server.url + "/api/v1/recordings",
        data={"call_id": "transcode-1", "caller": "1001", "callee": "2002", "started_at": "2024-05-01T09:30:00+08:00"},
        files={"audio": ("a.wav", wav_bytes(pcm, 8000), "application/octet-stream")},
        auth=(device["alias"], device["secret"]),
    )
    assert r.status_code == 201, r.text
    rec_id = r.json()["id"]
    stored = admin.http.get(f"/api/v1/recordings/{rec_id}/audio")
    assert stored.headers["content-type"] == "audio/wav" and stored.content[:4] == b"RIFF"
    mp3 = admin.http.get(f"/api/v1/recordings/{rec_id}/audio?format=mp3")
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    decoded = miniaudio.mp3_read_s16(mp3.content)
    got = resample(np.frombuffer(decoded.samples.tobytes(), dtype="<i2").astype(np.float64), decoded.sample_rate, 8000)
    ref = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert abs(len(got) - len(ref)) < 0.2 * 8000  # LAME pads: its delay and a 72 ms frame at 8 kHz
    assert best_correlation(ref, got, max_lag=2000) > 0.9
    bad = admin.http.get(f"/api/v1/recordings/{rec_id}/audio?format=ogg")
    assert bad.status_code == 400


def test_reupload_is_not_duplicated(appliance, unique):
    audio = wav_bytes(tone_pcm(1.0), 8000)
    first = appliance.upload(audio, call_id=f"call-{unique}", caller=unique)
    again = appliance.upload(audio, call_id=f"call-{unique}", caller=unique)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    total = appliance.api.data(
        'query($c: String!) { recordings(filter: {caller: $c}) { total } }', {"c": unique}
    )["recordings"]["total"]
    assert total == 1


def test_the_same_call_id_from_another_device_is_another_recording(appliance, unique):
    from tests.support.server import create_device

    other = create_device(appliance.admin)
    audio = wav_bytes(tone_pcm(1.0), 8000)
    a = appliance.upload(audio, call_id=f"shared-{unique}", caller=unique)
    b = appliance.upload(audio, call_id=f"shared-{unique}", caller=unique, device=other)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_sn_follows_the_manual_and_is_unique(appliance, unique):
    audio = wav_bytes(tone_pcm(1.0), 8000)
    when = "2021-01-13T15:01:02+00:00"
    callee = unique[:4]
    first = appliance.upload(audio, caller=unique, callee=callee, started_at=when).json()
    second = appliance.upload(audio, caller=unique, callee=callee, started_at=when).json()
    assert first["sn"].startswith(appliance.server.local(when, "%Y%m%d_%H%M%S_") + callee)
    assert second["sn"] != first["sn"]
    assert second["sn"].startswith(first["sn"])
