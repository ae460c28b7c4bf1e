"""One sampler behind every reading (psutil, the capture's figures, the database), in the
style of Home Assistant's systemmonitor: each call returns a frozen reading, and the
blocking work runs in a thread, never on the event loop."""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psutil

from appliance.domain.metrics import (
    CAPTURE_FIGURES_FILE,
    CaptureFigures,
    MetricSample,
    ServiceState,
    ServiceStatus,
    SystemMetrics,
)
from appliance.monitor import lifecycle
from appliance.services import alarms
from appliance.services.context import to_local, utcnow

FIGURES_STALE = timedelta(seconds=30)  # older figures are a capture that stopped saying
SERVICES = ("api", "capture", "scheduler", "monitor", "failover")


@dataclass(frozen=True)
class Reading:
    metrics: SystemMetrics
    marks: tuple[lifecycle.ProcessMark, ...]
    database_error: str | None  # why the database did not answer, None when it did


def socket_drops(pid: int, proc: Path = Path("/proc")) -> int:
    """Datagrams the kernel dropped on the UDP sockets pid holds (full receive buffers)."""
    inodes: set[str] = set()
    try:
        for fd in os.scandir(proc / str(pid) / "fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    dropped = 0
    for table in ("udp", "udp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] in inodes:
                dropped += int(fields[12])
    return dropped


def folder_size(folder: Path) -> int:
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def read_figures(data_dir: Path) -> CaptureFigures | None:
    try:
        figures = CaptureFigures.from_json(
            json.loads((data_dir / CAPTURE_FIGURES_FILE).read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return figures if utcnow() - figures.at < FIGURES_STALE else None


def service_states(marks: list[lifecycle.ProcessMark]) -> tuple[ServiceStatus, ...]:
    """Each service's state, from the process marks of the processes that run it."""
    states: dict[str, ServiceStatus] = {}
    for mark in marks:
        if mark.role.endswith(".aborted"):
            continue
        if mark.state == lifecycle.RUNNING and mark.alive:
            status = ServiceStatus("", ServiceState.RUNNING, mark.pid, mark.started_at)
        elif mark.aborted:
            status = ServiceStatus("", ServiceState.ABORTED, mark.pid, mark.started_at)
        else:
            status = ServiceStatus("", ServiceState.STOPPED, mark.pid, mark.started_at)
        for name in mark.services:
            known = states.get(name)
            if known is None or known.state is not ServiceState.RUNNING:
                states[name] = ServiceStatus(name, status.state, status.pid, status.since)
    return tuple(states.get(n, ServiceStatus(n, ServiceState.STOPPED)) for n in SERVICES)


class Sampler:
    """Takes a reading every time it is asked; keeps what per-minute figures need."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._minute: deque[tuple[datetime, CaptureFigures]] = deque()
        self._last_figures: CaptureFigures | None = None
        self._machine()  # primes the CPU counter: the first reading is since now

    @staticmethod
    def _machine() -> tuple[float, float, int]:
        """CPU %, memory % and memory total; zeros where /proc hides them (a unit with
        ProcSubset=pid: the monitor's own unit sees them, the API's does not)."""
        try:
            memory = psutil.virtual_memory()
            return psutil.cpu_percent(interval=None), memory.percent, memory.total
        except OSError:
            return 0.0, 0.0, 0

    def _capture(self, now: datetime) -> tuple[CaptureFigures | None, float, int, int]:
        """The latest figures, packets per second since the last reading, and the calls set
        up and refused in the last minute."""
        figures = read_figures(self.data_dir)
        if figures is None:
            self._minute.clear()
            self._last_figures = None
            return None, 0.0, 0, 0
        per_second = 0.0
        last = self._last_figures
        if last is not None and last.pid == figures.pid and figures.at > last.at:
            per_second = max(0, figures.packets - last.packets) / (
                (figures.at - last.at).total_seconds()
            )
        self._last_figures = figures
        if self._minute and self._minute[-1][1].pid != figures.pid:
            self._minute.clear()  # a new capture process: its counters start again
        self._minute.append((now, figures))
        while self._minute and now - self._minute[0][0] > timedelta(seconds=60):
            self._minute.popleft()
        first = self._minute[0][1]
        return (
            figures,
            per_second,
            figures.calls - first.calls,
            figures.refused - first.refused,
        )

    def read(self) -> Reading:
        """Blocking: call it in a thread."""
        now = utcnow()
        cpu, memory_percent, memory_total = self._machine()
        disk = psutil.disk_usage(str(self.data_dir))
        figures, per_second, setups, refused = self._capture(now)
        drops = socket_drops(figures.pid) if figures is not None else 0
        marks = lifecycle.all_marks(self.data_dir)
        database_error: str | None = None
        last_recording: datetime | None = None
        today = 0
        try:
            midnight = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
            last_recording, today = alarms.recording_activity(midnight)
        except Exception as exc:  # any driver's error: the database did not answer
            database_error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        sample = MetricSample(
            at=now,
            cpu_percent=cpu,
            memory_percent=memory_percent,
            disk_percent=disk.percent,
            active_calls=figures.active_calls if figures else 0,
            packets_per_s=round(per_second, 1),
            drops=drops,
            setups_last_minute=setups,
            refused_last_minute=refused,
        )
        metrics = SystemMetrics(
            sample=sample,
            memory_total=memory_total,
            disk_total=disk.total,
            disk_free=disk.free,
            packets_total=figures.packets if figures else 0,
            recordings_today=today,
            spool_bytes=folder_size(self.data_dir / "spool"),
            last_recording_at=last_recording,
            services=service_states(marks),
        )
        return Reading(metrics, tuple(marks), database_error)


PUBLISHED_FILE = "run/system-metrics.json"
PUBLISHED_STALE = timedelta(seconds=60)


def publish(data_dir: Path, metrics: SystemMetrics) -> None:
    """The monitor's latest reading, for the API (another process, which may not see /proc)."""
    target = data_dir / PUBLISHED_FILE
    temporary = target.with_name(target.name + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(metrics), default=str), encoding="utf-8")
    temporary.replace(target)


def _when(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def published(data_dir: Path) -> SystemMetrics | None:
    """The monitor's latest reading, when it is fresh."""
    try:
        raw = json.loads((data_dir / PUBLISHED_FILE).read_text(encoding="utf-8"))
        sample = raw["sample"]
        at = _when(sample["at"])
        assert at is not None
        metrics = SystemMetrics(
            sample=MetricSample(**{**sample, "at": at}),
            memory_total=int(raw["memory_total"]),
            disk_total=int(raw["disk_total"]),
            disk_free=int(raw["disk_free"]),
            packets_total=int(raw["packets_total"]),
            recordings_today=int(raw["recordings_today"]),
            spool_bytes=int(raw["spool_bytes"]),
            last_recording_at=_when(raw["last_recording_at"]),
            services=tuple(
                ServiceStatus(s["name"], ServiceState(s["state"]), s["pid"], _when(s["since"]))
                for s in raw["services"]
            ),
        )
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None
    return metrics if utcnow() - metrics.sample.at < PUBLISHED_STALE else None
