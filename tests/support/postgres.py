"""A throw-away PostgreSQL cluster on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if not path:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


class PostgresServer:
    def __init__(self, listen: str = "127.0.0.1") -> None:
        # Also an address on a LAN of namespaces the tests made (tests/support/netns.py),
        # for appliances that run inside them.
        self.listen = listen
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="recorder-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        self._counter = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(_bin("initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8")
        if self.listen != "127.0.0.1":
            with (self.data / "pg_hba.conf").open("a") as hba:  # the test LAN's appliances
                hba.write("host all all samenet trust\n")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the cluster (again): same port, same data."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.listen} -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def halt(self) -> None:
        """Stop the cluster and keep its data, as an outage would (resume() brings it back)."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, prefix: str = "recorder", locale: str | None = None) -> str:
        """A new database; `locale` sets its collation (an operating-system locale, such as
        the zh_CN.UTF-8 a deployment's cluster may have), else the cluster's."""
        self._counter += 1
        name = f"{prefix}_{os.getpid()}_{self._counter}_{int(time.time() * 1000) % 100000}"
        options = ["--locale", locale, "--template", "template0"] if locale else []
        self._run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *options, name)
        return f"postgres://postgres@{self.listen.split(',')[-1]}:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
