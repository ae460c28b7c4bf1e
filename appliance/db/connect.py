"""Parse database URLs and open raw DB-API connections (migrations, bulk loads)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from appliance.errors import ConfigError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


@dataclass(frozen=True)
class DatabaseUrl:
    provider: str  # "sqlite" or "postgres"
    path: Path | None = None
    dsn: str | None = None

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        if url.startswith("sqlite:///"):
            return cls("sqlite", path=Path(url[len("sqlite:///") - 1 :]))
        if url.startswith(("postgres://", "postgresql://")):
            parts = urlparse(url)
            dsn = {
                "host": parts.hostname or "127.0.0.1",
                "port": str(parts.port or 5432),
                "dbname": unquote(parts.path.lstrip("/")) or "postgres",
                "user": unquote(parts.username or "postgres"),
            }
            if parts.password:
                dsn["password"] = unquote(parts.password)
            return cls("postgres", dsn=" ".join(f"{k}='{v}'" for k, v in dsn.items()))
        raise ConfigError(f"RECORDER_DATABASE_URL: unsupported URL {url!r}")

    def pony_bind_args(self) -> dict[str, Any]:
        if self.provider == "sqlite":
            assert self.path is not None
            return {"provider": "sqlite", "filename": str(self.path), "create_db": True}
        return {"provider": "postgres", "dsn": self.dsn}

    def connect(self) -> Any:
        if self.provider == "sqlite":
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            return conn
        import psycopg2

        return psycopg2.connect(self.dsn)
