"""The lease SQL on SQLite: one taker of a due job, renewals only by the holder, a taker again
once the lease has expired, and the run a dead holder left marked interrupted. Pony binds one
database per process, so the checks run in a child process of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_lease_sql_on_sqlite(tmp_path):
    script = textwrap.dedent(
        f"""
        from datetime import UTC, datetime, timedelta
        from pony.orm import db_session
        from appliance.db import database, job_queries as q

        database.open_database("sqlite:///{tmp_path / 'db.sqlite'}")
        t0 = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
        s = timedelta(seconds=1)
        with db_session:
            assert q.add_missing("j", "spec", t0 + 10 * s, t0)
            assert not q.add_missing("j", "other", t0, t0)  # kept as it was
            assert q.get("j").schedule == "spec" and q.get("j").next_run_at == t0 + 10 * s
            assert not q.take_lease("j", "a", t0, t0 + 30 * s)  # not due yet
            assert q.take_lease("j", "a", t0 + 10 * s, t0 + 40 * s)
            assert not q.take_lease("j", "b", t0 + 20 * s, t0 + 50 * s)  # held by a
            assert not q.renew_lease("j", "b", t0 + 60 * s)
            assert q.renew_lease("j", "a", t0 + 45 * s)
            first = q.start_run(q.get("j").id, "a", t0 + 10 * s)
            # a dies: its lease runs out and b takes the job, still due, and runs it again
            assert not q.take_lease("j", "b", t0 + 45 * s, t0 + 75 * s)  # not yet expired
            assert q.take_lease("j", "b", t0 + 46 * s, t0 + 76 * s)
            assert q.get("j").lease_owner == "b"
            assert not q.renew_lease("j", "a", t0 + 90 * s)  # a, back, learns it lost it
            second = q.start_run(q.get("j").id, "b", t0 + 46 * s)
            assert q.finish_run(second, "j", "b", t0 + 50 * s, q.OK, 4000, None, t0 + 3600 * s)
            assert not q.finish_run(first, "j", "a", t0 + 51 * s, q.OK, 1, None, t0)  # lost
            job = q.get("j")
            assert (job.lease_owner, job.lease_until, job.next_run_at) == (None, None, t0 + 3600 * s)
            assert (job.last_result, job.last_duration_ms, job.last_run_at) == ("ok", 4000, t0 + 50 * s)
            runs = q.runs_of("j")
            assert [(r.runner, r.result) for r in runs] == [("a", "ok"), ("b", "ok")]
            assert q.reschedule("j", "new", t0) and not q.reschedule("j", "new", t0 + s)
            assert q.delete_runs_before(t0 + 11 * s, 100) == 1
        with db_session:  # a run left unfinished is marked interrupted by the next start
            assert q.take_lease("j", "c", t0 + 100 * s, t0 + 130 * s)
            third = q.start_run(q.get("j").id, "c", t0 + 100 * s)
            assert q.take_lease("j", "d", t0 + 131 * s, t0 + 160 * s)
            q.start_run(q.get("j").id, "d", t0 + 131 * s)
            found = {{r.id: r.result for r in q.runs_of("j")}}
            assert found[third] == "interrupted", found
        print("leases ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "leases ok" in done.stdout
