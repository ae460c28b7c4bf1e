"""Users, login with lock-out, sessions, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony.orm import commit, db_session

from appliance.db import account_queries
from appliance.db.entities import ApiToken, User, UserSession, by_id
from appliance.domain.accounts import (
    DEFAULT_ADMIN_LOGIN,
    DEFAULT_ADMIN_NAME,
    DEFAULT_ADMIN_PASSWORD,
    NO_PASSWORD,
    SESSION_IDLE_SECONDS,
    LoginThrottle,
    check_new_password,
)
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.rules import check_length
from appliance.errors import AccountLocked, AuthenticationFailed, InvalidInput, NotFound
from appliance.services import audit, events
from appliance.services.context import SYSTEM, Actor, utcnow
from appliance.services.passwords import hash_password, password_matches

TOKEN_PREFIX = "rec_"
TOKEN_NAME_MAX = 64


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor(user: User, ip: str, via: str) -> Actor:
    return Actor(user.id, user.login, user.name, user.is_admin, ip, via, user.must_change_password)


@db_session
def ensure_default_admin() -> None:
    """The manual's default administrator, which must change its password at first login."""
    if User.get(login=DEFAULT_ADMIN_LOGIN) is None:
        admin = User(
            login=DEFAULT_ADMIN_LOGIN,
            name=DEFAULT_ADMIN_NAME,
            password_hash=hash_password(DEFAULT_ADMIN_PASSWORD),
            is_admin=True,
            must_change_password=True,
            failed_logins=0,
            enabled=True,
            created_at=utcnow(),
        )
        admin.flush()
        events.record(EventKind.USER_CREATED, SYSTEM, id=admin.id, login=admin.login, admin=True)


@dataclass(frozen=True)
class LoginResult:
    actor: Actor
    session_token: str
    expires_at: datetime


# In the API process's memory: one process answers every sign-in, the counts need no
# durability (a restart gives an attacker nothing that waiting out the window would not),
# and a row written per failed attempt would hand a flood the database's write lock.
_throttle = LoginThrottle()


def _stamp(user: User | None) -> str:
    """Changes whenever the password is set (the hash has a fresh salt); '' for no account."""
    return user.password_hash[-16:] if user is not None else ""


@db_session
def login(login_name: str, password: str, ip: str) -> LoginResult:
    """Unknown and known logins take the same path and time and get the same answers."""
    now = utcnow()
    user = User.get(login=login_name)
    stamp = _stamp(user)
    key = login_name[:128]  # bounded memory per key, whatever a client sends
    began = time.monotonic()
    wait = _throttle.begin(key, stamp, ip, user.last_login_ip if user else None, began)
    if wait:
        raise AccountLocked(wait)
    # An account without a password yet is checked against the dummy too: same time.
    usable = user is not None and user.password_hash != NO_PASSWORD
    matches = password_matches(user.password_hash if user and usable else None, password)
    ok = matches and usable and user is not None and user.enabled
    if not ok or user is None:
        guest = Actor(None, login_name[:64], "", False, ip, "session")
        audit.record(guest, AuditType.LOGIN_FAILED, "login_failed")
        commit()  # the audit entry must outlive the exception
        raise AuthenticationFailed("wrong user name or password")
    _throttle.succeeded(key, stamp, ip, began)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    user.last_login_ip = ip
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=SESSION_IDLE_SECONDS)
    UserSession(
        token_hash=_digest(token), user_id=user.id, created_at=now, expires_at=expires, ip=ip
    )
    account_queries.delete_expired_sessions(now)
    actor = _actor(user, ip, "session")
    audit.record(actor, AuditType.LOGIN, "login")
    return LoginResult(actor, token, expires)


@db_session
def logout(actor: Actor, session_token: str) -> None:
    s = UserSession.get(token_hash=_digest(session_token))
    if s is not None:
        s.delete()
    audit.record(actor, AuditType.LOGOUT, "logout")


@db_session
def actor_for_session(session_token: str, ip: str) -> Actor:
    """The actor behind a console cookie; the session slides forward while it is used."""
    s = UserSession.get(token_hash=_digest(session_token))
    now = utcnow()
    if s is None or s.expires_at < now:
        raise AuthenticationFailed("not logged in, or the session expired")
    user = User.get(id=s.user_id)
    if user is None or not user.enabled:
        raise AuthenticationFailed("the account is disabled")
    if (s.expires_at - now).total_seconds() < SESSION_IDLE_SECONDS - 60:
        s.expires_at = now + timedelta(seconds=SESSION_IDLE_SECONDS)
    return _actor(user, ip, "session")


@db_session
def actor_for_token(token: str, ip: str) -> Actor:
    t = ApiToken.get(token_hash=_digest(token))
    if t is None or t.revoked_at is not None:
        raise AuthenticationFailed("unknown or revoked API token")
    user = User.get(id=t.user_id)
    if user is None or not user.enabled:
        raise AuthenticationFailed("the token's account is disabled")
    now = utcnow()
    if t.last_used_at is None or (now - t.last_used_at).total_seconds() > 60:
        t.last_used_at = now
    return _actor(user, ip, "token")


@dataclass(frozen=True)
class Ended:
    """What a password change, reset, disable or delete took away from the account."""

    sessions: int
    tokens: int


def end_access(
    actor: Actor,
    user: User,
    type_: AuditType,
    *,
    keep_session: str | None = None,
    revoke_tokens: bool = False,
    delete_tokens: bool = False,
) -> Ended:
    """End the account's sessions (all, or all but the caller's own) and, when asked,
    revoke or remove its tokens; audited when anything ended. Inside the caller's session."""
    keep = _digest(keep_session) if keep_session else None
    sessions = account_queries.delete_sessions_of(user.id, keep)
    tokens = 0
    if delete_tokens:
        tokens = account_queries.delete_tokens_of(user.id)
    elif revoke_tokens:
        tokens = account_queries.revoke_tokens_of(user.id, utcnow())
    if sessions or tokens:
        audit.record(
            actor, type_, "access_ended", login=user.login, sessions=sessions, tokens=tokens
        )
        events.record(
            EventKind.USER_ACCESS_ENDED,
            actor,
            id=user.id,
            login=user.login,
            sessions=sessions,
            tokens=tokens,
        )
    return Ended(sessions, tokens)


@db_session
def change_password(
    actor: Actor, old_password: str, new_password: str, session_token: str | None = None
) -> Ended:
    """The account's other sessions end; the caller's own session (if any) stays signed in."""
    user = User.get(id=actor.user_id) if actor.user_id else None
    if user is None:
        raise NotFound("no such account")
    # The current password is guessed here as at sign-in (say, with a stolen cookie): the
    # same limits apply, or this would be a way around them.
    stamp, began = _stamp(user), time.monotonic()
    wait = _throttle.begin(user.login[:128], stamp, actor.ip, user.last_login_ip, began)
    if wait:
        raise AccountLocked(wait)
    if not password_matches(user.password_hash, old_password):
        raise InvalidInput(
            "the current password is wrong", field="old_password", code="wrong_password"
        )
    _throttle.succeeded(user.login[:128], stamp, actor.ip, began)
    check_new_password(new_password, user.login, old_password, field="new_password")
    # API tokens are a separate credential with their own revocation (apiTokens lists them):
    # an integration must not break each time its owner rotates a password, or people stop
    # rotating. But a password that had to be changed (the manual's default) was known to
    # anyone, so tokens minted while it was in force are not trusted and are revoked.
    revoke = user.must_change_password
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    audit.record(actor, AuditType.PASSWORD, "password_changed")
    events.record(EventKind.USER_PASSWORD_CHANGED, actor, id=user.id, login=user.login)
    keep = session_token if actor.via == "session" else None
    return end_access(actor, user, AuditType.PASSWORD, keep_session=keep, revoke_tokens=revoke)


@db_session
def reset_password(actor: Actor, login_name: str, new_password: str) -> Ended:
    """An administrator (or the command line) sets a password; every session of it ends."""
    actor.require_admin()
    user = User.get(login=login_name)
    if user is None:
        raise NotFound(f"no account {login_name!r}")
    check_new_password(new_password, user.login, field="new_password")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None
    audit.record(actor, AuditType.PASSWORD, "password_reset", login=login_name)
    events.record(EventKind.USER_PASSWORD_CHANGED, actor, id=user.id, login=user.login, reset=True)
    # Tokens stay for the reason given in change_password; `token revoke` ends them.
    return end_access(actor, user, AuditType.PASSWORD)


@db_session
def set_enabled(actor: Actor, login_name: str, enabled: bool) -> Ended:
    """Disable (every session ends, every token is revoked) or enable an account again."""
    actor.require_admin()
    user = User.get(login=login_name)
    if user is None:
        raise NotFound(f"no account {login_name!r}")
    user.enabled = enabled
    audit.record(
        actor,
        AuditType.USER,
        "account_enabled" if enabled else "account_disabled",
        login=user.login,
    )
    kind = EventKind.USER_ENABLED if enabled else EventKind.USER_DISABLED
    events.record(kind, actor, id=user.id, login=user.login)
    if enabled:
        return Ended(0, 0)
    return end_access(actor, user, AuditType.USER, revoke_tokens=True)


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    login: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _token_view(t: ApiToken) -> TokenView:
    user = User.get(id=t.user_id)
    return TokenView(
        t.id,
        t.name,
        user.login if user else "?",
        t.created_at,
        t.last_used_at,
        t.revoked_at is not None,
    )


@db_session
def create_token(actor: Actor, name: str, login_name: str | None = None) -> tuple[TokenView, str]:
    """A new integrator token; the secret is returned once and only its hash is kept."""
    name = check_length("name", name.strip(), TOKEN_NAME_MAX, "token name")
    target = login_name or actor.login
    if target != actor.login:
        actor.require_admin()
    user = User.get(login=target)
    if user is None:
        raise NotFound(f"no account {target!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    t = ApiToken(name=name, token_hash=_digest(secret), user_id=user.id, created_at=utcnow())
    t.flush()
    audit.record(actor, AuditType.TOKEN, "token_created", name=name, login=target)
    events.record(EventKind.TOKEN_CREATED, actor, id=t.id, name=name, login=target)
    return _token_view(t), secret


@db_session
def list_tokens(actor: Actor) -> list[TokenView]:
    ids = account_queries.token_ids(None if actor.is_admin else actor.user_id)
    return [_token_view(by_id(ApiToken, i)) for i in ids]


@db_session
def revoke_token(actor: Actor, token_id: int) -> TokenView:
    t = ApiToken.get(id=token_id)
    if t is None or (not actor.is_admin and t.user_id != actor.user_id):
        raise NotFound("no such token")
    if t.revoked_at is None:
        t.revoked_at = utcnow()
        audit.record(actor, AuditType.TOKEN, "token_revoked", name=t.name)
        events.record(EventKind.TOKEN_REVOKED, actor, id=t.id, name=t.name)
    return _token_view(t)


@db_session
def still_signed_in(sessions: Collection[str], tokens: Collection[str]) -> set[str]:
    """Those of the session and API-token secrets that still sign someone in: not ended,
    expired or revoked, and of an enabled account. Nothing slides forward: an open socket
    alone does not keep an idle session alive."""
    now = utcnow()
    by_hash = {_digest(s): s for s in (*sessions, *tokens)}
    session_hashes = [_digest(s) for s in sessions]
    token_hashes = [_digest(t) for t in tokens]
    owners: dict[str, int] = {}
    if session_hashes:
        for s in UserSession.select(lambda s: s.token_hash in session_hashes):
            if s.expires_at >= now:
                owners[s.token_hash] = s.user_id
    if token_hashes:
        for t in ApiToken.select(lambda t: t.token_hash in token_hashes):
            if t.revoked_at is None:
                owners[t.token_hash] = t.user_id
    user_ids = set(owners.values())
    enabled = {u.id for u in User.select(lambda u: u.id in user_ids) if u.enabled}
    return {by_hash[h] for h, user_id in owners.items() if user_id in enabled}
