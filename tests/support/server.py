"""The real appliance (`python -m appliance all`) on a free port, and a client for it."""

from __future__ import annotations

import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.support.ports import free_port
from tests.support.processes import stop_process

DEFAULT_PASSWORD = "JSJZXWLGLY358"
# RECORDER_TEST_BINARY=dist/recorder runs the same tests against the compiled binary.
COMMAND = [os.environ["RECORDER_TEST_BINARY"]] if os.environ.get("RECORDER_TEST_BINARY") else [sys.executable, "-m", "appliance"]
ADMIN_PASSWORD = "Test-Admin-2024"
# The zone the appliance runs in unless a test names one: not UTC, so that a time a person
# reads (SN, file name, cell) is really converted. Tests never assume the zone they run in.
DEFAULT_ZONE = os.environ.get("RECORDER_TEST_ZONE", "Asia/Shanghai")


class ApplianceServer:
    def __init__(
        self,
        database_url: str | None = None,
        captcha: bool = False,
        file_limit: int | None = None,
        zone: str | None = None,
        command: list[str] | None = None,
        scheduler: bool = False,
        data_disk_bytes: int | None = None,
        https: bool = False,
        monitor: bool = False,
        env: dict[str, str] | None = None,
        host: Any = None,
    ) -> None:
        # Circular recording measures the disk the data lives on, here the machine's own:
        # it runs only where a test asks for it (and gives it a disk of its own).
        # The monitor likewise: its alarms (a busy test machine's CPU) would add events to
        # the log that other tests count.
        self.services = ["all"] + ([] if scheduler else ["--without", "scheduler"]) + (
            [] if monitor else ["--without", "monitor"]
        )
        self.command = command or COMMAND
        self.file_limit = file_limit  # RLIMIT_NOFILE, soft and hard, for the server
        self.zone = ZoneInfo(zone or DEFAULT_ZONE)
        self.root = Path(tempfile.mkdtemp(prefix="recorder-test-"))
        self.port = free_port()
        self.sip_port = free_port(udp=True)
        self.ha_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("RECORDER_")}
        self.env = {
            **inherited,
            "RECORDER_DATA_DIR": str(self.root / "data"),
            "RECORDER_KEY_FILE": str(self.root / "etc" / "master.key"),
            "RECORDER_HTTP_HOST": "127.0.0.1",
            "RECORDER_HTTP_PORT": str(self.port),
            "RECORDER_SIP_PORT": str(self.sip_port),
            "RECORDER_HA_PORT": str(self.ha_port),
            "RECORDER_LOGIN_CAPTCHA": "1" if captcha else "0",
            "TZ": str(self.zone),
        }
        if host is not None:
            # Inside a network namespace the tests made (tests/support/netns.Host): it listens
            # on every address there (its own and a virtual IP), reached at its own.
            self.command = host.command(*self.command)
            self.env["RECORDER_HTTP_HOST"] = "0.0.0.0"
            self.url = f"http://{host.address}:{self.port}"
        self.env.update(env or {})
        if database_url:
            self.env["RECORDER_DATABASE_URL"] = database_url
        self.https_port = free_port() if https else None
        if self.https_port is not None:
            self.env["RECORDER_HTTPS_PORT"] = str(self.https_port)
        self.data_disk_bytes = data_disk_bytes
        if data_disk_bytes is not None:
            # The data directory on a file system of its own (a tmpfs in a mount namespace
            # of the server's), so its usage is the test's to set; the database stays outside,
            # where the command-line tools, which run outside that namespace, find it.
            (self.root / "data").mkdir()
            self.env.setdefault("RECORDER_DATABASE_URL", f"sqlite:///{self.root / 'recorder.db'}")
            mount = f'mount -t tmpfs -o size={data_disk_bytes} tmpfs "$RECORDER_DATA_DIR" && exec "$@"'
            self.command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", *self.command]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApplianceServer:
        if self.https_port is not None and not (self.root / "etc" / "tls" / "cert.pem").exists():
            self.cli("admin", "init")  # the certificate HTTPS serves, as first boot makes it
        log = (self.root / "server.log").open("wb")
        limit = self.file_limit

        def limit_files() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        self.proc = subprocess.Popen(
            [*self.command, *self.services], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=limit_files if limit is not None else None,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + (self.root / "server.log").read_text())
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start:\n" + (self.root / "server.log").read_text())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, *args], env=self.env, capture_output=True, text=True, check=check
        )

    def stop(self) -> None:
        stop_process(self.proc)

    def beside(self, *args: str) -> subprocess.Popen[bytes]:
        """Another `recorder` process that sees the server's data disk (its mount namespace)."""
        assert self.proc is not None
        prefix = ["nsenter", "--mount", f"--target={self.proc.pid}"] if self.data_disk_bytes else []
        log = (self.root / f"{args[0]}.log").open("wb")
        return subprocess.Popen([*prefix, *COMMAND, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_capture_knows(
        self, source: tuple[int, str] | None = None, host: str | None = None, **settings: str
    ) -> None:
        """Until the capture's view (refreshed in the background, kept in capture-cache.json)
        has this push source (device id, address), a device at this host, and these settings
        (as stored: strings)."""
        path, deadline = self.data_dir / "capture-cache.json", time.monotonic() + 30
        seen: dict[str, Any] = {}
        while True:
            try:
                seen = json.loads(path.read_bytes())
                hosts = {h for _, h in seen["sources"]}
                if (source is None or list(source) in seen["sources"]) and (host is None or host in hosts) and all(
                    seen["settings"].get(k) == v for k, v in settings.items()
                ):
                    return
            except (FileNotFoundError, ValueError):
                pass  # not written yet, or being replaced right now
            assert time.monotonic() < deadline, f"the capture never learnt {source} {settings}: {seen}"
            time.sleep(0.2)

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def tls(self) -> ssl.SSLContext:
        """A client context that trusts the appliance's own certificate (it names 127.0.0.1)."""
        return ssl.create_default_context(cafile=str(self.root / "etc" / "tls" / "cert.pem"))

    def local(self, iso_time: str, fmt: str) -> str:
        """An instant as a person reads it on this appliance (its zone), in strftime's format."""
        return datetime.fromisoformat(iso_time).astimezone(self.zone).strftime(fmt)

    @property
    def data_dir(self) -> Path:
        """The data directory as this test process sees it (through the server's mounts)."""
        if self.data_disk_bytes and self.proc is not None and self.proc.poll() is None:
            return Path(f"/proc/{self.proc.pid}/root") / self.root.relative_to("/") / "data"
        return self.root / "data"


class Client:
    """An httpx client with GraphQL helpers; cookies persist like a browser's."""

    def __init__(self, base_url: str, token: str | None = None, verify: Any = True) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=60, verify=verify)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert r.status_code == 200, r.text
        return r.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.gql(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def login(self, login: str, password: str) -> dict[str, Any]:
        return self.data(
            """mutation($l: String!, $p: String!) { login(login: $l, password: $p) {
                __typename ... on LoginSuccess { user { login mustChangePassword } }
                ... on LoginError { code message retryAfterSeconds } } }""",
            {"l": login, "p": password},
        )["login"]


def first_login(url: str, **client: Any) -> Client:
    """Sign in as the default administrator and change the password, as a first login must."""
    admin = Client(url, **client)
    first = admin.login("admin", DEFAULT_PASSWORD)
    assert first["user"]["mustChangePassword"] is True
    changed = admin.data(
        """mutation($o: String!, $n: String!) { changePassword(oldPassword: $o, newPassword: $n) {
            __typename ... on UserError { message } } }""",
        {"o": DEFAULT_PASSWORD, "n": ADMIN_PASSWORD},
    )
    assert changed["changePassword"]["__typename"] == "Ok", changed
    return admin


def prepare_admin(server: ApplianceServer) -> tuple[Client, str]:
    """The first login, then an integrator token made with the command line."""
    admin = first_login(server.url)
    out = server.cli("admin", "token", "create", "--name", "tests")
    token = out.stdout.strip().splitlines()[-1]
    return admin, token


def create_device(client: Client, alias: str | None = None, secret: str = "dev-secret-1") -> dict[str, Any]:
    alias = alias or f"gw-{uuid.uuid4().hex[:8]}"
    result = client.data(
        """mutation($i: DeviceInput!) { createDevice(input: $i) {
            __typename ... on Device { id alias address } ... on UserError { code message } } }""",
        {"i": {"alias": alias, "address": "192.0.2.10", "secret": secret, "mode": "PUSH"}},
    )["createDevice"]
    assert result["__typename"] == "Device", result
    result["secret"] = secret
    return result
