"""Where a SIP message came from, and how to send to it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Send = Callable[[bytes], None]


@dataclass(frozen=True)
class Peer:
    source: tuple[str, int]
    send: Send
    transport: str  # "UDP" or "TCP"
