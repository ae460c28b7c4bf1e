"""SIPREC calls from sipp (Debian's sip-tester) to the recorder, judged by the audio that
comes out: its length, each party on its own channel, silence where losses and pauses
were, the exact samples where packets arrived out of order."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATABASES, on_database
from tests.support import sipp
from tests.support.rtp_send import SAMPLES, decode, encode, tone_pcm
from tests.support.server import ApplianceServer, Client, prepare_admin

pytestmark = pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed")

RATE = 8000
PACKET = 160
CALLER, CALLEE = "2001", "3002"
# The callee's stream comes first in the SDP: the metadata, not the order, says who speaks.
PARTIES = [sipp.Party("caller", CALLER, "2"), sipp.Party("callee", CALLEE, "1")]
LABELS = ["1", "2"]
CALLEE_TONE, CALLER_TONE = 1000, 400  # sent on the first and second stream


class Recorder:
    def __init__(self, server: ApplianceServer, admin: Client, api: Client, tmp: Path) -> None:
        self.server, self.admin, self.api, self.tmp = server, admin, api, tmp

    def settings(self, **values: object) -> None:
        result = self.admin.data(
            "mutation($i: SettingsInput!) { updateSettings(input: $i) { __typename ... on UserError { message } } }",
            {"i": values},
        )["updateSettings"]
        assert result["__typename"] == "Settings", result

    def total(self) -> int:
        return int(self.api.data("{ recordings { total } }")["recordings"]["total"])

    def call(self, *steps: str, transport: str = "udp", work: Path | None = None) -> int:
        """Run a one-call scenario (its files and sipp's traces in work); returns how many
        recordings there were before it."""
        before = self.total()
        work = work or self.tmp / uuid.uuid4().hex[:8]
        result = sipp.run(sipp.scenario(*steps), self.server.sip_port, work, transport=transport)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:] + _errors(work)
        return before

    def recording(self, before: int, timeout: float = 20) -> dict:
        """The call's recording, newest of all (the store runs just after the BYE)."""
        deadline = time.monotonic() + timeout
        while self.total() <= before:
            assert time.monotonic() < deadline, "no recording came"
            time.sleep(0.2)
        item = self.api.data(
            "{ recordings(pageSize: 1) { items { id sn caller callee duration device } } }"
        )["recordings"]["items"][0]
        item["wav"] = self.api.http.get(f"/api/v1/recordings/{item['id']}/audio?format=wav").content
        return item


def _errors(work: Path) -> str:
    return "".join(p.read_text(errors="replace")[-2000:] for p in work.glob("*_errors.log"))


def channels(wav_bytes: bytes) -> list[np.ndarray]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert w.getframerate() == RATE
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int32)
        return [samples[c :: w.getnchannels()] for c in range(w.getnchannels())]


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


def expected_leg(freq: float, packets: int, lost: list[int], codec: str = "PCMU") -> np.ndarray:
    """What the recorder must hold for a stream: every packet decoded, lost ones silent."""
    out = []
    for n in range(packets):
        if n in lost:
            out.append(np.zeros(SAMPLES, dtype=np.int32))
            continue
        decoded = decode(encode(tone_pcm(freq, SAMPLES, n * SAMPLES), codec), codec)
        out.append(np.frombuffer(decoded, dtype="<i2").astype(np.int32))
    return np.concatenate(out)


def offset_of(expected: np.ndarray, recorded: np.ndarray, max_lag: int = 800) -> int | None:
    """Where the expected samples sit, exactly, in the recorded channel."""
    for lag in range(max_lag):
        window = recorded[lag : lag + len(expected)]
        if len(window) == len(expected) and np.array_equal(window, expected):
            return lag
    return None


def sounding(channel: np.ndarray, start: float, end: float) -> bool:
    """Every 20 ms window between start and end (seconds) carries the tone."""
    span = channel[int(start * RATE) : int(end * RATE)].astype(np.float64)
    windows = span[: len(span) // PACKET * PACKET].reshape(-1, PACKET)
    return bool(np.all(np.sqrt((windows**2).mean(axis=1)) > 1000))


def assert_duration(wav: bytes, seconds: float) -> None:
    frames = len(channels(wav)[0])
    assert abs(frames - seconds * RATE) <= PACKET, f"{frames / RATE:.3f} s, sent {seconds} s"


@pytest.fixture(scope="module", params=DATABASES)
def recorder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    server = ApplianceServer(**on_database(request)).start()
    try:
        admin, token = prepare_admin(server)
        device = admin.data(
            'mutation { createDevice(input: {alias: "pbx-local", address: "127.0.0.1", '
            'secret: "pbx-secret", mode: PUSH}) { __typename } }'
        )["createDevice"]
        assert device["__typename"] == "Device"
        rec = Recorder(server, admin, Client(server.url, token=token), tmp_path_factory.mktemp("sipp"))
        rec.settings(fileFormat="WAV", channelMode="STEREO", rtpPortMin=31000, rtpPortMax=31999)
        yield rec
    finally:
        server.stop()


def two_stream_call(seconds: float, report: Path, extra: str = "") -> list[str]:
    return [
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, seconds, f"{CALLEE_TONE},{CALLER_TONE}", report, extra),
        sipp.pause(int(seconds * 1000) + 1200),
        *sipp.bye(2),
    ]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_two_streams_each_party_on_its_channel(recorder, transport, tmp_path):
    before = recorder.call(*two_stream_call(3, tmp_path / "rtp.json"), transport=transport)
    rec = recorder.recording(before)
    assert (rec["caller"], rec["callee"], rec["device"]) == (CALLER, CALLEE, "127.0.0.1")
    assert_duration(rec["wav"], 3)
    left, right = channels(rec["wav"])
    assert dominant_hz(left) == pytest.approx(CALLER_TONE, abs=5)
    assert dominant_hz(right) == pytest.approx(CALLEE_TONE, abs=5)
    # The caller's channel holds exactly what the caller sent, sample for sample.
    assert offset_of(expected_leg(CALLER_TONE, 150, []), left) is not None


def test_loss_and_reordering_keep_the_timeline_true(recorder, tmp_path):
    report_path = tmp_path / "rtp.json"
    before = recorder.call(*two_stream_call(3, report_path, "--loss 0.05 --reorder 0.1 --garbage 7 --seed 11"))
    report = json.loads(report_path.read_text())
    rec = recorder.recording(before)
    assert_duration(rec["wav"], 3)
    left, right = channels(rec["wav"])
    for recorded, stream in ((right, report["streams"][0]), (left, report["streams"][1])):
        assert stream["lost"], "the seed must lose some packets"
        assert stream["order"] != sorted(stream["order"]), "and reorder some"
        expected = expected_leg(stream["freq"], report["packets"], stream["lost"])
        assert offset_of(expected, recorded) is not None, "lost packets silent, reordered ones in place"


def test_one_mixed_stream_without_metadata(recorder, tmp_path):
    recorder.settings(channelMode="MONO")
    try:
        before = recorder.call(
            sipp.send("INVITE", 1, sipp.offer_body(["mixed"], None)),
            sipp.recv(100, optional=True),
            sipp.recv(200, ports=1),
            sipp.ack(),
            sipp.start_rtp(1, 2, "700", tmp_path / "rtp.json"),
            sipp.pause(3200),
            *sipp.bye(2),
        )
    finally:
        recorder.settings(channelMode="STEREO")
    rec = recorder.recording(before)
    # No metadata: From and To name the parties.
    assert (rec["caller"], rec["callee"]) == ("src", "srs")
    (mono,) = channels(rec["wav"])
    assert_duration(rec["wav"], 2)
    assert dominant_hz(mono) == pytest.approx(700, abs=5)


def test_metadata_in_a_reinvite_renames_the_parties(recorder, tmp_path):
    transferred = [sipp.Party("caller", CALLER, "2"), sipp.Party("callee", "4004", "1")]
    before = recorder.call(
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, 2, f"{CALLEE_TONE},{CALLER_TONE}", tmp_path / "rtp.json"),
        sipp.pause(800),
        sipp.send("INVITE", 2, sipp.offer_body(LABELS, transferred, version=2), to_tag=True),
        sipp.recv(200, ports=2),
        sipp.ack(2),
        sipp.pause(2400),
        *sipp.bye(3),
    )
    rec = recorder.recording(before)
    assert (rec["caller"], rec["callee"]) == (CALLER, "4004")
    assert_duration(rec["wav"], 2)


def test_metadata_in_an_update_renames_the_parties(recorder, tmp_path):
    transferred = [sipp.Party("caller", "5005", "2"), sipp.Party("callee", CALLEE, "1")]
    only_metadata = (
        f"--{sipp.BOUNDARY}\nContent-Type: application/rs-metadata+xml\n"
        f"Content-Disposition: recording-session\n\n{sipp.metadata(transferred, LABELS)}\n--{sipp.BOUNDARY}--"
    )
    before = recorder.call(
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, 1, f"{CALLEE_TONE},{CALLER_TONE}", tmp_path / "rtp.json"),
        sipp.pause(500),
        sipp.send("UPDATE", 2, only_metadata, to_tag=True),
        sipp.recv(200),
        sipp.pause(1800),
        *sipp.bye(3),
    )
    rec = recorder.recording(before)
    assert (rec["caller"], rec["callee"]) == ("5005", CALLEE)


def test_cancel_before_the_answer_records_nothing(recorder):
    before = recorder.call(
        sipp.invite_to_cancel(LABELS, PARTIES),
        # The recorder says 100 Trying at once and answers once the streams are ready:
        # the CANCEL comes in between.
        sipp.recv(100),
        sipp.cancel(),
        sipp.recv(200, method="CANCEL"),
        sipp.recv(487),
        sipp.ack_failed(),
    )
    # The call has ended once its spool folder is gone: a recording is stored before its folder
    # goes, so nothing can be stored after this.
    spool = recorder.server.data_dir / "spool"
    deadline = time.monotonic() + 20
    while any(spool.iterdir()) or recorder.api.data("{ activeCalls { id } }")["activeCalls"]:
        assert time.monotonic() < deadline, list(spool.iterdir())
        time.sleep(0.1)
    assert recorder.total() == before
    assert not (recorder.server.data_dir / "spool-damaged").exists()


def _employee(recorder: Recorder, extension: str) -> Client:
    """An employee of a department recording on the local PBX, signed in."""
    admin = recorder.admin
    device = next(d["id"] for d in admin.data("{ devices { id alias } }")["devices"] if d["alias"] == "pbx-local")
    orgs = admin.data("{ organizations { id prefix } }")["organizations"]
    org = next((o["id"] for o in orgs if o["prefix"] == "LIVE"), None)
    if org is None:
        org = admin.data(
            'mutation($d: ID) { createOrganization(input: {name: "Live desk", prefix: "LIVE", deviceId: $d}) '
            "{ ... on Organization { id } } }",
            {"d": device},
        )["createOrganization"]["id"]
    made = admin.data(
        "mutation($i: EmployeeInput!) { createEmployee(input: $i) { __typename ... on UserError { message } } }",
        {"i": {"extension": extension, "name": f"Agent {extension}", "organizationId": org, "password": "Agent-Pass-1"}},
    )["createEmployee"]
    assert made["__typename"] == "Employee", made
    client = Client(recorder.server.url)
    assert client.login(f"LIVE{extension}", "Agent-Pass-1")["__typename"] == "LoginSuccess"
    return client


def test_active_calls_show_the_call_while_it_runs(recorder, tmp_path):
    party, stranger = _employee(recorder, CALLER), _employee(recorder, "5555")
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["before"] = recorder.call(*two_stream_call(4, tmp_path / "rtp.json"))

    caller = threading.Thread(target=run)
    caller.start()
    try:
        seen: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            seen = recorder.api.data("{ activeCalls { id device caller callee startedAt seconds } }")["activeCalls"]
            time.sleep(0.2)
        assert len(seen) == 1, seen
        assert (seen[0]["caller"], seen[0]["callee"], seen[0]["device"]) == (CALLER, CALLEE, "127.0.0.1")
        # Within the asker's scope: the caller's own agent sees it, another agent does not.
        assert [c["id"] for c in party.data("{ activeCalls { id } }")["activeCalls"]] == [seen[0]["id"]]
        assert stranger.data("{ activeCalls { id } }")["activeCalls"] == []
        # Its length grows while it runs.
        while (later := recorder.api.data("{ activeCalls { seconds } }")["activeCalls"])[0]["seconds"] < 2:
            assert time.monotonic() < deadline + 10, later
            time.sleep(0.2)
    finally:
        caller.join(timeout=30)
    assert "before" in outcome
    recorder.recording(int(outcome["before"]))
    assert recorder.api.data("{ activeCalls { id } }")["activeCalls"] == []


def test_a_silent_call_is_ended_by_the_recorder_with_a_bye(recorder, tmp_path):
    """The SRC sends 1 s of audio, then nothing and no BYE: after the RTP timeout the
    recorder ends the call itself and keeps what came."""
    recorder.settings(rtpTimeoutSeconds=5)
    try:
        before = recorder.call(
            *sipp.invite_and_answer(LABELS, PARTIES),
            sipp.start_rtp(2, 1, f"{CALLEE_TONE},{CALLER_TONE}", tmp_path / "rtp.json"),
            sipp.recv_bye(),
        )
    finally:
        recorder.settings(rtpTimeoutSeconds=30)
    rec = recorder.recording(before)
    assert_duration(rec["wav"], 1)


def test_unknown_sources_are_refused_or_registered_per_setting(recorder, tmp_path):
    devices = recorder.admin.data("{ devices { id alias address } }")["devices"]
    local = next(d for d in devices if d["alias"] == "pbx-local")
    move = """mutation($id: ID!, $a: String!) { updateDevice(id: $id, input: {alias: "pbx-local",
        address: $a, secret: "", mode: PUSH}) { __typename ... on UserError { message } } }"""
    assert recorder.admin.data(move, {"id": local["id"], "a": "192.0.2.44"})["updateDevice"]["__typename"] == "Device"
    try:
        before = recorder.call(
            sipp.invite_to_cancel(LABELS, PARTIES), sipp.recv(100, optional=True), sipp.recv(403), sipp.ack_failed()
        )
        assert recorder.total() == before
        recorder.settings(unknownPushSource="AUTO_REGISTER")
        before = recorder.call(*two_stream_call(1, tmp_path / "rtp.json"))
        rec = recorder.recording(before)
        registered = recorder.admin.data("{ devices { alias address mode } }")["devices"]
        assert {"alias": "sip-127.0.0.1", "address": "127.0.0.1", "mode": "PUSH"} in registered
        assert rec["device"] == "127.0.0.1"
    finally:
        recorder.settings(unknownPushSource="REJECT")
        recorder.admin.data(move, {"id": local["id"], "a": "127.0.0.1"})
