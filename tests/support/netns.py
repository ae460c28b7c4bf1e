"""A LAN of network namespaces the tests make (root only): a bridge in a namespace of its
own, hosts joined to it by veth pairs, and the test process itself joined as one more host
so it reaches every address. Nothing is routed off the machine; `close()` removes it all.
Links are cut with blackhole routes on both ends, so the test still reaches every host."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass


def available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"probe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    name: str  # the namespace
    address: str
    interface: str  # its end of the veth, inside the namespace

    def command(self, *argv: str) -> list[str]:
        """argv run inside this host (`ip netns exec` execs it: the same PID)."""
        return ["ip", "netns", "exec", self.name, *argv]


class Lan:
    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.prefix = f"10.{random.randint(64, 250)}.{random.randint(1, 250)}"
        self.bridge_ns = f"rec-br-{self.tag}"
        self.hosts: dict[str, Host] = {}
        self._root_link = f"rt{self.tag}"
        _ip("netns", "add", self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        _ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        # The test process joins at .254.
        _ip("link", "add", self._root_link, "type", "veth", "peer", "name", "up0", "netns", self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "set", "up0", "master", "br0", "up")
        _ip("addr", "add", f"{self.address(254)}/24", "dev", self._root_link)
        _ip("link", "set", self._root_link, "up")

    def address(self, n: int) -> str:
        return f"{self.prefix}.{n}"

    def host(self, name: str, n: int) -> Host:
        ns = f"rec-{name}-{self.tag}"
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", self.bridge_ns, "link", "add", f"p{n}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.bridge_ns, "link", "set", f"p{n}", "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{self.address(n)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        host = Host(ns, self.address(n), "eth0")
        self.hosts[name] = host
        return host

    def cut(self, a: Host, b: Host) -> None:
        """Nothing passes between a and b, either way (each keeps reaching the others)."""
        _ip("-n", a.name, "route", "add", "blackhole", f"{b.address}/32")
        _ip("-n", b.name, "route", "add", "blackhole", f"{a.address}/32")

    def heal(self, a: Host, b: Host) -> None:
        _ip("-n", a.name, "route", "del", "blackhole", f"{b.address}/32")
        _ip("-n", b.name, "route", "del", "blackhole", f"{a.address}/32")

    def close(self) -> None:
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self._root_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.bridge_ns], capture_output=True)
