"""The statistics roll-ups' SQL: which recordings count, in which buckets, for which
extensions. One text, used by the triggers that keep the roll-ups, by the recount that
checks them and by the reports that fall back to the recordings table."""

from __future__ import annotations

from appliance.domain.recordings import DeletionReason

# A recording counts while it is live, and after circular recording removed it (its call
# happened); one a person deleted leaves the statistics.
CIRCULAR = DeletionReason.CIRCULAR.value


def counted(alias: str) -> str:
    return f"({alias}.deleted_at IS NULL OR {alias}.deleted_reason = '{CIRCULAR}')"


def local_hour(alias: str, provider: str) -> str:
    """YYYYMMDDHH of the call's start in the appliance's zone of that time.

    The SN begins with exactly that wall-clock time (YYYYMMDD_HHMMSS), so reports, SNs and
    file names always agree, across DST and a later change of zone; a row whose SN does
    not (none we write) counts by its UTC hour."""
    if provider == "postgres":
        return (
            f"(CASE WHEN {alias}.sn ~ '^[0-9]{{8}}_[0-9]{{2}}' "
            f"THEN CAST(substr({alias}.sn, 1, 8) || substr({alias}.sn, 10, 2) AS BIGINT) "
            f"ELSE CAST(to_char({alias}.started_at, 'YYYYMMDDHH24') AS BIGINT) END)"
        )
    return (
        f"(CASE WHEN {alias}.sn GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_[0-9][0-9]*' "
        f"THEN CAST(substr({alias}.sn, 1, 8) || substr({alias}.sn, 10, 2) AS INTEGER) "
        f"ELSE CAST(strftime('%Y%m%d%H', {alias}.started_at) AS INTEGER) END)"
    )


def weekday(hour: str, provider: str) -> str:
    """0 (Sunday) to 6 of a YYYYMMDDHH expression."""
    day = f"CAST({hour} / 100 AS TEXT)"
    if provider == "postgres":
        return f"CAST(EXTRACT(DOW FROM to_date({day}, 'YYYYMMDD')) AS BIGINT)"
    iso = f"substr({day}, 1, 4) || '-' || substr({day}, 5, 2) || '-' || substr({day}, 7, 2)"
    return f"CAST(strftime('%w', {iso}) AS INTEGER)"


# Levels of the roll-ups: an hour, a day, a month, a year (extensions only) and a weekday's
# hour within a month (w) and within a year (x) for the heat map, each as an integer a range
# of buckets can bound.
SERIES_LEVELS = ("h", "d", "m", "w", "x")
EXTENSION_LEVELS = ("d", "m", "y")


def bucket(level: str, hour: str, provider: str) -> str:
    """The bucket of an hour expression at a level column's value."""
    weekday_hour = f"{weekday(hour, provider)} * 100 + {hour} % 100"
    return (
        f"CASE {level} WHEN 'h' THEN {hour} WHEN 'd' THEN {hour} / 100 "
        f"WHEN 'm' THEN {hour} / 10000 WHEN 'y' THEN {hour} / 1000000 "
        f"WHEN 'w' THEN ({hour} / 10000) * 1000 + {weekday_hour} "
        f"ELSE ({hour} / 1000000) * 1000 + {weekday_hour} END"
    )


def levels(names: tuple[str, ...]) -> str:
    """A one-column table of level names, to cross with a row."""
    return "(" + " UNION ALL ".join(f"SELECT '{n}' AS lv" for n in names) + ") l"


def caller_is_extension(alias: str) -> str:
    """The caller is one of ours: an employee owns the number on the device, or the
    direction says the call left from it, or nothing says either side is outside."""
    return (
        f"({alias}.caller <> '' AND ({alias}.caller_org_id IS NOT NULL "
        f"OR {alias}.direction IN ('out', 'internal') "
        f"OR ({alias}.direction IS NULL AND {alias}.callee_org_id IS NULL)))"
    )


def callee_is_extension(alias: str) -> str:
    return (
        f"({alias}.callee <> '' AND ({alias}.callee_org_id IS NOT NULL "
        f"OR {alias}.direction IN ('in', 'internal') "
        f"OR ({alias}.direction IS NULL AND {alias}.caller_org_id IS NULL)))"
    )


def extension_sides(alias: str) -> list[tuple[str, str, str, str, str]]:
    """Per party that may be an extension: its number, organisation, whether it called and
    was called (1/0), and when it counts; a call to oneself is one row with both."""
    self_call = f"{alias}.callee = {alias}.caller AND {callee_is_extension(alias)}"
    return [
        (
            f"{alias}.caller",
            f"COALESCE({alias}.caller_org_id, 0)",
            "1",
            f"CASE WHEN {self_call} THEN 1 ELSE 0 END",
            caller_is_extension(alias),
        ),
        (
            f"{alias}.callee",
            f"COALESCE({alias}.callee_org_id, 0)",
            "0",
            "1",
            f"{callee_is_extension(alias)} AND NOT ({alias}.callee = {alias}.caller "
            f"AND {caller_is_extension(alias)})",
        ),
    ]


def _upsert(provider: str, table: str, key: str, sums: tuple[str, ...], extra: str = "") -> str:
    own = f"{table}." if provider == "postgres" else ""
    sets = ", ".join(f"{c} = {own}{c} + excluded.{c}" for c in sums)
    return f"ON CONFLICT ({key}) DO UPDATE SET {sets}{extra}"


TOTAL_KEY = "level, bucket, kind"
PAIR_KEY = "level, bucket, kind, caller_org, callee_org"
EXTENSION_KEY = "level, bucket, kind, device_id, extension"


def bumps(alias: str, sign: str, provider: str) -> list[str]:
    """The statements that add (sign '1') or take away ('-1') one recording's facts."""
    hour = local_hour(alias, provider)
    where = counted(alias)
    b = bucket("l.lv", hour, provider)
    series = levels(SERIES_LEVELS)
    return [
        f"INSERT INTO stat_total (level, bucket, kind, calls, talk, changes) "
        f"SELECT l.lv, {b}, {alias}.kind, {sign}, {sign} * {alias}.duration, 1 FROM {series} "
        f"WHERE {where} {_upsert(provider, 'stat_total', TOTAL_KEY, ('calls', 'talk', 'changes'))}",
        f"INSERT INTO stat_pair (level, bucket, kind, caller_org, callee_org, calls, talk) "
        f"SELECT l.lv, {b}, {alias}.kind, COALESCE({alias}.caller_org_id, 0), "
        f"COALESCE({alias}.callee_org_id, 0), {sign}, {sign} * {alias}.duration FROM {series} "
        f"WHERE {where} {_upsert(provider, 'stat_pair', PAIR_KEY, ('calls', 'talk'))}",
        *(
            f"INSERT INTO stat_extension (level, bucket, kind, device_id, extension, org_id, "
            f"calls, talk, outgoing, incoming) "
            f"SELECT l.lv, {b}, {alias}.kind, COALESCE({alias}.device_id, 0), {ext}, {org}, "
            f"{sign}, {sign} * {alias}.duration, {sign} * {out_n}, {sign} * {in_n} "
            f"FROM {levels(EXTENSION_LEVELS)} WHERE {where} AND {when} "
            + _upsert(
                provider,
                "stat_extension",
                EXTENSION_KEY,
                ("calls", "talk", "outgoing", "incoming"),
                # An addition carries the extension's department now; a removal carries the
                # one the recording had, which may be gone (a deleted or moved employee).
                ", org_id = excluded.org_id" if sign == "1" else "",
            )
            for ext, org, out_n, in_n, when in extension_sides(alias)
        ),
    ]


# What a change of these columns can move between buckets, extensions or organisations.
WATCHED = (
    "deleted_at, deleted_reason, duration, kind, caller, callee, direction, device_id, "
    "caller_org_id, callee_org_id, sn"
)


def recount(provider: str, alias: str = "r") -> dict[str, str]:
    """Per roll-up table, the SELECT that computes it from the recordings (same columns)."""
    hour = local_hour(alias, provider)
    b = bucket("l.lv", hour, provider)
    src = f"recording {alias}"
    where = counted(alias)
    return {
        "stat_total": (
            f"SELECT l.lv, {b}, {alias}.kind, COUNT(*), SUM({alias}.duration) "
            f"FROM {src} CROSS JOIN {levels(SERIES_LEVELS)} WHERE {where} GROUP BY 1, 2, 3"
        ),
        "stat_pair": (
            f"SELECT l.lv, {b}, {alias}.kind, COALESCE({alias}.caller_org_id, 0), "
            f"COALESCE({alias}.callee_org_id, 0), COUNT(*), SUM({alias}.duration) "
            f"FROM {src} CROSS JOIN {levels(SERIES_LEVELS)} WHERE {where} GROUP BY 1, 2, 3, 4, 5"
        ),
        "stat_extension": (
            "SELECT lv, b, kind, device_id, ext, MAX(org), COUNT(*), SUM(duration), "
            "SUM(out_n), SUM(in_n) FROM ("
            + " UNION ALL ".join(
                f"SELECT l.lv AS lv, {b} AS b, {alias}.kind AS kind, "
                f"COALESCE({alias}.device_id, 0) AS device_id, {ext} AS ext, {org} AS org, "
                f"{alias}.duration AS duration, {out_n} AS out_n, {in_n} AS in_n "
                f"FROM {src} CROSS JOIN {levels(EXTENSION_LEVELS)} WHERE {where} AND {when}"
                for ext, org, out_n, in_n, when in extension_sides(alias)
            )
            + ") f GROUP BY 1, 2, 3, 4, 5"
        ),
    }


COLUMNS = {
    "stat_total": "level, bucket, kind, calls, talk",
    "stat_pair": "level, bucket, kind, caller_org, callee_org, calls, talk",
    "stat_extension": "level, bucket, kind, device_id, extension, org_id, calls, talk, "
    "outgoing, incoming",
}
KEYS = {"stat_total": TOTAL_KEY, "stat_pair": PAIR_KEY, "stat_extension": EXTENSION_KEY}
