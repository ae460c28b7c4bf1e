"""The event log's cost: what an idle follower spends waiting (SQLite polls, PostgreSQL
listens), and how long a change takes to reach a follower in another process.

    python benchmarks/event_log.py [--events 200] [--idle 30] [--only sqlite|postgres]

Per backend: a follower process starts and waits idle for --idle seconds (its CPU over that
time, per hour, is the poll's cost), then a writer process appends --events entries 20 ms
apart, each in its own transaction; the table gives the append time and the delay from each
commit to the follower's seeing it (p50, p99, max).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import machine

GAP_S = 0.02


def follower(url: str, count: int) -> None:
    """Follow from the current end; report CPU while idle and when each entry was seen."""
    from appliance.db.database import open_database
    from appliance.services import events

    open_database(url)
    start_id = events.latest_id()
    print("ready", flush=True)
    began, cpu0 = time.time(), _cpu()
    idle: tuple[float, float] | None = None
    seen: dict[int, float] = {}
    for entry in events.follow(after_id=start_id):
        now = time.time()
        if idle is None:
            idle = (now - began, _cpu() - cpu0)
        seen[int(entry.params["seq"])] = now
        if len(seen) == count:
            break
    assert idle is not None
    print(json.dumps({"idle_s": idle[0], "idle_cpu_s": idle[1], "seen": seen}), flush=True)


def writer(url: str, count: int) -> None:
    """Append `count` entries, one transaction each; report each commit's time."""
    from pony.orm import db_session

    from appliance.db.database import open_database
    from appliance.domain.events import EventKind
    from appliance.services import events
    from appliance.services.context import SYSTEM

    open_database(url)
    committed: dict[int, float] = {}
    spent: list[float] = []
    for seq in range(count):
        t0 = time.perf_counter()
        with db_session:
            events.record(EventKind.SETTINGS_CHANGED, SYSTEM, seq=seq)
        spent.append(time.perf_counter() - t0)
        committed[seq] = time.time()
        time.sleep(GAP_S)
    print(json.dumps({"committed": committed, "append_s": spent}), flush=True)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_backend(name: str, count: int, idle_s: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-events-{name}-"))
    pg = None
    try:
        if name == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        else:
            from tests.support.postgres import PostgresServer

            pg = PostgresServer().start()
            url = pg.create_database("events")
        env = {**os.environ, "RECORDER_DATA_DIR": str(tmp)}
        me = [sys.executable, __file__]
        subprocess.run([*me, "--migrate", url], env=env, check=True)
        follow = subprocess.Popen([*me, "--follow", url, "--events", str(count)], env=env,
                                  stdout=subprocess.PIPE, text=True)
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "ready"
        time.sleep(idle_s)
        wrote = subprocess.run([*me, "--write", url, "--events", str(count)], env=env,
                               capture_output=True, text=True, check=True)
        followed = json.loads(follow.stdout.readline())
        follow.wait(timeout=30)
        written = json.loads(wrote.stdout.strip().splitlines()[-1])
        delays = [(followed["seen"][k] - t) * 1000 for k, t in written["committed"].items()]
        return {
            "idle_cpu_s_per_hour": followed["idle_cpu_s"] / followed["idle_s"] * 3600,
            "append_ms_p50": statistics.median(written["append_s"]) * 1000,
            "delay_ms_p50": _pct(delays, 0.5),
            "delay_ms_p99": _pct(delays, 0.99),
            "delay_ms_max": max(delays),
        }
    finally:
        if pg:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--migrate")
    parser.add_argument("--follow")
    parser.add_argument("--write")
    args = parser.parse_args()
    if args.migrate:
        from appliance.db.connect import DatabaseUrl
        from appliance.db.migrations import migrate

        migrate(DatabaseUrl.parse(args.migrate))
        return
    if args.follow:
        return follower(args.follow, args.events)
    if args.write:
        return writer(args.write, args.events)
    print(f"# event log, {args.events} changes 20 ms apart, follower idle {args.idle:.0f} s first")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}")
    print("| backend | idle follower CPU (s/hour) | append p50 (ms) | commit→seen p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|")
    for name in [args.only] if args.only else ["sqlite", "postgres"]:
        r = run_backend(name, args.events, args.idle)
        print(f"| {name} | {r['idle_cpu_s_per_hour']:.1f} | {r['append_ms_p50']:.2f} | {r['delay_ms_p50']:.0f} | "
              f"{r['delay_ms_p99']:.0f} | {r['delay_ms_max']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
