"""systemd integration: readiness, watchdog and stopping notices, and the journal.

systemd-python is used when it is installed (the appliance image has it); otherwise the
notify protocol is spoken directly on $NOTIFY_SOCKET, which is all sd_notify does. Outside
systemd there is no socket and every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger(__name__)

try:  # pragma: no cover - depends on the machine
    from systemd.journal import JournalHandler

    # Run from the clone, mypy sees the systemd/ unit folder as a namespace package with no
    # daemon; with systemd-python installed it sees an untyped module: either may hold.
    from systemd import daemon as _daemon  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover
    _daemon = None
    JournalHandler = None


def notify(state: str) -> bool:
    """Send one notify message such as READY=1; False when not under systemd."""
    if _daemon is not None:
        return bool(_daemon.notify(state))
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError as exc:
            log.warning("cannot notify systemd: %s", exc)
            return False
    return True


def watchdog_interval() -> float | None:
    """Half the unit's WatchdogSec, when systemd asked this process for pings."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2_000_000)
    except ValueError:
        return None


async def keep_watchdog_fed() -> None:
    """Ping from the event loop itself, so a loop that stalls stops pinging and is restarted."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def use_journal_when_present() -> None:
    """Under systemd, log to the journal with structured fields instead of stderr."""
    if JournalHandler is not None and os.environ.get("INVOCATION_ID"):
        root = logging.getLogger()
        root.handlers[:] = [JournalHandler(SYSLOG_IDENTIFIER="recorder")]
