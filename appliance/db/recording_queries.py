"""Search SQL for recordings: every filter of the manual, newest first, with the total."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from appliance.db.sql import from_db_time, rows, scalar, to_db_time
from appliance.db.stat_sql import CIRCULAR
from appliance.domain.organization import EVERYTHING, Scope
from appliance.domain.recordings import RecordingFilter, party_pattern, sn_prefix, sn_start_window

COLUMNS = (
    "r.id, r.sn, r.device_id, r.caller, r.callee, r.started_at, r.duration, r.score, "
    "r.play_count, r.tag_count, r.kind, r.file_format, r.direction, r.duration_ms, "
    "r.caller_org_id, r.callee_org_id, r.protected"
)


@dataclass(frozen=True)
class RecordingRow:
    id: int
    sn: str
    device_id: int | None
    caller: str
    callee: str
    started_at: datetime
    duration: int
    score: int | None
    play_count: int
    tag_count: int
    kind: str
    file_format: str
    direction: str | None
    duration_ms: int
    caller_org_id: int | None
    callee_org_id: int | None
    protected: bool

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> RecordingRow:
        values = list(row)
        values[5] = from_db_time(values[5])
        values[3] = values[3] or ""
        values[4] = values[4] or ""
        values[16] = bool(values[16])
        return cls(*values)


@dataclass(frozen=True)
class Criteria:
    """A RecordingFilter with names already resolved to ids by the service, and a scope."""

    filter: RecordingFilter
    scope: Scope = EVERYTHING
    device_ids: list[int] | None = None  # None: no device condition; []: matches nothing
    caller_org_ids: frozenset[int] | None = None  # likewise
    callee_org_ids: frozenset[int] | None = None
    show_zero_duration: bool = True
    ids: list[int] | None = None
    # Statistics only: leave out calls either of whose parties is in these organisations,
    # and read the live recordings or those circular recording removed (which still count).
    outside_org_ids: frozenset[int] | None = None
    removed_by_circular: bool = False


def _in(column: str, values: Iterable[Any], where: list[str], params: list[Any]) -> None:
    listed = sorted(values)
    where.append(f"{column} IN ({','.join('?' * len(listed))})")
    params.extend(listed)


def scope_condition(scope: Scope, where: list[str], params: list[Any]) -> bool:
    """Add the scope's condition; False when the scope sees nothing at all."""
    if scope.everything:
        return True
    parts: list[str] = []
    if scope.org_ids:
        for column in ("r.caller_org_id", "r.callee_org_id"):
            sub: list[str] = []
            _in(column, scope.org_ids, sub, params)
            parts.extend(sub)
    if scope.own_extension is not None:
        parts.append("(r.device_id = ? AND (r.caller = ? OR r.callee = ?))")
        params.extend([scope.own_device, scope.own_extension, scope.own_extension])
    if not parts:
        return False
    where.append("(" + " OR ".join(parts) + ")")
    return True


def _party(column: str, value: str, where: list[str], params: list[Any]) -> None:
    text, prefix = party_pattern(value)
    if prefix:
        # A range keeps the (column, kind, started_at) index usable, unlike LIKE.
        where.append(f"r.{column} >= ? AND r.{column} < ?")
        params.extend([text, text + "\U0010ffff"])
    else:
        where.append(f"r.{column} = ?")
        params.append(text)


@dataclass(frozen=True)
class Sql:
    source: str
    where: str
    params: list[Any]
    order: str


def build(criteria: Criteria) -> Sql | None:
    """The FROM, WHERE and ORDER BY of a search; None when it can match nothing."""
    f = criteria.filter
    source, order = "recording r", "r.started_at DESC, r.id DESC"
    where = ["r.deleted_at IS NULL"]
    params: list[Any] = []
    if criteria.removed_by_circular:
        # The literal, not a parameter, so the partial index on these rows serves.
        where = [f"r.deleted_reason = '{CIRCULAR}' AND r.deleted_at IS NOT NULL"]
    if f.tag:
        # Tag rows carry their recording's kind and time, so a tag search walks the
        # (name, kind, started_at) index newest first instead of the whole recording table.
        source = "tag t JOIN recording r ON r.id = t.recording_id"
        order = "t.started_at DESC, t.recording_id DESC"
        where.append("t.name = ?")
        params.append(f.tag)
        if f.kind is not None:
            where.append("t.kind = ?")
            params.append(f.kind.value)
        if f.started_from:
            where.append("t.started_at >= ?")
            params.append(to_db_time(f.started_from))
        if f.started_to:
            where.append("t.started_at <= ?")
            params.append(to_db_time(f.started_to))
    if not scope_condition(criteria.scope, where, params):
        return None
    for column, values in (
        ("r.id", criteria.ids),
        ("r.device_id", criteria.device_ids),
        ("r.caller_org_id", criteria.caller_org_ids),
        ("r.callee_org_id", criteria.callee_org_ids),
    ):
        if values is not None:
            if not values:
                return None
            _in(column, values, where, params)
    if criteria.outside_org_ids:
        orgs = sorted(criteria.outside_org_ids)
        marks = ",".join("?" * len(orgs))
        where.append(
            f"COALESCE(r.caller_org_id, 0) NOT IN ({marks})"
            f" AND COALESCE(r.callee_org_id, 0) NOT IN ({marks})"
        )
        params.extend(orgs + orgs)
    if f.kind is not None:
        where.append("r.kind = ?")
        params.append(f.kind.value)
    if f.caller:
        _party("caller", f.caller, where, params)
    if f.callee:
        _party("callee", f.callee, where, params)
    if f.started_from:
        where.append("r.started_at >= ?")
        params.append(to_db_time(f.started_from))
    if f.started_to:
        where.append("r.started_at <= ?")
        params.append(to_db_time(f.started_to))
    if f.min_duration is not None:
        where.append("r.duration >= ?")
        params.append(f.min_duration)
    if f.max_duration is not None:
        where.append("r.duration <= ?")
        params.append(f.max_duration)
    if not criteria.show_zero_duration:
        where.append("r.duration > 0")
    if f.sn:
        # An SN is found by its beginning (a day, a minute), as numbers are with '*'.
        start = sn_prefix(f.sn)
        where.append("r.sn >= ? AND r.sn < ?")
        params.extend([start, start + "\U0010ffff"])
        window = sn_start_window(start)
        if window:
            # Matches cluster on one day: without the window, the newest-first walk of the
            # time index reads everything after that day (1.7 s at 1 M rows on PostgreSQL).
            where.append("r.started_at >= ? AND r.started_at < ?")
            params.extend([to_db_time(window[0]), to_db_time(window[1])])
    if f.score is not None:
        where.append("r.score = ?")
        params.append(f.score)
    return Sql(source, " AND ".join(where), params, order)


def _newest_first(
    criteria: Criteria, columns: str, limit: int, offset: int
) -> list[tuple[Any, ...]]:
    sql = build(criteria)
    if sql is None:
        return []
    text = (
        f"SELECT {columns} FROM {sql.source} WHERE {sql.where} "
        f"ORDER BY {sql.order} LIMIT ? OFFSET ?"
    )
    return rows(text, [*sql.params, limit, offset])


def search(criteria: Criteria, limit: int, offset: int) -> list[RecordingRow]:
    return [RecordingRow.from_row(row) for row in _newest_first(criteria, COLUMNS, limit, offset)]


def search_ids(criteria: Criteria, limit: int) -> list[int]:
    return [row[0] for row in _newest_first(criteria, "r.id", limit, 0)]


def _unfiltered(criteria: Criteria) -> bool:
    """True when nothing but the tab, the zero-length setting and the scope narrows the list."""
    # Compared whole, so any narrowing added to Criteria later leaves the fast path.
    plain = Criteria(
        RecordingFilter(kind=criteria.filter.kind),
        scope=criteria.scope,
        show_zero_duration=criteria.show_zero_duration,
    )
    return criteria == plain


def _tally_total(criteria: Criteria) -> int:
    """The total from the trigger-kept tally, plus an own-calls remainder counted by index."""
    scope = criteria.scope
    terms: list[str] = ["1 = 1"]
    values: list[Any] = []
    if criteria.filter.kind is not None:
        terms.append("kind = ?")
        values.append(criteria.filter.kind.value)
    if not criteria.show_zero_duration:
        terms.append("zero = 0")
    total = 0
    if scope.everything or scope.org_ids:
        if not scope.everything:
            orgs = sorted(scope.org_ids)
            marks = ",".join("?" * len(orgs))
            terms.append(f"(caller_org IN ({marks}) OR callee_org IN ({marks}))")
            values.extend(orgs + orgs)
        sql = f"SELECT COALESCE(SUM(n), 0) FROM recording_tally WHERE {' AND '.join(terms)}"
        total = int(scalar(sql, values))
    if not scope.everything and scope.own_extension is not None:
        # Own calls that the departments above did not already count.
        own_only = Scope(own_device=scope.own_device, own_extension=scope.own_extension)
        built = build(replace(criteria, scope=own_only))
        if built is not None:
            where, params = built.where, list(built.params)
            if scope.org_ids:
                orgs = sorted(scope.org_ids)
                marks = ",".join("?" * len(orgs))
                where += (
                    f" AND COALESCE(r.caller_org_id, 0) NOT IN ({marks})"
                    f" AND COALESCE(r.callee_org_id, 0) NOT IN ({marks})"
                )
                params.extend(orgs + orgs)
            total += int(scalar(f"SELECT COUNT(*) FROM {built.source} WHERE {where}", params))
    return total


def count(criteria: Criteria) -> int:
    if _unfiltered(criteria):
        return _tally_total(criteria)
    sql = build(criteria)
    if sql is None:
        return 0
    return int(scalar(f"SELECT COUNT(*) FROM {sql.source} WHERE {sql.where}", sql.params))


def by_ids(ids: list[int], scope: Scope = EVERYTHING) -> list[RecordingRow]:
    """The live recordings among ids that the scope sees, in the order asked."""
    if not ids:
        return []
    criteria = Criteria(RecordingFilter(kind=None), scope=scope, ids=ids)
    found = {row.id: row for row in search(criteria, len(ids), 0)}
    return [found[i] for i in ids if i in found]


def tags_for(ids: list[int]) -> dict[int, list[tuple[str, float | None]]]:
    out: dict[int, list[tuple[str, float | None]]] = {i: [] for i in ids}
    if not ids:
        return out
    sql = (
        "SELECT recording_id, name, position FROM tag "
        f"WHERE recording_id IN ({','.join('?' * len(ids))}) ORDER BY position, id"
    )
    for rec_id, name, position in rows(sql, ids):
        out[rec_id].append((name, position))
    return out


def tag_suggestions(prefix: str, limit: int, scope: Scope = EVERYTHING) -> list[str]:
    """Tags used before on recordings the scope sees, most used first ("历史标签")."""
    where: list[str] = []
    params: list[Any] = []
    if prefix:
        where.append("t.name >= ? AND t.name < ?")
        params.extend([prefix, prefix + "\U0010ffff"])
    source = "tag t"
    if not scope.everything:
        source = "tag t JOIN recording r ON r.id = t.recording_id"
        where.append("r.deleted_at IS NULL")
        if not scope_condition(scope, where, params):
            return []
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT t.name FROM {source} {clause} GROUP BY t.name ORDER BY COUNT(*) DESC, t.name LIMIT ?"
    return [r[0] for r in rows(sql, [*params, limit])]


def sn_taken(sn: str) -> bool:
    return scalar("SELECT 1 FROM recording WHERE sn = ?", [sn]) is not None


def live_files(after_id: int, limit: int) -> list[tuple[Any, ...]]:
    """Stored-file facts of live recordings, in id order, for the integrity check."""
    return rows(
        "SELECT id, sn, relpath, disk_size, plain_size, sha256, encrypted FROM recording "
        "WHERE deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
        [after_id, limit],
    )


def oldest_live(limit: int) -> list[int]:
    """Ids of the oldest live recordings that are not protected, for circular recording."""
    found = rows(
        "SELECT id FROM recording WHERE deleted_at IS NULL AND NOT protected"
        " ORDER BY started_at, id LIMIT ?",
        [limit],
    )
    return [r[0] for r in found]


def relpaths_under(directory: str) -> set[str]:
    """Files that recordings (live or deleted) name inside one store directory."""
    prefix = directory.rstrip("/") + "/"
    found = rows(
        "SELECT relpath FROM recording WHERE relpath >= ? AND relpath < ?",
        [prefix, prefix[:-1] + "0"],  # '0' sorts right after '/'
    )
    return {r[0] for r in found}


def recent_play(recording_id: int, user_id: int | None, since: datetime) -> bool:
    sql = (
        "SELECT 1 FROM play_event WHERE recording_id = ? AND COALESCE(user_id, 0) = ? "
        "AND created_at >= ? LIMIT 1"
    )
    return scalar(sql, [recording_id, user_id or 0, to_db_time(since)]) is not None
