"""Per-request GraphQL context and the permission classes built on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.types import Info

from appliance.api.graphql.sockets import Socket
from appliance.api.http.captcha import CaptchaStore
from appliance.services.context import Actor, AppContext
from graphql import BREAK, DocumentNode, FieldNode, GraphQLError, Visitor, visit


@dataclass
class GqlContext:
    request: Request
    response: Response
    app: AppContext
    captchas: CaptchaStore
    actor: Actor | None
    session_token: str | None
    socket: Socket | None = None  # over a websocket: signed in at connection_init
    connection_params: dict[str, Any] | None = None  # connection_init's payload (strawberry)


def context_of(info: Info[Any, Any]) -> GqlContext:
    return info.context


def actor_of(info: Info[Any, Any]) -> Actor:
    actor = context_of(info).actor
    assert actor is not None, "guarded by IsAuthenticated"
    return actor


def refusal(actor: Actor | None, admin: bool = False) -> GraphQLError | None:
    """Why this actor may not go on (None if they may): one place for the three codes."""
    if actor is None:
        return GraphQLError("not logged in", extensions={"code": "UNAUTHENTICATED"})
    if actor.must_change_password:
        return GraphQLError(
            "the password must be changed before anything else",
            extensions={"code": "PASSWORD_CHANGE_REQUIRED"},
        )
    if admin and not actor.is_admin:
        return GraphQLError("only administrators may do this", extensions={"code": "FORBIDDEN"})
    return None


class IsAuthenticated(BasePermission):
    """Logged in (session or token) and past the forced change of the default password.

    Strawberry shares one instance among all requests, so a refusal is raised as a new
    error each time rather than kept in `message` (which would leak into the next
    request's answer).
    """

    admin = False

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        error = refusal(context_of(info).actor, admin=self.admin)
        if error is not None:
            raise error
        return True


class IsAdmin(IsAuthenticated):
    admin = True


INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def _introspects(document: DocumentNode) -> bool:
    """Whether any definition selects `__schema` or `__type` (`__typename` is fine)."""
    found = False

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            nonlocal found
            if node.name.value in INTROSPECTION_FIELDS:
                found = True
                return BREAK
            return None

    visit(document, Finder())
    return found


class SignedInIntrospection(SchemaExtension):
    """The schema is shown to signed-in people only (GraphiQL is theirs too)."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if not ctx.pre_execution_errors and document is not None and _introspects(document):
            error = refusal(ctx.context.actor if ctx.context else None)
            if error is not None:
                ctx.pre_execution_errors = [error]
        yield
