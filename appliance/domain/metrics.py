"""What the monitor reads every sample: the machine's and the recorder's own figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Where the capture publishes its figures in the data directory, read by the monitor.
CAPTURE_FIGURES_FILE = "run/capture-figures.json"


class ServiceState(StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"  # stopped cleanly (systemctl stop), or never started here
    ABORTED = "ABORTED"  # died, or was restarted after dying, without a clean stop


@dataclass(frozen=True)
class ServiceStatus:
    name: str  # api, capture, scheduler, monitor, failover
    state: ServiceState
    pid: int | None = None
    since: datetime | None = None  # started (running) or found dead (aborted)


@dataclass(frozen=True)
class MetricSample:
    """One frozen reading; the ring and the metric table keep one every 10 s."""

    at: datetime
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    active_calls: int = 0
    packets_per_s: float = 0.0
    drops: int = 0  # datagrams the kernel dropped on the capture's sockets since it started
    setups_last_minute: int = 0
    refused_last_minute: int = 0


@dataclass(frozen=True)
class CaptureFigures:
    """What the capture process publishes every few seconds in the data directory (it never
    waits on the database to say it); counters run from the process's start."""

    pid: int
    at: datetime
    active_calls: int
    calls: int  # answered
    refused: int
    recorded: int
    packets: int
    waiting: int  # calls in the spool waiting to be stored

    def to_json(self) -> dict[str, int | str]:
        return {
            "pid": self.pid,
            "at": self.at.isoformat(),
            "active_calls": self.active_calls,
            "calls": self.calls,
            "refused": self.refused,
            "recorded": self.recorded,
            "packets": self.packets,
            "waiting": self.waiting,
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> CaptureFigures:
        def number(key: str) -> int:
            value = raw.get(key, 0)
            return int(value) if isinstance(value, int | float | str) else 0

        return cls(
            pid=number("pid"),
            at=datetime.fromisoformat(str(raw["at"])),
            active_calls=number("active_calls"),
            calls=number("calls"),
            refused=number("refused"),
            recorded=number("recorded"),
            packets=number("packets"),
            waiting=number("waiting"),
        )


@dataclass(frozen=True)
class SystemMetrics:
    """The latest sample and what goes with it (the console's gauges, the SNMP agent)."""

    sample: MetricSample
    memory_total: int = 0
    disk_total: int = 0
    disk_free: int = 0
    packets_total: int = 0
    recordings_today: int = 0
    spool_bytes: int = 0
    last_recording_at: datetime | None = None
    services: tuple[ServiceStatus, ...] = field(default_factory=tuple)
