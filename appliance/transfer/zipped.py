"""A backup set uploaded as a .zip, read as if it were a target's folder: the importer lists
and downloads from it as from any target. Read only; member names are never paths on disk
(nothing is extracted), so "..", absolute names and links in a hostile zip reach nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from appliance.domain.backup import KEY_FILE, SET_NAME
from appliance.errors import TransferFailed
from appliance.transfer.client import RemoteEntry, RemoteFile, Sink

BLOCK = 1024 * 1024
MEMBERS_MAX = 500_000
# A set's files are ciphertext and do not compress: a member that would grow more than
# this on reading is a bomb, not a backup.
RATIO_MAX = 2


class ZipClient:
    host_key = ""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise TransferFailed("not_found", f"not a zip file: {exc}") from exc
        infos = self.zip.infolist()
        if len(infos) > MEMBERS_MAX:
            raise TransferFailed("too_large", f"more than {MEMBERS_MAX} members")
        self.files: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or not parts or any(p in ("..", ".", "") for p in parts):
                continue
            if info.filename.startswith("/") or "\\" in info.filename:
                continue
            if info.file_size > RATIO_MAX * info.compress_size + 64 * 1024:
                continue
            self.files[info.filename] = info
        self.root = self._root()
        # Each folder's entries once: listing a set costs its own entries, not the zip's.
        self.folders: dict[str, dict[str, RemoteEntry]] = {}
        for name, info in self.files.items():
            steps = name.split("/")
            for depth, step in enumerate(steps):
                folder = "/".join(steps[:depth])
                entry = (
                    RemoteEntry(step, False, info.file_size, None)
                    if depth == len(steps) - 1
                    else RemoteEntry(step, True, None, None)
                )
                self.folders.setdefault(folder, {}).setdefault(step, entry)

    def _root(self) -> str:
        """Where the sets are: the zip's top, or the one folder a zipped copy was made of."""
        keys = sorted((n for n in self.files if PurePosixPath(n).name == KEY_FILE), key=len)
        if not keys:
            raise TransferFailed("not_found", "no backup set in this zip (no key file)")
        folder = PurePosixPath(keys[0]).parent
        if SET_NAME.match(folder.name):
            folder = folder.parent
        return "" if str(folder) == "." else str(folder)

    def _full(self, path: str) -> str:
        return "/".join(p for p in (self.root, path) if p)

    def list_dir(self, path: str) -> list[RemoteEntry]:
        found = self.folders.get(self._full(path))
        if found is None:
            raise TransferFailed("not_found", f"{path} is not in the zip")
        return list(found.values())

    def resolves_inside(self, path: str) -> bool:
        return False

    def stat(self, path: str) -> RemoteFile | None:
        info = self.files.get(self._full(path))
        return RemoteFile(path, info.file_size, None) if info else None

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        info = self.files.get(self._full(path))
        if info is None:
            raise TransferFailed("not_found", f"{path} is not in the zip")
        try:
            with self.zip.open(info) as member:
                member.seek(offset)
                while block := member.read(BLOCK):
                    sink.write(block)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise TransferFailed("protocol_error", f"{path}: {exc}") from exc

    def delete(self, path: str) -> None:
        raise TransferFailed("not_supported", "an uploaded set is read only")

    def move(self, path: str, folder: str) -> None:
        raise TransferFailed("not_supported", "an uploaded set is read only")

    def close(self) -> None:
        self.zip.close()
