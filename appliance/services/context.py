"""What every use case needs: configuration, the file store, and who is acting."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from appliance.config import Config
from appliance.db.database import open_database
from appliance.errors import InvalidInput, PermissionDenied
from appliance.media.crypto import MasterKey
from appliance.media.store import FileStore


@dataclass(frozen=True)
class Actor:
    """The person, integrator or device on whose behalf a use case runs."""

    user_id: int | None
    login: str
    name: str
    is_admin: bool
    ip: str
    via: str  # "session", "token", "device", "system"
    must_change_password: bool = False

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("only administrators may do this")


SYSTEM = Actor(None, "system", "system", True, "127.0.0.1", "system")


@dataclass
class AppContext:
    config: Config
    master: MasterKey
    store: FileStore

    connected: bool = True

    @classmethod
    def open(cls, config: Config, *, connect: bool = True) -> AppContext:
        """`connect=False`: the database may be away; `try_connect` later (the capture)."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if connect:
            open_database(config.database_url)
        master = MasterKey.load_or_create(config.key_file)
        return cls(config, master, FileStore(config.data_dir, master), connected=connect)

    def try_connect(self) -> bool:
        """Migrate and bind, once the database answers; False while it does not (or while
        another thread is trying)."""
        if self.connected:
            return True
        if not _connecting.acquire(blocking=False):
            return False
        try:
            open_database(self.config.database_url)
            self.connected = True
        except Exception:
            return False
        finally:
            _connecting.release()
        return True


_connecting = threading.Lock()


def utcnow() -> datetime:
    """Now, aware UTC, as every time above db/ is."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """A time a client sent, as aware UTC; one outside years 1–9999 in UTC is bad input."""
    # The API's rule: a time without an offset is UTC.
    if value.tzinfo is None:
        return datetime.combine(value.date(), value.time(), UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{value.isoformat()} is outside the range of times (years 1 to 9999 in UTC)",
            code="out_of_range",
            params={"min": 1, "max": 9999, "value": value.isoformat()},
        ) from None


# The appliance's zone (the time_zone setting), remembered whenever this process reads the
# settings; the system's zone until it first does.
_time_zone: tzinfo | None = None


def use_time_zone(zone: tzinfo) -> None:
    global _time_zone
    _time_zone = zone


def to_local(value: datetime) -> datetime:
    """The appliance's wall-clock time, for SNs, file names and report cells."""
    return value.astimezone(_time_zone)


def from_local(wall: datetime) -> datetime:
    """The instant (aware UTC) of a wall-clock time in the appliance's zone; of the earlier
    one when the clock went back, of the hour after a gap when it went forward."""
    if _time_zone is None:
        return wall.astimezone(UTC)
    return datetime.combine(wall.date(), wall.time(), _time_zone).astimezone(UTC)
