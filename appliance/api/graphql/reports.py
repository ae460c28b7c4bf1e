"""Statistics (统计分析): the report query."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from appliance.api.admission import REPORTS, person_of
from appliance.api.graphql.context import IsAuthenticated, actor_of
from appliance.api.graphql.errors import graphql_errors
from appliance.api.graphql.inputs import to_domain
from appliance.api.graphql.recordings import RecordingFilter
from appliance.domain.recordings import RecordingFilter as DomainFilter
from appliance.domain.reports import ExtensionSort as DomainSort
from appliance.domain.reports import Grouping as DomainGrouping
from appliance.domain.reports import ReportMeasure as DomainMeasure
from appliance.domain.reports import ReportTemplate as DomainTemplate
from appliance.errors import InvalidInput
from appliance.services import reports
from appliance.services.context import to_utc

# The domain's enums, typed for GraphQL; mypy sees the domain's own.
if TYPE_CHECKING:
    ReportTemplate = DomainTemplate
    ReportMeasure = DomainMeasure
    ReportGrouping = DomainGrouping
    ReportSort = DomainSort
else:
    ReportTemplate = strawberry.enum(DomainTemplate, name="ReportTemplate")
    ReportMeasure = strawberry.enum(DomainMeasure, name="ReportMeasure")
    ReportGrouping = strawberry.enum(DomainGrouping, name="ReportGrouping")
    ReportSort = strawberry.enum(DomainSort, name="ReportSort")


@strawberry.type
class ReportPoint:
    label: str = strawberry.field(
        description="The hour ('2026-12-06 14:00'), day ('2026-12-06'), month ('2026-12') "
        "in the appliance's time zone, or the department's name ('' for calls with none)"
    )
    calls: int
    talk_seconds: int
    voicemails: int = strawberry.field(description="Voicemail messages: a measure of their own")
    peak_concurrent: int | None = strawberry.field(
        description="The most calls in progress at once; null where not computed"
    )
    organization_id: strawberry.ID | None = strawberry.field(
        description="The department template's slice; null for calls with no department"
    )


@strawberry.type
class ReportExtension:
    device: str
    extension: str
    name: str = strawberry.field(description="The employee who owns it, '' when none")
    organization: str | None
    calls: int
    talk_seconds: int
    average_seconds: int
    outgoing: int
    incoming: int
    voicemails: int


@strawberry.type
class ReportExtensionPage:
    total: int
    items: list[ReportExtension]


@strawberry.type
class ReportHeatCell:
    weekday: int = strawberry.field(description="0 Sunday to 6 Saturday")
    hour: int
    calls: int
    talk_seconds: int


@strawberry.type
class Report:
    template: ReportTemplate
    grouping: ReportGrouping
    start: dt.datetime = strawberry.field(description="The period's first instant")
    end: dt.datetime = strawberry.field(description="The instant after the period")
    series: list[ReportPoint]
    extensions: ReportExtensionPage
    peak_concurrent: int | None
    heat_map: list[ReportHeatCell] = strawberry.field(
        description="Calls by weekday and hour over the period"
    )
    calls: int
    talk_seconds: int
    voicemails: int
    from_rollups: bool = strawberry.field(
        description="Answered from the roll-ups, not from the recordings table"
    )

    @classmethod
    def of(cls, r: reports.Report) -> Report:
        return cls(
            template=r.template,
            grouping=r.grouping,
            start=r.start,
            end=r.end,
            series=[
                ReportPoint(
                    label=p.label,
                    calls=p.calls,
                    talk_seconds=p.talk_seconds,
                    voicemails=p.voicemails,
                    peak_concurrent=p.peak_concurrent,
                    organization_id=strawberry.ID(str(p.organization_id))
                    if p.organization_id
                    else None,
                )
                for p in r.series
            ],
            extensions=ReportExtensionPage(
                total=r.extensions_total,
                items=[
                    ReportExtension(
                        device=e.device,
                        extension=e.extension,
                        name=e.name,
                        organization=e.organization,
                        calls=e.calls,
                        talk_seconds=e.talk_seconds,
                        average_seconds=e.average_seconds,
                        outgoing=e.outgoing,
                        incoming=e.incoming,
                        voicemails=e.voicemails,
                    )
                    for e in r.extensions
                ],
            ),
            peak_concurrent=r.peak_concurrent,
            heat_map=[
                ReportHeatCell(
                    weekday=c.weekday, hour=c.hour, calls=c.calls, talk_seconds=c.talk_seconds
                )
                for c in r.heat_map
            ],
            calls=r.calls,
            talk_seconds=r.talk_seconds,
            voicemails=r.voicemails,
            from_rollups=r.from_rollups,
        )


def _asked(info: Info) -> set[str]:
    """The names selected anywhere under the report field (fragments included)."""
    names: set[str] = set()
    pending = list(info.selected_fields)
    while pending:
        node = pending.pop()
        name = getattr(node, "name", None)
        if name:
            names.add(name)
        pending.extend(getattr(node, "selections", []) or [])
    return names


def _utc(name: str, value: dt.datetime | None) -> dt.datetime | None:
    """An argument's time in UTC; one UTC's years do not hold is refused at its name."""
    if value is None:
        return None
    try:
        return to_utc(value)
    except InvalidInput as exc:
        exc.field = name
        raise


@strawberry.type
class ReportQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A statistics report in the caller's scope: DAILY, MONTHLY and YEARLY "
        "cover the day, month or year of `at` (default today); DEPARTMENT (administrators) "
        "`from`-`to` or the month of `at`; CUSTOM `from`-`to` with the filter's conditions",
    )
    async def report(
        self,
        info: Info,
        template: ReportTemplate,
        at: dt.date | None = None,
        from_: Annotated[dt.datetime | None, strawberry.argument(name="from")] = None,
        to: dt.datetime | None = None,
        filter: RecordingFilter | None = None,
        # Nullable with defaults, as the published contract has them.
        measure: ReportMeasure | None = DomainMeasure.CALLS,
        page: int | None = 1,
        page_size: int | None = 20,
        sort: ReportSort = DomainSort.EXTENSION,
        descending: bool = False,
    ) -> Report:
        asked = _asked(info)
        with graphql_errors():
            chosen = to_domain(filter, DomainFilter) if filter is not None else None
            request = reports.ReportRequest(
                template=DomainTemplate(template),
                at=at,
                start=_utc("from", from_),
                end=_utc("to", to),
                filter=chosen,
                measure=DomainMeasure(measure or DomainMeasure.CALLS),
                page=1 if page is None else page,
                page_size=20 if page_size is None else page_size,
                sort=DomainSort(sort),
                descending=descending,
                # What nobody asked for is not computed: a sweep of the calls, a heat map.
                peaks="peakConcurrent" in asked,
                heat_map="heatMap" in asked,
            )
        actor = actor_of(info)
        with graphql_errors():
            found = await REPORTS.run(person_of(actor), reports.report, actor, request)
        return Report.of(found)
