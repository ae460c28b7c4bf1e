#!/usr/bin/env python3
"""Report latency at 10,000,000 recordings on SQLite and PostgreSQL, the search's cases
beside them, and the ingest rate with the statistics roll-ups on and off.

Fills each database through the real migrations with the search benchmark's data (300
branches, 5,000 extensions, a year of calls), the roll-up triggers set aside during the
bulk load and the roll-ups then built by the same recount `recorder admin check-stats`
uses; the days' peaks are computed as the scheduler's statistics job does. Then times the
appliance's own report code (services.reports) for every template, as an administrator,
a manager of 50 departments and an employee, over random days, months and years. Prints
a table with the machine it ran on. PostgreSQL is started on 127.0.0.1 by this script.

    python benchmarks/reports.py [--rows 10000000] [--runs 30] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import search  # the search benchmark's data and cases
from machine_info import machine

INGEST_ROWS = 20_000


def _execute(url: str, statements: list[str]) -> None:
    from appliance.db.connect import DatabaseUrl

    conn = DatabaseUrl.parse(url).connect()
    cur = conn.cursor()
    for statement in statements:
        cur.execute(statement)
    conn.commit()
    conn.close()


def _recording_indexes(url: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the recording table's own indexes."""
    from appliance.db.connect import DatabaseUrl

    parsed = DatabaseUrl.parse(url)
    conn = parsed.connect()
    cur = conn.cursor()
    if parsed.provider == "sqlite":
        cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recording' AND sql IS NOT NULL")
    else:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'recording' AND indexdef NOT LIKE '%UNIQUE%'")
    found = [(name, sql) for name, sql in cur.fetchall()]
    conn.close()
    return found


def fill(url: str, n: int) -> dict[str, float]:
    """Load n recordings with the recordings' indexes and the roll-up triggers set aside
    (random inserts into ten indexes of a 10 M-row table thrash any cache), then build the
    indexes and the roll-ups the way a bulk import would."""
    from appliance.db.connect import DatabaseUrl
    from appliance.db.migrations import migrate, v20_statistics
    from appliance.db.stat_sql import COLUMNS, recount

    provider = DatabaseUrl.parse(url).provider
    migrate(DatabaseUrl.parse(url))
    indexes = _recording_indexes(url)
    _execute(url, [*v20_statistics.dropped_triggers(provider), *(f"DROP INDEX {name}" for name, _ in indexes)])
    load = search.fill(url, n)
    started = time.perf_counter()
    big_cache = ["PRAGMA cache_size = -2000000"] if provider == "sqlite" else ["SET maintenance_work_mem = '1GB'"]
    _execute(url, [*big_cache, *(sql for _, sql in indexes)])
    load += time.perf_counter() - started
    started = time.perf_counter()
    _execute(
        url,
        [*big_cache]
        + [f"INSERT INTO {t} ({COLUMNS[t]}) {select}" for t, select in recount(provider).items()]
        + v20_statistics.triggers(provider)
        + (["ANALYZE"] if provider == "sqlite" else []),
    )
    build = time.perf_counter() - started
    started = time.perf_counter()
    from appliance.db.database import open_database
    from appliance.services import reports

    open_database(url)
    days = reports.fill_peaks()
    return {"load_s": load, "rollups_s": build, "peaks_s": time.perf_counter() - started, "peak_days": days}


def measure(runs: int) -> dict[str, list[float]]:
    from pony.orm import db_session

    from appliance.domain.organization import EVERYTHING, Scope
    from appliance.domain.recordings import RecordingFilter
    from appliance.domain.reports import ReportTemplate
    from appliance.services import reports

    rng = random.Random(5)
    end = search.NOW.date()

    def a_day() -> date:
        return end - timedelta(days=rng.randrange(1, 360))

    def request(case: str) -> reports.ReportRequest:
        template = case.split(" ")[0]
        if template == "DAILY":
            return reports.ReportRequest(ReportTemplate.DAILY, at=a_day())
        if template == "MONTHLY":
            return reports.ReportRequest(ReportTemplate.MONTHLY, at=a_day())
        if template == "YEARLY":
            return reports.ReportRequest(ReportTemplate.YEARLY, at=date(2026, 6, 1))
        first = a_day().replace(day=1)
        start = datetime(first.year, first.month, 1, tzinfo=UTC)
        following = (start + timedelta(days=32)).replace(day=1)
        if template == "DEPARTMENT":
            return reports.ReportRequest(ReportTemplate.DEPARTMENT, start=start, end=following)
        if case.endswith("two conditions"):
            chosen = RecordingFilter(kind=None, caller=f"{rng.randrange(10, 60)}*", min_duration=60)
            return reports.ReportRequest(ReportTemplate.CUSTOM, start=start, end=following, filter=chosen)
        return reports.ReportRequest(ReportTemplate.CUSTOM, start=start, end=following)

    def scope(who: str) -> Scope:
        if who == "manager":
            return Scope(org_ids=frozenset(rng.sample(range(1, search.DEVICES + 1), 50)))
        if who == "employee":
            ext = 1000 + rng.randrange(search.EXTENSIONS)
            return Scope(own_device=search.org_of(ext), own_extension=str(ext))
        return EVERYTHING

    cases = [
        (f"{template} ({who})", who)
        for template in ("DAILY", "MONTHLY", "YEARLY", "CUSTOM month")
        for who in ("admin", "manager", "employee")
    ] + [("DEPARTMENT (admin)", "admin"), ("CUSTOM month, two conditions (admin)", "admin")]
    out: dict[str, list[float]] = {}
    for case, who in cases:
        times = []
        for run in range(runs + 1):
            wanted = request(case)
            chosen = scope(who)
            t0 = time.perf_counter()
            with db_session:
                reports.report_in_scope(chosen, who == "admin", wanted)
            if run:  # the first is the warm-up
                times.append((time.perf_counter() - t0) * 1000)
        out[case] = times
    return out


def ingest(url: str) -> dict[str, float]:
    """Rows per second of single-row inserts (as ingest writes them), roll-ups on then off."""
    from appliance.db.connect import DatabaseUrl
    from appliance.db.migrations import v20_statistics

    parsed = DatabaseUrl.parse(url)
    out = {}
    rows = []
    for row in search.rows(2 * INGEST_ROWS, seed=9):
        values = list(row)
        values[0] += search_total  # ids, SNs and call ids after the loaded ones
        values[1] = f"{values[1]}_i"
        values[3] = f"ingest-{values[0]}"
        rows.append(values)
    for state, chunk in (("on", rows[:INGEST_ROWS]), ("off", rows[INGEST_ROWS:])):
        if state == "off":
            _execute(url, v20_statistics.dropped_triggers(parsed.provider))
        conn = parsed.connect()
        cur = conn.cursor()
        mark = "?" if parsed.provider == "sqlite" else "%s"
        sql = f"INSERT INTO recording ({search.COLUMNS}) VALUES ({','.join([mark] * 25)})"
        started = time.perf_counter()
        for values in chunk:
            if parsed.provider == "sqlite":
                values[8] = values[21] = values[8].isoformat(" ") + ".000000"
            cur.execute(sql, values)
            conn.commit()  # one transaction per recording, as ingest has
        out[state] = len(chunk) / (time.perf_counter() - started)
        conn.close()
    return out


search_total = 0


def worker(url: str, n: int, runs: int) -> None:
    global search_total
    search_total = n
    loaded = fill(url, n)
    timings = measure(runs)
    searched = search.measure(url, runs)
    rates = ingest(url)
    print(json.dumps({"load": loaded, "timings": timings, "search": searched, "ingest": rates}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.runs)
        return
    print(f"# report benchmark, {args.rows:,} recordings, {args.runs} runs per case")
    print(f"# {datetime.now():%Y-%m-%d %H:%M} on {machine()}")
    backends = [args.only] if args.only else ["sqlite", "postgres"]
    print(f"{'backend':<10} {'case':<40} {'median ms':>10} {'p95 ms':>10}")
    for name in backends:
        result = search.run_backend(name, args.rows, args.runs, script=__file__)
        load = result["load"]
        print(f"{name:<10} {'(bulk load, s)':<40} {load['load_s']:>10.1f}")
        print(f"{name:<10} {'(roll-ups built by recount, s)':<40} {load['rollups_s']:>10.1f}")
        print(f"{name:<10} {'(peaks of ' + str(load['peak_days']) + ' days, s)':<40} {load['peaks_s']:>10.1f}")
        for case, values in result["timings"].items():
            print(f"{name:<10} {case:<40} {statistics.median(values):>10.2f} {search.p95(values):>10.2f}")
        for case, values in result["search"].items():
            print(f"{name:<10} {'search: ' + case:<40} {statistics.median(values):>10.2f} {search.p95(values):>10.2f}")
        for state, rate in result["ingest"].items():
            print(f"{name:<10} {'(ingest, roll-ups ' + state + ', rows/s)':<40} {rate:>10.0f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
