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
from flask_babel import force_locale, gettext
from sqlalchemy import func

from app.auth.password_links import INVITATION, RESET, lifetime_hours, link_for, make_token
from app.extensions import db
from app.jobs import queues
from app.mail import Message, send_message
from app.models import Workspace, WorkspaceMember

JOB = "app.jobs.mail.send_password_link"
RESET_JOB = "app.jobs.mail.send_reset_link"


def queue_password_link(user_id: int, purpose: str, language: str | None = None) -> bool:
    """Queue the mail; False when the queue is not reachable (logged)."""
    return queues.enqueue_mail(JOB, int(user_id), purpose, language or "en")


def queue_reset_link(email: str, language: str | None = None) -> bool:
    """Queue "send a reset link to the login with this address, if there is one"."""
    return queues.enqueue_mail(RESET_JOB, email.strip().lower(), language or "en")


def _language(language: str | None) -> str:
    known = current_app.config.get("LANGUAGES") or {}
    return language if language in known else current_app.config.get("BABEL_DEFAULT_LOCALE", "en")


def password_link_message(user, purpose: str, language: str | None = None,
                          workspace_name: str | None = None) -> Message:
    """The mail for `user`, in `language`, with a fresh link."""
    link = link_for(make_token(user, purpose), purpose)
    hours = lifetime_hours(purpose)
    app_name = current_app.config.get("APP_NAME", "Relaydesk")
    with force_locale(_language(language)):
        if purpose == INVITATION:
            subject = gettext("You are invited to %(workspace)s on %(app)s",
                              workspace=workspace_name or app_name, app=app_name)
            lines = [
                gettext("Hello %(name)s,", name=user.first_name or user.username),
                "",
                gettext("You have been invited to work in %(workspace)s on %(app)s.",
                        workspace=workspace_name or app_name, app=app_name),
                gettext("Choose your password here (the link works once, for %(hours)d hours):",
                        hours=hours),
                "",
                link,
                "",
                gettext("Then sign in with your e-mail address: %(email)s", email=user.email),
            ]
        else:
            subject = gettext("Set a new password for %(app)s", app=app_name)
            lines = [
                gettext("Hello %(name)s,", name=user.first_name or user.username),
                "",
                gettext("Someone (we hope you) asked to set a new password for your login "
                        "%(username)s.", username=user.username),
                gettext("Choose it here (the link works once, for %(hours)d hours):",
                        hours=hours),
                "",
                link,
                "",
                gettext("If you did not ask for this, ignore this mail: your password stays "
                        "as it is."),
            ]
    return Message(to=user.email, subject=subject, body="\n".join(lines) + "\n")


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
    message = password_link_message(user, purpose, language, workspace_name)
    db.session.rollback()  # nothing written: release the read transaction before the network
    send_message(message)
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
