"""The capture spool holds nothing in clear (issue 11, defect 17): while a call is being
recorded, and after the recorder is killed mid-call, its spool files hold no RTP payload
and no phone number; the call is recovered from them all the same, and a spooled call that
cannot be read is set aside instead of holding up the others."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.test_capture_db_outage import prepared
from tests.integration.test_siprec_calls import channels
from tests.support import sipp
from tests.support.rtp_send import SAMPLES, encode, tone_pcm
from tests.support.server import ApplianceServer, Client
from tests.support.siprec_client import SiprecCall, send_tones

CALLER, CALLEE = "13800138000", "13900139000"


@pytest.fixture()
def recorder() -> Iterator[tuple[ApplianceServer, Client]]:
    server = ApplianceServer().start()
    try:
        yield server, prepared(server)
    finally:
        server.stop()


def new_call(server: ApplianceServer, callee: str = CALLEE) -> SiprecCall:
    return SiprecCall(
        server.sip_port,
        sipp.offer_body(["1", "2"], [sipp.Party("a", CALLER, "1"), sipp.Party("b", callee, "2")]),
    )


def spool_bytes(server: ApplianceServer) -> dict[str, bytes]:
    return {
        str(p.relative_to(server.data_dir)): p.read_bytes()
        for p in sorted((server.data_dir / "spool").rglob("*"))
        if p.is_file()
    }


def total(api: Client) -> int:
    return api.data("{ recordings { total } }")["recordings"]["total"]


def wait_total(api: Client, want: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while total(api) < want:
        assert time.monotonic() < deadline, f"fewer than {want} recordings"
        time.sleep(0.3)


def assert_sealed(files: dict[str, bytes], seconds: float) -> None:
    assert any(name.endswith("call.key") for name in files)
    legs = [data for name, data in files.items() if name.endswith(".rtp")]
    assert len(legs) == 2 and all(len(d) > seconds * 50 * 160 * 0.8 for d in legs), "audio flushed"
    disk = b"".join(files.values())
    for n in range(int(seconds * 50)):
        payload = encode(tone_pcm(1000, SAMPLES, n * SAMPLES), "PCMU")
        assert payload[:24] not in disk, f"packet {n}'s payload is on disk in clear"
    for text in (CALLER, CALLEE, "PCMU", "caller"):
        assert text.encode() not in disk, f"{text} is on disk in clear"


def test_a_live_call_is_sealed_in_the_spool_and_recorded_exactly(recorder):
    server, api = recorder
    before = total(api)
    call = new_call(server)
    assert call.invite().status == 200
    call.ack()
    sent = send_tones([call], 2.0)
    time.sleep(0.7)  # past the next flush
    assert_sealed(spool_bytes(server), 2.0)
    assert call.bye() == 200
    call.close()
    wait_total(api, before + 1)
    item = api.data(
        "{ recordings(pageSize: 1) { items { id caller callee } } }"
    )["recordings"]["items"][0]
    assert (item["caller"], item["callee"]) == (CALLER, CALLEE)
    wav = api.http.get(f"/api/v1/recordings/{item['id']}/audio?format=wav").content
    assert len(channels(wav)[0]) == sent * SAMPLES


def kill_tree(server: ApplianceServer) -> None:
    assert server.proc is not None
    top = psutil.Process(server.proc.pid)
    doomed = [top, *top.children(recursive=True)]
    for proc in doomed:
        proc.kill()
    server.proc.wait()
    psutil.wait_procs(doomed, timeout=10)


def test_after_a_kill_the_sealed_spool_is_recovered_and_a_damaged_call_set_aside(recorder):
    server, api = recorder
    before = total(api)
    calls = [new_call(server, callee) for callee in ("13900139001", "13900139002")]
    for call in calls:
        assert call.invite().status == 200
        call.ack()
    junk = new_call(server, "13900139003")  # answered, never ACKed, no media: not kept
    assert junk.invite().status == 200
    send_tones(calls, 2.0)
    time.sleep(0.7)
    kill_tree(server)
    junk.close()
    folders = sorted(
        (p for p in (server.data_dir / "spool").iterdir() if p.is_dir() and any(p.glob("leg-*.rtp"))),
        key=lambda p: max(f.stat().st_size for f in p.glob("leg-*.rtp")),
    )
    assert len(folders) == 3 and max(f.stat().st_size for f in folders[0].glob("leg-*.rtp")) == 0
    folders = folders[1:]  # the two calls with audio
    assert_sealed({n: d for n, d in spool_bytes(server).items() if n.startswith(f"spool/{folders[0].name}")}, 2.0)
    # One call's description damaged on disk: it cannot be opened, the other is stored.
    damaged: Path = folders[1]
    raw = bytearray((damaged / "call.json").read_bytes())
    raw[20] ^= 0xFF
    (damaged / "call.json").write_bytes(bytes(raw))
    for call in calls:
        call.close()
    server.start()
    wait_total(api, before + 1)
    deadline = time.monotonic() + 10
    while any((server.data_dir / "spool").iterdir()):
        assert time.monotonic() < deadline, "the spool was not emptied"
        time.sleep(0.2)
    assert (server.data_dir / "spool-damaged" / damaged.name / "call.json").exists()
    time.sleep(2)
    assert total(api) == before + 1
    log = (server.root / "server.log").read_text()
    assert "cannot be read" in log and "set aside" in log
