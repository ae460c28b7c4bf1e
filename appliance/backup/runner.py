"""A backup run to one target: the recordings not yet there, encrypted with the backup key,
in numbered files of the target's open set, a manifest part after each batch; old sets
removed; the run logged, and BACKUP_FAILED raised when it fails.

A recording counts as on the target only once the manifest part naming it has landed, so a
run that breaks off leaves nothing counted that the set cannot restore; the next run writes
the same file numbers again and completes the set."""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO

from appliance.db.backup_queries import SetRow
from appliance.domain.backup import (
    CONFIG_FILE,
    KEY_FILE,
    BackupProblem,
    BackupResult,
    LogKind,
    RunCounts,
    TargetKind,
    audio_name,
    manifest_line,
    manifest_name,
    set_name,
)
from appliance.errors import (
    ApplianceError,
    Conflict,
    IntegrityError,
    NotFound,
    StorageError,
    TransferFailed,
)
from appliance.media import backup_key
from appliance.media.backup_key import KeyFile
from appliance.media.crypto import CHUNK_SIZE, HEADER_SIZE, TAG, EncryptedWriter, MasterKey, encrypt
from appliance.media.store import StoredFile
from appliance.services import backup_config, backup_log, backups, jobs
from appliance.services.backups import TargetConfig
from appliance.services.context import Actor, AppContext, utcnow
from appliance.transfer.client import Credentials, TargetClient, connect_target

log = logging.getLogger(__name__)

# Renewed after each file: long enough for one large file on a slow link; a run that
# died frees its target this long after.
LEASE_S = 600.0
BATCH = 200  # recordings per manifest part
PROGRESS_EVERY_S = 1.0
READ_BLOCK = 1024 * 1024
BLOCK = 4096  # what a file takes on a disk is counted in whole blocks
# Room kept for what follows the audio in a batch: its manifest part and the key file.
RESERVE = 256 * 1024
DAYS_PER_MONTH = 30.44


class Stopped(ApplianceError):
    """The run stops on purpose (the target reached its disk limit)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class BackupRun:
    """A run's outcome, as the API and the log report it."""

    target_id: int
    kind: str
    result: BackupResult = BackupResult.DONE
    counts: RunCounts = field(default_factory=RunCounts)
    error: str = ""
    detail: str = ""
    set_name: str = ""
    removed_sets: int = 0

    def summary(self) -> dict[str, object]:
        return {
            "result": self.result.value,
            "recordings": self.counts.recordings,
            "voicemails": self.counts.voicemails,
            "bytes": self.counts.bytes,
            "error": self.error,
            "detail": self.detail,
            "set": self.set_name,
            "problems": len(self.counts.problems),
        }


def credentials_of(cfg: TargetConfig) -> Credentials:
    return Credentials(
        cfg.username, cfg.password, tls_fingerprint=cfg.tls_fingerprint, host_key=cfg.host_key
    )


def sign_in(cfg: TargetConfig) -> TargetClient:
    client = connect_target(cfg.where, credentials_of(cfg))
    if cfg.where.kind is TargetKind.SFTP and not cfg.host_key:
        backups.pin_host_key(cfg.id, client.host_key)
    return client


def encrypted_size(plain: int) -> int:
    """What a file of plain bytes takes once encrypted (header, one tag per chunk)."""
    return HEADER_SIZE + max(1, -(-plain // CHUNK_SIZE)) * TAG + plain


def seal_to(cipher: MasterKey, source: BinaryIO, scratch: BinaryIO) -> tuple[str, int]:
    """Encrypt source into scratch; the plaintext's SHA-256 and size."""
    digest = hashlib.sha256()
    writer = EncryptedWriter(cipher, scratch)
    while block := source.read(READ_BLOCK):
        digest.update(block)
        writer.write(block)
    writer.close()
    scratch.flush()
    scratch.seek(0)
    return digest.hexdigest(), writer.size


def sealed_bytes(cipher: MasterKey, plain: bytes) -> io.BytesIO:
    return io.BytesIO(b"".join(encrypt(cipher, plain)))


class _Target:
    """One run's state against one signed-in target."""

    def __init__(
        self, ctx: AppContext, cfg: TargetConfig, client: TargetClient, owner: str, run: BackupRun
    ) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.client = client
        self.owner = owner
        self.run = run
        self._progress_at = 0.0
        self._space: tuple[int, int] | None = None
        self._written = 0  # since space was last read

    def progress(self, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._progress_at < PROGRESS_EVERY_S:
            return
        self._progress_at = now
        counts = self.run.counts
        state = {
            "done": done,
            "total": total,
            "bytes": counts.bytes,
            "recordings": counts.recordings,
            "voicemails": counts.voicemails,
        }
        if not backups.report_progress(self.cfg.id, self.owner, LEASE_S, state):
            raise Conflict("another run took over this target", code="lease_lost")

    def make_room(self, size: int) -> None:
        """Refuse a file that would take the target past its disk limit."""
        if self._space is None:
            self._space = self.client.space()
            self._written = 0
            if self._space is None:
                return  # the target cannot say (FTP): nothing to hold to
        total, available = self._space
        limit = total * self.cfg.disk_limit_percent / 100
        size = -(-size // BLOCK) * BLOCK
        used = total - available + self._written + size + RESERVE
        if used > limit:
            raise Stopped(
                "disk_limit",
                f"{used * 100 / total:.1f}% would pass the limit of {self.cfg.disk_limit_percent}%",
            )
        self._written += size

    def reread_space(self) -> None:
        """After a batch: the disk's own figure again (others write to it too)."""
        self._space = None

    def write_key(self, key_file: KeyFile) -> None:
        """Every set on the target carries the key file of the passphrase in force."""
        for s in backups.live_sets(self.cfg.id):
            if s.key_version == key_file.version_tag:
                continue
            self.client.make_dirs(s.name)
            self.client.upload(f"{s.name}/{KEY_FILE}", io.BytesIO(key_file.to_bytes()))
            backups.key_written(s.id, key_file.version_tag)

    def send(self, set_row: SetRow, cipher: MasterKey) -> None:
        total = backups.pending_count(self.cfg.id)
        done = 0
        self.progress(0, total, force=True)
        next_file = set_row.next_file
        part = set_row.next_part
        after = 0
        while batch := backups.pending(self.cfg.id, after, BATCH):
            after = batch[-1].id
            lines: list[bytes] = []
            items: list[tuple[int, int]] = []
            added = RunCounts()
            try:
                for backed in backups.rows_for([p.id for p in batch]):
                    self.make_room(encrypted_size(backed.stored.plain_size))
                    name = audio_name(next_file)
                    try:
                        digest, size, disk = self._send_file(
                            f"{set_row.name}/{name}", backed.stored, cipher
                        )
                    except (StorageError, IntegrityError, OSError) as exc:
                        self.run.counts.problems.append(
                            BackupProblem(backed.row["sn"], "unreadable", str(exc)[:300])
                        )
                        continue
                    lines.append(manifest_line({**backed.row, "file": name, "size": size,
                                                "sha256": digest}))  # fmt: skip
                    items.append((backed.id, next_file))
                    next_file += 1
                    added.bytes += disk
                    if backed.voicemail:
                        added.voicemails += 1
                    else:
                        added.recordings += 1
                    done += 1
                    self.progress(done, total)
            finally:
                if items:  # what landed is made restorable even when the run stops here
                    manifest = sealed_bytes(cipher, b"".join(lines))
                    self.client.upload(f"{set_row.name}/{manifest_name(part)}", manifest)
                    backups.commit_part(set_row, items, next_file, added.bytes)
                    part += 1
                    self.reread_space()
                    self.run.counts.recordings += added.recordings
                    self.run.counts.voicemails += added.voicemails
                    self.run.counts.bytes += added.bytes
        self.progress(done, total, force=True)

    def _send_file(self, path: str, stored: StoredFile, cipher: MasterKey) -> tuple[str, int, int]:
        # Only ciphertext is ever written to the scratch file.
        with tempfile.TemporaryFile(dir=self.ctx.store.scratch_dir()) as scratch:
            with self.ctx.store.open_plain(stored) as source:
                digest, size = seal_to(cipher, source, scratch)
            if not stored.encrypted and digest != stored.sha256:
                raise IntegrityError(f"{stored.relpath} does not match its checksum")
            disk = scratch.seek(0, io.SEEK_END)
            scratch.seek(0)
            self.client.upload(path, scratch)
        return digest, size, disk

    def remove_old(self) -> None:
        if not self.cfg.keep_months:
            return
        before = utcnow() - timedelta(days=self.cfg.keep_months * DAYS_PER_MONTH)
        for s in backups.expired_sets(self.cfg.id, before):
            try:
                for entry in self.client.list_dir(s.name):
                    self.client.delete(f"{s.name}/{entry.name}")
                self.client.remove_dir(s.name)
            except TransferFailed as exc:
                if exc.code != "not_found":
                    raise
            backups.set_removed(s.id)
            self.run.removed_sets += 1


def run_target(ctx: AppContext, actor: Actor, target_id: int) -> BackupRun:
    """Back up to one target now; Conflict when a run to it is under way."""
    owner = jobs.lease_owner()
    cfg = backups.target_config(target_id, ctx.master)
    if not backups.take_lease(target_id, owner, LEASE_S):
        raise Conflict("a backup to this target is under way", code="backup_running")
    run = BackupRun(target_id, cfg.where.kind.value)
    try:
        _run(ctx, cfg, owner, run)
    except (TransferFailed, Stopped) as exc:
        run.error, run.detail = exc.code, exc.detail
    except Conflict as exc:
        run.error, run.detail = exc.code, str(exc)
    except Exception as exc:
        log.exception("backup to target %s", target_id)
        run.error, run.detail = "internal_error", f"{type(exc).__name__}: {exc}"[:300]
    if run.error:
        run.result = BackupResult.PARTIAL if run.counts.files else BackupResult.FAILED
    elif run.counts.problems:
        run.result = BackupResult.PARTIAL
    _report(cfg, run, actor)
    backups.finish(target_id, owner, run.summary())
    return run


def _run(ctx: AppContext, cfg: TargetConfig, owner: str, run: BackupRun) -> None:
    key = backups.current_key(ctx.master)
    if key is None:
        raise Stopped("no_passphrase", "set the backup passphrase first")
    key_bytes, key_file = key
    cipher = backup_key.file_cipher(key_bytes)
    client = sign_in(cfg)
    try:
        target = _Target(ctx, cfg, client, owner, run)
        if backups.pending_count(cfg.id) or backups.open_set(cfg.id):
            set_row = backups.open_or_create_set(cfg.id, set_name(utcnow()))
            run.set_name = set_row.name
            client.make_dirs(set_row.name)
            target.write_key(key_file)
            if backups.include_config():
                client.upload(
                    f"{set_row.name}/{CONFIG_FILE}",
                    sealed_bytes(cipher, backup_config.export_document(ctx.master)),
                )
            target.send(set_row, cipher)
            backups.close_set(set_row.id)
        else:  # nothing new: no empty set, but the key files follow the passphrase
            target.write_key(key_file)
        target.remove_old()
    finally:
        client.close()


def _report(cfg: TargetConfig, run: BackupRun, actor: Actor) -> None:
    """The log entry, the event, and BACKUP_FAILED raised or cleared for this target."""
    where = cfg.where.label()
    try:
        backup_log.report_run(
            actor, LogKind.BACKUP, cfg.where.kind.value, run.result, run.counts,
            alarm_subject=str(cfg.id), summary={"target": cfg.id, **run.summary()},
            location=where, error=run.error, detail=run.detail, set=run.set_name,
            problems=len(run.counts.problems),
        )  # fmt: skip
    except Exception:  # the run's figures are kept on the target row all the same
        log.exception("reporting the backup to %s", where)


_running = threading.Lock()


def run_due(ctx: AppContext, actor: Actor) -> None:
    """The scheduler's job: when a policy comes due, back up to every enabled target, one
    after the other, in a thread of its own so circular recording is never held up."""
    if not backups.take_due(utcnow()):
        return
    if not _running.acquire(blocking=False):
        log.warning("a scheduled backup is still running: this one is skipped")
        return
    threading.Thread(target=_run_all, args=(ctx, actor), daemon=True, name="backup").start()


def _run_all(ctx: AppContext, actor: Actor) -> None:
    try:
        for target_id in backups.enabled_target_ids():
            try:
                run_target(ctx, actor, target_id)
            except (Conflict, NotFound):
                pass  # "back up now" has it, or the target went meanwhile
            except Exception:
                log.exception("scheduled backup to target %s", target_id)
    finally:
        _running.release()
