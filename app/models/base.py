"""Shared column mixins. Every tenant-owned model inherits `WorkspaceOwned`."""
from __future__ import annotations

from datetime import datetime, UTC

from sqlalchemy import Column, DateTime, Enum, ForeignKey, Integer
from sqlalchemy.orm import declared_attr, relationship


# Every column holding a platform's chat id: the longest is a Meta parent business-scoped user
# id (US.ENT. + up to 128 letters and digits: 135 characters).
CHAT_ID_LENGTH = 160


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def code_column(codes, name: str, **column) -> Column:
    """A column holding one of `codes`: VARCHAR with a CHECK constraint named `name` (no
    database enum type, so adding a code is a plain migration on PostgreSQL and SQLite).
    NOT NULL unless `nullable=True` is given."""
    column.setdefault("nullable", False)
    return Column(Enum(*codes, name=name, native_enum=False, create_constraint=True), **column)


class Timestamps:
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class WorkspaceOwned:
    """A row that belongs to exactly one workspace (docs/contracts.md "Tenancy").

    Scoping of queries lives in app/tenancy.py; this mixin only marks the model and gives it the
    non-null, indexed `workspace_id` column and the `workspace` relationship.
    """

    __workspace_owned__ = True

    @declared_attr
    def workspace_id(cls):  # noqa: N805 - declared_attr receives the class
        return Column(
            Integer, ForeignKey("workspace.id", ondelete="CASCADE"), nullable=False, index=True
        )

    @declared_attr
    def workspace(cls):  # noqa: N805
        return relationship("Workspace")


def is_workspace_owned(model) -> bool:
    return bool(getattr(model, "__workspace_owned__", False))


def split_list(text: str | None) -> list[str]:
    """Stored lists (domains, aliases, actions) are comma or newline separated text."""
    if not text:
        return []
    parts = text.replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


def join_list(items) -> str:
    return ", ".join(str(i).strip() for i in items if str(i).strip())
