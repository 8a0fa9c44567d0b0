"""Helpers for the team tests (not a test module): people, signed-in clients, the mail queue."""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.jobs.mail import JOB, RESET_JOB, TEMPLATED_JOB
from app.mail import outbox
from tests.factories import Factory, password_for

LINK = re.compile(r"https?://\S+/password/(invitation|reset)/(\S+)")


@dataclass
class Team:
    alpha_id: int
    bravo_id: int
    manager: str      # alpha's only manager
    agent: str        # alpha's agent
    bravo_manager: str
    admin: str


def make_team(app) -> Team:
    """Two workspaces made in their own app context (none stays pushed: see login_support)."""
    with app.app_context():
        factory = Factory(app)
        alpha = factory.workspace("alpha", "Alpha Panel")
        bravo = factory.workspace("bravo", "Bravo Panel")
        factory.member(alpha, "alpha-manager", "manager")
        factory.member(alpha, "alpha-agent", "agent")
        factory.member(bravo, "bravo-manager", "manager")
        factory.admin("root")
        return Team(alpha.id, bravo.id, "alpha-manager", "alpha-agent", "bravo-manager", "root")


def signed_in(app, username: str, password: str | None = None):
    client = app.test_client()
    response = client.post("/login/", data={"username": username,
                                            "password": password or password_for(username)})
    assert response.status_code == 302 and "/login" not in response.headers["Location"], \
        f"{username} could not sign in"
    return client


def can_sign_in(app, username: str, password: str) -> bool:
    response = app.test_client().post("/login/", data={"username": username,
                                                       "password": password})
    return response.status_code == 302 and "/login" not in response.headers["Location"]


def session_alive(client) -> bool:
    response = client.get("/users/userinfo/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def member_id(app, username: str) -> int:
    from app.extensions import db
    from app.models import WorkspaceMember

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        return db.session.query(WorkspaceMember).filter_by(user_id=user.id).one().id


def login_of(app, username: str) -> dict | None:
    """The login's state as plain values (no ORM object leaves the context)."""
    from app.extensions import db
    from app.models import WorkspaceMember

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        if user is None:
            return None
        member = db.session.query(WorkspaceMember).filter_by(user_id=user.id).one_or_none()
        return {"id": user.id, "active": user.active, "roles": sorted(r.name for r in user.roles),
                "email": user.email, "role": member.role if member else None,
                "workspace_id": member.workspace_id if member else None}


def deliver_mail(app, jobs=(JOB, RESET_JOB)) -> list:
    """Run the queued mail jobs of the kinds `jobs` here (the memory backend keeps them);
    returns the new mails, oldest first."""
    with app.app_context():
        queue = app.extensions["relaydesk_queues"]["default"]
        before = len(outbox(app))
        for job in queue.get_jobs():
            if job.func_name in jobs:
                queue.remove(job)
                job.perform()
        return outbox(app)[before:]


def deliver_templated_mail(app) -> list:
    """Run the queued mails written from e-mail templates (sign-up, billing, …) here."""
    return deliver_mail(app, (TEMPLATED_JOB,))


def link_in(message) -> str:
    """The path of the set-password link in a mail."""
    found = LINK.search(message.body)
    assert found, message.body
    return f"/password/{found.group(1)}/{found.group(2)}"


def form_errors(html: str) -> str:
    """Every error the page shows: beside fields (tests/form_errors.py markup) and flashed."""
    beside = re.findall(r'<span class="help-block field-error">(.*?)</span>', html, re.S)
    flashed = re.findall(r'class="alert alert-danger">(.*?)</div>', html, re.S)
    return " ".join(beside + flashed)
