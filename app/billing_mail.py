"""The billing mails of a workspace: who gets them and the values they are written with.

`mail_managers(workspace, key, **values)` queues mail `key` (app/mail_templates.py) to every
active manager of the workspace who has an e-mail address, in the workspace's language, with
`name` and `workspace` filled in. Values that are words (dates, the suspension reason) are
written in that language here, since the mail job only fills placeholders.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urljoin

from babel.dates import format_date
from flask import current_app
from flask_babel import force_locale, gettext

from app.extensions import db
from app.mail_templates import queue_mail
from app.models import Workspace, WorkspaceMember

#: the page where a customer sends a payment reference (the sign-up journey's)
PAY_PATH = "signup/pay"
#: the manager's Billing page
BILLING_PATH = "billing/"


def public_url(path: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def invoice_pdf_path(invoice_id: int) -> str:
    return f"/billing/invoices/{invoice_id}.pdf"


def managers_of(workspace_id: int) -> list:
    """The active managers' logins (with an e-mail address) of the workspace."""
    user_model = current_app.appbuilder.sm.user_model
    return (db.session.query(user_model)
            .join(WorkspaceMember, WorkspaceMember.user_id == user_model.id)
            .filter(WorkspaceMember.workspace_id == workspace_id,
                    WorkspaceMember.role == "manager", user_model.active.is_(True),
                    user_model.email.isnot(None))
            .order_by(user_model.id).all())


def date_words(moment: datetime | None, language: str | None) -> str:
    """A date as the reader writes it ("3 December 2026"), "" for none."""
    if moment is None:
        return ""
    try:
        return format_date(moment, format="long", locale=language or "en")
    except Exception:  # noqa: BLE001 - an unknown locale: the default language's notation
        return format_date(moment, format="long", locale="en")


def language_of(workspace: Workspace) -> str:
    known = current_app.config.get("LANGUAGES") or {}
    return workspace.language if workspace.language in known else \
        current_app.config.get("BABEL_DEFAULT_LOCALE", "en")


def translated(text: str, language: str, **values) -> str:
    """A msgid (marked where it is defined) in `language`."""
    with force_locale(language):
        return gettext(text, **values)


def mail_managers(workspace: Workspace, key: str, **values) -> int:
    """Queue mail `key` to each manager; returns how many were queued."""
    language = language_of(workspace)
    queued = 0
    for user in managers_of(workspace.id):
        name = " ".join(p for p in (user.first_name, user.last_name) if p) or user.username
        if queue_mail(key, user.email, language, name=name, workspace=workspace.name,
                      **values):
            queued += 1
    return queued
