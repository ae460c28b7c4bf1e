"""Downloading recordings as a zip and exporting the list to Excel."""

from __future__ import annotations

from collections.abc import Iterator

from pony.orm import db_session

from appliance.db import recording_queries
from appliance.domain.audit import AuditType
from appliance.domain.organization import Action
from appliance.domain.recordings import RecordingFilter, archive_name, unique_names
from appliance.domain.settings import FileFormat
from appliance.errors import InvalidInput
from appliance.media.codec import EXTENSIONS
from appliance.services import audit
from appliance.services.access import access_of, permitted
from appliance.services.audio import AudioFile, audio_files
from appliance.services.catalogue import RecordingView, Selection, criteria_for, views_of
from appliance.services.context import Actor, to_local

MAX_ARCHIVE = 5000
MAX_EXPORT = 1_000_000
EXPORT_BATCH = 2000


def _select_ids(actor: Actor, selection: Selection, limit: int, action: Action) -> list[int]:
    """The selected recordings the actor sees, newest first; the action must be allowed."""
    access = access_of(actor)
    scope = access.scope_for(action)
    if selection.ids is not None:
        ids = list(dict.fromkeys(selection.ids))
        if len(ids) > limit:
            raise InvalidInput(
                f"at most {limit} recordings at once",
                field="ids",
                code="too_many",
                params={"max": limit},
            )
        return [r.id for r in permitted(access, action, ids)]
    criteria = criteria_for(selection.filter or RecordingFilter(), scope)
    ids = recording_queries.search_ids(criteria, limit + 1)
    if len(ids) > limit:
        raise InvalidInput(
            f"the search matches more than {limit} recordings; narrow it down",
            field="filter",
            code="too_many",
            params={"max": limit},
        )
    return ids


def selected_count(actor: Actor, selection: Selection, action: Action) -> int:
    """How many recordings a download (DOWNLOAD) or an export (EXPORT) would hold, with the
    same refusals, nothing logged: the console asks this before the browser downloads."""
    limit = MAX_ARCHIVE if action is Action.DOWNLOAD else MAX_EXPORT
    with db_session:
        return len(_select_ids(actor, selection, limit, action))


def archive(
    actor: Actor, selection: Selection, fmt: FileFormat | None
) -> list[tuple[str, AudioFile]]:
    """Zip entries named caller-callee-YYYYMMDDHHMMSS.ext, unique within the archive."""
    with db_session:
        ids = _select_ids(actor, selection, MAX_ARCHIVE, Action.DOWNLOAD)
    files = audio_files(actor, ids, Action.DOWNLOAD)
    names = unique_names(
        [
            archive_name(
                a.caller, a.callee, to_local(a.started_at), EXTENSIONS[fmt or a.file_format]
            )
            for a in files
        ]
    )
    if files:  # an empty selection is answered 404: nothing was downloaded
        with db_session:
            sns = ", ".join(a.sn for a in files[:20]) + (" ..." if len(files) > 20 else "")
            audit.record(actor, AuditType.DOWNLOAD, "downloaded", count=len(files), sns=sns)
    return list(zip(names, files, strict=True))


def export_views(actor: Actor, selection: Selection) -> Iterator[RecordingView]:
    """The rows of the list, in batches so a million-row export stays small in memory."""
    with db_session:
        ids = _select_ids(actor, selection, MAX_EXPORT, Action.EXPORT)
        audit.record(actor, AuditType.EXPORT, "exported", count=len(ids))
    for start in range(0, len(ids), EXPORT_BATCH):
        with db_session:
            batch = recording_queries.by_ids(ids[start : start + EXPORT_BATCH])
            yield from views_of(batch)
