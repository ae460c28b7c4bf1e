"""Schema step 5: tallies per parties' organisations."""

from __future__ import annotations

from appliance.db.migrations.step import Step
from appliance.db.migrations.v02_tallies import ZERO_NEW, ZERO_OLD

# The tally gains the parties' organisations (0 for none), so a manager's unfiltered total
# is a sum over the few (caller org, callee org) pairs instead of a scan.
_KEY_NEW = f"NEW.kind, {ZERO_NEW}, COALESCE(NEW.caller_org_id, 0), COALESCE(NEW.callee_org_id, 0)"
_DEC_OLD_V5 = (
    f"UPDATE recording_tally SET n = n - 1 WHERE kind = OLD.kind AND zero = {ZERO_OLD} "
    "AND caller_org = COALESCE(OLD.caller_org_id, 0) AND callee_org = COALESCE(OLD.callee_org_id, 0)"
)
_TALLY_COLUMNS = "kind, zero, caller_org, callee_org, n"
_TALLY_CONFLICT = "ON CONFLICT (kind, zero, caller_org, callee_org)"
V5_COMMON = [
    "DROP TABLE recording_tally",
    "CREATE TABLE recording_tally (kind TEXT NOT NULL, zero INTEGER NOT NULL, caller_org BIGINT NOT NULL, "
    "callee_org BIGINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (kind, zero, caller_org, callee_org))",
    f"INSERT INTO recording_tally ({_TALLY_COLUMNS}) SELECT kind, CASE WHEN duration = 0 THEN 1 ELSE 0 END, "
    "COALESCE(caller_org_id, 0), COALESCE(callee_org_id, 0), COUNT(*) FROM recording "
    "WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4",
]
V5_SQLITE = [
    "DROP TRIGGER recording_tally_insert",
    "DROP TRIGGER recording_tally_update",
    "DROP TRIGGER recording_tally_delete",
    f"""CREATE TRIGGER recording_tally_insert AFTER INSERT ON recording WHEN NEW.deleted_at IS NULL
    BEGIN
      INSERT INTO recording_tally ({_TALLY_COLUMNS}) VALUES ({_KEY_NEW}, 1)
        {_TALLY_CONFLICT} DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_update
    AFTER UPDATE OF deleted_at, duration, kind, caller_org_id, callee_org_id ON recording
    BEGIN
      {_DEC_OLD_V5} AND OLD.deleted_at IS NULL;
      INSERT INTO recording_tally ({_TALLY_COLUMNS}) SELECT {_KEY_NEW}, 1
        WHERE NEW.deleted_at IS NULL {_TALLY_CONFLICT} DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_delete AFTER DELETE ON recording WHEN OLD.deleted_at IS NULL
    BEGIN
      {_DEC_OLD_V5};
    END""",
]
V5_POSTGRES = [
    "DROP TRIGGER recording_tally ON recording",
    f"""CREATE OR REPLACE FUNCTION recording_tally_fn() RETURNS trigger AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        {_DEC_OLD_V5};
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO recording_tally ({_TALLY_COLUMNS}) VALUES ({_KEY_NEW}, 1)
          {_TALLY_CONFLICT} DO UPDATE SET n = recording_tally.n + 1;
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER recording_tally AFTER INSERT OR DELETE OR UPDATE OF deleted_at, duration, kind, "
    "caller_org_id, callee_org_id ON recording FOR EACH ROW EXECUTE FUNCTION recording_tally_fn()",
]

STEP = Step(
    5,
    "tallies per parties' organisations",
    V5_COMMON,
    {"sqlite": V5_SQLITE, "postgres": V5_POSTGRES},
)
