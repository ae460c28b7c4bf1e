"""Schema step 20: statistics roll-ups, kept by triggers, and why a recording was deleted."""

from __future__ import annotations

from appliance.db import stat_sql
from appliance.db.migrations.step import Step

# Roll-ups per level and bucket (see stat_sql): everything (an administrator's charts), per
# pair of parties' organisations (a manager's), per extension (the tables). Kept by the
# triggers below in the transaction that inserts, deletes or re-points a recording, so a
# report reads a few thousand rows at ten million recordings.
_TABLES = [
    "ALTER TABLE recording ADD COLUMN deleted_reason TEXT",
    """CREATE TABLE stat_total (level TEXT NOT NULL, bucket BIGINT NOT NULL, kind TEXT NOT NULL,
        calls BIGINT NOT NULL, talk BIGINT NOT NULL, changes BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (level, bucket, kind))""",
    """CREATE TABLE stat_pair (level TEXT NOT NULL, bucket BIGINT NOT NULL, kind TEXT NOT NULL,
        caller_org BIGINT NOT NULL, callee_org BIGINT NOT NULL, calls BIGINT NOT NULL,
        talk BIGINT NOT NULL, PRIMARY KEY (level, bucket, kind, caller_org, callee_org))""",
    "CREATE INDEX stat_pair_caller ON stat_pair (level, caller_org, bucket)",
    "CREATE INDEX stat_pair_callee ON stat_pair (level, callee_org, bucket)",
    """CREATE TABLE stat_extension (level TEXT NOT NULL, bucket BIGINT NOT NULL,
        kind TEXT NOT NULL, device_id BIGINT NOT NULL, extension TEXT NOT NULL,
        org_id BIGINT NOT NULL, calls BIGINT NOT NULL, talk BIGINT NOT NULL,
        outgoing BIGINT NOT NULL, incoming BIGINT NOT NULL,
        PRIMARY KEY (level, bucket, kind, device_id, extension))""",
    # Calls circular recording removed still count: reports that read recordings read these.
    f"CREATE INDEX recording_circular ON recording (kind, started_at, duration) "
    f"WHERE deleted_reason = '{stat_sql.CIRCULAR}'",
    "CREATE INDEX stat_extension_org ON stat_extension (level, org_id, bucket)",
    # The appliance's peak of concurrent calls per local day, computed when a report first
    # needs it; `basis` holds the day's and the day before's call counts and changes it was
    # computed from (stat_total.changes counts every addition and removal, which a count
    # alone cannot: a call deleted and another added), so a later change shows it stale.
    "CREATE TABLE stat_peak (day BIGINT PRIMARY KEY, peak INTEGER NOT NULL, basis TEXT NOT NULL)",
]


def _fill(provider: str) -> list[str]:
    return [
        f"INSERT INTO {table} ({stat_sql.COLUMNS[table]}) {select}"
        for table, select in stat_sql.recount(provider).items()
    ]


def triggers(provider: str) -> list[str]:
    """The statements that create the triggers keeping the roll-ups."""
    return _sqlite_triggers() if provider == "sqlite" else _postgres_triggers()


def dropped_triggers(provider: str) -> list[str]:
    """The statements that remove them (a bulk load rebuilds the roll-ups after)."""
    if provider == "sqlite":
        return [f"DROP TRIGGER stat_{n}" for n in ("insert", "update", "delete")]
    return ["DROP TRIGGER stat_rollup ON recording", "DROP FUNCTION stat_fn()"]


def _sqlite_triggers() -> list[str]:
    add = "; ".join(stat_sql.bumps("NEW", "1", "sqlite"))
    take = "; ".join(stat_sql.bumps("OLD", "-1", "sqlite"))
    return [
        f"CREATE TRIGGER stat_insert AFTER INSERT ON recording BEGIN {add}; END",
        f"CREATE TRIGGER stat_update AFTER UPDATE OF {stat_sql.WATCHED} ON recording "
        f"BEGIN {take}; {add}; END",
        f"CREATE TRIGGER stat_delete AFTER DELETE ON recording BEGIN {take}; END",
    ]


def _postgres_triggers() -> list[str]:
    add = "; ".join(stat_sql.bumps("NEW", "1", "postgres"))
    take = "; ".join(stat_sql.bumps("OLD", "-1", "postgres"))
    return [
        f"""CREATE FUNCTION stat_fn() RETURNS trigger AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN {take}; END IF;
          IF TG_OP IN ('INSERT', 'UPDATE') THEN {add}; END IF;
          RETURN NULL;
        END $$ LANGUAGE plpgsql""",
        f"CREATE TRIGGER stat_rollup AFTER INSERT OR DELETE OR UPDATE OF {stat_sql.WATCHED} "
        "ON recording FOR EACH ROW EXECUTE FUNCTION stat_fn()",
    ]


STEP = Step(
    20,
    "statistics roll-ups",
    _TABLES,
    {provider: [*_fill(provider), *triggers(provider)] for provider in ("sqlite", "postgres")},
)
