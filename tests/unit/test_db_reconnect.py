"""A database that goes away between binding and checking the tables: the next try
finishes the job instead of failing forever on Pony's refusal of a second bind."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_bind_interrupted_after_the_bind_succeeds_on_the_next_try(tmp_path):
    script = textwrap.dedent(
        f"""
        from appliance.db import database
        from appliance.db.entities import db

        real = db.check_tables
        calls = []

        def flaky():
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("the server went away")  # a fault on demand
            real()

        db.check_tables = flaky
        url = "sqlite:///{tmp_path / 'db.sqlite'}"
        try:
            database.open_database(url)
        except ConnectionError:
            pass
        else:
            raise SystemExit("the first try should have failed")
        database.open_database(url)
        assert len(calls) == 2
        print("bound", database.provider())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "bound sqlite" in done.stdout
