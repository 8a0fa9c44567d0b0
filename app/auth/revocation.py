"""Ending sessions and tokens: one number per login, its epoch (`user_auth_state.epoch`).

At sign-in the login's current epoch is written into the browser session and into every JWT
(access and refresh tokens, claim `epoch`). Each request compares it with the stored one: a
session or token carrying another value is refused (the session is treated as signed out, the
token answers 401 "Token has been revoked"). Raising the epoch therefore ends every session and
token of that login at once, in every process: signing out does it, and so does any password
change (own or by the master admin, also `flask fab reset-password`). The session that changed
its own password is stamped again and stays signed in.

A login without a row has epoch 0. Sessions and tokens issued before this mechanism carry no
epoch and are refused once (sign in again). API keys are separate credentials and are not ended
by the epoch: they are revoked one by one on the API keys page (and stop working when the login
is deactivated).
"""
from __future__ import annotations

from typing import Any

from flask import session
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models.auth import UserAuthState
from app.models.base import utcnow

SESSION_KEY = "_auth_epoch"
CLAIM = "epoch"


def current_epoch(user_id: int) -> int:
    epoch = db.session.execute(
        select(UserAuthState.epoch).where(UserAuthState.user_id == int(user_id))).scalar()
    return epoch or 0


def raise_epoch(user_id: int) -> int:
    """End every session and token of the login; returns the new epoch. The caller commits
    (it runs in the caller's transaction, so a password change and its revocation are one)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(UserAuthState).values(user_id=int(user_id), epoch=1, updated_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=[UserAuthState.user_id],
        set_={"epoch": UserAuthState.epoch + 1, "updated_at": utcnow()})
    db.session.execute(statement)
    return current_epoch(user_id)


# --- browser sessions ------------------------------------------------------------------------

def stamp_session(user_id: int, epoch: int | None = None) -> None:
    """Write the login's epoch into the current browser session (at sign-in, and after changing
    one's own password so that this session stays signed in)."""
    session[SESSION_KEY] = current_epoch(user_id) if epoch is None else epoch


def session_epoch() -> int | None:
    value = session.get(SESSION_KEY)
    return value if isinstance(value, int) else None


def on_login(_app, user=None, **_extra) -> None:
    """Flask-Login's `user_logged_in` signal: every sign-in stamps its session."""
    if user is not None:
        stamp_session(user.id)


def forget_session() -> None:
    session.pop(SESSION_KEY, None)


# --- JWTs ----------------------------------------------------------------------------------------

def jwt_claims(identity: Any) -> dict:
    """Flask-JWT-Extended `additional_claims_loader`: the epoch goes into every token."""
    return {CLAIM: current_epoch(int(identity))}


def jwt_revoked(_jwt_header: dict, jwt_payload: dict) -> bool:
    """Flask-JWT-Extended `token_in_blocklist_loader`: a token of an older epoch is revoked."""
    try:
        user_id = int(jwt_payload["sub"])
    except (KeyError, TypeError, ValueError):
        return True
    epoch = jwt_payload.get(CLAIM)
    return not isinstance(epoch, int) or epoch != current_epoch(user_id)
