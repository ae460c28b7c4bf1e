"""Nothing lost: a recorder killed mid-call (kill -9) stores the partial call when it
comes back, with audio up to about a second before the kill; one stopped with SIGTERM
ends its calls and stores them before it exits."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import DATABASES, on_database
from tests.integration.test_siprec_calls import LABELS, PARTIES, RATE, Recorder, channels
from tests.support import sipp
from tests.support.processes import stop_process
from tests.support.server import ApplianceServer, Client, prepare_admin

pytestmark = pytest.mark.skipif(not sipp.have_sipp(), reason="sipp (sip-tester) is not installed")


@pytest.fixture(params=DATABASES)
def recorder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Recorder]:
    server = ApplianceServer(**on_database(request)).start()
    try:
        admin, token = prepare_admin(server)
        admin.data(
            'mutation { createDevice(input: {alias: "pbx", address: "127.0.0.1", secret: "pbx-secret", '
            "mode: PUSH}) { __typename } }"
        )
        rec = Recorder(server, admin, Client(server.url, token=token), tmp_path)
        rec.settings(fileFormat="WAV", rtpPortMin=32000, rtpPortMax=32999)
        yield rec
    finally:
        server.stop()


def long_call(recorder: Recorder, tmp_path: Path) -> tuple[object, Path]:
    """A 12-second call in the background; returns sipp and the file the sender writes
    the time of its first packet to."""
    started = tmp_path / "started"
    xml = sipp.scenario(
        *sipp.invite_and_answer(LABELS, PARTIES),
        sipp.start_rtp(2, 12, "1000,400", tmp_path / "rtp.json", f"--started {started}"),
        sipp.pause(14000),
        *sipp.bye(2),
    )
    caller = sipp.start(xml, recorder.server.sip_port, tmp_path / "sipp")
    deadline = time.monotonic() + 15
    while not started.exists():
        assert time.monotonic() < deadline, "the call did not start"
        time.sleep(0.05)
    time.sleep(0.1)
    return caller, started


def sent_since(started: Path, at: float) -> float:
    return at - float(started.read_text().split()[0])


def stop_sender(started: Path) -> None:
    """The RTP sender sipp started: ended by the PID it wrote, so no stray stream reaches
    the next test's ports."""
    pid = int(started.read_text().split()[1])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def restart(recorder: Recorder) -> None:
    recorder.server.start()  # same ports and data: the clients carry on


def test_kill_9_mid_call_keeps_the_audio_up_to_about_a_second_before(recorder, tmp_path):
    caller, started = long_call(recorder, tmp_path)
    try:
        time.sleep(4)
        assert len(recorder.api.data("{ activeCalls { id } }")["activeCalls"]) == 1
        before = recorder.total()
        # The whole process tree, as systemd kills a unit's cgroup: the compiled onefile
        # binary runs the recorder in a child of the process we started.
        top = psutil.Process(recorder.server.proc.pid)
        doomed = [top, *top.children(recursive=True)]
        for proc in doomed:
            proc.kill()
        killed_at = time.time()
        recorder.server.proc.wait()
        psutil.wait_procs(doomed, timeout=10)
        sent = sent_since(started, killed_at)
        spooled = list((recorder.server.data_dir / "spool").glob("*/leg-*.rtp"))
        assert len(spooled) == 2, "the call's two streams were in the spool when the process died"
        restart(recorder)
        rec = recorder.recording(before)
    finally:
        stop_sender(started)
        stop_process(caller)
    kept = len(channels(rec["wav"])[0]) / RATE
    assert sent - 1.0 <= kept <= sent + 0.05, f"kept {kept:.2f} s of {sent:.2f} s sent before the kill"
    assert (rec["caller"], rec["callee"]) == ("2001", "3002")
    assert recorder.api.data("{ activeCalls { id } }")["activeCalls"] == []
    assert list((recorder.server.data_dir / "spool").iterdir()) == []


def test_sigterm_ends_the_calls_in_progress_and_stores_them(recorder, tmp_path):
    caller, started = long_call(recorder, tmp_path)
    try:
        time.sleep(3)
        before = recorder.total()
        recorder.server.proc.send_signal(signal.SIGTERM)
        stopped_at = time.time()
        assert recorder.server.proc.wait(timeout=30) == 0
        sent = sent_since(started, stopped_at)
        log = (recorder.server.root / "server.log").read_text()
        assert "recorded " in log, "stored before the process exited"
        assert "capture stopped: 1 calls answered, 1 recorded, 0 failed to store" in log
        restart(recorder)
        rec = recorder.recording(before, timeout=5)
    finally:
        stop_sender(started)
        stop_process(caller)
    kept = len(channels(rec["wav"])[0]) / RATE
    # Audio keeps coming while the other services stop; all of it up to the signal is kept.
    assert sent - 0.2 <= kept <= sent + 2, f"kept {kept:.2f} s of {sent:.2f} s"
    assert "left in the spool" not in (recorder.server.root / "server.log").read_text()
