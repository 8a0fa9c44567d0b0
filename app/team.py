"""The team: availability, presence, the round-robin and the per-member figures.

* Availability: what a member says (`online` takes new conversations in the round-robin,
  `away` does not), set from the page header's toggle or `PUT /api/v1/team/me`.
* Presence: `last_seen_at`, kept fresh by the member's open pages (the real-time stream,
  app/views/live.py, writes it at most every `SEEN_EVERY`). A member is *present* when seen
  within `PRESENT_FOR` (2 minutes: a stream's heartbeat comes every 15 seconds, so a closed
  laptop drops out quickly while a reconnecting page does not).
* Round-robin (WorkspaceSettings.round_robin_enabled, off by default): after a batch of
  inbound messages commits, each open, unassigned customer conversation it touched goes to the
  active member who is online and present and got a conversation least recently
  (`last_assigned_at`, never first). Fair under concurrent workers: each conversation and the
  chosen member are locked (`FOR UPDATE SKIP LOCKED`: two workers choose two different
  members; when the only candidates are locked, the worker waits for one rather than leave
  the conversation unassigned). One short transaction of its own, never the batch's failure.
* Figures (`figures()`): per member over a period, from the conversations assigned to them:
  first response time (first_response_at − opened_at, for conversations opened in the
  period), resolution time (resolved_at − opened_at, resolved in the period), median and
  average in seconds, and the conversations open now (open or pending).
"""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, tuple_, update

from app import realtime
from app.extensions import db
from app.models import Conversation, WorkspaceMember, WorkspaceSettings
from app.models.base import utcnow

log = logging.getLogger(__name__)

PRESENT_FOR = timedelta(minutes=2)
SEEN_EVERY = timedelta(seconds=30)
AVAILABILITY = ("online", "away")
MAX_PERIOD = timedelta(days=366)


def is_present(member: WorkspaceMember, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(member.last_seen_at and member.last_seen_at >= now - PRESENT_FOR)


def presence_payload(member: WorkspaceMember) -> dict:
    return {"member_id": member.id, "user_id": member.user_id,
            "availability": member.availability, "present": is_present(member)}


def set_availability(member: WorkspaceMember, availability: str) -> None:
    """Change what the member says; publishes `presence` once committed. Going online also
    counts as being seen."""
    if availability not in AVAILABILITY:
        raise ValueError(availability)
    member.availability = availability
    if availability == "online":
        member.last_seen_at = utcnow()
    realtime.defer(db.session, member.workspace_id, "presence", presence_payload(member))


def mark_seen(member_id: int) -> None:
    """An open page shows the member present: last_seen_at moves (at most every SEEN_EVERY);
    publishes `presence` when the member was not present before. Own short transaction."""
    now = utcnow()
    table = WorkspaceMember.__table__
    try:
        before = db.session.execute(select(table.c.last_seen_at, table.c.workspace_id,
                                           table.c.availability, table.c.user_id)
                                    .where(table.c.id == member_id)).first()
        if before is None:
            return
        if before.last_seen_at and before.last_seen_at >= now - SEEN_EVERY:
            db.session.rollback()
            return
        db.session.execute(update(table).where(table.c.id == member_id)
                           .values(last_seen_at=now))
        if not before.last_seen_at or before.last_seen_at < now - PRESENT_FOR:
            realtime.defer(db.session, before.workspace_id, "presence", {
                "member_id": member_id, "user_id": before.user_id,
                "availability": before.availability, "present": True})
        db.session.commit()
    except Exception:  # noqa: BLE001 - presence is best effort
        db.session.rollback()
        log.warning("member %s: last seen not recorded", member_id, exc_info=True)


# --- round-robin ------------------------------------------------------------------------------

# which workspaces turned the round-robin on, read at most every ROUND_ROBIN_CACHE seconds
# per process (the batch path then costs no query): a change applies within that time
ROUND_ROBIN_CACHE = 10.0
_enabled_cache: tuple[float, frozenset[int]] | None = None


def round_robin_workspaces(workspace_ids) -> set[int]:
    global _enabled_cache
    ids = {int(w) for w in workspace_ids}
    if not ids:
        return set()
    now = time.monotonic()
    if _enabled_cache is None or now - _enabled_cache[0] > ROUND_ROBIN_CACHE:
        table = WorkspaceSettings.__table__
        enabled = frozenset(db.session.execute(
            select(table.c.workspace_id).where(table.c.round_robin_enabled.is_(True)))
            .scalars())
        db.session.rollback()  # ends the read's transaction
        _enabled_cache = (now, enabled)
    return ids & _enabled_cache[1]


def forget_round_robin() -> None:
    """Read the setting again at the next batch (a settings change in this process, tests)."""
    global _enabled_cache
    _enabled_cache = None


def _candidates(workspace_id: int, now: datetime):
    from flask_appbuilder.security.sqla.models import User

    member, user = WorkspaceMember.__table__, User.__table__
    return (select(member.c.id, member.c.user_id)
            .select_from(member.join(user, user.c.id == member.c.user_id))
            .where(member.c.workspace_id == workspace_id, member.c.availability == "online",
                   member.c.last_seen_at >= now - PRESENT_FOR, user.c.active.is_(True))
            .order_by(member.c.last_assigned_at.asc().nulls_first(), member.c.id)
            .limit(1))


def _pick(workspace_id: int, now: datetime):
    """The online, present member who got a conversation least recently, locked: a member
    another worker is assigning to right now is skipped; when all are, wait for one."""
    member = WorkspaceMember.__table__
    row = db.session.execute(
        _candidates(workspace_id, now).with_for_update(of=member, skip_locked=True)).first()
    if row is None:
        row = db.session.execute(
            _candidates(workspace_id, now).with_for_update(of=member)).first()
    return row


def assign_round_robin(chats) -> list[tuple[int, int]]:
    """Give the open unassigned customer conversations of `chats` ((workspace, channel, chat
    id) triples) to online members, in workspaces that turned the round-robin on. Returns
    (conversation id, user id) pairs; never raises (logged)."""
    chats = {c for c in chats if c[2]}
    if not chats:
        return []
    try:
        enabled = round_robin_workspaces(w for w, _c, _ch in chats)
        if not enabled:
            return []
        return _assign([c for c in chats if c[0] in enabled])
    except Exception:  # noqa: BLE001 - the batch is committed: its messages stay handled
        db.session.rollback()
        log.warning("round-robin failed for %d chats", len(chats), exc_info=True)
        return []


def _assign(chats) -> list[tuple[int, int]]:
    """Each conversation in a short transaction of its own: the conversation and the chosen
    member are locked only while one assignment is written."""
    table = Conversation.__table__
    member = WorkspaceMember.__table__
    unassigned = [(i, w) for i, w in db.session.execute(
        select(table.c.id, table.c.workspace_id)
        .where(tuple_(table.c.workspace_id, table.c.channel_id, table.c.chat_id)
               .in_(sorted(chats)),
               table.c.kind == "customer", table.c.status == "open",
               table.c.assignee_id.is_(None))
        .order_by(table.c.id))]
    db.session.rollback()
    done = []
    for conversation_id, workspace_id in unassigned:
        still = db.session.execute(
            select(table.c.id).where(table.c.id == conversation_id,
                                     table.c.status == "open", table.c.assignee_id.is_(None))
            .with_for_update(skip_locked=True)).first()
        chosen = _pick(workspace_id, utcnow()) if still is not None else None
        if chosen is None:  # assigned meanwhile, being assigned by another worker, or nobody
            db.session.rollback()
            continue
        now = utcnow()
        db.session.execute(update(table).where(table.c.id == conversation_id)
                           .values(assignee_id=chosen.user_id))
        db.session.execute(update(member).where(member.c.id == chosen.id)
                           .values(last_assigned_at=now))
        realtime.defer(db.session, workspace_id, "conversation.updated", {
            "conversation_id": conversation_id, "assignee_id": chosen.user_id,
            "status": "open", "reason": "round_robin"})
        db.session.commit()
        done.append((conversation_id, chosen.user_id))
    return done


# --- figures ----------------------------------------------------------------------------------

@dataclass
class MemberFigures:
    member_id: int
    user_id: int
    name: str
    availability: str
    present: bool
    open_conversations: int = 0
    first_response: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)

    @staticmethod
    def _summary(values: list[float]) -> dict:
        if not values:
            return {"count": 0, "median_seconds": None, "average_seconds": None}
        return {"count": len(values), "median_seconds": round(statistics.median(values), 1),
                "average_seconds": round(statistics.fmean(values), 1)}

    def as_json(self) -> dict:
        return {"member_id": self.member_id, "user_id": self.user_id, "name": self.name,
                "availability": self.availability, "present": self.present,
                "open_conversations": self.open_conversations,
                "first_response": self._summary(self.first_response),
                "resolution": self._summary(self.resolution)}


def figures(workspace_id: int, start: datetime, end: datetime) -> list[MemberFigures]:
    """Each member's figures over [start, end) (see the module docstring), by name."""
    if end <= start or end - start > MAX_PERIOD:
        raise ValueError("period")
    now = utcnow()
    members = (db.session.query(WorkspaceMember)
               .filter(WorkspaceMember.workspace_id == workspace_id).all())
    by_user = {}
    for member in members:
        user = member.user
        name = (user.get_full_name().strip() or user.username) if user else str(member.id)
        by_user[member.user_id] = MemberFigures(member.id, member.user_id, name,
                                                member.availability, is_present(member, now))
    table = Conversation.__table__
    for user_id, count in db.session.execute(
            select(table.c.assignee_id, func.count())
            .where(table.c.workspace_id == workspace_id, table.c.assignee_id.isnot(None),
                   table.c.status.in_(("open", "pending")))
            .group_by(table.c.assignee_id)):
        if user_id in by_user:
            by_user[user_id].open_conversations = count
    rows = db.session.execute(
        select(table.c.assignee_id, table.c.opened_at, table.c.first_response_at,
               table.c.resolved_at)
        .where(table.c.workspace_id == workspace_id, table.c.assignee_id.isnot(None),
               table.c.opened_at.isnot(None),
               or_(and_(table.c.opened_at >= start, table.c.opened_at < end),
                   and_(table.c.resolved_at >= start, table.c.resolved_at < end))))
    for user_id, opened, responded, resolved in rows:
        person = by_user.get(user_id)
        if person is None:
            continue
        if responded and start <= opened < end and responded >= opened:
            person.first_response.append((responded - opened).total_seconds())
        if resolved and start <= resolved < end and resolved >= opened:
            person.resolution.append((resolved - opened).total_seconds())
    return sorted(by_user.values(), key=lambda f: (f.name.lower(), f.member_id))
