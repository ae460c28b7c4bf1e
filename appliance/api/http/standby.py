"""A standby takes no writes over HTTP (uploads, imports): what it holds is the primary's,
and a change here would be overwritten by the next sync or lost at failback. GraphQL's
mutations are refused by their own extension (api/graphql/standby.py)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.api.http.responses import error
from appliance.services import ha
from appliance.services.context import AppContext


class OnPrimaryOnly:
    """Answers 503 (before reading the body) while this appliance is a standby."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx: AppContext = scope["app"].state.ctx
        if scope["type"] == "http" and ha.standby_now(ctx.config.data_dir):
            refused = error(503, "this appliance is the standby: send this to the primary")
            refused.headers["Retry-After"] = "30"
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)
