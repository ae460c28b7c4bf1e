"""SIPREC paths the other call tests leave out, through the real server and real sipp:
A-law legs, DTMF (RFC 4733) inside a leg, each way an SRC pauses a stream, a SIGTERM
mid-call (the client gets the recorder's BYE), and the mono mix with a gain above 1.

Each is judged on the stored samples, exactly. The tones here are not whole periods per
packet (401.3 Hz and 1003.7 Hz repeat only after 500 packets), so every 20 ms packet of
a few seconds of audio is unlike every other and can be found in the recording by its
samples: where each packet went, and that everything else is silence, is checked whole.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_capture_durability import sent_since, stop_sender
from tests.integration.test_siprec_calls import (
    CALLEE,
    CALLER,
    LABELS,
    PARTIES,
    RATE,
    Recorder,
    channels,
)
from tests.support import sipp
from tests.support.processes import stop_process
from tests.support.rtp_send import SAMPLES, decode, encode, tone_pcm
from tests.support.server import ApplianceServer, Client, prepare_admin

pytestmark = pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed")

# Sent on the first and the second stream; the metadata makes the second one the caller's.
CALLEE_TONE, CALLER_TONE = 1003.7, 401.3
TONES = f"{CALLEE_TONE},{CALLER_TONE}"
MS = RATE // 1000  # samples per millisecond: the resolution of an arrival time
# The legs of a call start together, but each is placed where its first packet arrived:
# one is the call's zero, the other a few ms on (more on a busy machine).
LEAD = 40 * MS


# --- the recorders ---------------------------------------------------------------------


def _recorder(tmp: Path, **settings: object) -> Iterator[Recorder]:
    server = ApplianceServer().start()
    try:
        admin, token = prepare_admin(server)
        device = admin.data(
            'mutation { createDevice(input: {alias: "pbx-paths", address: "127.0.0.1", '
            'secret: "pbx-secret", mode: PUSH}) { __typename } }'
        )["createDevice"]
        assert device["__typename"] == "Device"
        rec = Recorder(server, admin, Client(server.url, token=token), tmp)
        rec.settings(fileFormat="WAV", **settings)
        yield rec
    finally:
        server.stop()


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    """Stereo, one party per channel: the settings are never changed here."""
    yield from _recorder(
        tmp_path_factory.mktemp("paths"), channelMode="STEREO", rtpPortMin=34000, rtpPortMax=34999
    )


@contextmanager
def private_recorder(tmp: Path, **settings: object) -> Iterator[Recorder]:
    """A recorder of its own, for a global setting (the mix) or a stop of the process."""
    yield from _recorder(tmp, rtpPortMin=35000, rtpPortMax=35999, **settings)


# --- what was sent, and where it is in the recording ------------------------------------


def sent_packets(freq: float, count: int, codec: str = "PCMU") -> list[np.ndarray]:
    """Each packet's samples as the recorder decodes them."""
    return [
        np.frombuffer(
            decode(encode(tone_pcm(freq, SAMPLES, n * SAMPLES), codec), codec), dtype="<i2"
        ).astype(np.int32)
        for n in range(count)
    ]


def locate(channel: np.ndarray, packets: list[np.ndarray]) -> list[tuple[int, int]]:
    """(sample offset, packet number) of every sent packet found whole in the channel, in
    order; asserts that every other sample of the channel is silence."""
    index = {p.astype("<i2").tobytes(): n for n, p in enumerate(packets)}
    assert len(index) == len(packets), "the tone must make every packet unlike the others"
    data = channel.astype("<i2")
    found, covered, pos = [], np.zeros(len(channel), dtype=bool), 0
    while pos + SAMPLES <= len(data):
        n = index.get(data[pos : pos + SAMPLES].tobytes())
        if n is None:
            pos += 1
            continue
        found.append((pos, n))
        covered[pos : pos + SAMPLES] = True
        pos += SAMPLES
    stray = np.flatnonzero(~covered & (channel != 0))
    assert stray.size == 0, f"samples that are neither a sent packet nor silence, from {stray[:5]}"
    return found


def runs(found: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The located packets as runs that follow each other without a gap:
    (offset of the first, first packet, last packet)."""
    out: list[tuple[int, int, int]] = []
    for pos, n in found:
        if out and n == out[-1][2] + 1 and pos == out[-1][0] + (n - out[-1][1]) * SAMPLES:
            out[-1] = (out[-1][0], out[-1][1], n)
        else:
            out.append((pos, n, n))
    return out


def expected(
    packets: list[np.ndarray], silent: set[int] | frozenset[int] = frozenset()
) -> np.ndarray:
    return np.concatenate(
        [np.zeros(SAMPLES, dtype=np.int32) if n in silent else p for n, p in enumerate(packets)]
    )


def placed(samples: np.ndarray, at: int, length: int) -> np.ndarray:
    out = np.zeros(length, dtype=np.int32)
    out[at : at + len(samples)] = samples[: max(0, length - at)]
    return out


def exact_at(channel: np.ndarray, samples: np.ndarray, max_lag: int = 800) -> int:
    """The lag at which the channel is the samples with silence around them, whole. The
    silence after them is the other leg's lead at most (a call is as long as its longest
    leg, and the legs start a few ms apart)."""
    for lag in range(max_lag):
        end = lag + len(samples)
        if (
            0 <= len(channel) - end <= LEAD
            and np.array_equal(channel[lag:end], samples)
            and not channel[:lag].any()
            and not channel[end:].any()
        ):
            return lag
    raise AssertionError(
        f"the channel ({len(channel)} samples) is not the {len(samples)} expected ones"
    )


# --- sipp's own record of the dialog ---------------------------------------------------


def messages(work: Path) -> list[tuple[str, str]]:
    """sipp's message trace: ('sent' | 'received', the message), in order."""
    (log,) = work.glob("*_messages.log")
    out = []
    for block in log.read_text(errors="replace").split(
        "-----------------------------------------------"
    )[1:]:
        _, _, rest = block.partition("\n")
        how, _, text = rest.partition("\n")
        out.append(("received" if "received" in how else "sent", text.strip()))
    return out


def header(message: str, name: str) -> str:
    for line in message.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    raise AssertionError(f"no {name} in {message[:200]!r}")


def tag(value: str) -> str:
    return value.partition(";tag=")[2].split(";")[0]


def answers(work: Path) -> list[str]:
    """The recorder's 200 OKs to INVITEs, in order."""
    return [
        text
        for how, text in messages(work)
        if how == "received"
        and text.startswith("SIP/2.0 200")
        and header(text, "CSeq").endswith("INVITE")
    ]


# --- 1. A-law --------------------------------------------------------------------------


def test_alaw_legs_are_stored_as_their_alaw_decode(recorder, tmp_path):
    work = tmp_path / "sipp"
    report_path = tmp_path / "rtp.json"
    before = recorder.call(
        *sipp.invite_and_answer(LABELS, PARTIES, payload_types=(8, 101)),
        sipp.start_rtp(2, 2, TONES, report_path, "--codec PCMA"),
        sipp.pause(3200),
        *sipp.bye(2),
        work=work,
    )
    # The answer takes what was offered: A-law and the events, never a codec not offered.
    (answer,) = answers(work)
    assert answer.count("m=audio") == 2 and answer.count("RTP/AVP 8 101\n") == 2, answer
    assert "a=rtpmap:8 PCMA/8000" in answer and "PCMU" not in answer, answer
    report = json.loads(report_path.read_text())
    assert report["codec"] == "PCMA" and report["packets"] == 100
    rec = recorder.recording(before)
    assert (rec["caller"], rec["callee"]) == (CALLER, CALLEE)
    left, right = channels(rec["wav"])
    for channel, freq in ((left, CALLER_TONE), (right, CALLEE_TONE)):
        alaw = sent_packets(freq, 100, "PCMA")
        # The test can tell the laws apart: the same bytes read as µ-law are other samples.
        ulaw = np.frombuffer(
            decode(encode(tone_pcm(freq, SAMPLES, 0), "PCMA"), "PCMU"), dtype="<i2"
        )
        assert not np.array_equal(ulaw, alaw[0])
        # Every A-law packet decoded, in order, nothing else: the whole channel, exactly.
        exact_at(channel, expected(alaw))


# --- 2. DTMF ---------------------------------------------------------------------------


def test_dtmf_inside_the_legs_is_silence_in_the_recording(recorder, tmp_path):
    """A key press takes the voice packets' place (RFC 4733 §2.5): the events are not
    audio, and the timeline places voice by its RTP timestamps, so each press is silence
    exactly as long as the voice it replaced, and every voice packet keeps its place."""
    report_path = tmp_path / "rtp.json"
    before = recorder.call(
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, 3, TONES, report_path, "--dtmf 0:40:10,1:25:8,1:100:12"),
        sipp.pause(4200),
        *sipp.bye(2),
    )
    report = json.loads(report_path.read_text())
    callee_events, caller_events = (set(s["events"]) for s in report["streams"])
    assert callee_events == set(range(40, 50))
    assert caller_events == set(range(25, 33)) | set(range(100, 112))
    rec = recorder.recording(before)
    left, right = channels(rec["wav"])
    caller_lag = exact_at(left, expected(sent_packets(CALLER_TONE, 150), caller_events))
    callee_lag = exact_at(right, expected(sent_packets(CALLEE_TONE, 150), callee_events))
    # One of the legs is the call's zero.
    assert min(caller_lag, callee_lag) == 0 and max(caller_lag, callee_lag) <= LEAD


def test_dtmf_at_the_ends_of_a_leg(recorder, tmp_path):
    """One stream (a mono recording) whose first and last packets are key presses. Before
    the first voice packet there is nothing to place by timestamp: the voice starts where
    it arrived, after silence as long as the press (within a packet). After the last voice
    packet nothing is placed: the recording ends with the voice. A press in between is
    silence exactly."""
    report_path = tmp_path / "rtp.json"
    before = recorder.call(
        sipp.send("INVITE", 1, sipp.offer_body(["mixed"], None)),
        sipp.recv(100, optional=True),
        sipp.recv(200, ports=1),
        sipp.ack(),
        sipp.start_rtp(1, 2, str(CALLER_TONE), report_path, "--dtmf 0:0:10,0:40:8,0:85:15"),
        sipp.pause(3200),
        *sipp.bye(2),
    )
    report = json.loads(report_path.read_text())
    events = set(report["streams"][0]["events"])
    assert events == set(range(10)) | set(range(40, 48)) | set(range(85, 100))
    rec = recorder.recording(before)
    (mono,) = channels(rec["wav"])
    voice = expected(sent_packets(CALLER_TONE, 100), events)[10 * SAMPLES : 85 * SAMPLES]
    lag = exact_at(mono, voice, max_lag=20 * SAMPLES)
    press = report["sent_ms"][10] * MS  # the first voice packet went when the press ended
    assert abs(lag - press) <= SAMPLES, (
        f"voice began at {lag / RATE:.3f} s, the press lasted {press / RATE:.3f} s"
    )
    assert len(mono) == lag + 75 * SAMPLES  # the trailing press is absent, not silence


# --- 3. every form of pause ------------------------------------------------------------

# How an SRC says a stream is paused in a re-INVITE (sessions.py: Media.paused).
PAUSES = {
    "a=inactive": {"direction": "inactive"},
    "a=recvonly": {"direction": "recvonly"},
    "c=0.0.0.0": {"connection": "0.0.0.0"},
    "m= port 0": {"port": 0},
}


def paused_call(paused: str, resumed: str, report: Path, rtp_extra: str = "", resumed_ports: int = 0) -> list[str]:
    """Four seconds of two legs, paused by a re-INVITE at 1.2 s and resumed at 2.2 s."""
    return [
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, 4, TONES, report, rtp_extra),
        sipp.pause(1200),
        sipp.send("INVITE", 2, paused, to_tag=True),
        sipp.recv(200),
        sipp.ack(2),
        sipp.pause(1000),
        sipp.send("INVITE", 3, resumed, to_tag=True),
        sipp.recv(200, ports=resumed_ports),
        sipp.ack(3),
        sipp.pause(2900),
        *sipp.bye(4),
    ]


@pytest.mark.parametrize("form", PAUSES)
def test_each_form_of_pause_leaves_silence_as_long_as_the_pause(recorder, tmp_path, form):
    """The sender goes on sending through the pause: the packets that came while the
    stream was paused are not recorded, the audio before and after is exact, and the
    silence between lasts as long as the dropped packets did (within one packet)."""
    work, report_path = tmp_path / "sipp", tmp_path / "rtp.json"
    paused = sipp.offer_body(LABELS, PARTIES, version=2, **PAUSES[form])
    resumed = sipp.offer_body(LABELS, PARTIES, direction="sendonly", version=3)
    before = recorder.call(*paused_call(paused, resumed, report_path, resumed_ports=2), work=work)
    first, pausing, resuming = answers(work)
    assert first.count("a=recvonly") == 2
    # The recorder no longer expects audio. (Streams offered with port 0 are answered
    # inactive on their port today; RFC 3264 §8.2 would have port 0 back: not pinned here.)
    assert "a=recvonly" not in pausing, pausing
    if form != "m= port 0":
        assert pausing.count("a=inactive") == 2, pausing
    assert resuming.count("a=recvonly") == 2 and "a=inactive" not in resuming, resuming
    sent_ms = json.loads(report_path.read_text())["sent_ms"]
    rec = recorder.recording(before)
    for channel, freq in zip(channels(rec["wav"]), (CALLER_TONE, CALLEE_TONE), strict=True):
        parts = runs(locate(channel, sent_packets(freq, 200)))
        assert len(parts) == 2, f"audio, a pause, audio: {parts}"
        (start, first_n, last_before), (resumed_at, first_after, last_n) = parts
        assert first_n == 0 and start <= LEAD and last_n == 199, parts
        dropped = first_after - last_before - 1
        assert 1.0 <= dropped * SAMPLES / RATE <= 1.5, f"{dropped} packets dropped while paused"
        # The silence lasts as long as the dropped packets took to send.
        silence = resumed_at - (start + (last_before + 1) * SAMPLES)
        paused_for = round(sent_ms[first_after] * MS) - (last_before + 1) * SAMPLES
        assert abs(silence - paused_for) <= SAMPLES, (
            f"{silence} samples silent for {dropped} packets sent over {paused_for} samples"
        )
        # The end: this leg's last packet, or the other leg's if that one came a little later.
        assert 0 <= len(channel) - (resumed_at + (last_n - first_after + 1) * SAMPLES) <= LEAD


def test_a_pause_keeps_its_wall_clock_length_when_the_sender_stops_its_clock(recorder, tmp_path):
    """A polite SRC is quiet while paused, and its RTP clock stood still meanwhile: the
    timestamps after the pause follow on from those before it. After a pause the timeline
    places the audio where it arrived (rtp/timeline.py), so the pause is still silence as
    long as it lasted, not squeezed out by the timestamps."""
    report_path = tmp_path / "rtp.json"
    paused = sipp.offer_body(LABELS, PARTIES, direction="inactive", version=2)
    resumed = sipp.offer_body(LABELS, PARTIES, direction="sendonly", version=3)
    # Quiet from 0.8 s to 2.6 s of the sender's time; paused from about 1.2 s to 2.2 s.
    before = recorder.call(*paused_call(paused, resumed, report_path, rtp_extra="--hold 40:90"))
    report = json.loads(report_path.read_text())
    assert report["hold"] == [40, 90]
    rec = recorder.recording(before)
    for channel, freq in zip(channels(rec["wav"]), (CALLER_TONE, CALLEE_TONE), strict=True):
        parts = runs(locate(channel, sent_packets(freq, 200)))
        assert len(parts) == 2, f"audio, a pause, audio: {parts}"
        (start, first_n, last_before), (resumed_at, first_after, last_n) = parts
        assert (
            first_n == 0
            and start <= LEAD
            and last_before <= 39
            and first_after >= 130
            and last_n == 199
        ), parts
        # Placed where it was sent on the wall clock (its timestamps would put it 90 packets sooner).
        assert abs(resumed_at - start - report["sent_ms"][first_after] * MS) <= SAMPLES, parts


# --- 4. SIGTERM mid-call ---------------------------------------------------------------


def test_sigterm_mid_call_sends_the_client_a_bye_and_stores_the_call(tmp_path):
    with private_recorder(tmp_path, channelMode="STEREO") as recorder:
        work, started = tmp_path / "sipp", tmp_path / "started"
        xml = sipp.scenario(
            *sipp.invite_and_answer(LABELS, PARTIES),
            sipp.start_rtp(2, 8, TONES, tmp_path / "rtp.json", f"--started {started}"),
            sipp.recv_bye(),  # the scenario ends only once the recorder's BYE came and got its 200
        )
        caller = sipp.start(xml, recorder.server.sip_port, work, timeout=30)
        try:
            deadline = time.monotonic() + 15
            while not started.exists():
                assert time.monotonic() < deadline, "the call did not start"
                time.sleep(0.05)
            time.sleep(2)
            before = recorder.total()
            assert recorder.server.proc is not None
            recorder.server.proc.send_signal(signal.SIGTERM)
            stopped_at = time.time()
            assert recorder.server.proc.wait(timeout=30) == 0
            sent = sent_since(started, stopped_at)
            assert caller.wait(timeout=30) == 0, (
                "sipp's scenario (BYE received, 200 sent) did not complete"
            )
        finally:
            if started.exists():
                stop_sender(started)
            stop_process(caller)
        trace = messages(work)
        invite = next(text for how, text in trace if how == "sent" and text.startswith("INVITE "))
        (ok,) = answers(work)
        byes = [text for how, text in trace if how == "received" and text.startswith("BYE ")]
        assert len(byes) == 1, trace
        bye = byes[0]
        # In the call's dialog: its Call-ID, the tags the other way round, to our Contact.
        assert header(bye, "Call-ID") == header(invite, "Call-ID")
        assert tag(header(bye, "From")) == tag(header(ok, "To")) != ""
        assert tag(header(bye, "To")) == tag(header(invite, "From")) != ""
        assert bye.startswith("BYE sip:src@127.0.0.1:")
        replies = [text for how, text in trace if how == "sent" and text.startswith("SIP/2.0 200")]
        assert [header(r, "CSeq") for r in replies] == [header(bye, "CSeq")]
        log = (recorder.server.root / "server.log").read_text()
        assert "capture stopped: 1 calls answered, 1 recorded, 0 failed to store" in log
        recorder.server.start()  # stored before the process exited: the next one lists it
        rec = recorder.recording(before, timeout=5)
        left, right = channels(rec["wav"])
        kept = len(left) / RATE
        assert sent - 0.2 <= kept <= sent + 2, f"kept {kept:.2f} s of {sent:.2f} s"
        # Up to the stop, exactly what was sent, from the first packet on without a gap.
        for channel, freq in ((left, CALLER_TONE), (right, CALLEE_TONE)):
            ((start, first_n, last_n),) = runs(locate(channel, sent_packets(freq, 400)))
            assert first_n == 0 and start <= LEAD
            assert 0 <= len(channel) - (start + (last_n + 1) * SAMPLES) <= LEAD


# --- 5. the mono mix with a gain -------------------------------------------------------

GAIN = 5  # 8,000-peak tones: each leg clips alone (40,000) and their sum clips again


def test_mono_mix_with_a_gain_is_the_clipped_sum_of_the_legs(tmp_path):
    """media/mix.py: each leg times the gain, saturated to int16 (audioop.mul), then the legs
    added, saturated again (audioop.add)."""
    with private_recorder(tmp_path, channelMode="MONO", mixingGain=GAIN) as recorder:
        before = recorder.call(
            *sipp.invite_and_answer(LABELS, PARTIES),
            sipp.start_rtp(2, 2, TONES, tmp_path / "rtp.json"),
            sipp.pause(3200),
            *sipp.bye(2),
        )
        rec = recorder.recording(before)
    (mono,) = channels(rec["wav"])
    legs = [expected(sent_packets(CALLER_TONE, 100)), expected(sent_packets(CALLEE_TONE, 100))]
    amplified = [np.clip(leg * GAIN, -32768, 32767) for leg in legs]
    # Each leg sits where it arrived: the first is the call's zero, the other a little later.
    matches = []
    for first in (0, 1):
        for lag in range(LEAD + 1):
            lags = (0, lag) if first == 0 else (lag, 0)
            length = max(lg + len(leg) for lg, leg in zip(lags, legs, strict=True))
            if length != len(mono):
                continue
            mix = np.clip(
                sum(placed(a, lg, length) for lg, a in zip(lags, amplified, strict=True)),
                -32768,
                32767,
            )
            if np.array_equal(mono, mix):
                matches.append((lags, mix))
    assert matches, "the mono recording is not the legs times the gain, clipped, summed and clipped"
    lags, mix = matches[0]
    both = slice(max(lags), min(lg + len(leg) for lg, leg in zip(lags, legs, strict=True)))
    assert both.stop - both.start >= 99 * SAMPLES, "the legs overlap for the whole call"
    # The check has teeth: the gain and both clippings change samples in the overlap.
    plain = sum(placed(leg, lg, len(mono)) for lg, leg in zip(lags, legs, strict=True))
    unclipped_legs = np.clip(
        sum(placed(leg * GAIN, lg, len(mono)) for lg, leg in zip(lags, legs, strict=True)),
        -32768,
        32767,
    )
    assert not np.array_equal(mix[both], plain[both])
    assert not np.array_equal(mix[both], unclipped_legs[both]), "each leg clips on its own first"
    assert (mix[both] == 32767).any() and (mix[both] == -32768).any()
