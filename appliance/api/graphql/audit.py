"""The audit trail ("操作痕迹")."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from appliance.api.graphql.context import IsAdmin, actor_of
from appliance.api.graphql.errors import call, graphql_errors
from appliance.domain.audit import AuditFilter as DomainFilter
from appliance.services import audit
from appliance.services.context import to_utc

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


@strawberry.input
class AuditFilter:
    account: str | None = None
    type: str | None = None
    ip: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None

    def to_domain(self) -> DomainFilter:
        return DomainFilter(
            account=self.account or None,
            type=self.type or None,
            ip=self.ip or None,
            at_from=to_utc(self.at_from) if self.at_from else None,
            at_to=to_utc(self.at_to) if self.at_to else None,
        )


@strawberry.type
class AuditQueries:
    @strawberry.field(permission_classes=[IsAdmin])
    async def audit_log(
        self, info: Info, filter: AuditFilter | None = None, page: int = 1, page_size: int = 20
    ) -> AuditPage:
        page = max(1, page)
        page_size = max(1, min(page_size, AUDIT_PAGE_MAX))
        with graphql_errors():
            domain = (filter or AuditFilter()).to_domain()
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
