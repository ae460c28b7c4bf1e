"""The audit trail ("操作痕迹")."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, actor_of
from appliance.api.graphql.errors import call, graphql_errors
from appliance.api.graphql.inputs import input_of, to_domain
from appliance.domain.audit import AuditFilter as DomainFilter
from appliance.services import audit

AUDIT_PAGE_MAX = 200


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: datetime
    account: str
    name: str
    type: str
    details: str = strawberry.field(description="What happened, in English")
    ip: str
    event: str = strawberry.field(
        description="What happened as a key (empty for entries older than events)"
    )
    params: JSON = strawberry.field(description="The event's values, by name")


@strawberry.type
class AuditPage:
    total: int
    items: list[AuditEntry]


# The audit trail's conditions as the domain declares them, typed for GraphQL.
if TYPE_CHECKING:
    AuditFilter = DomainFilter
else:
    AuditFilter = input_of(DomainFilter, "AuditFilter")


@strawberry.type
class AuditQueries:
    @strawberry.field(permission_classes=[IsAdmin])
    async def audit_log(
        self, info: Info, filter: AuditFilter | None = None, page: int = 1, page_size: int = 20
    ) -> AuditPage:
        page = max(1, page)
        page_size = max(1, min(page_size, AUDIT_PAGE_MAX))
        with graphql_errors():
            domain = to_domain(filter, DomainFilter)
        total, rows = await call(audit.search, actor_of(info), domain, page, page_size)
        return AuditPage(
            total=total,
            items=[
                AuditEntry(
                    id=strawberry.ID(str(r.id)),
                    at=r.at,
                    account=r.account,
                    name=r.name,
                    type=r.type,
                    details=r.details,
                    ip=r.ip,
                    event=r.event,
                    params=json.loads(r.params),
                )
                for r in rows
            ],
        )
