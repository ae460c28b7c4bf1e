#!/usr/bin/env python3
"""Search latency at 1,000,000 recordings on SQLite and PostgreSQL.

Fills each database through the real migrations, then times the appliance's own search
code (services.catalogue.search: first page plus total, and the page query alone) for:
no filter, a caller, a time + duration range, a tag, and the total alone. Prints a
table with the machine it ran on. PostgreSQL is started on 127.0.0.1 by this script.

    python benchmarks/search.py [--rows 1000000] [--runs 60] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine_info import machine

EXTENSIONS = 5000
DEVICES = 300
TAGS = 50
TAGGED_SHARE = 0.05
BATCH = 20_000
# Rows are bulk-loaded as the database stores times (naive UTC); filters are given as the
# services take them (aware).
NOW_UTC = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1)


def org_of(extension: int) -> int:
    """Department of an extension; department d records on device d (one branch each)."""
    return extension % DEVICES + 1


def rows(n: int, seed: int = 1):
    rng = random.Random(seed)
    span = 365 * 86400
    for i in range(1, n + 1):
        started = NOW - timedelta(seconds=rng.randrange(span))
        ext = 1000 + rng.randrange(EXTENSIONS)
        org = org_of(ext)
        caller = str(ext)
        if rng.random() < 0.5:  # an internal call to a colleague of the same branch
            peer = ext + DEVICES * rng.randrange(1, 5)
            callee, callee_org = str(peer), org_of(peer)
        else:
            callee, callee_org = f"138{rng.randrange(10**8):08d}", None
        duration = 0 if rng.random() < 0.02 else rng.randrange(1, 900)
        score = rng.randrange(1, 11) if rng.random() < 0.1 else None
        kind = "voicemail" if rng.random() < 0.05 else "call"
        yield (
            i, f"{started:%Y%m%d_%H%M%S}_{callee}_{i}", org, f"bench-{i}", kind, None,
            caller, callee, started, duration, duration * 1000, score, 0,
            1 if rng.random() < TAGGED_SHARE else 0, "MP3", f"recordings/x/{i}.mp3.enc",
            1000, 900, "0" * 64, True, "upload", started, None, org, callee_org,
        )


COLUMNS = (
    "id, sn, device_id, call_id, kind, direction, caller, callee, started_at, duration, duration_ms, "
    "score, play_count, tag_count, file_format, relpath, disk_size, plain_size, sha256, encrypted, "
    "source, created_at, deleted_at, caller_org_id, callee_org_id"
)


def fill(url: str, n: int) -> float:
    from appliance.db.connect import DatabaseUrl
    from appliance.db.migrations import migrate

    parsed = DatabaseUrl.parse(url)
    migrate(parsed)
    conn = parsed.connect()
    cur = conn.cursor()
    started = time.perf_counter()
    sqlite = parsed.provider == "sqlite"
    mark = "?" if sqlite else "%s"
    if sqlite:
        cur.execute("BEGIN")
    cur.executemany(
        f"INSERT INTO device (id, alias, mode, address, secret_sealed, cache_address, pullback_hours, pull_protocol, "
        f"pull_path, pull_username, pull_interval, pull_interval_unit, created_at) VALUES "
        f"({','.join([mark] * 13)})",
        [(d, f"gw{d}", "PUSH", f"10.0.{d // 256}.{d % 256}", "v1:x", "", 1, "", "", "", 1, "DAY", NOW) for d in range(1, DEVICES + 1)],
    )
    cur.executemany(
        f"INSERT INTO organization (id, name, prefix, device_id, parent_id, created_at) VALUES "
        f"({','.join([mark] * 6)})",
        [(d, f"dept{d}", "".join(chr(65 + (d // 26**k) % 26) for k in range(3)), d, None, NOW) for d in range(1, DEVICES + 1)],
    )
    batch, tags = [], []
    insert = f"INSERT INTO recording ({COLUMNS}) VALUES ({','.join([mark] * 25)})"

    def to_sql(row):
        if not sqlite:
            return row
        r = list(row)
        r[8] = r[8].isoformat(" ") + ".000000" if len(r[8].isoformat(" ")) == 19 else r[8].isoformat(" ")
        r[21] = r[8]
        return r

    def insert_many(sql: str, values: list) -> None:
        if sqlite:
            cur.executemany(sql, values)
        else:
            from psycopg2.extras import execute_values

            execute_values(cur, sql.split(" VALUES ")[0] + " VALUES %s", values, page_size=1000)

    tag_insert = (
        "INSERT INTO tag (recording_id, name, position, user_id, created_at, kind, started_at) "
        f"VALUES ({','.join([mark] * 7)})"
    )
    rng = random.Random(2)
    for row in rows(n):
        batch.append(to_sql(row))
        if row[13]:
            when = to_sql(row)[8]
            tags.append((row[0], f"tag{rng.randrange(TAGS)}", 1.0, None, when, row[4], when))
        if len(batch) >= BATCH:
            insert_many(insert, batch)
            batch.clear()
            if not sqlite:
                conn.commit()
    if batch:
        insert_many(insert, batch)
    insert_many(tag_insert, tags)
    if sqlite:
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    else:
        cur.execute("SELECT setval('recording_id_seq', (SELECT MAX(id) FROM recording))")
        cur.execute("SELECT setval('device_id_seq', (SELECT MAX(id) FROM device))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    conn.close()
    return time.perf_counter() - started


def measure(url: str, runs: int) -> dict[str, list[float]]:
    from pony.orm import db_session

    from appliance.db import recording_queries
    from appliance.db.database import open_database
    from appliance.domain.organization import EVERYTHING, Scope
    from appliance.domain.recordings import RecordingFilter
    from appliance.services import catalogue

    open_database(url)
    rng = random.Random(3)

    def filters(case: str) -> RecordingFilter:
        if case == "no filter":
            return RecordingFilter()
        if case == "caller":
            return RecordingFilter(caller=str(1000 + rng.randrange(EXTENSIONS)))
        if case == "time + duration":
            start = NOW_UTC - timedelta(days=rng.randrange(7, 365))
            return RecordingFilter(started_from=start, started_to=start + timedelta(days=7), min_duration=60, max_duration=300)
        if case == "SN prefix (a day)":
            day = NOW - timedelta(days=rng.randrange(1, 365))
            return RecordingFilter(sn=f"{day:%Y%m%d}")
        return RecordingFilter(tag=f"tag{rng.randrange(TAGS)}")

    def scope(case: str) -> Scope:
        if case == "manager of 50 depts":
            return Scope(org_ids=frozenset(rng.sample(range(1, DEVICES + 1), 50)))
        if case == "employee (own calls)":
            ext = 1000 + rng.randrange(EXTENSIONS)
            return Scope(own_device=org_of(ext), own_extension=str(ext))
        return EVERYTHING

    out: dict[str, list[float]] = {}
    cases = ("no filter", "caller", "time + duration", "tag", "SN prefix (a day)", "manager of 50 depts", "employee (own calls)")
    for case in cases:
        pages, totals = [], []
        for run in range(runs + 1):
            f = filters(case) if scope(case) is EVERYTHING else RecordingFilter()
            chosen = scope(case)
            t0 = time.perf_counter()
            with db_session:
                criteria = catalogue.criteria_for(f, chosen)
                recording_queries.search(criteria, 20, 0)
            t1 = time.perf_counter()
            with db_session:
                criteria = catalogue.criteria_for(f, chosen)
                recording_queries.search(criteria, 20, 0)
                recording_queries.count(criteria)
            t2 = time.perf_counter()
            if run:  # the first is the warm-up
                pages.append((t1 - t0) * 1000)
                totals.append((t2 - t1) * 1000)
        out[f"{case}: page"] = pages
        out[f"{case}: page + total"] = totals
    return out


def worker(url: str, n: int, runs: int) -> None:
    load = fill(url, n)
    result = measure(url, runs)
    print(json.dumps({"load_seconds": load, "timings": result}))


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def run_backend(name: str, n: int, runs: int, script: str = __file__) -> dict:
    """Run script's worker on a fresh database of the backend (PostgreSQL started here);
    its last line of output, as JSON. The scratch folder goes afterwards (10 M rows fill
    gigabytes)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{Path(script).stem}-{name}-"))
    pg = None
    try:
        if name == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        else:
            from tests.support.postgres import PostgresServer

            pg = PostgresServer().start()
            url = pg.create_database("bench")
        env = {**os.environ, "RECORDER_DATA_DIR": str(tmp)}
        out = subprocess.run(
            [sys.executable, script, "--worker", url, "--rows", str(n), "--runs", str(runs)],
            env=env, capture_output=True, text=True,
        )
        if out.returncode:
            sys.exit(f"{name} worker failed:\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.runs)
        return
    print(f"# search benchmark, {args.rows:,} recordings, {args.runs} runs per case")
    print(f"# {datetime.now():%Y-%m-%d %H:%M} on {machine()}")
    backends = [args.only] if args.only else ["sqlite", "postgres"]
    print(f"{'backend':<10} {'case':<28} {'median ms':>10} {'p95 ms':>10}")
    for name in backends:
        result = run_backend(name, args.rows, args.runs)
        print(f"{name:<10} {'(bulk load, s)':<28} {result['load_seconds']:>10.1f}")
        for case, values in result["timings"].items():
            print(f"{name:<10} {case:<28} {statistics.median(values):>10.2f} {p95(values):>10.2f}")


if __name__ == "__main__":
    main()
