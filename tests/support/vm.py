"""The appliance image booted in qemu (TCG), reached through forwarded loopback ports and
the QEMU guest agent (a virtio serial port: no network path into the guest)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.ports import free_port
from tests.support.processes import stop_process

OVMF = Path("/usr/share/ovmf/OVMF.fd")


@dataclass
class Exec:
    code: int
    out: str
    err: str


class GuestAgent:
    """JSON commands over the agent's socket: guest-exec runs a program in the guest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(30)
            self.sock.connect(str(self.path))
        return self.sock

    def _line(self) -> dict:
        sock = self._connect()
        while True:
            while b"\n" not in self.buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("guest agent closed the socket")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            line = line.strip(b"\xff \r\t")  # 0xFF is guest-sync-delimited's marker
            if line:
                return json.loads(line)

    def call(self, command: str, **arguments: object) -> object:
        sock = self._connect()
        sock.sendall(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
        reply = self._line()
        if "error" in reply:
            raise RuntimeError(f"{command}: {reply['error']}")
        return reply["return"]

    def sync(self, timeout: float) -> None:
        """Wait until the agent in the guest answers (it starts late in boot)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                token = int(time.time() * 1000) % 2**31
                self._connect().sendall(json.dumps(
                    {"execute": "guest-sync-delimited", "arguments": {"id": token}}).encode())
                while True:
                    reply = self._line()
                    if reply.get("return") == token:
                        return
            except (OSError, ValueError):
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def run(self, *argv: str, timeout: float = 60) -> Exec:
        pid = self.call("guest-exec", path=argv[0], arg=list(argv[1:]), **{"capture-output": True})["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call("guest-exec-status", pid=pid)
            if status["exited"]:
                decode = lambda key: base64.b64decode(status.get(key, "")).decode(errors="replace")  # noqa: E731
                return Exec(status.get("exitcode", -1), decode("out-data"), decode("err-data"))
            time.sleep(0.5)
        raise TimeoutError(f"{argv} still running after {timeout} s")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""


class BootedImage:
    """One qemu process on a throw-away overlay of the image (snapshot=on)."""

    def __init__(self, image: Path, firmware: str, disk_gib: int | None = None) -> None:
        self.image = image
        self.firmware = firmware
        self.disk_gib = disk_gib  # a bigger disk than the image, as after flashing one
        self.dir = Path(tempfile.mkdtemp(prefix=f"recorder-vm-{firmware}-"))
        self.http_port, self.https_port, self.sip_port = free_port(), free_port(), free_port()
        self.agent = GuestAgent(self.dir / "qga.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.serving_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def command(self) -> list[str]:
        # restrict=on: the guest reaches nothing outside; only these forwards reach it.
        # (SIP is forwarded over TCP: under restrict=on a UDP answer counts as the guest
        # contacting the host, and slirp drops it.)
        forwards = (f"hostfwd=tcp:127.0.0.1:{self.http_port}-:80,"
                    f"hostfwd=tcp:127.0.0.1:{self.https_port}-:443,"
                    f"hostfwd=tcp:127.0.0.1:{self.sip_port}-:1311")
        cmd = [
            "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max",
            "-smp", "2", "-m", "2048", "-display", "none", "-monitor", "none",
            "-serial", f"file:{self.dir / 'serial.log'}",
            "-drive", self._drive(),
            "-netdev", f"user,id=n0,restrict=on,{forwards}",
            "-device", "virtio-net-pci,netdev=n0",
            "-chardev", f"socket,id=qga0,path={self.dir / 'qga.sock'},server=on,wait=off",
            "-device", "virtio-serial", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        ]
        if self.firmware == "uefi":
            cmd += ["-bios", str(OVMF)]
        return cmd

    def _drive(self) -> str:
        if self.disk_gib is None:
            return f"file={self.image},format=raw,if=virtio,snapshot=on"
        overlay = self.dir / "disk.qcow2"
        if not overlay.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(self.image),
                            "-F", "raw", str(overlay), f"{self.disk_gib}G"], check=True)
        return f"file={overlay},format=qcow2,if=virtio"

    def wait_serving(self, timeout: float = 180) -> float:
        """Seconds until /health answers."""
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            try:
                if httpx.get(self.url + "/health", timeout=3).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"the console did not answer in {timeout} s: {self.diagnostics()}")

    def start(self, timeout: float = 300) -> BootedImage:
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "qemu.log", "wb"))
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qemu exited {self.proc.returncode}: {self.diagnostics()}")
            try:
                if httpx.get(self.url + "/health", timeout=3).status_code == 200:
                    self.serving_after = time.monotonic() - self.started_at
                    self.agent.sync(timeout=max(10, deadline - time.monotonic()))
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"no console after {timeout} s: {self.diagnostics()}")

    def diagnostics(self) -> str:
        """What went wrong inside: failed units and the journal's warnings, else the console."""
        try:
            self.agent.sync(timeout=20)
            failed = self.agent.run("/bin/systemctl", "list-units", "--failed", "--plain").out
            journal = self.agent.run("/bin/journalctl", "-b", "-p", "warning", "-n", "60",
                                     "--no-pager").out
            return f"failed units:\n{failed}\njournal (warnings):\n{journal}"
        except (OSError, ValueError, RuntimeError, TimeoutError):
            serial = self.dir / "serial.log"
            tail = serial.read_text(errors="replace")[-3000:] if serial.exists() else "(none)"
            return f"no guest agent; serial console (last lines):\n{tail}"

    def stop(self) -> None:
        self.agent.close()
        stop_process(self.proc)
        if os.environ.get("RECORDER_KEEP_VM_LOGS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
