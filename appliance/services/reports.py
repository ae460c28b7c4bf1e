"""Statistics (统计分析): the five report templates, in the actor's scope, from the roll-ups
where they can answer and from the recordings where they cannot; peak concurrency; the
roll-ups' consistency check."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from pony.orm import db_session

from appliance.db import device_queries, org_queries, stat_queries
from appliance.db.recording_queries import Criteria
from appliance.db.stat_queries import BucketRow, Difference
from appliance.domain.organization import Scope
from appliance.domain.recordings import RecordingFilter
from appliance.domain.reports import (
    EXTENSION_COVER,
    MAX_PAGE_SIZE,
    PEAK_LOOKBACK,
    PEAK_SCAN_UP_TO,
    WEEK_LEVELS,
    ExtensionSort,
    Grouping,
    Period,
    Piece,
    ReportMeasure,
    ReportTemplate,
    check_reportable,
    cover,
    edges,
    hour_key,
    key_time,
    label_of,
    label_of_key,
    labels,
    peaks,
    period_for,
    week_pieces,
    weekday_of,
)
from appliance.domain.rules import check_page
from appliance.errors import Busy, InvalidInput, PermissionDenied
from appliance.services import settings
from appliance.services.access import access_of
from appliance.services.catalogue import criteria_for
from appliance.services.context import Actor, from_local, to_local, utcnow

# A report computes at most this many days' peaks itself; the scheduler's statistics job
# computes the rest (after a restore, or the first time a year is asked for).
PEAKS_INLINE = 7


@dataclass(frozen=True)
class ReportRequest:
    template: ReportTemplate
    at: date | None = None
    start: datetime | None = None  # aware
    end: datetime | None = None
    filter: RecordingFilter | None = None
    measure: ReportMeasure = ReportMeasure.CALLS
    page: int = 1
    page_size: int = 20
    sort: ExtensionSort = ExtensionSort.EXTENSION
    descending: bool = False
    peaks: bool = True  # compute peak concurrency
    heat_map: bool = True  # compute calls by weekday and hour


@dataclass(frozen=True)
class ReportPoint:
    label: str  # "2026-12-06 14:00", "2026-12-06", "2026-12", or a department's name
    calls: int
    talk_seconds: int
    voicemails: int
    peak_concurrent: int | None = None
    organization_id: int | None = None  # the department template's slices; None: no department


@dataclass(frozen=True)
class ReportExtension:
    device: str
    extension: str
    name: str
    organization: str | None
    calls: int
    talk_seconds: int
    average_seconds: int
    outgoing: int
    incoming: int
    voicemails: int


@dataclass(frozen=True)
class HeatCell:
    weekday: int  # 0 Sunday .. 6 Saturday
    hour: int
    calls: int
    talk_seconds: int


@dataclass(frozen=True)
class Report:
    template: ReportTemplate
    grouping: Grouping
    start: datetime  # aware UTC
    end: datetime
    series: list[ReportPoint]
    extensions_total: int
    extensions: list[ReportExtension]
    peak_concurrent: int | None
    heat_map: list[HeatCell]
    calls: int
    talk_seconds: int
    voicemails: int
    from_rollups: bool


_ROLLUP_CONDITIONS = frozenset({"kind", "caller_org", "callee_org", "started_from", "started_to"})
_SERIES_LEVELS = {
    Grouping.HOUR: ("h",),
    Grouping.DAY: ("d", "h"),
    Grouping.MONTH: ("m", "d", "h"),
    Grouping.DEPARTMENT: ("m", "d", "h"),
}


def _conditions(f: RecordingFilter) -> set[str]:
    """The filter's conditions that narrow a report (kind does not: both measures show)."""
    plain = RecordingFilter(kind=None)
    return {
        name
        for name in f.__dataclass_fields__
        if name != "kind" and getattr(f, name) != getattr(plain, name)
    }


def _wall(value: datetime | None) -> datetime | None:
    """The appliance's wall-clock time of an instant, naive (the domain's periods are)."""
    if value is None:
        return None
    local = to_local(value)
    return datetime.combine(local.date(), local.time())


@dataclass(frozen=True)
class _Plan:
    """One report's period, whose calls it counts, and whether the roll-ups can answer."""

    period: Period
    scope: Scope
    criteria: Criteria  # the actor's scope, the filter's conditions and the period
    conditions: set[str]
    rollups: bool  # only conditions the roll-ups hold, and whole hours
    # The chart and the heat map read the same hours of the recordings: once per report.
    # (Keyed by the criteria's text: they hold lists, which do not hash.)
    _hours: dict[str, list[BucketRow]] = field(default_factory=dict, compare=False)

    def recorded_hours(self, criteria: Criteria) -> list[BucketRow]:
        """Calls and voicemails per hour of the recordings the criteria match."""
        key = repr(criteria)
        if key not in self._hours:
            self._hours[key] = [
                ("h", k, kind, c, t) for k, kind, c, t in stat_queries.recorded_hours(criteria)
            ]
        return self._hours[key]

    @property
    def everything(self) -> bool:
        return self.scope.everything and not self.conditions

    def org_filters(self) -> tuple[frozenset[int] | None, frozenset[int] | None]:
        return self.criteria.caller_org_ids, self.criteria.callee_org_ids


def _plan(scope: Scope, is_admin: bool, request: ReportRequest) -> _Plan:
    if request.template is ReportTemplate.DEPARTMENT and not is_admin:
        raise PermissionDenied("only administrators may compare departments")
    check_page(request.page, request.page_size, MAX_PAGE_SIZE)
    chosen = request.filter or RecordingFilter(kind=None)
    for name, value in (
        ("at", request.at),
        ("from", request.start),
        ("to", request.end),
        ("startedFrom", chosen.started_from),
        ("startedTo", chosen.started_to),
    ):
        check_reportable(name, value)
    at = request.at or to_local(utcnow()).date()
    start, end = _wall(request.start), _wall(request.end)
    if start is None and chosen.started_from is not None:
        start = _wall(chosen.started_from)
    if end is None and chosen.started_to is not None:
        end = _wall(chosen.started_to)
    period = period_for(request.template, at, start, end)
    conditions = _conditions(chosen) - {"started_from", "started_to"}
    if request.template is ReportTemplate.DEPARTMENT and conditions:
        raise InvalidInput(
            "the department report takes no search conditions", field="filter", code="not_allowed"
        )
    start_utc, end_utc = from_local(period.start), from_local(period.end)
    timed = replace(
        chosen,
        kind=None,
        started_from=start_utc,
        started_to=end_utc - timedelta(microseconds=1),
    )
    criteria = criteria_for(timed, scope)
    criteria = replace(criteria, show_zero_duration=True)
    rollups = conditions <= _ROLLUP_CONDITIONS and period.hour_aligned
    return _Plan(period, scope, criteria, conditions, rollups)


def _own_remainder(plan: _Plan) -> Criteria | None:
    """The actor's own calls that their departments do not already hold (None: none)."""
    scope = plan.scope
    if scope.everything or scope.own_extension is None:
        return None
    own = Scope(everything=False, own_device=scope.own_device, own_extension=scope.own_extension)
    return replace(plan.criteria, scope=own, outside_org_ids=scope.org_ids or None)


def _bucket_rows(plan: _Plan, pieces: list[Piece]) -> list[BucketRow]:
    """Calls and voicemails per roll-up bucket in the plan's scope, plus own calls by hour."""
    caller_orgs, callee_orgs = plan.org_filters()
    found: list[BucketRow] = []
    if plan.scope.everything and caller_orgs is None and callee_orgs is None:
        found = stat_queries.totals(pieces)
    elif plan.scope.everything or plan.scope.org_ids:
        orgs = None if plan.scope.everything else plan.scope.org_ids
        found = stat_queries.pairs(pieces, orgs, caller_orgs, callee_orgs)
    own = _own_remainder(plan)
    if own is not None:
        found += plan.recorded_hours(own)
    return found


def _hour_rows(plan: _Plan) -> list[BucketRow]:
    """Calls and voicemails per hour from the recordings themselves."""
    return plan.recorded_hours(plan.criteria)


def _series(plan: _Plan) -> list[ReportPoint]:
    period = plan.period
    if plan.rollups:
        pieces = cover(period.start, period.end, _SERIES_LEVELS[period.grouping])
        found = _bucket_rows(plan, pieces or [])
    else:
        found = _hour_rows(plan)
    sums = {label: [0, 0, 0] for label in labels(period)}
    for level, key, kind, calls, talk in found:
        if level == "h" and not period.start <= key_time(key, "h") < period.end:
            continue  # an hour of an own-calls count beyond a period that cuts hours
        label = label_of_key(key, level, period.grouping)
        if label not in sums:
            continue
        point = sums[label]
        if kind == "call":
            point[0] += calls
            point[1] += talk
        else:
            point[2] += calls
    return [ReportPoint(label, s[0], s[1], s[2]) for label, s in sums.items()]


def _department_series(plan: _Plan, measure: ReportMeasure) -> list[ReportPoint]:
    pieces = cover(plan.period.start, plan.period.end, _SERIES_LEVELS[Grouping.DEPARTMENT])
    sums: dict[int, list[int]] = {}
    for org, kind, calls, talk in stat_queries.departments(pieces or []):
        point = sums.setdefault(org, [0, 0, 0])
        if kind == "call":
            point[0] += calls
            point[1] += talk
        else:
            point[2] += calls
    names = org_queries.org_names([o for o in sums if o])
    points = [
        ReportPoint(names.get(org, "") if org else "", s[0], s[1], s[2], None, org or None)
        for org, s in sums.items()
        if org == 0 or org in names
    ]
    key = (lambda p: p.calls) if measure is ReportMeasure.CALLS else (lambda p: p.talk_seconds)
    return sorted(points, key=lambda p: (-key(p), p.label))


def _heat_map(plan: _Plan) -> list[HeatCell]:
    cells = {(d, h): [0, 0] for d in range(7) for h in range(24)}
    found: list[BucketRow] = []
    period = plan.period
    split = week_pieces(period.start, period.end) if plan.rollups else None
    if split is not None:
        weeks, hours = split
        found = _bucket_rows(plan, [*weeks, *hours])
    else:
        found = _hour_rows(plan)
    for level, key, kind, calls, talk in found:
        if kind != "call":
            continue
        if level in WEEK_LEVELS.values():
            weekday, hour = key // 100 % 10, key % 100
        else:
            if not period.start <= key_time(key, "h") < period.end:
                continue
            weekday, hour = weekday_of(key), key % 100
        cell = cells[(weekday, hour)]
        cell[0] += calls
        cell[1] += talk
    return [HeatCell(d, h, c[0], c[1]) for (d, h), c in cells.items()]


def _swept(bounds: list[datetime], criteria: Criteria) -> list[int]:
    """Peaks per [bounds[i], bounds[i+1]) (wall clock) of the calls the criteria match."""
    utc = [from_local(b) for b in bounds]

    def started(first: datetime, last: datetime) -> Criteria:
        return replace(
            criteria, filter=replace(criteria.filter, started_from=first, started_to=last)
        )

    before = timedelta(microseconds=1)
    bounds_ms = [_epoch_ms(u) for u in utc]
    intervals = stat_queries.call_intervals(started(utc[0], utc[-1] - before))
    # Of the calls that began before the period, only those still running when it begins.
    intervals += stat_queries.call_intervals(
        started(utc[0] - PEAK_LOOKBACK, utc[0] - before), ending_after=bounds_ms[0]
    )
    return peaks(intervals, bounds_ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(t: datetime) -> int:
    """Whole milliseconds since 1970, exactly (as the database gives calls' starts)."""
    return (t - _EPOCH) // timedelta(milliseconds=1)


def _days(start: datetime, end: datetime) -> list[datetime]:
    first = datetime(start.year, start.month, start.day)
    out = []
    while first < end:
        out.append(first)
        first += timedelta(days=1)
    return out


def _day_key(day: datetime) -> int:
    return hour_key(day) // 100


def day_peaks(
    days: list[datetime], inline: int | None = PEAKS_INLINE
) -> tuple[dict[int, int], int]:
    """The appliance's peak per local day (YYYYMMDD), cached, and how many were computed
    now: at most `inline` stale or missing days (None: all); the others are left out."""
    keys = [_day_key(d) for d in days]
    before = [_day_key(d - timedelta(days=1)) for d in days]
    counts = stat_queries.day_calls(sorted(set(keys) | set(before)))
    cached = stat_queries.cached_peaks(keys)
    out: dict[int, int] = {}
    computed = 0
    everything = Criteria(RecordingFilter(kind=None))
    for day, key, previous in zip(days, keys, before, strict=True):
        (calls, changes), (calls_before, changes_before) = (
            counts.get(key, (0, 0)),
            counts.get(previous, (0, 0)),
        )
        basis = f"{calls}/{changes}:{calls_before}/{changes_before}"
        held = cached.get(key)
        if held is not None and held[1] == basis:
            out[key] = held[0]
            continue
        if calls == 0 and calls_before == 0:
            out[key] = 0
            continue
        if inline is not None and computed >= inline:
            continue
        peak = _swept([day, day + timedelta(days=1)], everything)[0]
        stat_queries.store_peak(key, peak, basis)
        out[key] = peak
        computed += 1
    return out, computed


def _peaks(plan: _Plan, series: list[ReportPoint]) -> tuple[list[int | None], int | None]:
    """Peak concurrency per chart category and over the period (None where not computed)."""
    period = plan.period
    bounds = edges(period)
    span = period.end - period.start
    grouping = period.grouping
    if plan.everything and period.day_aligned and grouping is not Grouping.HOUR:
        days = _days(period.start, period.end)
        known, _ = day_peaks(days)
        per_label: dict[str, int | None] = {}
        for day in days:
            label = label_of(day, grouping) if grouping is not Grouping.DEPARTMENT else ""
            value = known.get(_day_key(day))
            held = per_label.get(label, 0)
            per_label[label] = None if value is None or held is None else max(held, value)
        if grouping is Grouping.DEPARTMENT:
            return [None] * len(series), per_label.get("")
        values = [per_label.get(p.label, 0) for p in series]
        whole = [v for v in values if v is not None]
        return values, max(whole, default=0) if len(whole) == len(values) else None
    if span > PEAK_SCAN_UP_TO and grouping is not Grouping.HOUR:
        return [None] * len(series), None
    found = _swept(bounds, plan.criteria)
    if grouping is Grouping.DEPARTMENT:
        return [None] * len(series), max(found, default=0)
    return list(found), max(found, default=0)


def _extension_views(rows: Iterable[stat_queries.ExtensionRow]) -> list[ReportExtension]:
    listed = list(rows)
    devices = device_queries.aliases(sorted({r.device_id for r in listed if r.device_id}))
    orgs = org_queries.org_names({r.org_id for r in listed if r.org_id})
    return [
        ReportExtension(
            device=devices.get(r.device_id, ""),
            extension=r.extension,
            name=r.name,
            organization=orgs.get(r.org_id),
            calls=r.calls,
            talk_seconds=r.talk,
            # Half up, as a person rounds 2.5 s (Python's round() would give 2).
            average_seconds=(2 * r.talk + r.calls) // (2 * r.calls) if r.calls else 0,
            outgoing=r.outgoing,
            incoming=r.incoming,
            voicemails=r.voicemails,
        )
        for r in listed
    ]


def _extension_page(
    plan: _Plan, request: ReportRequest, limit: int, offset: int
) -> tuple[int, list[ReportExtension], bool]:
    """A page of the per-extension table, and whether the roll-ups gave it."""
    period = plan.period
    caller_orgs, callee_orgs = plan.org_filters()
    pieces = None
    if plan.rollups and caller_orgs is None and callee_orgs is None and period.day_aligned:
        pieces = cover(period.start, period.end, EXTENSION_COVER)
    if pieces is not None:
        total, found = stat_queries.extensions(
            plan.scope, request.sort, request.descending, limit, offset, pieces=pieces
        )
    else:
        total, found = stat_queries.extensions(
            plan.scope,
            request.sort,
            request.descending,
            limit,
            offset,
            criteria=plan.criteria,
            with_owners=not plan.conditions,
        )
    return total, _extension_views(found), pieces is not None


def _build(scope: Scope, is_admin: bool, request: ReportRequest, limit: int, offset: int) -> Report:
    plan = _plan(scope, is_admin, request)
    period = plan.period
    if period.grouping is Grouping.DEPARTMENT:
        series = _department_series(plan, request.measure)
        pieces = cover(period.start, period.end, _SERIES_LEVELS[Grouping.DEPARTMENT]) or []
        calls = talk = voicemails = 0
        for _level, _key, kind, c, t in stat_queries.totals(pieces):
            if kind == "call":
                calls, talk = calls + c, talk + t
            else:
                voicemails += c
    else:
        series = _series(plan)
        calls = sum(p.calls for p in series)
        talk = sum(p.talk_seconds for p in series)
        voicemails = sum(p.voicemails for p in series)
    point_peaks, peak = _peaks(plan, series) if request.peaks else ([None] * len(series), None)
    if period.grouping is not Grouping.DEPARTMENT:
        series = [replace(p, peak_concurrent=v) for p, v in zip(series, point_peaks, strict=True)]
    total, rows, table_from_rollups = _extension_page(plan, request, limit, offset)
    return Report(
        template=request.template,
        grouping=period.grouping,
        start=from_local(period.start),
        end=from_local(period.end),
        series=series,
        extensions_total=total,
        extensions=rows,
        peak_concurrent=peak,
        heat_map=_heat_map(plan) if request.heat_map else [],
        calls=calls,
        talk_seconds=talk,
        voicemails=voicemails,
        from_rollups=plan.rollups and table_from_rollups,
    )


# A report over years with a search condition reads the recordings table: a few at once,
# so signed-in people asking for many cannot take every worker thread and the database.
_BUILDS = threading.BoundedSemaphore(3)
BUILD_WAIT_S = 15


@contextmanager
def _one_build() -> Iterator[None]:
    if not _BUILDS.acquire(timeout=BUILD_WAIT_S):
        raise Busy("too many reports are being computed; try again shortly", retry_after=5)
    try:
        yield
    finally:
        _BUILDS.release()


def report(actor: Actor, request: ReportRequest) -> Report:
    """One report, its table at the requested page."""
    with _one_build(), db_session:
        return report_in_scope(access_of(actor).scope, actor.is_admin, request)


def report_in_scope(scope: Scope, is_admin: bool, request: ReportRequest) -> Report:
    """Call inside a db_session: the report as someone with this scope sees it."""
    offset = (request.page - 1) * request.page_size
    return _build(scope, is_admin, request, request.page_size, offset)


# An export holds the whole table: an appliance has thousands of extensions, not millions.
EXPORT_ROWS = 100_000


def export(actor: Actor, request: ReportRequest) -> Report:
    """The report with every row of its table, for the spreadsheet."""
    with _one_build(), db_session:
        scope = access_of(actor).scope
        return _build(scope, actor.is_admin, replace(request, page=1, page_size=1), EXPORT_ROWS, 0)


@dataclass(frozen=True)
class StatsCheck:
    differences: list[Difference]
    repaired: bool
    peaks: int  # days whose peak was computed

    @property
    def consistent(self) -> bool:
        return all(d.missing == 0 and d.extra == 0 for d in self.differences)


def check(repair: bool) -> StatsCheck:
    """Compare the roll-ups with a recount of the recordings; with repair, replace those
    that differ. Changes of recordings wait meanwhile (capture keeps spooling)."""
    with db_session:
        stat_queries.lock_for_recount()
        found = stat_queries.differences()
        repaired = False
        if repair and not all(d.missing == 0 and d.extra == 0 for d in found):
            stat_queries.rebuild()
            repaired = True
    computed = fill_peaks()
    return StatsCheck(found, repaired, computed)


def fill_peaks(limit_days: int | None = None) -> int:
    """Compute the cached peaks of days with calls that have none, or a stale one (the
    scheduler's statistics job); how many days it computed."""
    settings.current()  # the appliance's zone, for the days' bounds
    with db_session:
        days = [key_time(k, "d") for k in stat_queries.days_with_calls()]
    done = 0
    for first in range(0, len(days), 31):
        with db_session:
            _, computed = day_peaks(days[first : first + 31], inline=limit_days)
        done += computed
        if limit_days is not None and done >= limit_days:
            break
    return done
