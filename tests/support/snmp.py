"""net-snmp's snmptrapd on 127.0.0.1 (a NOC's trap receiver), and its tools, with our MIB."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import stop_process

MIBS = Path(__file__).parents[2] / "mibs"
MIB_ARGS = ["-M", str(MIBS), "-m", "RECORDER-MIB:SNMPv2-MIB"]
COMMUNITY = "noc-community"
USER, AUTH_KEY, PRIV_KEY = "noc", "noc-auth-key-1", "noc-priv-key-1"


def tool_env() -> dict[str, str]:
    """net-snmp keeps state (engine boots, certificates) in its persistent directory."""
    folder = Path(tempfile.gettempdir()) / f"recorder-snmp-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return {**os.environ, "SNMP_PERSISTENT_DIR": str(folder), "MIBDIRS": str(MIBS)}


class TrapReceiver:
    """snmptrapd with a v2c community and a v3 authPriv user (SHA-256, AES-128), logging
    every notification decoded by name into a file the test reads."""

    def __init__(self, engine_id: str, port: int | None = None, v2c: bool = True, v3: bool = True) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="recorder-trapd-"))
        self.port = port or free_port(udp=True)
        self.log = self.root / "traps.log"
        config = f"authCommunity log {COMMUNITY}\n" if v2c else ""
        if v3:
            # Traps are authenticated with the sender's engine id, informs with snmptrapd's own.
            config += (
                f"createUser -e 0x{engine_id} {USER} SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
                f"createUser {USER} SHA-256 {AUTH_KEY} AES {PRIV_KEY}\n"
                f"authUser log {USER} priv\n"
            )
        (self.root / "snmptrapd.conf").write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TrapReceiver:
        env = {**tool_env(), "SNMP_PERSISTENT_DIR": str(self.root)}
        self.proc = subprocess.Popen(
            ["snmptrapd", "-f", "-Lf", str(self.log), "-C", "-c", str(self.root / "snmptrapd.conf"),
             *MIB_ARGS, f"udp:127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while "NET-SNMP version" not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, "snmptrapd did not start"
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def notifications(self) -> list[str]:
        """One entry per notification received (snmptrapd writes a header line, then the
        variable bindings on the next)."""
        return [block for block in self.text().split("\n20") if "snmpTrapOID" in block]

    def wait_for(self, *needles: str, timeout: float = 30) -> str:
        """The first notification holding every needle."""
        deadline = time.monotonic() + timeout
        while True:
            for n in self.notifications():
                if all(needle in n for needle in needles):
                    return n
            assert time.monotonic() < deadline, f"no notification with {needles}:\n{self.text()}"
            time.sleep(0.2)


def snmp_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """snmpget, snmpwalk, … with our MIB loaded."""
    return subprocess.run([args[0], *MIB_ARGS, *args[1:]], env=tool_env(), capture_output=True, text=True, timeout=60)
