"""Recordings: search, detail, score, tags, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from appliance.api.graphql.common import DeleteResult, parse_id, run_on
from appliance.api.graphql.context import IsAuthenticated, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call, graphql_errors
from appliance.api.graphql.inputs import input_of, to_domain
from appliance.domain.recordings import RecordingFilter as DomainFilter
from appliance.domain.recordings import RecordingKind as DomainKind
from appliance.services import catalogue
from appliance.services.catalogue import RecordingView

RecordingKind = strawberry.enum(DomainKind, name="RecordingKind")


@strawberry.type
class Tag:
    name: str
    offset: float | None


@strawberry.type
class Recording:
    id: strawberry.ID
    sn: str
    device: str
    caller: str
    caller_org: str | None
    callee: str
    callee_org: str | None
    started_at: datetime
    duration: int
    score: int | None
    tags: list[Tag]
    play_count: int
    kind: RecordingKind  # type: ignore[valid-type]
    direction: str | None
    file_format: str
    protected: bool = strawberry.field(
        default=False, description="Legal hold: no deletion, manual or circular, until lifted"
    )
    audio_url: str

    @classmethod
    def of(cls, v: RecordingView) -> Recording:
        return cls(
            id=strawberry.ID(str(v.id)),
            sn=v.sn,
            device=v.device,
            caller=v.caller,
            caller_org=v.caller_org,
            callee=v.callee,
            callee_org=v.callee_org,
            started_at=v.started_at,
            duration=v.duration,
            score=v.score,
            tags=[Tag(name=t.name, offset=t.offset) for t in v.tags],
            play_count=v.play_count,
            kind=DomainKind(v.kind),
            direction=v.direction,
            file_format=v.file_format,
            protected=v.protected,
            audio_url=f"/api/v1/recordings/{v.id}/audio",
        )


@strawberry.type
class RecordingPage:
    total: int
    items: list[Recording]


# The search's conditions as the domain declares them (SPEC R-SEARCH), typed for GraphQL.
if TYPE_CHECKING:
    RecordingFilter = DomainFilter
else:
    RecordingFilter = input_of(
        DomainFilter,
        "RecordingFilter",
        {
            "caller": "Exact number, or a prefix ending in '*'",
            "callee": "Exact number, or a prefix ending in '*'",
        },
    )


RecordingResult = Annotated[Recording | UserError, strawberry.union("RecordingResult")]


@strawberry.type
class RecordingQueries:
    @strawberry.field(permission_classes=[IsAuthenticated])
    async def recordings(
        self,
        info: Info,
        filter: RecordingFilter | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> RecordingPage:
        with graphql_errors():
            domain = to_domain(filter, DomainFilter)
        total, items = await call(catalogue.search, actor_of(info), domain, page, page_size)
        return RecordingPage(total=total, items=[Recording.of(v) for v in items])

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def recording(self, info: Info, id: strawberry.ID) -> Recording | None:
        rec_id = parse_id(id)
        if rec_id is None:
            return None
        result = await attempt(catalogue.get, actor_of(info), rec_id)
        return None if isinstance(result, UserError) else Recording.of(result)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Tags used before, most used first, optionally starting with a prefix",
    )
    async def tag_suggestions(self, info: Info, prefix: str = "", limit: int = 20) -> list[str]:
        return await call(catalogue.tag_suggestions, actor_of(info), prefix, limit)


async def _change(
    info: Info, raw_id: strawberry.ID, use_case: Callable[..., RecordingView], *args: Any
) -> Recording | UserError:
    """Run a use case that changes one recording and answers with it, or a typed error."""
    return await run_on(raw_id, "recording", use_case, Recording.of, actor_of(info), *args)


@strawberry.type
class RecordingMutations:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def score_recording(self, info: Info, id: strawberry.ID, score: int) -> RecordingResult:
        return await _change(info, id, catalogue.score, score)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def tag_recording(
        self, info: Info, id: strawberry.ID, name: str, offset: float | None = None
    ) -> RecordingResult:
        return await _change(info, id, catalogue.tag, name, offset)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def untag_recording(self, info: Info, id: strawberry.ID, name: str) -> RecordingResult:
        return await _change(info, id, catalogue.untag, name)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Needs a role with the DELETE right; only recordings in the asker's scope",
    )
    async def delete_recordings(self, info: Info, ids: list[strawberry.ID]) -> DeleteResult:
        parsed = [i for i in map(parse_id, ids) if i is not None]
        count = await call(catalogue.delete, context_of(info).app, actor_of(info), parsed)
        return DeleteResult(deleted=count)
