"""The catalogue of recordings: search, detail, score, tag, delete, in the actor's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pony.orm import commit, db_session, flush

from appliance.db import device_queries, org_queries, recording_queries
from appliance.db.entities import Recording, ScoreEvent, Tag, by_id
from appliance.db.recording_queries import Criteria, RecordingRow
from appliance.domain.audit import AuditType
from appliance.domain.events import EventKind
from appliance.domain.organization import Action, Scope
from appliance.domain.recordings import (
    DeletionReason,
    RecordingFilter,
    check_score,
    check_tag,
)
from appliance.domain.rules import check_page
from appliance.errors import Conflict, NotFound
from appliance.services import audit, backup_log, events, settings
from appliance.services.access import Tree, access_of, permitted
from appliance.services.audio import transcodes
from appliance.services.context import Actor, AppContext, utcnow

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class TagView:
    name: str
    offset: float | None


@dataclass(frozen=True)
class RecordingView:
    id: int
    sn: str
    device: str
    caller: str
    caller_org: str | None
    callee: str
    callee_org: str | None
    started_at: datetime  # aware, UTC
    duration: int
    score: int | None
    tags: list[TagView]
    play_count: int
    kind: str
    file_format: str
    direction: str | None
    protected: bool = False


@dataclass(frozen=True)
class Selection:
    """Either explicit ids, or everything a filter matches."""

    ids: list[int] | None = None
    filter: RecordingFilter | None = None


def views_of(found: list[RecordingRow]) -> list[RecordingView]:
    ids = [r.id for r in found]
    tags = recording_queries.tags_for(ids) if any(r.tag_count for r in found) else {}
    devices = device_queries.addresses(sorted({r.device_id for r in found if r.device_id}))
    orgs = org_queries.org_names(
        {i for r in found for i in (r.caller_org_id, r.callee_org_id) if i is not None}
    )
    return [
        RecordingView(
            id=r.id,
            sn=r.sn,
            device=devices.get(r.device_id, "") if r.device_id else "",
            caller=r.caller,
            caller_org=orgs.get(r.caller_org_id) if r.caller_org_id else None,
            callee=r.callee,
            callee_org=orgs.get(r.callee_org_id) if r.callee_org_id else None,
            started_at=r.started_at,
            duration=r.duration,
            score=r.score,
            tags=[TagView(n, o) for n, o in tags.get(r.id, [])],
            play_count=r.play_count,
            kind=r.kind,
            file_format=r.file_format,
            direction=r.direction,
            protected=r.protected,
        )
        for r in found
    ]


def criteria_for(f: RecordingFilter, scope: Scope) -> Criteria:
    """Resolve the filter's names (device, organisations) to ids under the actor's scope."""
    f = f.validate()
    device_ids = device_queries.ids_matching(f.device) if f.device else None
    org_ids: dict[str, frozenset[int] | None] = {"caller": None, "callee": None}
    if f.caller_org or f.callee_org:
        tree = Tree.load()
        for party, name in (("caller", f.caller_org), ("callee", f.callee_org)):
            if name:
                found = tree.id_of(name)
                org_ids[party] = tree.below([found]) if found is not None else frozenset()
    return Criteria(
        f,
        scope=scope,
        device_ids=device_ids,
        caller_org_ids=org_ids["caller"],
        callee_org_ids=org_ids["callee"],
        show_zero_duration=settings.current().show_zero_duration,
    )


@db_session
def search(
    actor: Actor, f: RecordingFilter, page: int, page_size: int
) -> tuple[int, list[RecordingView]]:
    check_page(page, page_size, MAX_PAGE_SIZE)
    criteria = criteria_for(f, access_of(actor).scope)
    found = recording_queries.search(criteria, page_size, (page - 1) * page_size)
    total = recording_queries.count(criteria)
    return total, views_of(found)


@db_session
def get(actor: Actor, recording_id: int) -> RecordingView:
    """One recording; outside the actor's scope it is as missing as a deleted one."""
    found = recording_queries.by_ids([recording_id], access_of(actor).scope)
    if not found:
        raise NotFound("no such recording")
    return views_of(found)[0]


def _live(actor: Actor, recording_id: int, action: Action) -> Recording:
    """A live recording the actor sees and may act on."""
    if not permitted(access_of(actor), action, [recording_id]):
        raise NotFound("no such recording")
    return by_id(Recording, recording_id)


@db_session
def score(actor: Actor, recording_id: int, value: int) -> RecordingView:
    check_score(value)
    r = _live(actor, recording_id, Action.SCORE_TAG)
    r.score = value
    ScoreEvent(recording_id=r.id, user_id=actor.user_id, score=value, created_at=utcnow())
    audit.record(actor, AuditType.SCORE, "scored", sn=r.sn, score=value)
    events.record(EventKind.RECORDING_SCORED, actor, id=r.id, sn=r.sn, score=value)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def tag(actor: Actor, recording_id: int, name: str, offset: float | None) -> RecordingView:
    """Tag at a playback offset; the same name again moves the tag to the new offset."""
    r = _live(actor, recording_id, Action.SCORE_TAG)
    name, offset = check_tag(name, offset, r.duration)
    existing = Tag.get(recording_id=r.id, name=name)
    if existing is None:
        Tag(
            recording_id=r.id,
            name=name,
            position=offset,
            user_id=actor.user_id,
            created_at=utcnow(),
            kind=r.kind,
            started_at=r.started_at,
        )
        r.tag_count += 1
    else:
        existing.position = offset
    if offset is None:
        audit.record(actor, AuditType.TAG, "tagged", sn=r.sn, tag=name)
    else:
        audit.record(actor, AuditType.TAG, "tagged_at", sn=r.sn, tag=name, offset=f"{offset:.1f}")
    events.record(EventKind.RECORDING_TAGGED, actor, id=r.id, sn=r.sn, tag=name, offset=offset)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def untag(actor: Actor, recording_id: int, name: str) -> RecordingView:
    r = _live(actor, recording_id, Action.SCORE_TAG)
    existing = Tag.get(recording_id=r.id, name=name)
    if existing is None:
        raise NotFound(f"recording has no tag {name!r}")
    existing.delete()
    r.tag_count -= 1
    audit.record(actor, AuditType.TAG, "untagged", sn=r.sn, tag=name)
    events.record(EventKind.RECORDING_UNTAGGED, actor, id=r.id, sn=r.sn, tag=name)
    flush()  # raw-SQL reads below must see the pending changes
    return get(actor, recording_id)


@db_session
def tag_suggestions(actor: Actor, prefix: str, limit: int = 20) -> list[str]:
    scope = access_of(actor).scope
    return recording_queries.tag_suggestions(prefix.strip(), max(1, min(limit, 100)), scope)


def delete(ctx: AppContext, actor: Actor, ids: list[int], event: str = "deleted") -> int:
    """Mark deleted (the row stays for the standby and the audit) and remove the files;
    `event` names why in the audit trail."""
    removed: list[tuple[str, str]] = []
    with db_session:
        scope = access_of(actor).scope_for(Action.DELETE)
        now = utcnow()
        found = recording_queries.by_ids(sorted(set(ids)), scope)
        held = [row.sn for row in found if row.protected]
        if held:
            raise Conflict(
                f"protected (legal hold): {', '.join(held[:10])}; remove the mark first",
                field="ids",
                code="protected",
                params={"value": ", ".join(held[:10]), "count": len(held)},
            )
        for row in found:
            r = by_id(Recording, row.id)
            r.deleted_at = now
            # Circular recording's deletions stay in the statistics (the call happened).
            circular = event == "deleted_circular"
            r.deleted_reason = (
                DeletionReason.CIRCULAR if circular else DeletionReason.DELETED
            ).value
            removed.append((r.relpath, r.sha256))
            if event == "deleted_circular":  # the manual logs these in the backup log
                backup_log.record_deletion(r.sn, r.caller or "", r.callee or "", r.relpath)
            else:
                audit.record(
                    actor, AuditType.DELETE, event, sn=r.sn, caller=r.caller, callee=r.callee
                )
            events.record(
                EventKind.RECORDING_DELETED,
                actor,
                id=r.id,
                sn=r.sn,
                caller=r.caller,
                callee=r.callee,
                reason="circular" if event == "deleted_circular" else "deleted",
            )
        commit()
    for relpath, sha256 in removed:
        ctx.store.remove(relpath)
        transcodes(ctx).remove(sha256)
    return len(removed)


def protect(actor: Actor, ids: list[int], protect: bool) -> int:
    """Mark or unmark recordings protected (legal hold); needs the delete right on each."""
    changed = 0
    with db_session:
        scope = access_of(actor).scope_for(Action.DELETE)
        for row in recording_queries.by_ids(sorted(set(ids)), scope):
            if row.protected == protect:
                continue
            by_id(Recording, row.id).protected = protect
            changed += 1
            audit.record(
                actor, AuditType.DELETE, "protected" if protect else "unprotected", sn=row.sn
            )
            events.record(
                EventKind.RECORDING_PROTECTED, actor, id=row.id, sn=row.sn, protected=protect
            )
    return changed
