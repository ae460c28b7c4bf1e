"""The root schema: per-domain query and mutation classes merged into one."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaskErrors, MaxTokensLimiter
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from appliance.api.graphql.accounts import AccountMutations, AccountQueries
from appliance.api.graphql.audit import AuditQueries
from appliance.api.graphql.backup import BackupMutations, BackupQueries, BackupSubscriptions
from appliance.api.graphql.capture import CaptureQueries, CaptureSubscriptions
from appliance.api.graphql.context import SignedInIntrospection
from appliance.api.graphql.devices import DeviceMutations, DeviceQueries
from appliance.api.graphql.errors import should_mask
from appliance.api.graphql.events import EventSubscriptions
from appliance.api.graphql.ha import HaMutations, HaQueries
from appliance.api.graphql.limits import DocumentLimits
from appliance.api.graphql.monitoring import (
    MonitoringMutations,
    MonitoringQueries,
    MonitoringSubscriptions,
)
from appliance.api.graphql.organization import OrganizationMutations, OrganizationQueries
from appliance.api.graphql.recordings import RecordingMutations, RecordingQueries
from appliance.api.graphql.reports import ReportQueries
from appliance.api.graphql.settings import SettingsMutations, SettingsQueries
from appliance.api.graphql.sockets import SubscriptionsOverSockets
from appliance.api.graphql.standby import StandbyReadOnly
from appliance.api.graphql.system import SystemQueries
from graphql import GraphQLError

MAX_TOKENS = 2000

Query = merge_types(
    "Query",
    (
        AccountQueries,
        RecordingQueries,
        CaptureQueries,
        DeviceQueries,
        OrganizationQueries,
        SettingsQueries,
        AuditQueries,
        SystemQueries,
        MonitoringQueries,
        BackupQueries,
        ReportQueries,
        HaQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        RecordingMutations,
        DeviceMutations,
        OrganizationMutations,
        SettingsMutations,
        MonitoringMutations,
        BackupMutations,
        HaMutations,
    ),
)

Subscription = merge_types(
    "Subscription",
    (CaptureSubscriptions, EventSubscriptions, MonitoringSubscriptions, BackupSubscriptions),
)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only unexpected failures: refusals and invalid queries are answers, and an
        anonymous flood of them must not fill the disk with tracebacks."""
        super().process_errors([e for e in errors if should_mask(e)], execution_context)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        SignedInIntrospection,
        SubscriptionsOverSockets,
        # Size, depth, fan-out and aliases in linear time, big documents off the event
        # loop (see limits.py).
        DocumentLimits,
        StandbyReadOnly,
        lambda: MaskErrors(should_mask_error=should_mask),
    ],
)


def sdl() -> str:
    return schema.as_str() + "\n"
