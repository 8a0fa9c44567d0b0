"""Mail jobs: the e-mail that carries a set-password link, sent outside any request.

Views call `queue_password_link(user_id, purpose, language)` (an invitation, a resent one) or
`queue_reset_link(email, language)` ("Forgot your password?": the login is looked up by the job,
so the request does the same work whether a login has the address or not); the worker runs
`send_password_link` / `send_reset_link`, which makes the link at send time (so time spent in
the queue does not shorten it; the token never sits in Redis), writes the mail in the
recipient's language and hands it to the configured backend (app/mail.py). A backend failure
raises MailError and RQ retries (after 30 s, 2 min and 10 min where a worker runs the
scheduler).
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import func

from app.auth.password_links import INVITATION, RESET, lifetime_hours, link_for, make_token
from app.extensions import db
from app.jobs import queues
from app.mail import Message, send_message
from app.mail_templates import MAILS, message
from app.models import Workspace, WorkspaceMember

JOB = "app.jobs.mail.send_password_link"
RESET_JOB = "app.jobs.mail.send_reset_link"


def queue_password_link(user_id: int, purpose: str, language: str | None = None) -> bool:
    """Queue the mail; False when the queue is not reachable (logged)."""
    return queues.enqueue_mail(JOB, int(user_id), purpose, language or "en")


def queue_reset_link(email: str, language: str | None = None) -> bool:
    """Queue "send a reset link to the login with this address, if there is one"."""
    return queues.enqueue_mail(RESET_JOB, email.strip().lower(), language or "en")


def password_link_message(user, purpose: str, language: str | None = None,
                          workspace_name: str | None = None) -> Message:
    """The mail for `user`, in `language`, with a fresh link (the `invitation` or
    `password_reset` e-mail template, app/mail_templates.py)."""
    link = link_for(make_token(user, purpose), purpose)
    name = user.first_name or user.username
    if purpose == INVITATION:
        app_name = current_app.config.get("APP_NAME", "Relaydesk")
        return message("invitation", user.email, language, name=name,
                       workspace=workspace_name or app_name, link=link,
                       hours=lifetime_hours(purpose), email=user.email)
    return message("password_reset", user.email, language, name=name, username=user.username,
                   link=link, hours=lifetime_hours(purpose))


def send_password_link(user_id: int, purpose: str, language: str | None = None) -> str:
    """The job. Returns what it did: "sent" or "skipped" (no such login, or suspended)."""
    user = current_app.appbuilder.sm.get_user_by_id(int(user_id))
    if user is None or not user.active or purpose not in (INVITATION, RESET):
        db.session.rollback()
        return "skipped"
    workspace_name = None
    if purpose == INVITATION:
        member = db.session.query(WorkspaceMember).filter_by(user_id=user.id).one_or_none()
        workspace = db.session.get(Workspace, member.workspace_id) if member else None
        workspace_name = workspace.name if workspace else None
    mail = password_link_message(user, purpose, language, workspace_name)
    db.session.rollback()  # nothing written: release the read transaction before the network
    send_message(mail)
    return "sent"


def send_reset_link(email: str, language: str | None = None) -> str:
    """The job behind "Forgot your password?": "sent" when an active login has the address
    (compared without regard to case), else "skipped"."""
    user_model = current_app.appbuilder.sm.user_model
    user = db.session.query(user_model).filter(
        func.lower(user_model.email) == (email or "").strip().lower()).first()
    if user is None:
        db.session.rollback()
        return "skipped"
    return send_password_link(user.id, RESET, language)


TEMPLATED_JOB = "app.jobs.mail.send_templated"


def send_templated(key: str, to: str, language: str, values: dict) -> str:
    """The job of `app.mail_templates.queue_mail`: renders mail `key` now and sends it.
    "sent", or "skipped" for a mail that no longer exists or an empty address."""
    if key not in MAILS or not (to or "").strip():
        return "skipped"
    mail = message(key, to.strip(), language, **(values or {}))
    db.session.rollback()  # nothing written: release the read transaction before the network
    send_message(mail)
    return "sent"
