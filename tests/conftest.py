from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.postgres import PostgresServer
from tests.support.server import ApplianceServer, Client, create_device, prepare_admin


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


class Appliance:
    """A running appliance with its administrator session, token and one push device."""

    def __init__(self, server: ApplianceServer) -> None:
        self.server = server
        self.admin, self.token = prepare_admin(server)
        self.api = Client(server.url, token=self.token)
        self.device = create_device(self.admin)
        self.device_http = httpx.Client(base_url=server.url, timeout=60)

    def upload(self, audio: bytes, filename: str = "call.wav", device: dict | None = None, **fields: str):
        device = device or self.device
        data = {"call_id": uuid.uuid4().hex, "caller": "1001", "callee": "2002",
                "started_at": "2024-05-01T09:30:00+00:00", **fields}
        return self.device_http.post(
            "/api/v1/recordings",
            data=data,
            files={"audio": (filename, audio, "application/octet-stream")},
            auth=(device["alias"], device["secret"]),
        )


DATABASES = ["sqlite", "postgres"]


# A Chinese installation's PostgreSQL collates by its locale, not by code point.
POSTGRES_LOCALE = "zh_CN.UTF-8"


def on_database(request: pytest.FixtureRequest) -> dict[str, str | None]:
    """ApplianceServer arguments for the fixture's database parameter. SQLite runs in the
    default zone (Asia/Shanghai), PostgreSQL in UTC: local-time rules are checked in two zones.
    PostgreSQL's database is collated as zh_CN.UTF-8, as on a Chinese installation."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres").create_database(locale=POSTGRES_LOCALE)
        return {"database_url": url, "zone": "UTC"}
    return {"database_url": None, "zone": None}


@pytest.fixture(scope="session", params=DATABASES)
def appliance(request: pytest.FixtureRequest) -> Iterator[Appliance]:
    server = ApplianceServer(**on_database(request)).start()
    try:
        yield Appliance(server)
    finally:
        server.stop()


@pytest.fixture(params=DATABASES)
def fresh_server(request: pytest.FixtureRequest) -> Iterator[ApplianceServer]:
    """An appliance of its own, for tests that change global state (lock-out, first login)."""
    server = ApplianceServer(**on_database(request)).start()
    yield server
    server.stop()


@pytest.fixture()
def unique() -> str:
    """A number prefix no other test uses, so filters can be checked exactly."""
    return str(uuid.uuid4().int % 10**8).zfill(8)
