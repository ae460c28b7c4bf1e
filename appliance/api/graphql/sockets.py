"""GraphQL over websockets (graphql-transport-ws): who may open one, what one may cost, and
closing it once the sign-in it rode ends. Every subscription goes through here."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.types import Scope
from strawberry.extensions import SchemaExtension
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from appliance.api.http.auth import SignIn
from appliance.services import accounts
from graphql import GraphQLError

if TYPE_CHECKING:
    from appliance.api.graphql.context import GqlContext

log = logging.getLogger(__name__)

MAX_PER_ADDRESS = 32  # open sockets from one address, signed in or not yet
MAX_PER_ACCOUNT = 16  # signed-in sockets of one account (a console tab holds one)
MAX_SUBSCRIPTIONS = 8  # operations at once on one socket
INIT_TIMEOUT = timedelta(seconds=10)  # from the upgrade to connection_init
CHECK_SECONDS = 1.0  # how often the sign-ins behind open sockets are checked
SIGNED_OUT = 4401  # graphql-ws clients take it as final and do not retry
SCOPE_KEY = "appliance.socket"


@dataclass(eq=False)
class Socket:
    """One open websocket: where from, who signed in on it, and its protocol handler."""

    ip: str
    sign_in: SignIn | None = None
    handler: GuardedTransportWS | None = None
    ended: bool = False

    @property
    def secret(self) -> str | None:
        if self.sign_in is None:
            return None
        return self.sign_in.session or self.sign_in.token

    async def end(self, code: int, reason: str) -> None:
        """Stop its operations first (so none writes to a closed socket), then close it."""
        if self.ended:
            return
        self.ended = True
        handler = self.handler
        if handler is None:
            return
        for operation_id in list(handler.operations):
            await handler.cleanup_operation(operation_id)
        try:
            await handler.websocket.close(code=code, reason=reason)
        except RuntimeError:
            pass  # closed by the client meanwhile


@dataclass
class Sockets:
    """The API process's open websockets, bounded per address and per account; one task
    checks every second, with one query for all of them, that their sign-ins still hold."""

    open: set[Socket] = field(default_factory=set)
    checks: int = 0
    _task: asyncio.Task[None] | None = None

    def admit(self, scope: Scope) -> Socket | None:
        """A new socket from this address, or None when the address has too many."""
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if sum(1 for s in self.open if s.ip == ip) >= MAX_PER_ADDRESS:
            log.warning("websocket from %s refused: %d open already", ip, MAX_PER_ADDRESS)
            return None
        socket = Socket(ip)
        self.open.add(socket)
        scope[SCOPE_KEY] = socket
        return socket

    def release(self, socket: Socket) -> None:
        socket.ended = True
        self.open.discard(socket)

    def signed_in(self, socket: Socket, found: SignIn) -> bool:
        """Record who signed in on the socket; False when their account has too many."""
        per_account = Counter(s.sign_in.actor.login for s in self.open if s.sign_in)
        if per_account[found.actor.login] >= MAX_PER_ACCOUNT:
            log.warning(
                "websocket of %s refused: %d open already", found.actor.login, MAX_PER_ACCOUNT
            )
            return False
        socket.sign_in = found
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._check())
        return True

    async def _check(self) -> None:
        """Close the sockets whose session or token ended (expiry, logout, a password
        change, a disabled or removed account); stops when none is signed in."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            watched = [s for s in self.open if s.sign_in is not None and not s.ended]
            if not watched:
                self._task = None
                return
            sessions = [s.sign_in.session for s in watched if s.sign_in and s.sign_in.session]
            tokens = [s.sign_in.token for s in watched if s.sign_in and s.sign_in.token]
            try:
                alive = await run_in_threadpool(accounts.still_signed_in, sessions, tokens)
            except Exception as exc:
                log.warning("could not check the sign-ins of open websockets: %s", exc)
                continue
            self.checks += 1
            for socket in watched:
                if socket.secret not in alive:
                    await socket.end(SIGNED_OUT, "the sign-in ended")


class GuardedTransportWS(BaseGraphQLTransportWSHandler[Any, Any]):
    """Strawberry's graphql-transport-ws handler, made known to its Socket (to be closed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        context: GqlContext = self.context
        if context.socket is not None:
            context.socket.handler = self


def _subscribes(ctx: ExecutionContext) -> bool:
    if ctx.graphql_document is None:
        return False
    try:
        return ctx.operation_type is OperationType.SUBSCRIPTION
    except Exception:
        return False  # no such operation: strawberry says so itself


class SubscriptionsOverSockets(SchemaExtension):
    """A subscription is refused over plain HTTP (strawberry would run it there as a query,
    or stream it as multipart): only a socket is bounded and closed when its sign-in ends."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if (
            not ctx.pre_execution_errors
            and getattr(ctx.context, "socket", None) is None
            and _subscribes(ctx)
        ):
            ctx.pre_execution_errors = [
                GraphQLError(
                    "subscriptions are served over a websocket at /graphql "
                    "(protocol graphql-transport-ws)",
                    extensions={"code": "BAD_REQUEST"},
                )
            ]
        yield
