"""Account rules: the default administrator, password policy, login back-off."""

from __future__ import annotations

import re

from appliance.errors import InvalidInput

DEFAULT_ADMIN_LOGIN = "admin"
DEFAULT_ADMIN_PASSWORD = "JSJZXWLGLY358"
FREE_FAILURES = 5
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 3600
SESSION_IDLE_SECONDS = 8 * 3600


def check_new_password(password: str, login: str, old_password: str | None = None) -> None:
    """Raise InvalidInput with a message a person can act on."""
    if len(password) < 8:
        raise InvalidInput("the password needs at least 8 characters", field="newPassword")
    if len(password) > 128:
        raise InvalidInput("the password may have at most 128 characters", field="newPassword")
    classes = sum(
        bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    if classes < 2:
        raise InvalidInput(
            "the password needs characters of at least two kinds: lower case, upper case, "
            "digits, symbols",
            field="newPassword",
        )
    if password.lower() == login.lower():
        raise InvalidInput("the password must differ from the login name", field="newPassword")
    if password == DEFAULT_ADMIN_PASSWORD:
        raise InvalidInput("the default password cannot be used again", field="newPassword")
    if old_password is not None and password == old_password:
        raise InvalidInput("the new password must differ from the old one", field="newPassword")


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after this many consecutive failures (0: not locked)."""
    if failures < FREE_FAILURES:
        return 0
    return min(LOCK_MAX_SECONDS, LOCK_BASE_SECONDS * 2 ** (failures - FREE_FAILURES))
