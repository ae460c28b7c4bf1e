"""Login, logout, passwords, the current user and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from appliance.api.graphql.common import parse_id
from appliance.api.graphql.context import IsAuthenticated, actor_of, context_of
from appliance.api.graphql.errors import UserError, attempt, call
from appliance.api.graphql.organization import ActionType
from appliance.api.http.auth import SESSION_COOKIE, client_ip, set_session_cookie
from appliance.domain import accounts as password_policy
from appliance.errors import ApplianceError
from appliance.services import access, accounts
from appliance.services.accounts import TokenView
from appliance.services.context import Actor


@strawberry.type
class Profile:
    extension: str | None
    organization: str | None
    actions: list[ActionType]  # type: ignore[valid-type]


@strawberry.type
class User:
    login: str
    name: str
    is_admin: bool
    must_change_password: bool

    @strawberry.field(description="The employee's extension, organisation and allowed actions")
    async def profile(self, info: Info) -> Profile:
        actor = context_of(info).actor
        if actor is None or actor.login != self.login:
            return Profile(extension=None, organization=None, actions=[])
        p = await call(access.profile, actor)
        return Profile(extension=p.extension, organization=p.organization, actions=p.actions)

    @classmethod
    def of(cls, a: Actor) -> User:
        return cls(
            login=a.login,
            name=a.name,
            is_admin=a.is_admin,
            must_change_password=a.must_change_password,
        )


@strawberry.type
class Captcha:
    id: str
    image: str = strawberry.field(description="A data: URL of a PNG image")


@strawberry.type
class LoginSuccess:
    user: User
    expires_at: datetime


@strawberry.type
class LoginError:
    code: str
    message: str
    retry_after_seconds: int | None = None


LoginResult = Annotated[LoginSuccess | LoginError, strawberry.union("LoginResult")]


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    login: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, t: TokenView) -> ApiToken:
        return cls(
            id=strawberry.ID(str(t.id)),
            name=t.name,
            login=t.login,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked=t.revoked,
        )


@strawberry.type
class NewApiToken:
    token: ApiToken
    secret: str = strawberry.field(description="Shown once; send as 'Authorization: Bearer …'")


@strawberry.type
class Ok:
    ok: bool


NewApiTokenResult = Annotated[NewApiToken | UserError, strawberry.union("NewApiTokenResult")]
OkResult = Annotated[Ok | UserError, strawberry.union("OkResult")]


@strawberry.type(
    description="What a new password must be; the console shows it before the first try."
)
class PasswordRules:
    min_length: int
    max_length: int
    min_kinds: int = strawberry.field(
        description="Kinds of characters needed, of: lower case, upper case, digits, symbols"
    )


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The logged-in user, or null")
    def me(self, info: Info) -> User | None:
        actor = context_of(info).actor
        return User.of(actor) if actor else None

    @strawberry.field(description="A new login captcha; null when captchas are switched off")
    async def captcha(self, info: Info) -> Captcha | None:
        ctx = context_of(info)
        store = ctx.captchas
        if not store.enabled:
            return None
        captcha_id, image = await run_in_threadpool(store.new, client_ip(ctx.request))
        return Captcha(id=captcha_id, image=image)

    @strawberry.field(
        description="What a new password must be: public, as the forced change of the default "
        "password shows it before the session may do anything else"
    )
    def password_rules(self) -> PasswordRules:
        return PasswordRules(
            min_length=password_policy.PASSWORD_MIN_LENGTH,
            max_length=password_policy.PASSWORD_MAX_LENGTH,
            min_kinds=password_policy.PASSWORD_MIN_KINDS,
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        return [ApiToken.of(t) for t in await call(accounts.list_tokens, actor_of(info))]


@strawberry.type
class AccountMutations:
    @strawberry.mutation
    async def login(
        self,
        info: Info,
        login: str,
        password: str,
        captcha_id: str | None = None,
        captcha_answer: str | None = None,
    ) -> LoginResult:
        ctx = context_of(info)
        try:
            ctx.captchas.verify(captcha_id, captcha_answer)
            result = await run_in_threadpool(
                accounts.login, login.strip(), password, client_ip(ctx.request)
            )
        except ApplianceError as exc:
            err = UserError.of(exc)
            return LoginError(
                code=err.code,
                message=err.message,
                retry_after_seconds=getattr(exc, "seconds", None),
            )
        set_session_cookie(ctx.request, ctx.response, result.session_token)
        return LoginSuccess(user=User.of(result.actor), expires_at=result.expires_at)

    @strawberry.mutation
    async def logout(self, info: Info) -> Ok:
        ctx = context_of(info)
        if ctx.actor is not None and ctx.session_token:
            await call(accounts.logout, ctx.actor, ctx.session_token)
        ctx.response.delete_cookie(SESSION_COOKIE, path="/")
        return Ok(ok=True)

    @strawberry.mutation(
        description="Allowed while the password must be changed; the account's other "
        "sessions end (the audit trail says how many)"
    )
    async def change_password(self, info: Info, old_password: str, new_password: str) -> OkResult:
        ctx = context_of(info)
        actor = ctx.actor
        if actor is None:
            return UserError(code="UNAUTHENTICATED", message="not logged in")
        result = await attempt(
            accounts.change_password, actor, old_password, new_password, ctx.session_token
        )
        return result if isinstance(result, UserError) else Ok(ok=True)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_api_token(
        self, info: Info, name: str, login: str | None = None
    ) -> NewApiTokenResult:
        result = await attempt(accounts.create_token, actor_of(info), name, login)
        if isinstance(result, UserError):
            return result
        view, secret = result
        return NewApiToken(token=ApiToken.of(view), secret=secret)

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiToken | None:
        token_id = parse_id(id)
        if token_id is None:
            return None
        result = await attempt(accounts.revoke_token, actor_of(info), token_id)
        return None if isinstance(result, UserError) else ApiToken.of(result)
