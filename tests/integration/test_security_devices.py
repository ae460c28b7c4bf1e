"""Issue 11, defect 12: device secrets cannot be guessed at speed, and failures are audited."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.audio import speech_wav
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin


@pytest.fixture(scope="module")
def audio() -> bytes:
    return speech_wav("one two")


@pytest.fixture()
def setup() -> Iterator[tuple[ApplianceServer, Client, dict]]:
    server = ApplianceServer().start()
    admin, _ = prepare_admin(server)
    yield server, admin, create_device(admin, secret="the-real-secret-42")
    server.stop()


def upload(server: ApplianceServer, source: str, alias: str, secret: str, audio: bytes = b"x") -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=60, transport=httpx.HTTPTransport(local_address=source)) as c:
        return c.post(
            "/api/v1/recordings",
            data={"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002", "started_at": "2024-05-01T09:30:00+00:00"},
            files={"audio": ("call.wav", audio, "application/octet-stream")},
            auth=(alias, secret),
        )


def failures_audited(admin: Client, ip: str) -> list[dict]:
    items = admin.data(
        "query($ip: String) { auditLog(filter: {type: \"DEVICE\", ip: $ip}, pageSize: 100) { items { event params ip } } }",
        {"ip": ip},
    )["auditLog"]["items"]
    return [i for i in items if i["event"] == "device_auth_failed"]


def test_guessing_one_devices_secret_is_limited_and_audited(setup, audio):
    server, admin, device = setup
    codes = [upload(server, "127.0.0.2", device["alias"], f"guess-{i}").status_code for i in range(40)]
    assert codes[:10] == [401] * 10
    assert set(codes[10:]) == {429}
    limited = upload(server, "127.0.0.2", device["alias"], "guess-again")
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    # Not even the right secret from the guessing address while it is limited...
    assert upload(server, "127.0.0.2", device["alias"], device["secret"], audio).status_code == 429
    # ...but the device itself, from its own address, uploads as usual.
    assert upload(server, "127.0.0.3", device["alias"], device["secret"], audio).status_code == 201
    entries = failures_audited(admin, "127.0.0.2")
    assert 1 <= len(entries) <= 2  # 41 refusals, a bounded number of rows
    assert entries[-1]["params"] == {"alias": device["alias"], "count": 1}
    assert failures_audited(admin, "127.0.0.3") == []


def test_one_address_spraying_many_devices_is_limited(setup, audio):
    """A different shape: one address, a few guesses at each of many aliases, real or not."""
    server, admin, device = setup
    aliases = [device["alias"], "gw-1", "pbx", "sbc-main", "recorder"]
    codes = [upload(server, "127.0.0.4", aliases[i % 5], f"guess-{i}").status_code for i in range(36)]
    assert codes[:30] == [401] * 30
    assert set(codes[30:]) == {429}
    assert upload(server, "127.0.0.4", "some-other-alias", "x").status_code == 429
    assert upload(server, "127.0.0.5", device["alias"], device["secret"], audio).status_code == 201
    audited = {e["params"]["alias"] for e in failures_audited(admin, "127.0.0.4")}
    assert audited == set(aliases)


def test_many_addresses_guessing_one_device_pace_it_but_do_not_stop_it(setup, audio):
    """A different shape: each address stays under its limits; together they are paced."""
    server, _, device = setup
    for n in range(10):
        for i in range(10):
            assert upload(server, f"127.0.2.{n}", device["alias"], f"g{i}").status_code == 401
    codes = [upload(server, f"127.0.3.{n}", device["alias"], "g").status_code for n in range(3)]
    assert codes[0] == 401 and 429 in codes[1:]
    # Paced, not stopped: the device is told to retry within a second, and then gets in.
    deadline = time.monotonic() + 30
    while (r := upload(server, "127.0.0.6", device["alias"], device["secret"], audio)).status_code == 429:
        assert int(r.headers["retry-after"]) <= 1
        assert time.monotonic() < deadline, "the right secret was kept out"
        time.sleep(0.5)
    assert r.status_code == 201


def test_guesses_sent_in_parallel_do_not_slip_past_the_limit(setup, audio):
    """A different shape: many guesses at once, each checked before any failure is known."""
    from concurrent.futures import ThreadPoolExecutor

    server, _, device = setup
    with ThreadPoolExecutor(max_workers=25) as pool:
        codes = list(pool.map(lambda i: upload(server, "127.0.0.7", device["alias"], f"p{i}").status_code, range(25)))
    assert codes.count(401) == 10 and codes.count(429) == 15, codes
    assert upload(server, "127.0.0.8", device["alias"], device["secret"], audio).status_code == 201
