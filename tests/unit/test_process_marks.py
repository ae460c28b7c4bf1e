"""Process marks tell a death from a clean stop; the kernel's drops are read per socket."""

from __future__ import annotations

import socket
import subprocess
import sys

from appliance.domain.metrics import ServiceState
from appliance.monitor import lifecycle
from appliance.monitor.sampler import service_states, socket_drops


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_clean_stop_is_not_an_abort_and_a_death_is(tmp_path):
    assert lifecycle.mark_started(tmp_path, ("capture",)) is None
    mark = lifecycle.read(tmp_path / "run" / "process-capture.json")
    assert mark is not None and mark.alive and not mark.aborted
    lifecycle.mark_stopped(tmp_path, ("capture",), failed=False)
    assert not lifecycle.all_marks(tmp_path)[0].aborted
    lifecycle.mark_stopped(tmp_path, ("capture",), failed=True)
    assert lifecycle.all_marks(tmp_path)[0].aborted


def test_a_restart_after_a_death_keeps_the_dead_ones_mark(tmp_path):
    lifecycle.mark_started(tmp_path, ("api", "failover"))
    path = tmp_path / "run" / "process-api+failover.json"
    dead = _dead_pid()
    path.write_text(path.read_text().replace(f'"pid": {lifecycle.read(path).pid}', f'"pid": {dead}'))
    previous = lifecycle.mark_started(tmp_path, ("api", "failover"))
    assert previous is not None and previous.pid == dead
    roles = {m.role: m for m in lifecycle.all_marks(tmp_path)}
    assert roles["api+failover.aborted"].pid == dead and roles["api+failover.aborted"].aborted
    assert roles["api+failover"].alive
    states = {s.name: s.state for s in service_states(list(roles.values()))}
    assert states["api"] is ServiceState.RUNNING and states["capture"] is ServiceState.STOPPED
    lifecycle.forget(tmp_path, "api+failover.aborted")
    assert [m.role for m in lifecycle.all_marks(tmp_path)] == ["api+failover"]


def test_a_reused_pid_is_another_process(tmp_path):
    lifecycle.mark_started(tmp_path, ("monitor",))
    path = tmp_path / "run" / "process-monitor.json"
    path.write_text(path.read_text().replace("\"started\": ", "\"started\": 1"))
    assert lifecycle.read(path).aborted


def test_socket_drops_counts_only_this_processs_sockets():
    mine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mine.bind(("127.0.0.1", 0))
    mine.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(200):  # far more than a 1 KiB buffer holds: the kernel drops the rest
        sender.sendto(b"x" * 500, mine.getsockname())
    import os

    assert socket_drops(os.getpid()) > 0
    assert socket_drops(_dead_pid()) == 0
    mine.close()
    sender.close()
