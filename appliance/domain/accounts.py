"""Account rules: the default administrator, password policy, login back-off."""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field

from appliance.domain.throttle import BackoffLock, Pacer, SlidingWindow
from appliance.errors import InvalidInput

DEFAULT_ADMIN_LOGIN = "admin"
# Stored in English; the console and the exports say it in the reader's language.
DEFAULT_ADMIN_NAME = "Administrator"
DEFAULT_ADMIN_PASSWORD = "JSJZXWLGLY358"
FREE_FAILURES = 5
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 3600
SESSION_IDLE_SECONDS = 8 * 3600
# The stored hash of an account that has no password yet: no password matches it.
NO_PASSWORD = "!none"
# One source address, whatever logins it tries: 20 failures per 15 minutes.
SOURCE_FAILURES = 20
SOURCE_WINDOW_SECONDS = 900
# One account from all sources: past 20 failures in an hour, addresses other than the one
# it last signed in from get one try per 10 s between them (bounded, never a lock).
ACCOUNT_FAILURES = 20
ACCOUNT_WINDOW_SECONDS = 3600
ACCOUNT_PACE_SECONDS = 10
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
PASSWORD_MIN_KINDS = 2
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


def check_new_password(
    password: str, login: str, old_password: str | None = None, field: str = "password"
) -> None:
    """Raise InvalidInput with a message a person can act on, on `field` (the caller's
    name for the password)."""

    def refuse(message: str, code: str, **params: object) -> InvalidInput:
        return InvalidInput(message, field=field, code=code, params=params)

    if len(password) < PASSWORD_MIN_LENGTH:
        raise refuse(
            f"the password needs at least {PASSWORD_MIN_LENGTH} characters",
            "too_short",
            min=PASSWORD_MIN_LENGTH,
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise refuse(
            f"the password may have at most {PASSWORD_MAX_LENGTH} characters",
            "too_long",
            max=PASSWORD_MAX_LENGTH,
        )
    kinds = sum(
        bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    if kinds < PASSWORD_MIN_KINDS:
        raise refuse(
            f"the password needs characters of at least {_WORDS.get(PASSWORD_MIN_KINDS)} kinds:"
            " lower case, upper case, digits, symbols",
            "too_few_kinds",
            min=PASSWORD_MIN_KINDS,
        )
    if password.lower() == login.lower():
        raise refuse("the password must differ from the login name", "same_as_login")
    if password == DEFAULT_ADMIN_PASSWORD:
        raise refuse("the default password cannot be used again", "default_password")
    if old_password is not None and password == old_password:
        raise refuse("the new password must differ from the old one", "same_as_old")


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after this many consecutive failures (0: not locked)."""
    if failures < FREE_FAILURES:
        return 0
    return min(LOCK_MAX_SECONDS, LOCK_BASE_SECONDS * 2 ** (failures - FREE_FAILURES))


@dataclass
class LoginThrottle:
    """Who may try a password now, kept in the API process's memory.

    Failures lock the pair (login, source) with the back-off above, so an outsider's
    failures never lock the owner signing in from anywhere else. Guessing is bounded per
    source (across logins) and per account (across sources, by pacing rather than locking,
    and not at the address the account last signed in from). Unknown and known logins are
    counted alike, so the answers say nothing about which accounts exist. `stamp` changes
    whenever the password is set, so a reset starts the account's counts afresh even when
    done by another process (`recorder admin reset-password`).
    """

    pairs: BackoffLock[tuple[str, str, str]] = field(
        default_factory=lambda: BackoffLock(FREE_FAILURES, LOCK_BASE_SECONDS, LOCK_MAX_SECONDS)
    )
    sources: SlidingWindow[str] = field(
        default_factory=lambda: SlidingWindow(SOURCE_FAILURES, SOURCE_WINDOW_SECONDS)
    )
    accounts: SlidingWindow[tuple[str, str]] = field(
        default_factory=lambda: SlidingWindow(ACCOUNT_FAILURES, ACCOUNT_WINDOW_SECONDS)
    )
    pace: Pacer[tuple[str, str]] = field(default_factory=lambda: Pacer(ACCOUNT_PACE_SECONDS))

    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, login: str, stamp: str, ip: str, trusted_ip: str | None, now: float) -> int:
        """0 when this attempt may be checked, counted as a failure until it succeeds (so
        attempts in parallel cannot all slip under a limit); else whole seconds to wait."""
        with self._lock:
            wait = max(self.sources.wait(ip, now), self.pairs.wait((login, stamp, ip), now))
            account = (login, stamp)
            if not wait and ip != trusted_ip and self.accounts.wait(account, now) > 0:
                wait = self.pace.take(account, now)
            if wait > 0:
                return math.ceil(wait)
            self.sources.add(ip, now)
            self.accounts.add(account, now)
            self.pairs.fail((login, stamp, ip), now)
            return 0

    def succeeded(self, login: str, stamp: str, ip: str, began: float) -> None:
        """The attempt begun at `began` was right: it no longer counts anywhere."""
        with self._lock:
            self.sources.undo(ip, began)
            self.accounts.undo((login, stamp), began)
            self.pairs.clear((login, stamp, ip))
