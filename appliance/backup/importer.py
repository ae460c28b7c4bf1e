"""Importing backup sets: from a target, a folder or an uploaded set, on this appliance or a
new one that has none of the old keys. Every set's key file must open with the passphrase
before anything is imported; each file is checked against its manifest's checksum; what
is here already (by SN) is skipped, so importing twice changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.backup.runner import encrypted_size
from appliance.domain.backup import (
    CONFIG_FILE,
    KEY_FILE,
    MANIFEST_FILE,
    SET_NAME,
    BackupProblem,
    BackupResult,
    LogKind,
    RunCounts,
    check_manifest_row,
)
from appliance.domain.recordings import Direction, RecordingKind
from appliance.domain.settings import FileFormat
from appliance.errors import (
    ApplianceError,
    IntegrityError,
    InvalidInput,
    StorageError,
    TransferFailed,
)
from appliance.media import backup_key
from appliance.media.backup_key import KEY_FILE_MAX, KeyFile, WrongPassphrase
from appliance.media.codec import EXTENSIONS
from appliance.media.crypto import EncryptedReader, MasterKey
from appliance.services import backup_config, backup_log, backups, settings
from appliance.services.backup_config import DOCUMENT_MAX, ConfigCounts
from appliance.services.context import Actor, AppContext
from appliance.transfer.client import TransferClient, read_small

log = logging.getLogger(__name__)

MANIFEST_MAX = 16 * 1024 * 1024  # 200 rows; a row's bounds keep it under 150 kB
FREE_MARGIN = 1024**3  # an import never takes the data disk's last gigabyte
KEYS_MAX = 32  # distinct key files (passphrase changes) one import opens
PROGRESS_EVERY_S = 1.0
Progress = Callable[[dict[str, Any]], None]


@dataclass
class ImportRun:
    counts: RunCounts = field(default_factory=RunCounts)
    result: BackupResult = BackupResult.DONE
    error: str = ""
    detail: str = ""
    sets: list[str] = field(default_factory=list)
    config: ConfigCounts | None = None  # when the configuration was asked for and found

    def summary(self) -> dict[str, object]:
        return {
            "result": self.result.value,
            "recordings": self.counts.recordings,
            "voicemails": self.counts.voicemails,
            "skipped": self.counts.skipped,
            "bytes": self.counts.bytes,
            "error": self.error,
            "problems": len(self.counts.problems),
            "config_created": self.config.created if self.config else {},
        }


class _BoundedFile:
    """A download's sink that refuses more than the manifest says the file holds."""

    def __init__(self, fh: Any, limit: int) -> None:
        self.fh = fh
        self.limit = limit

    def write(self, data: bytes, /) -> int:
        if self.fh.tell() + len(data) > self.limit:
            raise TransferFailed("too_large", f"more than {self.limit} bytes")
        return int(self.fh.write(data))

    def seek(self, offset: int, whence: int = 0, /) -> int:
        return int(self.fh.seek(offset, whence))

    def truncate(self, size: int | None = None, /) -> int:
        return int(self.fh.truncate(size))


def list_sets(client: TransferClient) -> list[str]:
    """The sets in a target's folder, oldest first; "" when the folder is itself a set."""
    entries = client.list_dir("")
    if any(e.name == KEY_FILE and not e.is_dir for e in entries):
        return [""]
    return sorted(e.name for e in entries if e.is_dir and SET_NAME.match(e.name))


def _in(set_name: str, name: str) -> str:
    return f"{set_name}/{name}" if set_name else name


def open_keys(client: TransferClient, sets: list[str], passphrase: str) -> dict[str, bytes]:
    """Each set's backup key; WrongPassphrase if any key file refuses the passphrase."""
    keys: dict[str, bytes] = {}
    opened: dict[bytes, bytes] = {}
    for name in sets:
        data = read_small(client, _in(name, KEY_FILE), KEY_FILE_MAX)
        if data not in opened and len(opened) >= KEYS_MAX:
            raise InvalidInput(f"more than {KEYS_MAX} key files", code="too_many",
                               params={"max": KEYS_MAX})  # fmt: skip
        if data not in opened:
            opened[data] = backup_key.unwrap(KeyFile.parse(data), passphrase)
        keys[name] = opened[data]
    return keys


def _opened(client: TransferClient, path: str, cipher: MasterKey, limit: int) -> bytes:
    """A small encrypted file of a set (a manifest part, the configuration), opened."""
    sealed = read_small(client, path, limit)
    with EncryptedReader(cipher, io.BytesIO(sealed)) as reader:
        return b"".join(reader.read_range(0, reader.size - 1)) if reader.size else b""


def _rows(client: TransferClient, set_name: str, part: str, cipher: MasterKey) -> list[bytes]:
    plain = _opened(client, _in(set_name, part), cipher, MANIFEST_MAX)
    return [line for line in plain.splitlines() if line.strip()]


_KINDS = {k.value for k in RecordingKind}
_DIRECTIONS = {d.value for d in Direction}
_FORMATS = {f.value for f in FileFormat}


def _checked(line: bytes) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(line)
    check_manifest_row(row, _KINDS, _DIRECTIONS, _FORMATS)
    return row


class _Importer:
    def __init__(
        self, ctx: AppContext, actor: Actor, client: TransferClient, progress: Progress | None
    ) -> None:
        self.ctx = ctx
        self.actor = actor
        self.client = client
        self.run = ImportRun()
        self.progress = progress
        self._progress_at = 0.0
        self.done = 0

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is None or (not force and now - self._progress_at < PROGRESS_EVERY_S):
            return
        self._progress_at = now
        self.progress({"done": self.done, **self.run.summary()})

    def import_config(self, sets: list[str], keys: dict[str, bytes]) -> None:
        """The newest chosen set's configuration, before the recordings (they name its
        devices and departments)."""
        for name in reversed(sets):
            if not any(e.name == CONFIG_FILE for e in self.client.list_dir(name)):
                continue
            cipher = backup_key.file_cipher(keys[name])
            try:
                document = _opened(self.client, _in(name, CONFIG_FILE), cipher, DOCUMENT_MAX)
            except IntegrityError as exc:
                self.run.counts.problems.append(BackupProblem(_in(name, CONFIG_FILE), "corrupt",
                                                              str(exc)[:300]))  # fmt: skip
                return
            self.run.config = backup_config.import_document(self.actor, document, self.ctx.master)
            for problem in self.run.config.problems:
                self.run.counts.problems.append(BackupProblem(CONFIG_FILE, "refused", problem))
            return

    def import_set(self, set_name: str, key: bytes) -> None:
        cipher = backup_key.file_cipher(key)
        parts = sorted(
            e.name for e in self.client.list_dir(set_name) if MANIFEST_FILE.match(e.name)
        )
        for part in parts:
            try:
                lines = _rows(self.client, set_name, part, cipher)
            except (IntegrityError, ValueError) as exc:
                self.run.counts.problems.append(BackupProblem(_in(set_name, part), "corrupt",
                                                              str(exc)[:300]))  # fmt: skip
                continue
            for number, line in enumerate(lines, 1):
                try:
                    row = _checked(line)
                except (ValueError, KeyError, TypeError, RecursionError) as exc:
                    self.run.counts.problems.append(BackupProblem(
                        f"{_in(set_name, part)}:{number}", "bad_row", str(exc)[:300]))  # fmt: skip
                    continue
                self.import_row(set_name, row, cipher)
                self.done += 1
                self.report()

    def import_row(self, set_name: str, row: dict[str, Any], cipher: MasterKey) -> None:
        if backups.already_here(row):
            self.run.counts.skipped += 1
            return
        path = _in(set_name, row["file"])
        if row["size"] * 2 + FREE_MARGIN > shutil.disk_usage(self.ctx.config.data_dir).free:
            self.run.counts.problems.append(
                BackupProblem(row["sn"], "no_room", f"{row['size']} bytes")
            )
            return
        try:
            stored_bytes = self._restore(path, row, cipher)
        except (IntegrityError, TransferFailed, StorageError) as exc:
            reason = "missing" if getattr(exc, "code", "") == "not_found" else "corrupt"
            self.run.counts.problems.append(BackupProblem(row["sn"], reason, str(exc)[:300]))
            return
        if stored_bytes is None:
            self.run.counts.skipped += 1
            return
        self.run.counts.bytes += stored_bytes
        if row["kind"] == RecordingKind.VOICEMAIL.value:
            self.run.counts.voicemails += 1
        else:
            self.run.counts.recordings += 1

    def _restore(self, path: str, row: dict[str, Any], cipher: MasterKey) -> int | None:
        conf = settings.current()
        started = datetime.fromisoformat(row["started_at"])
        ext = EXTENSIONS[FileFormat(row["file_format"])]
        with tempfile.TemporaryFile(dir=self.ctx.store.scratch_dir()) as sealed:
            self.client.download(path, _BoundedFile(sealed, encrypted_size(row["size"])))
            with EncryptedReader(cipher, sealed) as reader:
                if reader.size != row["size"]:
                    raise IntegrityError(f"{path}: {reader.size} bytes, the manifest says "
                                         f"{row['size']}")  # fmt: skip
                reader.verify()
                digest = hashlib.sha256()
                with self.ctx.store.create(started, ext, encrypted=conf.encryption) as writer:
                    if reader.size:
                        for block in reader.read_range(0, reader.size - 1):
                            digest.update(block)
                            writer.write(block)
                    if digest.hexdigest() != row["sha256"]:
                        raise IntegrityError(f"{path} does not match its checksum")
                    stored = writer.commit()
        try:
            restored = backups.restore_row(self.actor, row, stored)
        except BaseException:
            self.ctx.store.remove(stored.relpath)  # no file without its row
            raise
        if restored is None:
            self.ctx.store.remove(stored.relpath)
            return None
        return stored.disk_size


def import_backup(
    ctx: AppContext,
    actor: Actor,
    client: TransferClient,
    passphrase: str,
    *,
    sets: list[str] | None = None,
    source: str = "",
    progress: Progress | None = None,
    include_config: bool = False,
) -> ImportRun:
    """Import the given sets (every set in the folder by default), logged in the backup log."""
    importer = _Importer(ctx, actor, client, progress)
    run = importer.run
    try:
        found = list_sets(client)
        chosen = found if sets is None else [s for s in sets if s in found]
        if not chosen:
            raise InvalidInput("no backup set there", code="no_backup")
        run.sets = chosen
        keys = open_keys(client, chosen, passphrase)
        importer.report(force=True)
        if include_config:
            importer.import_config(chosen, keys)
        for name in chosen:
            importer.import_set(name, keys[name])
    except WrongPassphrase as exc:
        run.error, run.detail = "wrong_passphrase", str(exc)
    except InvalidInput as exc:
        run.error, run.detail = exc.code, str(exc)
    except TransferFailed as exc:
        run.error, run.detail = exc.code, exc.detail
    except ApplianceError as exc:
        run.error, run.detail = "internal_error", str(exc)[:300]
    if run.error:
        run.result = BackupResult.PARTIAL if run.counts.files else BackupResult.FAILED
    elif run.counts.problems:
        run.result = BackupResult.PARTIAL
    importer.report(force=True)
    try:
        backup_log.report_run(
            actor, LogKind.IMPORT, source, run.result, run.counts, alarm_subject="",
            summary=run.summary(), location=source, error=run.error, detail=run.detail,
            skipped=run.counts.skipped, problems=len(run.counts.problems),
        )  # fmt: skip
    except Exception:
        log.exception("logging the import from %s", source)
    return run
