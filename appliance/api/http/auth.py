"""Who is calling: the console's session cookie, an integrator's Bearer token, a device's Basic."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response

from appliance.errors import AuthenticationFailed
from appliance.services import accounts
from appliance.services.accounts import TOKEN_PREFIX
from appliance.services.context import Actor

SESSION_COOKIE = "recorder_session"


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def set_session_cookie(conn: HTTPConnection, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=conn.url.scheme in ("https", "wss"),
        path="/",
    )


def bearer_of(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def bearer_token(conn: HTTPConnection) -> str | None:
    return bearer_of(conn.headers.get("authorization", ""))


@dataclass(frozen=True)
class SignIn:
    """Who is calling, and the secret that says so (kept by a socket, to see it end)."""

    actor: Actor
    session: str | None = None  # the console's session cookie
    token: str | None = None  # an integrator's API token


async def sign_in(conn: HTTPConnection, authorization: str | None = None) -> SignIn | None:
    """From a Bearer token (`authorization` when given, as a websocket's connection_init
    carries it, else the header) or the session cookie; None if neither signs anyone in."""
    ip = client_ip(conn)
    header = conn.headers.get("authorization", "") if authorization is None else authorization
    token = bearer_of(header)
    try:
        if token is not None:
            if not token.startswith(TOKEN_PREFIX):
                return None
            actor = await run_in_threadpool(accounts.actor_for_token, token, ip)
            return SignIn(actor, token=token)
        if authorization:
            return None  # given, but not a Bearer token: not the cookie instead
        session = conn.cookies.get(SESSION_COOKIE)
        if session:
            return SignIn(await run_in_threadpool(accounts.actor_for_session, session, ip), session)
    except AuthenticationFailed:
        pass
    return None


async def resolve_actor(conn: HTTPConnection) -> tuple[Actor | None, str | None]:
    """(actor, session token) from a Bearer token or the session cookie; (None, None) if neither."""
    found = await sign_in(conn)
    return (found.actor, found.session) if found else (None, None)


def basic_credentials(conn: HTTPConnection) -> tuple[str, str] | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
