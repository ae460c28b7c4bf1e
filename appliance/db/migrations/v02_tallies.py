"""Schema step 2: live recording tallies."""

from __future__ import annotations

from appliance.db.migrations.step import Step

# Live recordings per (kind, zero duration), kept by triggers so the unfiltered total
# of the list is one row read instead of a scan of tens of millions of index entries.
V2_COMMON = [
    "CREATE TABLE recording_tally (kind TEXT NOT NULL, zero INTEGER NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (kind, zero))",
    "INSERT INTO recording_tally (kind, zero, n) SELECT kind, CASE WHEN duration = 0 THEN 1 ELSE 0 END, "
    "COUNT(*) FROM recording WHERE deleted_at IS NULL GROUP BY 1, 2",
]
ZERO_NEW = "CASE WHEN NEW.duration = 0 THEN 1 ELSE 0 END"
ZERO_OLD = "CASE WHEN OLD.duration = 0 THEN 1 ELSE 0 END"
_DEC_OLD = f"UPDATE recording_tally SET n = n - 1 WHERE kind = OLD.kind AND zero = {ZERO_OLD}"
V2_SQLITE = [
    f"""CREATE TRIGGER recording_tally_insert AFTER INSERT ON recording WHEN NEW.deleted_at IS NULL
    BEGIN
      INSERT INTO recording_tally (kind, zero, n) VALUES (NEW.kind, {ZERO_NEW}, 1)
        ON CONFLICT (kind, zero) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_update AFTER UPDATE OF deleted_at, duration, kind ON recording
    BEGIN
      {_DEC_OLD} AND OLD.deleted_at IS NULL;
      INSERT INTO recording_tally (kind, zero, n) SELECT NEW.kind, {ZERO_NEW}, 1
        WHERE NEW.deleted_at IS NULL ON CONFLICT (kind, zero) DO UPDATE SET n = n + 1;
    END""",
    f"""CREATE TRIGGER recording_tally_delete AFTER DELETE ON recording WHEN OLD.deleted_at IS NULL
    BEGIN
      {_DEC_OLD};
    END""",
]
V2_POSTGRES = [
    f"""CREATE FUNCTION recording_tally_fn() RETURNS trigger AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        {_DEC_OLD};
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO recording_tally (kind, zero, n) VALUES (NEW.kind, {ZERO_NEW}, 1)
          ON CONFLICT (kind, zero) DO UPDATE SET n = recording_tally.n + 1;
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER recording_tally AFTER INSERT OR DELETE OR UPDATE OF deleted_at, duration, kind "
    "ON recording FOR EACH ROW EXECUTE FUNCTION recording_tally_fn()",
]

STEP = Step(2, "live recording tallies", V2_COMMON, {"sqlite": V2_SQLITE, "postgres": V2_POSTGRES})
