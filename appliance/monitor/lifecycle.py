"""Each long-running process says in the data directory that it runs, and that it stopped
cleanly: a file still saying "running" whose process is gone is a process that died (kill,
crash, watchdog) whether or not systemd has started another since."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RUNNING, STOPPED, FAILED = "running", "stopped", "failed"
PROC = Path("/proc")


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """When pid started, in clock ticks since boot (field 22 of /proc/<pid>/stat); None when
    there is no such process. Read from the process's own file: the services run with
    ProcSubset=pid, which hides /proc/stat (psutil's create_time needs it)."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields follow the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[19])


@dataclass(frozen=True)
class ProcessMark:
    role: str  # "capture", "api", or "api+capture+monitor" for `recorder all`
    services: tuple[str, ...]
    pid: int
    started_at: datetime
    started: int  # start_ticks of pid: a reused pid is another process
    state: str

    @property
    def alive(self) -> bool:
        return start_ticks(self.pid) == self.started

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
                "started": mark.started,
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
    pid = os.getpid()
    _write(
        data_dir,
        ProcessMark(role, services, pid, datetime.now(UTC), start_ticks(pid) or 0, RUNNING),
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
        ProcessMark(name, mark.services, mark.pid, mark.started_at, mark.started, FAILED),
    )


def mark_stopped(data_dir: Path, services: tuple[str, ...], *, failed: bool) -> None:
    role = "+".join(services)
    mark = read(_path(data_dir, role))
    if mark is None or mark.pid != os.getpid():
        return  # a newer process owns the mark now
    state = FAILED if failed else STOPPED
    _write(
        data_dir,
        ProcessMark(role, mark.services, mark.pid, mark.started_at, mark.started, state),
    )


def read(path: Path) -> ProcessMark | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ProcessMark(
            str(raw["role"]),
            tuple(raw["services"]),
            int(raw["pid"]),
            datetime.fromisoformat(raw["started_at"]),
            int(raw["started"]),
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
