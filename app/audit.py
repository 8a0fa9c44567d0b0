"""The audit trail of configuration changes: one session hook writes every row (docs/ARCHITECTURE.md
"Audit trail").

Every ORM write of a configuration model (`AUDITED`) through any session of the app — screens, the
REST API, workspace file imports, command line commands, jobs — leaves one `AuditEntry` per row
created, changed or deleted, in the same transaction: who (`actor_*`, and the master admin behind
a "Sign in as", `impersonator_*`), how (`via`), what (`model`, `row_id`, `row_label`) and
`changes` = `{column: [before, after]}`.

* Who and how: an explicit context (`acting(via=..., label=...)`: the workspace import) wins;
  else the request's signed-in person, `api` under `/api/`, `screen` otherwise; else a command
  line command (`cli`); else the platform (`system`: jobs, webhooks, a sign-up's own rows).
* What is not recorded: an update that changes nothing; the columns of `IGNORED_COLUMNS`
  (timestamps, and the state the platform itself keeps on configuration rows: a channel's
  status, a panel's last check); hashes (passwords, API keys) ever. A secret or payment id is
  recorded as the word "changed" (`CHANGED`), never its value or ciphertext.
* Runtime and high-volume tables are left out by name (`NOT_AUDITED`, with the reason);
  tests/integration/test_audit.py fails for a workspace-owned model that is in neither list.
* Writes that bypass the ORM (Core statements: the services cache's upsert, sign-in counters,
  database cascades) are not recorded.
"""
from __future__ import annotations

import datetime as dt
import decimal
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import click
from flask import g, has_request_context, request
from sqlalchemy import event, inspect, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.models.audit import AuditEntry
from app.models.tenancy import WorkspaceMember
from app.models.base import utcnow
from app.models.sensitive import HASH, sensitive_columns

log = logging.getLogger(__name__)

#: what a secret's change is recorded as, instead of its value
CHANGED = "changed"
#: the length of the labels copied into a row
LABEL_LENGTH = 200

#: models whose changes are recorded, by class name: the configuration of a workspace (and the
#: workspace itself, the team, the subscription) and the platform's own configuration
AUDITED = frozenset({
    "Workspace", "WorkspaceSettings", "WorkspaceMember", "User", "Channel", "PanelConnection",
    "ServiceRule", "Provider", "ProviderRoute", "LinkedUser", "ChatIdentity", "AdminIdentity",
    "ReplyTemplate", "CommandAlias", "CustomCommand", "QuickReply", "Subscription",
    "TicketRule", "Broadcast", "ContactGroup",
    # a cooldown's manual clear (Logs › Cooldowns): the pipeline takes claims and the maintenance
    # runner deletes ended ones with Core statements, which are not recorded; only a person's
    # clear (an ORM delete, screen or REST) is
    "CooldownClaim",
    # platform data (no workspace: the master admin's trail only)
    "Plan", "PlanPrice", "GlobalReplyTemplate", "EmailTemplate", "PaymentMethod",
})

#: workspace-owned models deliberately left out, with the reason
NOT_AUDITED = {
    "AuditEntry": "the trail itself",
    "SupportTicket": "a conversation with the platform, not configuration (its own thread)",
    "SupportMessage": "a conversation with the platform, not configuration (its own thread)",
    "InboundEvent": "runtime: every notification received",
    "DetectedChat": "runtime: chats seen by the channels",
    "OutboundMessage": "runtime: every message sent",
    "ExternalCall": "runtime: every call to an outside service",
    "Media": "runtime: every attachment received or sent (the download job writes its state)",
    "CommandLog": "runtime: every command handled",
    "CommandOrder": "runtime: every order of a command",
    "LinkCode": "runtime: one-time link codes (hashed)",
    "Conversation": "runtime: one summary row per chat, kept by the workers",
    "ConversationNote": "runtime: the inbox's internal notes are the conversation's own record",
    "ConversationMention": "runtime: who a note mentioned and whether they have seen it",
    "TicketActivity": "runtime: every panel ticket message the ticket runner read",
    "BroadcastRecipient": "runtime: each broadcast recipient's state",
    "RunnerState": "runtime: what the scheduled runners did last (written by the runners)",
    "HealthSnapshot": "runtime: hourly traffic figures the maintenance runner takes",
    "HealthProblem": "runtime: problems the health runner opened and cleared",
    "Invoice": "billing records: issued and paid by the billing code, kept as they are",
    "PaymentSubmission": "billing records: a payment's review is kept on the row itself",
}

#: columns never recorded, on every model and per model (by class name)
IGNORED_EVERYWHERE = frozenset({"id", "created_at", "updated_at", "workspace_id"})
IGNORED_COLUMNS = {
    "Workspace": {"config_version"},
    "Channel": {"status", "status_detail", "last_webhook_at", "quality_rating",
                "quality_checked_at"},
    "PanelConnection": {"status", "status_detail", "last_checked_at", "api_path"},
    "ServiceRule": {"fetched_at", "recognised", "panel_refill", "panel_cancel"},
    "Subscription": {"reminder_sent_for", "provider_event_at"},
    # a contact's chats move these on every message: the trail keeps what people changed
    "LinkedUser": {"first_seen_at", "last_seen_at"},
    # presence and the round-robin move the first two; the notifications are a person's taste
    "WorkspaceMember": {"last_seen_at", "last_assigned_at", "notify_sound", "notify_desktop"},
    # the runner's progress (the manager's start, pause, resume and cancel are the status)
    "Broadcast": {"total", "sent", "failed", "skipped", "started_at", "finished_at",
                  "prepared_at"},
    # a login: only what a person sets (never the password hash, nor sign-in counters)
    "User": {"password", "login_count", "fail_login_count", "last_login", "created_on",
             "changed_on", "created_by_fk", "changed_by_fk"},
}


@dataclass(frozen=True)
class Actor:
    via: str
    user_id: int | None = None
    label: str | None = None
    impersonator_id: int | None = None
    impersonator_label: str | None = None


_acting: ContextVar[Actor | None] = ContextVar("relaydesk_audit_actor", default=None)


@contextmanager
def acting(via: str, label: str, user_id: int | None = None) -> Iterator[Actor]:
    """Record the changes made inside as `via` ("import", "cli", "system") by `label`."""
    actor = Actor(via=via, user_id=user_id, label=label[:LABEL_LENGTH])
    token = _acting.set(actor)
    try:
        yield actor
    finally:
        _acting.reset(token)


def user_label(user) -> str:
    """A login as the trail names it: its full name and username."""
    name = " ".join(p for p in (getattr(user, "first_name", ""), getattr(user, "last_name", ""))
                    if p).strip()
    username = getattr(user, "username", "") or ""
    text = f"{name} ({username})" if name and name != username else username
    return text[:LABEL_LENGTH]


def current_actor() -> Actor:
    """Who is making the current change, and how (see the module docstring)."""
    explicit = _acting.get()
    if explicit is not None:
        return explicit
    if has_request_context():
        user = g.get("user")
        try:
            signed_in = bool(user is not None and user.is_authenticated)
        except Exception:  # noqa: BLE001 - a login that cannot be read is nobody
            signed_in = False
        if signed_in:
            # set for the request by app/auth/impersonation.py once the "Sign in as" is checked
            admin = g.get("relaydesk_impersonator")
            via = "api" if request.path.startswith("/api/") else "screen"
            return Actor(via=via, user_id=user.id, label=user_label(user),
                         impersonator_id=admin["admin_id"] if admin else None,
                         impersonator_label=admin["admin_label"] if admin else None)
        return Actor(via="system", label=None)
    context = click.get_current_context(silent=True)
    if context is not None:
        return Actor(via="cli", label=f"flask {context.command_path.split(' ', 1)[-1]}"
                     [:LABEL_LENGTH])
    return Actor(via="system")


# --- values --------------------------------------------------------------------------------------

def _plain(value):
    """A column value as JSON can hold it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    return str(value)


def _recorded_columns(model) -> list[tuple[str, str | None]]:
    """(attribute key, sensitive kind) of every column of `model` that is recorded."""
    ignored = IGNORED_EVERYWHERE | IGNORED_COLUMNS.get(model.__name__, set())
    declared = sensitive_columns(model)
    mapper = inspect(model)
    columns = []
    for prop in mapper.column_attrs:
        if prop.key in ignored or declared.get(prop.key) == HASH:
            continue
        columns.append((prop.key, declared.get(prop.key)))
    return columns


def _masked(kind, value):
    return (CHANGED if value not in (None, "") else None) if kind else _plain(value)


def _load_references(session, obj) -> None:
    """A row made with foreign key ids only names its references in its label (a member's
    login): load them (from the identity map when there) before the label is made."""
    for rel in inspect(type(obj)).relationships:
        if rel.direction.name != "MANYTOONE" or rel.viewonly or rel.key in obj.__dict__:
            continue
        column = next(iter(rel.local_columns))
        value = obj.__dict__.get(column.key)
        if value is not None:
            set_committed_value(obj, rel.key, session.get(rel.mapper.class_, value))


def _label(obj) -> str | None:
    try:
        return str(obj)[:LABEL_LENGTH]
    except Exception:  # noqa: BLE001 - a label that cannot be made is left out
        return None


def _created(obj) -> dict:
    changes = {}
    for key, kind in _recorded_columns(type(obj)):
        value = obj.__dict__.get(key)
        if value is not None and value != "":
            changes[key] = CHANGED if kind else [None, _plain(value)]
    return changes


def _deleted(obj) -> dict:
    changes = {}
    for key, kind in _recorded_columns(type(obj)):
        if kind:
            continue
        value = obj.__dict__.get(key)
        if value is not None and value != "":
            changes[key] = [_plain(value), None]
    return changes


def _updated(obj) -> dict:
    state = inspect(obj)
    changes = {}
    for key, kind in _recorded_columns(type(obj)):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else getattr(obj, key, None)
        if before == after or (before in (None, "") and after in (None, "")):
            continue
        changes[key] = CHANGED if kind else [_plain(before), _plain(after)]
    return changes


def _workspace_of(session, obj) -> int | None:
    name = type(obj).__name__
    if name == "Workspace":
        return obj.id
    if hasattr(obj, "workspace_id") and name != "PaymentEvent":
        return obj.workspace_id
    if name == "User":
        for other in session.new:  # a login made with its membership, in one flush
            if type(other).__name__ == "WorkspaceMember" and other.user_id == obj.id:
                return other.workspace_id
        with session.no_autoflush:
            return session.execute(select(WorkspaceMember.workspace_id).where(
                WorkspaceMember.user_id == obj.id)).scalar()
    return None


def is_audited(model) -> bool:
    return getattr(model, "__name__", "") in AUDITED


# --- the hook ------------------------------------------------------------------------------------

_PENDING = "relaydesk_audit_deleted"


def _before_flush(session, _flush_context, _instances) -> None:
    """Deleted rows are read before the flush removes them (their label and values)."""
    deleted = [(obj, _label(obj), _deleted(obj), _workspace_of(session, obj))
               for obj in session.deleted if is_audited(type(obj))]
    if deleted:
        session.info.setdefault(_PENDING, []).extend(deleted)


def _after_flush(session, _flush_context) -> None:
    deleted = session.info.pop(_PENDING, [])
    rows = []
    now = utcnow()
    for obj, label, changes, workspace_id in deleted:
        rows.append(("delete", obj, label, changes, workspace_id))
    for obj in list(session.new):
        if is_audited(type(obj)):
            with session.no_autoflush:
                _load_references(session, obj)
                rows.append(("create", obj, _label(obj), _created(obj),
                             _workspace_of(session, obj)))
    for obj in list(session.dirty):
        if not is_audited(type(obj)) or obj in session.deleted:
            continue
        changes = _updated(obj)
        if changes:
            with session.no_autoflush:
                rows.append(("update", obj, _label(obj), changes, _workspace_of(session, obj)))
    if not rows:
        return
    actor = current_actor()
    values = [{
        "workspace_id": workspace_id, "created_at": now, "actor_user_id": actor.user_id,
        "actor_label": actor.label, "via": actor.via,
        "impersonator_user_id": actor.impersonator_id,
        "impersonator_label": actor.impersonator_label, "action": action,
        "model": type(obj).__name__, "row_id": _row_id(obj), "row_label": label,
        "changes": changes or None,
    } for action, obj, label, changes, workspace_id in rows]
    session.connection().execute(insert(AuditEntry.__table__), values)


def _row_id(obj) -> int | None:
    identity = inspect(obj).identity
    if identity and len(identity) == 1 and isinstance(identity[0], int):
        return identity[0]
    return getattr(obj, "id", None) if isinstance(getattr(obj, "id", None), int) else None


def _after_rollback(session) -> None:
    session.info.pop(_PENDING, None)


def install_audit_hook(session_class) -> None:
    """Record every change of an audited model, for every session of the app."""
    event.listen(session_class, "before_flush", _before_flush)
    event.listen(session_class, "after_flush", _after_flush)
    event.listen(session_class, "after_soft_rollback", lambda s, _t: _after_rollback(s))


def record(session: Session, action: str, *, workspace_id: int | None, model: str,
           row_id: int | None, row_label: str | None, changes: dict | None = None,
           actor: Actor | None = None) -> None:
    """Write one row that is not a row change (a "Sign in as" begun or ended), in the
    session's transaction; the caller commits."""
    actor = actor or current_actor()
    session.execute(insert(AuditEntry.__table__).values(
        workspace_id=workspace_id, created_at=utcnow(), actor_user_id=actor.user_id,
        actor_label=actor.label, via=actor.via, impersonator_user_id=actor.impersonator_id,
        impersonator_label=actor.impersonator_label, action=action, model=model,
        row_id=row_id, row_label=(row_label or "")[:LABEL_LENGTH] or None, changes=changes))
