"""The platform support queue's rules: opening a ticket, replies, internal notes, status and
priority, and who is told by e-mail.

Contract
--------
* A workspace's managers open tickets (`open_ticket`) and reply (`reply`, `from_platform=False`);
  the master admins reply (`from_platform=True`) or write internal notes (`internal=True`,
  never shown to the workspace, never mailed to it).
* Statuses: `open` (waits for the platform), `answered` (the platform replied last), `closed`.
  A customer's reply opens the ticket again, a platform reply answers it; an internal note
  changes neither. A closed ticket takes no public reply: it is reopened first (`set_status`),
  which puts it back to `open` or `answered` by who wrote last. Internal notes may be added to a
  closed ticket.
* Subjects are 1..SUBJECT_MAX characters, messages 1..BODY_MAX (spaces around are dropped);
  refusals are `FieldErrors` naming the field (`subject`, `category`, `message`, `body`,
  `status`, `priority`).
* Mail: the platform (SUPPORT_EMAIL, a comma list, else every active master admin with an
  e-mail address, in the default language) gets `support_ticket_opened` when a ticket is opened
  and `support_customer_reply` when the customer replies; the workspace's managers get
  `support_reply` (in the workspace's language) when the platform replies publicly. Mails are
  queued after the change is committed.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, lazy_gettext as _l

from app.billing_mail import mail_managers, public_url
from app.extensions import db
from app.labels import ENUM_LABELS
from app.mail_templates import queue_mail
from app.models import SupportMessage, SupportTicket, Workspace
from app.models.base import utcnow
from app.models.support import (BODY_MAX, SUBJECT_MAX, SUPPORT_CATEGORIES, SUPPORT_PRIORITIES,
                                SUPPORT_STATUSES)
from app.security import ROLE_ADMIN
from app.validation import FieldErrors

#: where each side reads a ticket (the workspace's screen, the master admin's queue)
WORKSPACE_PATH = "/supportticketview/show/{id}"
QUEUE_PATH = "/supportqueueview/show/{id}"

REQUIRED = _l("This field is required.")
TOO_LONG = _l("At most %(max)d characters.")
CLOSED = _l("This ticket is closed: reopen it to write.")
UNKNOWN_CHOICE = _l("Choose one of the values offered.")


def clean_text(field: str, value, limit: int) -> str:
    """`value` without surrounding spaces. :raise FieldErrors: empty or longer than `limit`."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise FieldErrors({field: [REQUIRED]})
    if len(text) > limit:
        raise FieldErrors({field: [TOO_LONG % {"max": limit}]})
    return text


def _choice(field: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise FieldErrors({field: [UNKNOWN_CHOICE]})
    return value


def author_label(user) -> str:
    if user is None:
        return "—"
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return (name or user.username)[:200]


def _message(ticket: SupportTicket, user, body: str, *, from_platform: bool,
             internal: bool = False) -> SupportMessage:
    workspace_id = ticket.workspace_id
    if workspace_id is None and ticket.workspace is not None:  # a new ticket from the screen
        workspace_id = ticket.workspace.id
    message = SupportMessage(ticket=ticket, workspace_id=workspace_id,
                             author_id=getattr(user, "id", None), author_label=author_label(user),
                             from_platform=from_platform, internal=internal, body=body,
                             created_at=utcnow())
    if not internal:
        ticket.last_reply_at = message.created_at
        ticket.last_reply_by_platform = from_platform
    return message


def start_ticket(ticket: SupportTicket, user, body) -> SupportMessage:
    """Make a new ticket (subject, category and workspace set) an open one with its first
    message, without writing it. :raise FieldErrors: subject, category or message refused."""
    problems: dict[str, list] = {}

    def checked(check, *args):
        try:
            return check(*args)
        except FieldErrors as exc:
            problems.update(exc.problems)
            return None

    subject = checked(clean_text, "subject", ticket.subject, SUBJECT_MAX)
    category = checked(_choice, "category", ticket.category or "other", SUPPORT_CATEGORIES)
    body = checked(clean_text, "message", body, BODY_MAX)
    if problems:
        raise FieldErrors(problems)
    ticket.subject, ticket.category = subject, category
    ticket.status = "open"
    ticket.priority = ticket.priority or "normal"
    ticket.opened_by_id = getattr(user, "id", None)
    return _message(ticket, user, body, from_platform=False)


def open_ticket(workspace_id: int, user, subject, category, body) -> SupportTicket:
    """Open and commit a ticket of the workspace, then tell the platform.
    :raise FieldErrors: a value refused (nothing written)."""
    ticket = SupportTicket(workspace_id=workspace_id, subject=subject, category=category)
    start_ticket(ticket, user, body)
    db.session.add(ticket)
    db.session.commit()
    tell_platform_opened(ticket)
    return ticket


def reply(ticket: SupportTicket, user, body, *, from_platform: bool,
          internal: bool = False) -> SupportMessage:
    """Add a message and commit; tell the other side (never for an internal note).
    :raise FieldErrors: empty or too long (`body`), or a public reply to a closed ticket."""
    body = clean_text("body", body, BODY_MAX)
    internal = bool(internal and from_platform)
    if ticket.status == "closed" and not internal:
        raise FieldErrors({"body": [CLOSED]})
    message = _message(ticket, user, body, from_platform=from_platform, internal=internal)
    if not internal:
        ticket.status = "answered" if from_platform else "open"
    ticket.updated_at = utcnow()
    db.session.add(message)
    db.session.commit()
    if internal:
        return message
    if from_platform:
        tell_managers(ticket, message)
    else:
        tell_platform_reply(ticket, message)
    return message


def set_status(ticket: SupportTicket, status) -> bool:
    """Close (`closed`) or reopen (`open`: back to open or answered, by who wrote last), or any
    status by name (the master admin's choice); commits. Returns whether it changed.
    :raise FieldErrors: an unknown status."""
    _choice("status", status, SUPPORT_STATUSES)
    if status == "open":
        status = "answered" if ticket.last_reply_by_platform else "open"
    if ticket.status == status:
        return False
    ticket.status = status
    ticket.updated_at = utcnow()
    db.session.commit()
    return True


def set_priority(ticket: SupportTicket, priority) -> bool:
    """:raise FieldErrors: an unknown priority."""
    _choice("priority", priority, SUPPORT_PRIORITIES)
    if ticket.priority == priority:
        return False
    ticket.priority = priority
    ticket.updated_at = utcnow()
    db.session.commit()
    return True


def public_messages(ticket: SupportTicket) -> list[SupportMessage]:
    """The thread a workspace reads: oldest first, internal notes left out."""
    return [m for m in ticket.messages if not m.internal]


# --- who is told -------------------------------------------------------------------------------

def platform_recipients() -> list[tuple[str, str]]:
    """(address, name) of whoever answers tickets: SUPPORT_EMAIL's addresses when set, else
    every active master admin with an e-mail address."""
    configured = current_app.config.get("SUPPORT_EMAIL") or ""
    addresses = [a.strip() for a in configured.replace(";", ",").split(",") if a.strip()]
    if addresses:
        return [(address, address) for address in addresses]
    sm = current_app.appbuilder.sm
    user_model, role_model = sm.user_model, sm.role_model
    admins = (db.session.query(user_model)
              .filter(user_model.roles.any(role_model.name == ROLE_ADMIN),
                      user_model.active.is_(True), user_model.email.isnot(None),
                      user_model.email != "")
              .order_by(user_model.id).all())
    return [(user.email, author_label(user)) for user in admins]


def _platform_mail(key: str, ticket: SupportTicket, **values) -> int:
    language = current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    workspace = db.session.get(Workspace, ticket.workspace_id)
    with force_locale(language):  # the label (lazy) in the platform's language
        category = str(ENUM_LABELS["support_category"][ticket.category])
    queued = 0
    for address, name in platform_recipients():
        if queue_mail(key, address, language, name=name, workspace=workspace.name,
                      ticket=ticket.number, subject=ticket.subject, category=category,
                      link=public_url(QUEUE_PATH.format(id=ticket.id)), **values):
            queued += 1
    return queued


def tell_platform_opened(ticket: SupportTicket) -> int:
    first = ticket.messages[0] if ticket.messages else None
    return _platform_mail("support_ticket_opened", ticket,
                          author=first.author_label if first else "",
                          message=first.body if first else "")


def tell_platform_reply(ticket: SupportTicket, message: SupportMessage) -> int:
    return _platform_mail("support_customer_reply", ticket, author=message.author_label,
                          reply=message.body)


def tell_managers(ticket: SupportTicket, message: SupportMessage) -> int:
    workspace = db.session.get(Workspace, ticket.workspace_id)
    return mail_managers(workspace, "support_reply", ticket=ticket.number,
                         subject=ticket.subject, author=message.author_label,
                         reply=message.body, link=public_url(WORKSPACE_PATH.format(id=ticket.id)))
