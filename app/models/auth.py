"""Per-login security state kept beside FAB's user table (which Relaydesk does not extend).

`epoch` is stamped into every browser session and every JWT at login; raising it (logout,
password change) ends every session and token that carries an older value.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer

from app.models.base import utcnow


class UserAuthState(Model):
    __tablename__ = "user_auth_state"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    epoch = Column(Integer, nullable=False, default=0)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
