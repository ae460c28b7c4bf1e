"""The units are valid and hardened, and the server speaks systemd's notify protocol."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import ApplianceServer

UNITS = Path(__file__).parents[2] / "systemd"
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def _units_in(tmp_path: Path) -> list[Path]:
    """Copies whose ExecStart points at a stand-in executable, as verify wants it to exist."""
    exe = tmp_path / "recorder"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    out = []
    for unit in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.target")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/usr/bin/recorder", str(exe)))
        out.append(copy)
    return out


@needs_systemd
def test_units_verify_clean(tmp_path):
    units = _units_in(tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


LONG_RUNNING = ["recorder-api", "recorder-capture", "recorder-failover", "recorder-monitor", "recorder-scheduler"]
# The console's unit binds 80/443, the monitor's the SNMP agent's 161; no other may go below 1024.
LOW_PORTS = {"recorder-api", "recorder-monitor"}


def _exposure(unit: Path) -> float:
    text = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True
    ).stdout
    return float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", text).group(1))


@needs_systemd
def test_services_are_hardened(tmp_path):
    units = {u.stem: u for u in _units_in(tmp_path) if u.suffix == ".service"}
    assert sorted(units) == sorted([*LONG_RUNNING, "recorder-init"])
    for name in LONG_RUNNING:
        unit = units[name]
        assert _exposure(unit) <= 2.0, name
        body = unit.read_text()
        for line in ("Type=notify", "WatchdogSec=", "Restart=always", "ProtectSystem=strict",
                     "ReadWritePaths=/var/lib/recorder", "ReadOnlyPaths=/etc/recorder",
                     "NoNewPrivileges=yes", "User=recorder", "Requires=recorder-init.service",
                     f"ExecStart=/usr/bin/recorder {name.removeprefix('recorder-')}".replace(
                         "/usr/bin/recorder", str(tmp_path / "recorder"))):
            assert line in body, (unit.name, line)
        assert "DynamicUser" not in body
        caps = re.search(r"^CapabilityBoundingSet=(.*)$", body, re.M).group(1)
        assert caps == ("CAP_NET_BIND_SERVICE" if name in LOW_PORTS else ""), name
    # First-boot provisioning writes /etc/recorder, so it runs as root, once, still fenced in.
    init = units["recorder-init"].read_text()
    assert "Type=oneshot" in init and "ProtectSystem=strict" in init and "User=" not in init
    assert _exposure(units["recorder-init"]) <= 2.5
    target = (UNITS / "recorder.target").read_text()
    for name in [*LONG_RUNNING, "recorder-init"]:
        assert f"{name}.service" in target


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers not installed")
def test_sysusers_creates_the_service_user(tmp_path):
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(UNITS / "recorder.sysusers")], check=True)
    passwd = (tmp_path / "etc" / "passwd").read_text()
    assert re.search(r"^recorder:x:\d+:\d+:Call recorder:/var/lib/recorder:/usr/sbin/nologin$", passwd, re.M)


def test_ready_watchdog_and_stopping_are_notified(tmp_path):
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(30)
    server = ApplianceServer()
    server.env.update({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    server.env.pop("WATCHDOG_PID", None)
    try:
        server.start()
        messages = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 3:
            messages.append(listener.recv(4096).decode())
        assert messages[0].startswith("READY=1"), messages
        # Ready means serving: the health check answers.
        assert httpx.get(server.url + "/health").status_code == 200
        assert sum("WATCHDOG=1" in m for m in messages) >= 3
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
        while True:
            msg = listener.recv(4096).decode()
            if "STOPPING=1" in msg:
                break
    finally:
        server.stop()
        listener.close()
        os.unlink(path)
