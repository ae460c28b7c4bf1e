"""Typed bootstrap settings: environment > TOML file > defaults.

Only what a process needs before it can reach the database lives here; everything an
administrator edits in the console lives in the database (see domain/settings.py).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ConfigError

ENV_PREFIX = "RECORDER_"


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    http_host: str
    http_port: int
    https_port: int | None
    tls_cert: Path
    tls_key: Path
    sip_port: int | None
    key_file: Path
    config_dir: Path
    login_captcha: bool
    max_upload_bytes: int
    config_file: Path | None
    # SIP over TCP: a connection must send a whole message this soon after opening, and
    # one within each idle period after (unless a call's dialog runs over it); connections
    # from one address are capped.
    sip_tcp_first_message_seconds: int = 10
    sip_tcp_idle_seconds: int = 60
    sip_tcp_per_source: int = 32
    # How often the monitor samples and evaluates alarms (the console's resolution).
    monitor_seconds: int = 10
    # The failover service's port for its peer (mutual TLS), and the address it listens on
    # (default: the web server's).
    ha_port: int = 7443
    ha_host: str = ""
    # Where sip_port came from when set ("RECORDER_SIP_PORT", or the file's key): it
    # overrides the setting, and the settings page says so.
    sip_port_source: str = ""

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def is_sqlite(self) -> bool:
        return not self.database_url.startswith(("postgres://", "postgresql://"))


def identity_file(config_dir: Path) -> Path:
    """Where provisioning keeps the appliance's identity: with the configuration, which
    upgrades keep."""
    return config_dir / "machine-id"


def _as_bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{key}: expected a boolean (0/1, true/false), got {raw!r}")


def _as_int(key: str, raw: object, low: int, high: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise ConfigError(f"{key}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key}: {value} is outside {low}..{high}")
    return value


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read the configuration; raise ConfigError naming the bad key."""
    env = os.environ if environ is None else environ
    config_file: Path | None = None
    file_values: dict[str, object] = {}
    if env.get("RECORDER_CONFIG"):
        config_file = Path(env["RECORDER_CONFIG"])
        try:
            with config_file.open("rb") as fh:
                file_values = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"RECORDER_CONFIG: {config_file} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"RECORDER_CONFIG: {config_file} is not valid TOML: {exc}") from None

    def get(key: str, default: object) -> object:
        env_key = ENV_PREFIX + key.upper()
        if env.get(env_key) not in (None, ""):
            return env[env_key]
        return file_values.get(key, default)

    data_dir = Path(str(get("data_dir", "./var/data"))).resolve()
    # Keys and certificates live with the configuration, never beside the data.
    config_dir = (config_file.parent if config_file else data_dir.parent / "etc").resolve()
    database_url = str(get("database_url", f"sqlite:///{data_dir / 'recorder.db'}"))
    if not database_url.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ConfigError(
            f"RECORDER_DATABASE_URL: expected sqlite:///path or postgres://..., got {database_url!r}"
        )
    sip_raw = get("sip_port", None)
    sip_source = ""
    if sip_raw not in (None, ""):
        from_env = env.get(ENV_PREFIX + "SIP_PORT") not in (None, "")  # get() prefers it too
        sip_source = ENV_PREFIX + "SIP_PORT" if from_env else f"sip_port in {config_file}"
    https_raw = get("https_port", None)
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        http_host=str(get("http_host", "127.0.0.1")),
        http_port=_as_int("RECORDER_HTTP_PORT", get("http_port", 8080), 1, 65535),
        https_port=(
            None if https_raw in (None, "") else _as_int("RECORDER_HTTPS_PORT", https_raw, 1, 65535)
        ),
        tls_cert=Path(str(get("tls_cert", config_dir / "tls" / "cert.pem"))).resolve(),
        tls_key=Path(str(get("tls_key", config_dir / "tls" / "key.pem"))).resolve(),
        sip_port=None if sip_raw in (None, "") else _as_int("RECORDER_SIP_PORT", sip_raw, 1, 65535),
        sip_port_source=sip_source,
        key_file=Path(str(get("key_file", config_dir / "master.key"))).resolve(),
        config_dir=config_dir,
        login_captcha=_as_bool("RECORDER_LOGIN_CAPTCHA", get("login_captcha", True)),
        max_upload_bytes=_as_int(
            "RECORDER_MAX_UPLOAD_BYTES", get("max_upload_bytes", 200 * 1024 * 1024), 1024, 2**40
        ),
        config_file=config_file,
        sip_tcp_first_message_seconds=_as_int(
            "RECORDER_SIP_TCP_FIRST_MESSAGE_SECONDS",
            get("sip_tcp_first_message_seconds", 10),
            1,
            600,
        ),
        sip_tcp_idle_seconds=_as_int(
            "RECORDER_SIP_TCP_IDLE_SECONDS", get("sip_tcp_idle_seconds", 60), 1, 86400
        ),
        sip_tcp_per_source=_as_int(
            "RECORDER_SIP_TCP_PER_SOURCE", get("sip_tcp_per_source", 32), 1, 100_000
        ),
        monitor_seconds=_as_int("RECORDER_MONITOR_SECONDS", get("monitor_seconds", 10), 1, 300),
        ha_port=_as_int("RECORDER_HA_PORT", get("ha_port", 7443), 1, 65535),
        ha_host=str(get("ha_host", "")),
    )
