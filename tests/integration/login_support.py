"""Helpers shared by the sign-in test modules (not a test module itself)."""
from __future__ import annotations

from app.security import ROLE_MANAGER
from tests.factories import Factory


def user_id_of(app, username: str) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).id


def people_maker(app):
    """Makes logins without holding an app context through the test: Flask reuses a pushed app
    context for the test client's requests, and Flask-Login caches the signed-in user on `g`,
    so one test's requests would see each other's users."""
    def make(username, role=ROLE_MANAGER):
        with app.app_context():
            return Factory(app).user(username, role)

    return make
