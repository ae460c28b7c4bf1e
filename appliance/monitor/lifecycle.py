"""Each long-running process says in the data directory that it runs, and that it stopped
cleanly: a file still saying "running" whose process is gone is a process that died (kill,
crash, watchdog) whether or not systemd has started another since."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

RUNNING, STOPPED, FAILED = "running", "stopped", "failed"


@dataclass(frozen=True)
class ProcessMark:
    role: str  # "capture", "api", or "api+capture+monitor" for `recorder all`
    services: tuple[str, ...]
    pid: int
    started_at: datetime
    create_time: float  # the kernel's start time of pid: a reused pid is another process
    state: str

    @property
    def alive(self) -> bool:
        try:
            return psutil.Process(self.pid).create_time() == self.create_time
        except (psutil.Error, OSError):
            return False

    @property
    def aborted(self) -> bool:
        """Ended without a clean stop: killed, crashed, or failed and exited."""
        return self.state == FAILED or (self.state == RUNNING and not self.alive)


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def _path(data_dir: Path, role: str) -> Path:
    return run_dir(data_dir) / f"process-{role}.json"


def _write(data_dir: Path, mark: ProcessMark) -> None:
    folder = run_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = _path(data_dir, mark.role)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(
        json.dumps(
            {
                "role": mark.role,
                "services": list(mark.services),
                "pid": mark.pid,
                "started_at": mark.started_at.isoformat(),
                "create_time": mark.create_time,
                "state": mark.state,
            }
        ),
        encoding="utf-8",
    )
    temporary.replace(target)


def mark_started(data_dir: Path, services: tuple[str, ...]) -> ProcessMark | None:
    """Say this process runs these services; the mark it replaces when that one had
    ended abnormally (so the monitor reports it even if it never saw the dead process)."""
    role = "+".join(services)
    previous = read(_path(data_dir, role))
    me = psutil.Process()
    _write(
        data_dir,
        ProcessMark(role, services, me.pid, datetime.now(UTC), me.create_time(), RUNNING),
    )
    if previous is not None and previous.aborted:
        aborted = previous.role + ".aborted"
        _write_aborted(data_dir, aborted, previous)
        return previous
    return None


def _write_aborted(data_dir: Path, name: str, mark: ProcessMark) -> None:
    # Kept beside the new mark until the monitor has reported it.
    _write(
        data_dir,
        ProcessMark(name, mark.services, mark.pid, mark.started_at, mark.create_time, FAILED),
    )


def mark_stopped(data_dir: Path, services: tuple[str, ...], *, failed: bool) -> None:
    role = "+".join(services)
    mark = read(_path(data_dir, role))
    if mark is None or mark.pid != os.getpid():
        return  # a newer process owns the mark now
    state = FAILED if failed else STOPPED
    _write(
        data_dir,
        ProcessMark(role, mark.services, mark.pid, mark.started_at, mark.create_time, state),
    )


def read(path: Path) -> ProcessMark | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ProcessMark(
            str(raw["role"]),
            tuple(raw["services"]),
            int(raw["pid"]),
            datetime.fromisoformat(raw["started_at"]),
            float(raw["create_time"]),
            str(raw["state"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def all_marks(data_dir: Path) -> list[ProcessMark]:
    folder = run_dir(data_dir)
    if not folder.is_dir():
        return []
    found = (read(p) for p in sorted(folder.glob("process-*.json")))
    return [m for m in found if m is not None]


def forget(data_dir: Path, role: str) -> None:
    """The monitor has reported this abort (an ".aborted" mark) or the role is gone."""
    _path(data_dir, role).unlink(missing_ok=True)
