"""Statistics reads: the roll-ups by level and bucket, the recordings table for what the
roll-ups cannot answer, peak concurrency, and the recount that checks the roll-ups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from appliance.db import stat_sql
from appliance.db.database import provider
from appliance.db.recording_queries import Criteria, build
from appliance.db.sql import rows, run, scalar
from appliance.domain.organization import Scope
from appliance.domain.recordings import RecordingKind
from appliance.domain.reports import ExtensionSort, Piece

# (level, bucket, kind, calls, talk seconds)
BucketRow = tuple[str, int, str, int, int]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _pieces(pieces: Iterable[Piece], params: list[Any], alias: str = "") -> str:
    terms = []
    for p in pieces:
        terms.append(f"({alias}level = ? AND {alias}bucket BETWEEN ? AND ?)")
        params.extend([p.level, p.first, p.last])
    return "(" + " OR ".join(terms) + ")" if terms else "1 = 0"


def totals(pieces: list[Piece]) -> list[BucketRow]:
    """Everything's calls and voicemails per bucket."""
    params: list[Any] = []
    where = _pieces(pieces, params)
    found = rows(f"SELECT level, bucket, kind, calls, talk FROM stat_total WHERE {where}", params)
    return [(r[0], int(r[1]), r[2], int(r[3]), int(r[4])) for r in found]


def pairs(
    pieces: list[Piece],
    orgs: frozenset[int] | None,
    caller_orgs: frozenset[int] | None = None,
    callee_orgs: frozenset[int] | None = None,
) -> list[BucketRow]:
    """Calls per bucket of the pairs of parties' organisations: either party in `orgs`
    (None: any), the caller in `caller_orgs` and the callee in `callee_orgs` when given."""
    conditions: list[str] = []
    fixed: list[Any] = []
    for column, values in (("caller_org", caller_orgs), ("callee_org", callee_orgs)):
        if values is not None:
            listed = sorted(values)
            if not listed:
                return []
            conditions.append(f"{column} IN ({_marks(listed)})")
            fixed.extend(listed)
    # A manager's pairs: those with the caller in their departments, then those with only the
    # callee there, each read through its own index, piece by piece.
    sides: list[tuple[str, list[Any]]] = [("1 = 1", [])]
    if orgs is not None:
        listed = sorted(orgs)
        marks = _marks(listed)
        sides = [
            (f"caller_org IN ({marks})", listed),
            (f"callee_org IN ({marks}) AND caller_org NOT IN ({marks})", listed + listed),
        ]
    out: dict[tuple[str, int, str], list[int]] = {}
    for p in pieces:
        for side, side_params in sides:
            where = " AND ".join(["level = ?", "bucket BETWEEN ? AND ?", side, *conditions])
            found = rows(
                f"SELECT bucket, kind, SUM(calls), SUM(talk) FROM stat_pair WHERE {where} "
                "GROUP BY bucket, kind",
                [p.level, p.first, p.last, *side_params, *fixed],
            )
            for bucket, kind, calls, talk in found:
                sums = out.setdefault((p.level, int(bucket), kind), [0, 0])
                sums[0] += int(calls)
                sums[1] += int(talk)
    return [(k[0], k[1], k[2], v[0], v[1]) for k, v in out.items()]


def departments(pieces: list[Piece]) -> list[tuple[int, str, int, int]]:
    """(organisation, kind, calls, talk) of calls with a party there; organisation 0 holds
    calls with no party in any. A call between two departments counts in both."""
    parts = []
    params: list[Any] = []
    for org, condition in (
        ("caller_org", "caller_org <> 0"),
        ("callee_org", "callee_org <> 0 AND callee_org <> caller_org"),
        ("0", "caller_org = 0 AND callee_org = 0"),
    ):
        parts.append(
            f"SELECT {org} AS org, kind, calls, talk FROM stat_pair "
            f"WHERE {_pieces(pieces, params)} AND {condition}"
        )
    found = rows(
        f"SELECT org, kind, SUM(calls), SUM(talk) FROM ({' UNION ALL '.join(parts)}) p "
        "GROUP BY org, kind",
        params,
    )
    return [(int(r[0]), r[1], int(r[2]), int(r[3])) for r in found]


def _parts(criteria: Criteria) -> list[tuple[str, str, list[Any]]]:
    """(source, where, params) of the live recordings and of those circular recording
    removed, that the criteria match."""
    out = []
    for removed in (False, True):
        sql = build(replace(criteria, removed_by_circular=removed))
        if sql is not None:
            out.append((sql.source, sql.where, sql.params))
    return out


def recorded_hours(criteria: Criteria) -> list[tuple[int, str, int, int]]:
    """(local hour key, kind, calls, talk) of the recordings the criteria match."""
    hour = stat_sql.local_hour("r", provider())
    out: dict[tuple[int, str], list[int]] = {}
    # One kind at a time: every index of the recordings that ranges over time has the kind
    # before the time, and without it a person's own calls are found by scanning a device.
    kinds = [criteria.filter.kind] if criteria.filter.kind else list(RecordingKind)
    for kind in kinds:
        one_kind = replace(criteria, filter=replace(criteria.filter, kind=kind))
        for source, where, params in _parts(one_kind):
            found = rows(
                f"SELECT {hour}, COUNT(*), SUM(r.duration) FROM {source} WHERE {where} GROUP BY 1",
                params,
            )
            for key, calls, talk in found:
                sums = out.setdefault((int(key), kind.value), [0, 0])
                sums[0] += int(calls)
                sums[1] += int(talk or 0)
    return [(k[0], k[1], v[0], v[1]) for k, v in out.items()]


def _epoch_ms(column: str) -> str:
    """Whole milliseconds since 1970 of a UTC time column, computed by the database (a day's
    calls are tens of thousands of rows, too many to parse one by one in Python), exact so
    that a call ending as another begins does not overlap it. SQLite's julianday() holds
    whole milliseconds since its epoch in a double: rounding recovers them."""
    if provider() == "postgres":
        return f"CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)"
    return f"(CAST(ROUND(julianday({column}) * 86400000.0) AS INTEGER) - 210866760000000)"


def call_intervals(criteria: Criteria, ending_after: int | None = None) -> list[tuple[int, int]]:
    """(start, end) in milliseconds since 1970 of the calls the criteria match, for peak
    concurrency; only those still running at `ending_after` (the same unit) when given."""
    matched = replace(criteria, filter=replace(criteria.filter, kind=RecordingKind.CALL))
    start = _epoch_ms("r.started_at")
    out: list[tuple[int, int]] = []
    for source, where, params in _parts(matched):
        extra, extra_params = "", []
        if ending_after is not None:
            extra = f" AND {start} + r.duration * 1000 > ?"
            extra_params = [ending_after]
        found = rows(
            f"SELECT {start}, r.duration FROM {source} WHERE {where}{extra}",
            [*params, *extra_params],
        )
        out.extend((int(r[0]), int(r[0]) + 1000 * int(r[1])) for r in found)
    return out


@dataclass(frozen=True)
class ExtensionRow:
    device_id: int
    extension: str
    org_id: int
    name: str
    calls: int
    talk: int
    outgoing: int
    incoming: int
    voicemails: int


def _sum(column: str, kind: str = "call") -> str:
    return f"SUM(CASE WHEN f.kind = '{kind}' THEN f.{column} ELSE 0 END)"


# PostgreSQL takes no output names inside ORDER BY expressions: the sums are spelt out.
_ORDER = {
    ExtensionSort.EXTENSION: "f.extension",
    ExtensionSort.NAME: "COALESCE(MAX(u.name), '')",  # nobody's numbers first on both databases
    ExtensionSort.CALLS: _sum("calls"),
    ExtensionSort.TALK_TIME: _sum("talk"),
    ExtensionSort.AVERAGE: f"CASE WHEN {_sum('calls')} > 0 "
    f"THEN {_sum('talk')} * 1.0 / {_sum('calls')} ELSE 0 END",
    ExtensionSort.OUTGOING: _sum("outgoing"),
    ExtensionSort.INCOMING: _sum("incoming"),
}


def _extension_scope(scope: Scope, params: list[Any], alias: str) -> str | None:
    """Which extensions' rows the scope sees: its departments' and the actor's own."""
    if scope.everything:
        return "1 = 1"
    parts = []
    if scope.org_ids:
        listed = sorted(scope.org_ids)
        parts.append(f"{alias}org_id IN ({_marks(listed)})")
        params.extend(listed)
    if scope.own_extension is not None and scope.own_device is not None:
        parts.append(f"({alias}device_id = ? AND {alias}extension = ?)")
        params.extend([scope.own_device, scope.own_extension])
    return "(" + " OR ".join(parts) + ")" if parts else None


def _facts_from_rollups(pieces: list[Piece], scope: Scope, params: list[Any]) -> str:
    where = _pieces(pieces, params)
    # The scope inside too, so a manager's rows come through the (level, org_id) index.
    visible = _extension_scope(scope, params, "")
    return (
        "SELECT device_id, extension, org_id, kind, calls, talk, outgoing, incoming "
        f"FROM stat_extension WHERE {where} AND {visible or '1 = 0'}"
    )


def _facts_from_recordings(criteria: Criteria, params: list[Any]) -> str:
    parts = []
    for source, where, part_params in _parts(criteria):
        for ext, org, out_n, in_n, when in stat_sql.extension_sides("r"):
            parts.append(
                f"SELECT COALESCE(r.device_id, 0) AS device_id, {ext} AS extension, "
                f"{org} AS org_id, r.kind AS kind, 1 AS calls, r.duration AS talk, "
                f"{out_n} AS outgoing, {in_n} AS incoming FROM {source} "
                f"WHERE {where} AND {when}"
            )
            params.extend(part_params)
    # No part: conditions no recording can meet (an unknown department or device).
    nothing = (
        "SELECT 0 AS device_id, '' AS extension, 0 AS org_id, 'call' AS kind, 0 AS calls, "
        "0 AS talk, 0 AS outgoing, 0 AS incoming WHERE 1 = 0"
    )
    return " UNION ALL ".join(parts) if parts else nothing


def extensions(
    scope: Scope,
    sort: ExtensionSort,
    descending: bool,
    limit: int,
    offset: int,
    pieces: list[Piece] | None = None,
    criteria: Criteria | None = None,
    with_owners: bool = True,
) -> tuple[int, list[ExtensionRow]]:
    """One page of the per-extension table and how many rows it has: from the roll-ups'
    pieces, or from the recordings the criteria match; owned extensions with no calls are
    listed too when with_owners (the manual lists every employee)."""
    params: list[Any] = []
    if pieces is not None:
        facts = _facts_from_rollups(pieces, scope, params)
    else:
        assert criteria is not None
        facts = _facts_from_recordings(criteria, params)
    if with_owners:
        facts += (
            " UNION ALL SELECT device_id, extension, organization_id, 'call', 0, 0, 0, 0 "
            "FROM extension_owner"
        )
    visible = _extension_scope(scope, params, "f.")
    if visible is None:
        return 0, []
    direction = "DESC" if descending else "ASC"
    order = _ORDER[sort]
    sql = f"""
        SELECT f.device_id, f.extension, MAX(f.org_id), MAX(u.name),
          {_sum("calls")}, {_sum("talk")}, {_sum("outgoing")}, {_sum("incoming")},
          {_sum("calls", "voicemail")}, COUNT(*) OVER ()
        FROM ({facts}) f
        LEFT JOIN extension_owner eo ON eo.device_id = f.device_id AND eo.extension = f.extension
        LEFT JOIN app_user u ON u.id = eo.user_id
        WHERE {visible}
        GROUP BY f.device_id, f.extension
        HAVING SUM(f.calls) <> 0 OR MAX(eo.user_id) IS NOT NULL
        ORDER BY {order} {direction}, f.extension {direction}, f.device_id {direction}
        LIMIT ? OFFSET ?"""
    found = rows(sql, [*params, limit, offset])
    if not found and offset > 0:
        recount = rows(sql, [*params, 1, 0])
        return (int(recount[0][9]) if recount else 0), []
    total = int(found[0][9]) if found else 0
    return total, [
        ExtensionRow(
            device_id=int(r[0]),
            extension=r[1],
            org_id=int(r[2] or 0),
            name=r[3] or "",
            calls=int(r[4]),
            talk=int(r[5]),
            outgoing=int(r[6]),
            incoming=int(r[7]),
            voicemails=int(r[8]),
        )
        for r in found
    ]


def day_calls(days: list[int]) -> dict[int, tuple[int, int]]:
    """Per local day (YYYYMMDD), the calls that started then and how many additions and
    removals its roll-up has seen, from the roll-up."""
    if not days:
        return {}
    found = rows(
        f"SELECT bucket, calls, changes FROM stat_total WHERE level = 'd' AND kind = ? "
        f"AND bucket IN ({_marks(days)})",
        [RecordingKind.CALL.value, *days],
    )
    return {int(r[0]): (int(r[1]), int(r[2])) for r in found}


def days_with_calls() -> list[int]:
    """Local days (YYYYMMDD) on which calls started, in order."""
    found = rows(
        "SELECT bucket FROM stat_total WHERE level = 'd' AND kind = ? AND calls > 0 "
        "ORDER BY bucket",
        [RecordingKind.CALL.value],
    )
    return [int(r[0]) for r in found]


def cached_peaks(days: list[int]) -> dict[int, tuple[int, str]]:
    if not days:
        return {}
    found = rows(f"SELECT day, peak, basis FROM stat_peak WHERE day IN ({_marks(days)})", days)
    return {int(r[0]): (int(r[1]), r[2]) for r in found}


def store_peak(day: int, peak: int, basis: str) -> None:
    # Two reports may compute one day at once: the later write wins, with the same value.
    run(
        "INSERT INTO stat_peak (day, peak, basis) VALUES (?, ?, ?) ON CONFLICT (day) "
        "DO UPDATE SET peak = excluded.peak, basis = excluded.basis",
        [day, peak, basis],
    )


@dataclass(frozen=True)
class Difference:
    table: str
    missing: int  # rows the recount has that the roll-up lacks or holds differently
    extra: int  # rows the roll-up has that the recount does not


def _nonzero(table: str) -> str:
    return f"SELECT {stat_sql.COLUMNS[table]} FROM {table} WHERE calls <> 0 OR talk <> 0"


def lock_for_recount() -> None:
    """Hold off every change of recordings (and so of the roll-ups) until the transaction
    ends, so a recount and the roll-ups are compared at one instant."""
    if provider() == "postgres":
        run("LOCK TABLE recording IN SHARE MODE")
        run("LOCK TABLE stat_total, stat_pair, stat_extension, stat_peak IN EXCLUSIVE MODE")
    else:
        # A write takes SQLite's one write lock for the rest of the transaction.
        run("DELETE FROM stat_peak WHERE day < 0")


def differences() -> list[Difference]:
    """Per roll-up table, how many rows differ from a recount of the recordings."""
    out = []
    for table, select in stat_sql.recount(provider()).items():
        missing = scalar(f"SELECT COUNT(*) FROM ({select} EXCEPT {_nonzero(table)}) d")
        extra = scalar(f"SELECT COUNT(*) FROM ({_nonzero(table)} EXCEPT {select}) d")
        out.append(Difference(table, int(missing), int(extra)))
    return out


def rebuild() -> None:
    """Replace every roll-up with a recount, and forget cached peaks."""
    for table, select in stat_sql.recount(provider()).items():
        run(f"DELETE FROM {table}")
        run(f"INSERT INTO {table} ({stat_sql.COLUMNS[table]}) {select}")
    run("DELETE FROM stat_peak")
