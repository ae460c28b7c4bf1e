"""One exception tree for the whole appliance; adapters map foreign errors at the edge.

A refusal a person reads (InvalidInput, Conflict, NotFound, PermissionDenied) says which
rule it broke as a stable `code` from the vocabulary below, the rule's numbers as `params`,
and the offending `field` by the domain's or service's own (snake_case) attribute name; the
adapters rename the field to the name the client sent and pass code and params on (as
`rule` and `params`: GraphQL's and HTTP's `code` already say the kind of error), so a
console says the rule in its own language with the server's limits. The English message
stays for logs and for clients that read only it.

Codes and their params:
  required                 nothing given where something must be
  out_of_range             min, max, value: a number outside min..max
  too_short / too_long     min / max: characters
  invalid_format           a text that is not of the field's form (e.g. an address);
                           max where the form has a length limit
  not_an_integer           a text where a whole number belongs
  not_a_time               a text that is not an ISO 8601 time
  not_a_date               a text that is not a date (YYYY-MM-DD)
  not_allowed              something given where it has no place (e.g. conditions on a
                           report that takes none)
  not_an_id                a text where an id belongs
  one_of                   allowed: the values accepted
  out_of_order             a range whose start is after its end
  overlaps_range           min, max: a value inside a range it must stay outside;
                           low, high: the field's own limits
  too_few_kinds            min: kinds of characters (lower, upper, digits, symbols)
  same_as_login            a password equal to the login name
  default_password         the factory password again
  same_as_old              a new password equal to the old one
  wrong_password           the current password given is wrong
  too_many                 max: items at once
  unknown_device / unknown_organisation / unknown_role
                           value: a referenced object that does not exist
  cycle                    a department put under itself
  duplicate                value: a name (or login, prefix, extension) already taken
  in_use                   the object is still referenced (recordings, bindings,
                           sub-departments, employees) and cannot be deleted
  not_found                the object does not exist or is outside the actor's scope
  forbidden                the actor may not do this
  no_serial                no free serial number (a storm of same-second recordings)
  undecodable_audio        audio bytes that are not WAV or MP3 the appliance can read
  interval_too_long        max_days: a schedule's interval longer than that
  scheme_mismatch          value, expected: a pull device's URL names another protocol
  unknown_field / duplicate_field
                           value: a pull pattern's {field} unknown, or given twice
  incomplete_pattern       a pull pattern without a party or without a time
  not_supported            a pull option the protocol cannot do (delete over HTTP)
  pull_running             the device is being fetched from already
  unknown_time_zone        value: a name the IANA zone database lacks
  protected                value, count: recordings under legal hold (lift the mark first)
  backup_running           a backup to this target is under way
  lease_lost               another run took the target over (its lease expired)
  import_running           an import from this target is under way
  no_backup                no backup set at the location given
  not_a_backup             a file that is not a backup key file (or one out of bounds)
  changed_meanwhile        value: changed by someone else meanwhile; try again
  not_paired               no other appliance is configured (make primary needs one)
Employee-import rows (domain.employee_csv.RowError) use the same vocabulary plus
empty_file, not_csv, not_text, missing_columns (columns), too_many_rows (max),
administrator_account (value), repeated_row (line), extension_clash (value),
changed_meanwhile (value), with row and column (the CSV header) beside them.
"""

from typing import Any

Params = dict[str, Any]


class ApplianceError(Exception):
    """Root of every error the appliance raises on purpose."""


class ConfigError(ApplianceError):
    """Bootstrap configuration is missing or invalid (names the key)."""


# --- input a user or device sent -------------------------------------------------
class Refusal(ApplianceError):
    """A refusal a person acts on: which rule (code), its numbers (params), which field."""

    default_code = "invalid"

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        code: str | None = None,
        params: Params | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.code = code or self.default_code
        self.params: Params = params or {}


class InvalidInput(Refusal):
    """Something a caller sent is malformed or out of range."""

    default_code = "invalid_format"


class AudioDecodeError(InvalidInput):
    """Audio bytes that cannot be decoded (garbage, truncated, unsupported)."""

    default_code = "undecodable_audio"


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


class PermissionDenied(Refusal, AuthError):
    """The actor is known but may not do this."""

    default_code = "forbidden"


# --- state ---------------------------------------------------------------------------
class NotFound(Refusal):
    """The object does not exist, or is outside the actor's scope (indistinguishable)."""

    default_code = "not_found"


class Conflict(Refusal):
    """The change clashes with existing data (duplicate name, ...)."""

    default_code = "duplicate"


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


# --- remote sources (pull, later backup targets) -------------------------------------
class TransferFailed(ApplianceError):
    """A remote server could not be reached or refused: a code the console words
    (connect_failed, auth_failed, tls_untrusted, host_key_changed, not_found, …)
    and what the server or the library said."""

    def __init__(self, code: str, detail: str = "", *, found: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail[:500]
        self.found = found  # a certificate or host key fingerprint the administrator may trust
