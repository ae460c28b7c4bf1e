"""The audio, zip and Excel routes at their edges: Range, HEAD, formats, empty recordings,
selections; and what the settings and the transport change in them: hidden zero-length
records, storage in clear, the session cookie over HTTPS."""

from __future__ import annotations

import io
import re
import uuid
import wave
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import miniaudio
import numpy as np
import openpyxl
import pytest

from tests.conftest import Appliance
from tests.support.audio import best_correlation, pcm_of_wav, tone_pcm, wav_bytes
from tests.support.server import ADMIN_PASSWORD, ApplianceServer, create_device, prepare_admin

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RATE = 8000
# LAME's encoder delay plus the decoder's, in samples: where the audio starts in a decoded
# MP3 of the appliance's (measured; appliance/media/mp3.py says the same).
MP3_DELAY = 1105
SAMPLES_PER_FRAME = 576  # MPEG-2 and 2.5 layer III
_MP3_RATES = {0: (11025, 12000, 8000), 2: (22050, 24000, 16000), 3: (44100, 48000, 32000)}
_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
SETTINGS = """mutation($i: SettingsInput!) { updateSettings(input: $i) {
  __typename ... on Settings { fileFormat encryption showZeroDuration } ... on UserError { message } } }"""
DETAIL = "query($id: ID!) { recording(id: $id) { id sn duration playCount } }"
LOGIN = 'mutation($p: String!) { login(login: "admin", password: $p) { __typename } }'


# --- what the bytes are ------------------------------------------------------------------


def _mp3_frames(data: bytes) -> list[tuple[int, int, int]]:
    """(sample rate, kbit/s, channels) of every frame; the data must be whole frames only."""
    frames, pos = [], 0
    while pos < len(data):
        head = data[pos : pos + 4]
        assert len(head) == 4 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0, f"no frame sync at byte {pos}"
        version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
        assert version != 1 and layer == 1, f"not MPEG audio layer III at byte {pos}"
        rate = _MP3_RATES[version][(head[2] >> 2) & 3]
        kbps = (_KBPS_V1 if version == 3 else _KBPS_V2)[head[2] >> 4]
        frames.append((rate, kbps, 1 if head[3] >> 6 == 3 else 2))
        pos += (144_000 if version == 3 else 72_000) * kbps // rate + ((head[2] >> 1) & 1)
    assert pos == len(data), "the last frame is cut short"
    return frames


def _check_mp3(data: bytes, seconds: float) -> None:
    """Mono 8 kHz at 32 kbit/s, as many frames as the duration needs, and the 440 Hz tone."""
    frames = _mp3_frames(data)
    assert set(frames) == {(RATE, 32, 1)}
    wanted = int(seconds * RATE)
    assert wanted + MP3_DELAY <= len(frames) * SAMPLES_PER_FRAME < wanted + MP3_DELAY + SAMPLES_PER_FRAME
    decoded = miniaudio.mp3_read_s16(data)
    assert (decoded.sample_rate, decoded.nchannels) == (RATE, 1)
    assert decoded.num_frames == len(frames) * SAMPLES_PER_FRAME
    got = np.frombuffer(decoded.samples.tobytes(), dtype="<i2").astype(np.float64)
    if wanted:
        ref = np.frombuffer(tone_pcm(seconds), dtype="<i2").astype(np.float64)
        # At lag 0: a pure tone matches itself a period later, so any slack would hide a shift.
        assert best_correlation(ref, got[MP3_DELAY:], max_lag=0) > 0.99
    else:
        assert np.abs(got).max() < 50  # nothing but LAME's padding: silence


def _check_wav(data: bytes, seconds: float) -> None:
    """A canonical PCM16 mono 8 kHz WAV holding exactly the duration, and the tone."""
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getcomptype(), w.getnchannels(), w.getsampwidth(), w.getframerate()) == ("NONE", 1, 2, RATE)
        assert w.getnframes() == int(seconds * RATE)
    assert len(data) == 44 + 2 * int(seconds * RATE)
    if seconds:
        got, _ = pcm_of_wav(data)
        ref = np.frombuffer(tone_pcm(seconds), dtype="<i2").astype(np.float64)
        assert best_correlation(ref, got, max_lag=0) > 0.99  # sample-aligned, no codec delay


def _entries(r: httpx.Response) -> list[tuple[str, bytes, int]]:
    """(name, content, compression) of each zip entry, in order."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None
        return [(i.filename, zf.read(i), i.compress_type) for i in zf.infolist()]


def _rows(r: httpx.Response) -> list[tuple]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    return list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))


def _refused(r: httpx.Response, message: str, field: str | None) -> None:
    assert r.status_code == 400, r.content[:300]
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    # The refusal's rule and its params ride beside the message and the field, for a
    # console to say it in its language; nothing else is in the body.
    assert {k: body.pop(k) for k in ("error", "field")} == {"error": message, "field": field}
    assert set(body) == {"rule", "params"} and isinstance(body["rule"], str), body


def _local_stamp(started: str, zone) -> str:
    return datetime.fromisoformat(started).astimezone(zone).strftime("%Y%m%d%H%M%S")


def _settings(box: Appliance, **changes) -> dict:
    result = box.admin.data(SETTINGS, {"i": changes})["updateSettings"]
    assert result["__typename"] == "Settings", result
    return result


def _stored(box: Appliance) -> set[Path]:
    return {p for p in (box.server.data_dir / "recordings").rglob("*") if p.is_file()}


# --- Range, HEAD and formats on the audio route ------------------------------------------


@pytest.fixture(scope="module")
def tone(appliance) -> dict:
    """A 3 s tone stored as MP3, with its bytes and its WAV conversion, for read-only checks."""
    r = appliance.upload(wav_bytes(tone_pcm(3.0), RATE), caller=str(uuid.uuid4().int % 10**8))
    assert r.status_code == 201, r.text
    url = f"/api/v1/recordings/{r.json()['id']}/audio"
    full = appliance.api.http.get(url)
    wav = appliance.api.http.get(url + "?format=wav")
    assert full.status_code == wav.status_code == 200
    return {"api": appliance.api, "id": r.json()["id"], "sn": r.json()["sn"], "url": url,
            "mp3": full.content, "wav": wav.content}


def _plays(api, rec_id: str) -> int:
    return api.data(DETAIL, {"id": rec_id})["recording"]["playCount"]


def test_the_stored_mp3_and_its_wav_conversion_are_the_tone(tone):
    _check_mp3(tone["mp3"], 3.0)
    _check_wav(tone["wav"], 3.0)


def test_a_suffix_longer_than_the_file_is_the_whole_file(tone):
    full = tone["mp3"]
    size = len(full)
    for length in (size, size + 1, 10 * size, 10**17):
        r = tone["api"].http.get(tone["url"], headers={"Range": f"bytes=-{length}"})
        assert r.status_code == 206, length
        assert r.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
        assert r.headers["content-length"] == str(size)
        assert r.content == full


def test_several_ranges_are_answered_with_the_first_alone(tone):
    full = tone["mp3"]
    size = len(full)
    for header, start, end in (("bytes=0-1,5-9", 0, 1), ("bytes=5-9, 0-1", 5, 9), ("bytes=-3,0-1", size - 3, size - 1)):
        r = tone["api"].http.get(tone["url"], headers={"Range": header})
        assert r.status_code == 206, header
        # One part, not multipart/byteranges: the client asked for a range it can use as is.
        assert r.headers["content-type"] == "audio/mpeg"
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)
        assert r.content == full[start : end + 1]


@pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=", "bytes=-", "bytes=1-2-3", "bytes 0-1", "items=0-5", "=0-1"]
)
def test_a_malformed_range_or_another_unit_is_ignored(tone, header):
    r = tone["api"].http.get(tone["url"], headers={"Range": header})
    assert r.status_code == 200
    assert "content-range" not in r.headers
    assert r.headers["content-length"] == str(len(tone["mp3"]))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.content == tone["mp3"]


def test_a_backwards_or_unsatisfiable_range_is_416_and_no_play(appliance, unique):
    r = appliance.upload(wav_bytes(tone_pcm(1.0), RATE), caller=unique)
    assert r.status_code == 201, r.text
    url = f"/api/v1/recordings/{r.json()['id']}/audio"
    size = int(appliance.api.http.head(url).headers["content-length"])
    for header in ("bytes=9-1", f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0", f"bytes={size}-{size}"):
        r416 = appliance.api.http.get(url, headers={"Range": header})
        assert r416.status_code == 416, header
        assert r416.headers["content-range"] == f"bytes */{size}"
        assert r416.content == b""
    assert _plays(appliance.api, r.json()["id"]) == 0
    assert len(appliance.api.http.get(url, headers={"Range": "bytes=0-"}).content) == size


def test_a_range_position_of_more_than_18_digits_is_refused_clearly(tone):
    for header in ("bytes=0-1234567890123456789", "bytes=1234567890123456789-", "bytes=-1234567890123456789"):
        r = tone["api"].http.get(tone["url"], headers={"Range": header})
        _refused(r, "Range: a byte position has more than 18 digits", "Range")


def test_a_range_of_a_conversion_reads_the_converted_bytes(tone):
    api, wav = tone["api"], tone["wav"]
    size = len(wav)
    url = tone["url"] + "?format=wav"
    for start, end in ((0, 43), (44, 1043), (30_000, 40_000), (size - 100, size - 1), (size - 1, size + 500)):
        r = api.http.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert r.status_code == 206
        assert r.headers["content-type"] == "audio/wav"
        assert r.headers["content-disposition"] == f'inline; filename="{tone["sn"]}.wav"'
        assert r.headers["content-range"] == f"bytes {start}-{min(end, size - 1)}/{size}"
        assert r.content == wav[start : end + 1]
    whole = api.http.get(url, headers={"Range": f"bytes=-{size + 1}"})
    assert (whole.status_code, whole.headers["content-range"], whole.content) == (206, f"bytes 0-{size - 1}/{size}", wav)
    # Past the end of the conversion (longer than the stored MP3): its own size is the limit.
    assert size > len(tone["mp3"])
    past = api.http.get(url, headers={"Range": f"bytes={size}-"})
    assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{size}")
    inside = api.http.get(url, headers={"Range": f"bytes={len(tone['mp3'])}-"})
    assert inside.status_code == 206 and inside.content == wav[len(tone["mp3"]) :]
    # Asking for the stored format is the stored file, byte for byte.
    same = api.http.get(tone["url"] + "?format=MP3", headers={"Range": "bytes=100-199"})
    assert same.status_code == 206 and same.content == tone["mp3"][100:200]


def test_head_gives_the_headers_of_get_without_a_body_or_a_play(appliance, unique):
    api = appliance.api
    r = appliance.upload(wav_bytes(tone_pcm(1.0), RATE), caller=unique)
    assert r.status_code == 201, r.text
    rec_id = r.json()["id"]
    url = f"/api/v1/recordings/{rec_id}/audio"
    heads = {}
    for query in ("", "?format=wav", "?format=mp3"):
        head = heads[query] = api.http.head(url + query)
        assert head.status_code == 200
        assert head.content == b""
        # A satisfiable Range on HEAD is not applied: a player probes the size of the whole.
        ranged = api.http.head(url + query, headers={"Range": "bytes=0-1"})
        assert ranged.status_code == 200 and "content-range" not in ranged.headers
        assert ranged.headers["content-length"] == head.headers["content-length"]
    assert _plays(api, rec_id) == 0
    for query, head in heads.items():
        get = api.http.get(url + query)
        assert head.headers["content-length"] == str(len(get.content)), query
        for name in ("content-type", "content-disposition", "accept-ranges", "cache-control"):
            assert head.headers[name] == get.headers[name], (query, name)
    assert heads["?format=wav"].headers["content-type"] == "audio/wav"
    assert heads["?format=wav"].headers["content-length"] == str(44 + 2 * RATE)
    assert _plays(api, rec_id) == 1


def test_head_ignores_an_unsatisfiable_range_too(tone):
    """RFC 9110, 14.2: Range is ignored on any method but GET."""
    r = tone["api"].http.head(tone["url"], headers={"Range": f"bytes={len(tone['mp3'])}-"})
    assert r.status_code == 200
    assert r.headers["content-length"] == str(len(tone["mp3"]))


def test_a_recording_of_no_samples_is_stored_and_served(appliance, unique):
    empty = appliance.upload(b"", caller=unique)
    assert empty.status_code == 400
    assert empty.json()["error"] == "the audio is empty"
    total = 'query($c: String!) { recordings(filter: {caller: $c, minDuration: 0}) { total } }'
    assert appliance.api.data(total, {"c": unique})["recordings"]["total"] == 0

    r = appliance.upload(wav_bytes(b"", RATE), caller=unique)
    assert r.status_code == 201, r.text
    rec_id = r.json()["id"]
    assert appliance.api.data(DETAIL, {"id": rec_id})["recording"]["duration"] == 0
    url = f"/api/v1/recordings/{rec_id}/audio"
    mp3 = appliance.api.http.get(url)
    assert (mp3.status_code, mp3.headers["content-type"]) == (200, "audio/mpeg")
    _check_mp3(mp3.content, 0)
    wav = appliance.api.http.get(url + "?format=wav")
    assert (wav.status_code, wav.headers["content-type"]) == (200, "audio/wav")
    _check_wav(wav.content, 0)  # a header of 0 frames, nothing else
    assert appliance.api.http.head(url + "?format=wav").headers["content-length"] == "44"
    tail = appliance.api.http.get(url + "?format=wav", headers={"Range": "bytes=-100"})
    assert (tail.status_code, tail.headers["content-range"], tail.content) == (206, "bytes 0-43/44", wav.content)
    past = appliance.api.http.get(url + "?format=wav", headers={"Range": "bytes=44-"})
    assert (past.status_code, past.headers["content-range"]) == (416, "bytes */44")
    (entry,) = _entries(appliance.api.http.get("/api/v1/recordings/archive.zip", params={"ids": rec_id, "format": "wav"}))
    assert entry[0].endswith(".wav") and entry[1] == wav.content
    rows = _rows(appliance.api.http.get("/api/v1/recordings/export.xlsx", params={"ids": rec_id}))
    assert rows[1][6] == "00:00:00" and rows[1][10] == r.json()["sn"]


# --- zip and Excel options ---------------------------------------------------------------


def test_the_zip_format_sets_the_audio_inside(appliance, unique):
    zone = appliance.server.zone
    made = []
    for seconds, callee, started in ((1.0, "501", "2022-06-01T01:02:03+00:00"), (2.0, "502", "2022-06-02T01:02:03+00:00")):
        r = appliance.upload(wav_bytes(tone_pcm(seconds), RATE), caller=unique, callee=callee, started_at=started)
        assert r.status_code == 201, r.text
        made.append((r.json()["id"], seconds, f"{unique}-{callee}-{_local_stamp(started, zone)}"))
    ids = ",".join(rec_id for rec_id, _, _ in made)
    api = appliance.api.http
    archive = "/api/v1/recordings/archive.zip"

    default = api.get(archive, params={"ids": ids})
    assert re.fullmatch(r'attachment; filename="recordings_2_\d{14}\.zip"', default.headers["content-disposition"])
    got = _entries(default)
    assert [name for name, _, _ in got] == [f"{stem}.mp3" for _, _, stem in made]
    for (rec_id, seconds, _), (_, content, compression) in zip(made, got, strict=True):
        assert compression == zipfile.ZIP_STORED  # MP3 does not shrink
        assert content == api.get(f"/api/v1/recordings/{rec_id}/audio").content
        _check_mp3(content, seconds)
    for same in ("mp3", "MP3", ""):
        assert _entries(api.get(archive, params={"ids": ids, "format": same})) == got

    for asked in ("wav", "WAV"):
        wav = _entries(api.get(archive, params={"ids": ids, "format": asked}))
        assert [name for name, _, _ in wav] == [f"{stem}.wav" for _, _, stem in made]
        for (rec_id, seconds, _), (_, content, compression) in zip(made, wav, strict=True):
            assert compression == zipfile.ZIP_DEFLATED
            assert content == api.get(f"/api/v1/recordings/{rec_id}/audio?format=wav").content
            _check_wav(content, seconds)

    for bad in ("ogg", "wave", "mp3,wav"):
        _refused(api.get(archive, params={"ids": ids, "format": bad}), "format must be mp3 or wav", "format")
        _refused(api.get(f"/api/v1/recordings/{made[0][0]}/audio", params={"format": bad}), "format must be mp3 or wav", "format")


@pytest.fixture(scope="module")
def picks(appliance) -> dict:
    """Four recordings that differ in every condition the selection parameters name."""
    p = str(uuid.uuid4().int % 10**6).zfill(6)
    other = create_device(appliance.admin)
    specs = {
        # caller, callee, started, seconds, device, kind
        "a": (f"{p}01", "601", "2023-04-01T08:00:00+00:00", 1, None, "call"),
        "b": (f"{p}01", "602", "2023-04-02T08:00:00+00:00", 3, other, "call"),
        "c": (f"{p}02", "601", "2023-04-03T08:00:00+00:00", 2, None, "voicemail"),
        "d": (f"{p}02", "602", "2023-04-04T08:00:00+00:00", 2, None, "call"),
    }
    recs = {}
    for key, (caller, callee, started, seconds, device, kind) in specs.items():
        r = appliance.upload(
            wav_bytes(tone_pcm(seconds), RATE), caller=caller, callee=callee, started_at=started, kind=kind, device=device
        )
        assert r.status_code == 201, r.text
        stamp = _local_stamp(started, appliance.server.zone)
        recs[key] = {**r.json(), "name": f"{caller}-{callee}-{stamp}.mp3"}
    api = appliance.api
    api.data('mutation($id: ID!) { scoreRecording(id: $id, score: 7) { __typename } }', {"id": recs["d"]["id"]})
    api.data(
        'mutation($id: ID!, $n: String!) { tagRecording(id: $id, name: $n, offset: 0.5) { __typename } }',
        {"id": recs["b"]["id"], "n": f"pick{p}"},
    )
    values = {"p": p, "other": other["alias"], "tag": f"pick{p}"}
    values |= {k: v["id"] for k, v in recs.items()} | {f"sn_{k}": v["sn"] for k, v in recs.items()}
    return {"api": api, "recs": recs, "values": values}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"caller": "{p}*"}, "dba", id="prefix-newest-first-calls-only"),
        pytest.param({"caller": "{p}*", "kind": "voicemail"}, "c", id="kind"),
        pytest.param({"caller": "{p}*", "kind": "CALL"}, "dba", id="kind-any-case"),
        pytest.param({"caller": "{p}01"}, "ba", id="caller"),
        pytest.param({"caller": "{p}*", "callee": "602"}, "db", id="callee"),
        pytest.param({"caller": "{p}*", "minDuration": "2"}, "db", id="minDuration"),
        pytest.param({"caller": "{p}*", "maxDuration": "1"}, "a", id="maxDuration"),
        pytest.param({"caller": "{p}*", "minDuration": "2", "maxDuration": "2"}, "d", id="duration-range"),
        pytest.param(
            {"caller": "{p}*", "startedFrom": "2023-04-02T00:00:00Z", "startedTo": "2023-04-03T23:59:59+00:00"},
            "b", id="time-range",
        ),
        pytest.param({"caller": "{p}*", "device": "{other}"}, "b", id="device"),
        pytest.param({"caller": "{p}*", "score": "7"}, "d", id="score"),
        pytest.param({"caller": "{p}*", "tag": "{tag}"}, "b", id="tag"),
        pytest.param({"sn": "{sn_a}"}, "a", id="sn"),
        pytest.param({"ids": "{a},{c},{b}"}, "acb", id="ids-in-the-order-asked-any-kind"),
        pytest.param({"ids": "{b}, {b},{a}"}, "ba", id="ids-once-each"),
        pytest.param({"ids": "{a},999999999"}, "a", id="ids-unknown-left-out"),
        pytest.param({"ids": "{a}", "caller": "{p}02", "kind": "voicemail"}, "a", id="ids-over-filters"),
        pytest.param({"ids": "", "caller": "{p}02"}, "d", id="empty-ids-is-the-filter"),
    ],
)
def test_zip_and_xlsx_select_the_same_recordings(picks, params, expected):
    params = {k: v.format(**picks["values"]) for k, v in params.items()}
    recs, http = picks["recs"], picks["api"].http
    names = [name for name, _, _ in _entries(http.get("/api/v1/recordings/archive.zip", params=params))]
    assert names == [recs[k]["name"] for k in expected]
    rows = _rows(http.get("/api/v1/recordings/export.xlsx", params=params))
    assert [row[10] for row in rows[1:]] == [recs[k]["sn"] for k in expected]


def test_nothing_selected_is_404_for_a_zip_and_an_empty_sheet(picks):
    params = {"caller": "{p}*", "minDuration": "60"}
    params = {k: v.format(**picks["values"]) for k, v in params.items()}
    http = picks["api"].http
    r = http.get("/api/v1/recordings/archive.zip", params=params)
    assert (r.status_code, r.json()) == (404, {"error": "no recordings match"})
    assert len(_rows(http.get("/api/v1/recordings/export.xlsx", params=params))) == 1  # the header


def test_the_sheet_row_and_its_language(picks, appliance):
    b = picks["recs"]["b"]
    http = picks["api"].http
    rows = _rows(http.get("/api/v1/recordings/export.xlsx", params={"ids": b["id"], "lang": "zh-TW"}))
    assert rows[0] == ("設備", "主叫", "主叫歸屬", "被叫", "被叫歸屬", "時間", "時長", "評分", "標籤", "播放次數", "錄音SN")
    when = datetime.fromisoformat("2023-04-02T08:00:00+00:00").astimezone(appliance.server.zone)
    device, caller, _, callee, _, at, duration, score, tags, plays, sn = rows[1]
    assert (device, caller, callee) == ("192.0.2.10", f"{picks['values']['p']}01", "602")
    # The time is a date-time cell in the appliance's zone (Excel has no zones), shown as the console orders it.
    assert (at, duration, score, tags, plays, sn) == (
        datetime.combine(when.date(), when.time()), "00:00:03", None, picks["values"]["tag"], 0, b["sn"]
    )
    time_cell = openpyxl.load_workbook(io.BytesIO(http.get("/api/v1/recordings/export.xlsx", params={"ids": b["id"]}).content)).active["F2"]
    assert (time_cell.is_date, time_cell.number_format) == (True, "yyyy/mm/dd hh:mm:ss")
    english = ("Device", "Caller", "Caller dept.", "Callee", "Callee dept.", "Start time", "Duration", "Score", "Tags", "Plays", "SN")
    assert _rows(http.get("/api/v1/recordings/export.xlsx", params={"ids": b["id"], "lang": "en"}))[0] == english
    for unknown in ("fr", "EN", ""):
        header = _rows(http.get("/api/v1/recordings/export.xlsx", params={"ids": b["id"], "lang": unknown}))[0]
        assert header[:2] == ("设备", "主叫"), unknown


@pytest.mark.parametrize(
    ("params", "message", "field"),
    [
        ({"ids": "1,abc"}, "ids must be a comma-separated list of recording ids", "ids"),
        ({"ids": "-1"}, "ids must be a comma-separated list of recording ids", "ids"),
        ({"ids": "1234567890123456789"}, "ids must be a comma-separated list of recording ids", "ids"),
        ({"minDuration": "two"}, "minDuration must be an integer", "minDuration"),
        ({"maxDuration": "1.5"}, "maxDuration must be an integer", "maxDuration"),
        ({"minDuration": "-1"}, "minDuration must not be negative", "minDuration"),
        ({"minDuration": "5", "maxDuration": "1"}, "minDuration is above maxDuration", "minDuration"),
        ({"score": "abc"}, "score must be an integer", "score"),
        ({"score": "101"}, "score must be between 0 and 100", "score"),
        ({"startedFrom": "yesterday"}, "startedFrom must be an ISO 8601 time", "startedFrom"),
        ({"startedTo": "2024-13-01"}, "startedTo must be an ISO 8601 time", "startedTo"),
        (
            {"startedFrom": "2024-01-02T00:00:00Z", "startedTo": "2024-01-01T00:00:00Z"},
            "startedFrom is after startedTo", "startedFrom",
        ),
        ({"kind": "fax"}, "kind must be call or voicemail", "kind"),
        ({"caller": "1" * 129}, "caller: at most 128 characters", "caller"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_bad_selection_values_are_refused_by_zip_and_xlsx(picks, params, message, field):
    http = picks["api"].http
    # Narrowed to this module's recordings: a build that let a bad value through would
    # otherwise zip every recording of the shared appliance.
    params = {"caller": f"{picks['values']['p']}*", **params}
    for route in ("archive.zip", "export.xlsx"):
        _refused(http.get(f"/api/v1/recordings/{route}", params=params), message, field)


def test_a_zip_takes_at_most_5000_recordings_a_sheet_more(picks):
    a = picks["values"]["a"]
    many = ",".join([a, *(str(10**6 + i) for i in range(5000))])
    http = picks["api"].http
    _refused(http.get("/api/v1/recordings/archive.zip", params={"ids": many}), "at most 5000 recordings at once", "ids")
    rows = _rows(http.get("/api/v1/recordings/export.xlsx", params={"ids": many}))
    assert [row[10] for row in rows[1:]] == [picks["recs"]["a"]["sn"]]
    # 5000 is still one zip.
    (entry,) = _entries(http.get("/api/v1/recordings/archive.zip", params={"ids": ",".join(many.split(",")[:5000])}))
    assert entry[0] == picks["recs"]["a"]["name"]


def test_the_audit_export_filters_by_account_type_address_and_time(appliance, unique):
    device = create_device(appliance.admin)
    sns = []
    for callee in ("801", "802"):
        r = appliance.upload(wav_bytes(tone_pcm(1.0), RATE), device=device, caller=unique, callee=callee)
        assert r.status_code == 201, r.text
        sns.append(r.json()["sn"])
    entries = appliance.admin.data(
        "query($f: AuditFilter) { auditLog(filter: $f) { items { at account type details ip } } }",
        {"f": {"account": device["alias"]}},
    )["auditLog"]["items"]
    assert [e["type"] for e in entries] == ["UPLOAD", "UPLOAD"]  # newest first
    newer, older = entries
    assert datetime.fromisoformat(older["at"]) < datetime.fromisoformat(newer["at"])
    http = appliance.admin.http

    def exported(**params) -> list[tuple]:
        return _rows(http.get("/api/v1/audit/export.xlsx", params={"account": device["alias"], **params}))[1:]

    rows = exported()
    zone = appliance.server.zone

    def local(at: str) -> datetime:
        when = datetime.fromisoformat(at).astimezone(zone)
        return datetime.combine(when.date(), when.time()).replace(microsecond=0)

    # The default language is Chinese: the type and the entry as the console words them.
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (local(e["at"]), device["alias"], device["alias"], "录音入库", "127.0.0.1") for e in entries
    ]
    assert sns[1] in rows[0][4] and sns[0] in rows[1][4]
    assert all(r[4].startswith("录音 ") and "来源 HTTP 上传" in r[4] for r in rows), rows
    assert exported(type="UPLOAD", ip="127.0.0.1") == rows
    assert exported(type="LOGIN") == []
    assert exported(ip="198.51.100.7") == []
    # Both bounds are inclusive, to the instant.
    assert exported(atFrom=newer["at"]) == rows[:1]
    assert exported(atTo=older["at"]) == rows[1:]
    assert exported(atFrom=older["at"], atTo=newer["at"]) == rows
    assert exported(atFrom="2999-01-01T00:00:00Z") == []
    english = _rows(http.get("/api/v1/audit/export.xlsx", params={"account": device["alias"], "lang": "en"}))
    assert english[0] == ("Time", "Account", "Name", "Type", "Details", "Source IP")
    assert [r[:4] for r in english[1:]] == [(*r[:3], "Recording stored") for r in rows]
    assert [r[4].startswith(f"Stored recording {sn} (") and r[4].endswith(" via HTTP upload") for r, sn in zip(english[1:], sns[::-1])] == [True, True]
    for bad in ({"atFrom": "yesterday"}, {"atTo": "2024-02-30T00:00:00Z"}):
        r = http.get("/api/v1/audit/export.xlsx", params=bad)
        assert (r.status_code, r.json()) == (400, {"error": "atFrom and atTo must be ISO 8601 times"})


# --- the zero-length setting -------------------------------------------------------------


def test_hiding_zero_length_records_narrows_searches_not_named_recordings(fresh_server, unique):
    box = Appliance(fresh_server)
    http = box.api.http
    zero = box.upload(wav_bytes(b"", RATE), caller=unique, callee="700", started_at="2023-05-01T08:00:00+00:00").json()
    two = box.upload(wav_bytes(tone_pcm(2.0), RATE), caller=unique, callee="701", started_at="2023-05-02T08:00:00+00:00").json()
    names = {
        rec["id"]: f"{unique}-{callee}-{_local_stamp(started, fresh_server.zone)}.mp3"
        for rec, callee, started in ((zero, "700", "2023-05-01T08:00:00+00:00"), (two, "701", "2023-05-02T08:00:00+00:00"))
    }
    listed = 'query($c: String!) { recordings(filter: {caller: $c}) { total items { id } } }'

    def selected(**params) -> tuple[list[str], list[str]]:
        zipped = http.get("/api/v1/recordings/archive.zip", params=params)
        in_zip = [] if zipped.status_code == 404 else [name for name, _, _ in _entries(zipped)]
        sheet = [row[10] for row in _rows(http.get("/api/v1/recordings/export.xlsx", params=params))[1:]]
        return in_zip, sheet

    assert selected(caller=unique) == ([names[two["id"]], names[zero["id"]]], [two["sn"], zero["sn"]])
    assert _settings(box, showZeroDuration=False)["showZeroDuration"] is False
    try:
        assert selected(caller=unique) == ([names[two["id"]]], [two["sn"]])
        assert selected(caller=unique, callee="700", minDuration="0") == ([], [])
        assert box.api.data(listed, {"c": unique})["recordings"] == {"total": 1, "items": [{"id": two["id"]}]}
        # A recording named by its id is still there: the setting hides it from the list only.
        assert box.api.data(DETAIL, {"id": zero["id"]})["recording"]["duration"] == 0
        assert selected(ids=zero["id"]) == ([names[zero["id"]]], [zero["sn"]])
        (entry,) = _entries(http.get("/api/v1/recordings/archive.zip", params={"ids": zero["id"]}))
        assert entry[1] == http.get(f"/api/v1/recordings/{zero['id']}/audio").content
    finally:
        assert _settings(box, showZeroDuration=True)["showZeroDuration"] is True
    assert selected(caller=unique) == ([names[two["id"]], names[zero["id"]]], [two["sn"], zero["sn"]])


# --- storage in clear --------------------------------------------------------------------


def test_recordings_stored_in_clear_play_and_stay_playable_once_encryption_is_back(fresh_server, unique):
    box = Appliance(fresh_server)
    http = box.api.http
    assert _settings(box, encryption=False, fileFormat="WAV") == {
        "__typename": "Settings", "fileFormat": "WAV", "encryption": False, "showZeroDuration": True
    }
    sent = wav_bytes(tone_pcm(2.0), RATE)
    before = _stored(box)
    clear_wav = box.upload(sent, caller=unique).json()
    (wav_path,) = _stored(box) - before
    # A canonical PCM16 WAV is kept as it came, in clear.
    assert wav_path.suffix == ".wav" and wav_path.read_bytes() == sent
    wav_url = f"/api/v1/recordings/{clear_wav['id']}/audio"
    assert http.get(wav_url).content == sent
    assert http.get(wav_url, headers={"Range": "bytes=44-99"}).content == sent[44:100]
    mp3 = http.get(wav_url + "?format=mp3")
    assert mp3.headers["content-type"] == "audio/mpeg"
    _check_mp3(mp3.content, 2.0)
    size = len(mp3.content)
    for start, end in ((0, 287), (288, 1000), (size - 10, size - 1)):
        part = http.get(wav_url + "?format=mp3", headers={"Range": f"bytes={start}-{end}"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == mp3.content[start : end + 1]

    _settings(box, fileFormat="MP3")
    before = _stored(box)
    clear_mp3 = box.upload(wav_bytes(tone_pcm(1.0), RATE), caller=unique).json()
    (mp3_path,) = _stored(box) - before
    assert mp3_path.suffix == ".mp3"
    mp3_url = f"/api/v1/recordings/{clear_mp3['id']}/audio"
    assert http.get(mp3_url).content == mp3_path.read_bytes()
    _check_mp3(mp3_path.read_bytes(), 1.0)

    _settings(box, encryption=True)
    assert http.get(wav_url).content == sent
    assert http.get(mp3_url).content == mp3_path.read_bytes()
    assert http.get(mp3_url, headers={"Range": "bytes=-100"}).content == mp3_path.read_bytes()[-100:]
    zipped = _entries(http.get("/api/v1/recordings/archive.zip", params={"ids": f"{clear_wav['id']},{clear_mp3['id']}"}))
    assert [content for _, content, _ in zipped] == [sent, mp3_path.read_bytes()]
    before = _stored(box)
    sealed = box.upload(wav_bytes(tone_pcm(1.5), RATE), caller=unique).json()
    (sealed_path,) = _stored(box) - before
    assert sealed_path.name.endswith(".mp3.enc")
    on_disk = sealed_path.read_bytes()
    assert on_disk[:4] == b"RCE1"
    played = http.get(f"/api/v1/recordings/{sealed['id']}/audio").content
    _check_mp3(played, 1.5)
    assert not any(played[i : i + 32] in on_disk for i in range(0, len(played) - 32, 61))
    # The files written in clear are left as they were.
    assert wav_path.read_bytes() == sent and mp3_path.read_bytes()[:2] == b"\xff\xe3"


# --- the session cookie and TLS ----------------------------------------------------------


def _cookie(r: httpx.Response) -> tuple[str, set[str]]:
    """The session token and the lower-cased attributes of the Set-Cookie a sign-in sends."""
    assert r.status_code == 200 and r.json()["data"]["login"]["__typename"] == "LoginSuccess", r.text
    (header,) = r.headers.get_list("set-cookie")
    pair, *attributes = (part.strip() for part in header.split(";"))
    name, _, token = pair.partition("=")
    assert name == "recorder_session" and len(token) > 20
    return token, {a.lower() for a in attributes}


@pytest.fixture()
def https_server() -> Iterator[dict]:
    server = ApplianceServer(https=True).start()
    try:
        prepare_admin(server)
        yield {"http": server.url, "https": server.https_url, "verify": server.tls()}
    finally:
        server.stop()


def test_sign_in_over_https_sets_a_secure_cookie_and_plain_http_does_not(https_server):
    login = {"query": LOGIN, "variables": {"p": ADMIN_PASSWORD}}
    over_tls = httpx.post(https_server["https"] + "/graphql", json=login, verify=https_server["verify"])
    token, attributes = _cookie(over_tls)
    assert attributes == {"httponly", "samesite=strict", "secure", "path=/"}
    assert over_tls.headers["strict-transport-security"] == "max-age=31536000"
    me = httpx.post(
        https_server["https"] + "/graphql", json={"query": "{ me { login } }"},
        cookies={"recorder_session": token}, verify=https_server["verify"],
    )
    assert me.json()["data"]["me"] == {"login": "admin"}

    # The same server over plain HTTP: the scheme of the request decides, not the server's setup.
    _, attributes = _cookie(httpx.post(https_server["http"] + "/graphql", json=login))
    assert attributes == {"httponly", "samesite=strict", "path=/"}
    # A client cannot talk its way into a Secure cookie: proxy headers are not trusted.
    spoofed = httpx.post(
        https_server["http"] + "/graphql", json=login,
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "Forwarded": "proto=https"},
    )
    _, attributes = _cookie(spoofed)
    assert attributes == {"httponly", "samesite=strict", "path=/"}
    assert "strict-transport-security" not in spoofed.headers


def test_sign_in_on_an_http_only_server_is_not_secure_whatever_a_proxy_header_says(appliance):
    for headers in ({}, {"X-Forwarded-Proto": "https", "Forwarded": "proto=https"}):
        r = httpx.post(
            appliance.server.url + "/graphql", json={"query": LOGIN, "variables": {"p": ADMIN_PASSWORD}}, headers=headers
        )
        _, attributes = _cookie(r)
        assert attributes == {"httponly", "samesite=strict", "path=/"}, headers
