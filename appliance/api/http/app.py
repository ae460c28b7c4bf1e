"""The ASGI application: GraphQL, the HTTP endpoints and the console's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute, request_response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from appliance.api.graphql.context import GqlContext, refusal
from appliance.api.graphql.schema import schema
from appliance.api.graphql.sockets import (
    INIT_TIMEOUT,
    MAX_SUBSCRIPTIONS,
    SCOPE_KEY,
    GuardedTransportWS,
    Sockets,
)
from appliance.api.http.audio import recording_audio
from appliance.api.http.auth import resolve_actor, sign_in
from appliance.api.http.backup_import import MAX_SET_UPLOAD, import_backup_upload
from appliance.api.http.captcha import CaptchaStore
from appliance.api.http.employees import MAX_IMPORT_BODY, employee_template, import_employees
from appliance.api.http.files import (
    download_recordings,
    export_alarms,
    export_audit,
    export_backup_log,
    export_recordings,
    export_report,
)
from appliance.api.http.headers import LimitBody, SecurityHeaders
from appliance.api.http.responses import NotSignedIn, appliance_error, not_signed_in
from appliance.api.http.standby import OnPrimaryOnly
from appliance.api.http.upload import upload_recording
from appliance.errors import ApplianceError
from appliance.services.context import AppContext

STATIC = Path(__file__).parent / "static"
CONSOLE = Path(__file__).parents[2] / "web"
# GraphiQL's files, copied there by the console's build (spa/scripts/graphiql-assets.mjs).
GRAPHIQL = CONSOLE / "graphiql"
# A GraphQL request is a query of at most 64 KiB (limits.py) and its variables.
MAX_GRAPHQL_BODY = 1024 * 1024


class GraphQLApp(GraphQL):
    # Subscriptions over graphql-transport-ws only: one protocol to secure and bound.
    graphql_transport_ws_handler_class = GuardedTransportWS

    def __init__(self, ctx: AppContext, captchas: CaptchaStore) -> None:
        # Strawberry refuses a websocket upgrade from a page of another origin than the Host
        # (no allowed_origins): a cross-site page cannot ride the console's cookie.
        super().__init__(
            schema,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
        )
        self.ctx = ctx
        self.captchas = captchas
        self.sockets = Sockets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        socket = self.sockets.admit(scope)
        if socket is None:
            await WebSocket(scope, receive, send).close(code=1008)  # the upgrade gets a 403
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.sockets.release(socket)

    async def get_context(self, request: Request | WebSocket, response: Any) -> GqlContext:  # type: ignore[override]
        if isinstance(request, WebSocket):
            # Signed in by on_ws_connect, once connection_init may have brought a token.
            socket = request.scope.get(SCOPE_KEY)
            return GqlContext(request, response, self.ctx, self.captchas, None, None, socket)  # type: ignore[arg-type]
        actor, session = await resolve_actor(request)
        return GqlContext(request, response, self.ctx, self.captchas, actor, session)

    async def on_ws_connect(self, context: GqlContext) -> UnsetType | dict[str, object] | None:  # type: ignore[override]
        """Sign in from connection_init's Authorization (an integrator's Bearer token) or the
        console's cookie, as over HTTP; anyone else's socket is closed with 4403."""
        params = context.connection_params or {}
        given = [v for k, v in params.items() if k.lower() == "authorization"]
        if given and not isinstance(given[0], str):
            raise ConnectionRejectionError
        found = await sign_in(context.request, given[0] if given else None)
        socket = context.socket
        if (
            found is None
            or socket is None
            or refusal(found.actor) is not None
            or not self.sockets.signed_in(socket, found)
        ):
            raise ConnectionRejectionError
        context.actor, context.session_token = found.actor, found.session
        return UNSET

    async def render_graphql_ide(self, request: Request) -> Response:
        actor, _ = await resolve_actor(request)
        if actor is None or actor.must_change_password:
            return RedirectResponse("/login?next=/graphql", status_code=303)
        # Our own page with GraphiQL's files served from here (strawberry's loads a CDN).
        return FileResponse(STATIC / "graphiql.html", headers={"Cache-Control": "no-store"})

    def decode_json(self, data: str | bytes) -> object:
        """The body as a JSON object, or a 400 that says what is wrong with it."""
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            raise HTTPException(400, f"the request body is not UTF-8 (byte {exc.start})") from exc
        try:
            value = json.loads(text)
        except RecursionError as exc:
            raise HTTPException(400, "the request body's JSON is nested too deeply") from exc
        if not isinstance(value, dict):
            raise HTTPException(
                400,
                'the request body must be a JSON object: {"query": "...", "variables": {...}}',
            )
        return value


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def login_page(request: Request) -> Response:
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})


async def home(request: Request) -> Response:
    if (CONSOLE / "index.html").is_file():
        return FileResponse(CONSOLE / "index.html", headers={"Cache-Control": "no-store"})
    actor, _ = await resolve_actor(request)
    target = "/graphql" if actor and not actor.must_change_password else "/login"
    return RedirectResponse(target, status_code=303)


def create_app(ctx: AppContext) -> Starlette:
    captchas = CaptchaStore(ctx.config.login_captcha)
    graphql_app = GraphQLApp(ctx, captchas)
    routes: list[BaseRoute] = [
        Route("/health", health),
        Route("/login", login_page),
        Route(
            "/api/v1/recordings",
            OnPrimaryOnly(request_response(upload_recording)),
            methods=["POST"],
        ),
        Route("/api/v1/recordings/archive.zip", download_recordings, methods=["GET"]),
        Route("/api/v1/recordings/export.xlsx", export_recordings, methods=["GET"]),
        Route("/api/v1/recordings/{id}/audio", recording_audio, methods=["GET", "HEAD"]),
        Route("/api/v1/audit/export.xlsx", export_audit, methods=["GET"]),
        Route("/api/v1/alarms/export.xlsx", export_alarms, methods=["GET"]),
        Route("/api/v1/backup-log/export.xlsx", export_backup_log, methods=["GET"]),
        Route("/api/v1/reports/export.xlsx", export_report, methods=["GET"]),
        Route(
            "/api/v1/backup-import",
            OnPrimaryOnly(LimitBody(request_response(import_backup_upload), MAX_SET_UPLOAD)),
            methods=["POST"],
        ),
        Route("/api/v1/employees/employee-tpl.csv", employee_template, methods=["GET"]),
        Route(
            "/api/v1/employees/import",
            OnPrimaryOnly(LimitBody(request_response(import_employees), MAX_IMPORT_BODY)),
            methods=["POST"],
        ),
        Route("/graphql", LimitBody(graphql_app, MAX_GRAPHQL_BODY), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/", home),
        Mount("/static", app=StaticFiles(directory=STATIC)),
    ]
    if GRAPHIQL.is_dir():
        routes.append(Mount("/graphiql", app=GZipMiddleware(StaticFiles(directory=GRAPHIQL))))
    if (CONSOLE / "assets").is_dir():
        # The console's files are compressed on the way (hashed names: cached for good);
        # only here, since gzip would break Range requests on audio.
        assets = GZipMiddleware(StaticFiles(directory=CONSOLE / "assets"), minimum_size=1024)
        routes.append(Mount("/assets", app=assets))
    app = Starlette(
        routes=routes,
        exception_handlers={ApplianceError: appliance_error, NotSignedIn: not_signed_in},
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.ctx = ctx
    app.state.captchas = captchas
    return app
