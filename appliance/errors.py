"""One exception tree for the whole appliance; adapters map foreign errors at the edge."""


class ApplianceError(Exception):
    """Root of every error the appliance raises on purpose."""


class ConfigError(ApplianceError):
    """Bootstrap configuration is missing or invalid (names the key)."""


# --- input a user or device sent -------------------------------------------------
class InvalidInput(ApplianceError):
    """Something a caller sent is malformed or out of range."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AudioDecodeError(InvalidInput):
    """Audio bytes that cannot be decoded (garbage, truncated, unsupported)."""


# --- who may do what ----------------------------------------------------------------
class AuthError(ApplianceError):
    """Authentication or authorisation failed."""


class AuthenticationFailed(AuthError):
    """Wrong credentials, expired session, unknown token."""


class AccountLocked(AuthError):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins: try again in {seconds} s")
        self.seconds = seconds


class CaptchaFailed(AuthError):
    """The captcha answer was wrong, missing or expired."""


class PasswordChangeRequired(AuthError):
    """The account still has its default password; nothing else is allowed."""


class PermissionDenied(AuthError):
    """The actor is known but may not do this."""


# --- state ---------------------------------------------------------------------------
class NotFound(ApplianceError):
    """The object does not exist, or is outside the actor's scope (indistinguishable)."""


class Conflict(ApplianceError):
    """The change clashes with existing data (duplicate name, ...)."""


# --- storage -------------------------------------------------------------------------
class StorageError(ApplianceError):
    """The file store failed: disk, key or integrity problem."""


class IntegrityError(StorageError):
    """Stored bytes do not match their checksum or fail authentication."""


class StorageFull(StorageError):
    """The disk (or quota) is full: nothing more can be written until space is freed."""


class Busy(ApplianceError):
    """Too much of one costly kind of work is running; try again shortly."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
