"""RTP ports from the configured range: even ports (RTP), bound on demand."""

from __future__ import annotations

import secrets
import socket

from appliance.errors import ApplianceError

RECEIVE_BUFFER = 256 * 1024  # a few seconds of a stream if the receiver falls behind


class PortsExhausted(ApplianceError):
    """Every port of the range is taken."""


class PortPool:
    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self.low, self.high = low + (low % 2), high
        self._taken: set[int] = set()
        # Start anywhere in the range: after a restart, a stream still sent to a port of
        # the last run's call should not land in a new call.
        self._next = self.low + 2 * secrets.randbelow((self.high - self.low) // 2 + 1)

    def bind(self) -> socket.socket:
        """A UDP socket on the next free even port, skipping ports other programs hold."""
        span = (self.high - self.low) // 2 + 1
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 2 <= self.high else self.low
            if port in self._taken:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            self._taken.add(port)
            return sock
        raise PortsExhausted(f"no free RTP port in {self.low}-{self.high}")

    def release(self, port: int) -> None:
        self._taken.discard(port)
