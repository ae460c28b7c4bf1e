"""System information ("系统信息") and the storage integrity check."""

from __future__ import annotations

import platform
import sqlite3
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pony.orm import db_session

from appliance import __version__
from appliance.config import Config, identity_file
from appliance.db import device_queries, recording_queries
from appliance.db.database import provider
from appliance.media.store import StoredFile
from appliance.services import settings
from appliance.services.context import AppContext

MAX_CONCURRENT_CHANNELS = 1000
_COMPONENTS = ("strawberry-graphql", "starlette", "uvicorn", "pony", "cryptography", "lameenc")


@dataclass(frozen=True)
class SystemInfo:
    version: str
    components: list[tuple[str, str]]
    max_concurrent_channels: int
    device_count: int
    machine_id: str
    time_zone: str


def machine_id(config: Config) -> str:
    """The appliance's identity: the one provisioning kept with the configuration, else
    systemd's machine-id, else one made once and kept with the data."""
    for path in (identity_file(config.config_dir), Path("/etc/machine-id")):
        if path.is_file() and (text := path.read_text().strip()):
            return text
    own = config.data_dir / "machine-id"
    if not own.exists():
        own.write_text(uuid.uuid4().hex + "\n")
    return own.read_text().strip()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "built in"


@db_session
def info(ctx: AppContext) -> SystemInfo:
    db_name = "SQLite " + sqlite3.sqlite_version if provider() == "sqlite" else "PostgreSQL"
    components = [
        ("recorder", __version__),
        ("console", __version__),
        ("python", platform.python_version()),
        ("database", db_name),
        *((name, _version(name)) for name in _COMPONENTS),
    ]
    return SystemInfo(
        __version__,
        components,
        MAX_CONCURRENT_CHANNELS,
        device_queries.count(),
        machine_id(ctx.config),
        settings.current().time_zone,
    )


@dataclass(frozen=True)
class StorageProblem:
    recording_id: int
    sn: str
    relpath: str
    problem: str


def check_storage(ctx: AppContext) -> tuple[int, list[StorageProblem]]:
    """Verify every live recording's file against its SHA-256; return (checked, problems)."""
    checked, after = 0, 0
    problems: list[StorageProblem] = []
    while True:
        with db_session:
            batch = recording_queries.live_files(after, 1000)
        if not batch:
            return checked, problems
        for rec_id, sn, relpath, disk, plain, sha, enc in batch:
            checked += 1
            problem = ctx.store.check(StoredFile(relpath, disk, plain, sha, bool(enc)))
            if problem:
                problems.append(StorageProblem(rec_id, sn, relpath, problem))
            after = rec_id
