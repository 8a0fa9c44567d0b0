"""`?workspace=<slug>` on the workspace-scoped JSON twins (health, onboarding): which workspace
an answer is about, refused in words (400 malformed, 404 unknown or not the reader's)."""
from __future__ import annotations

import re

from flask import request
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Workspace
from app.tenancy import current_scope

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Narrowing(Exception):
    """`?workspace=` could not be honoured: `status` (400 or 404) and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def narrowed_workspace() -> int | None:
    """The workspace the reader's health is about: a member's own; for the master admin the
    one `?workspace=<slug>` names, or None (every workspace).

    :raise Narrowing: a malformed slug (400), or one the reader may not see or that does not
        exist (404, the same words either way)."""
    scope = current_scope()
    slug = request.args.get("workspace")
    if slug is None:
        if scope.all_workspaces:
            return None
        if scope.workspace_id is None:
            raise Narrowing(404, _("You belong to no workspace."))
        return scope.workspace_id
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise Narrowing(400, _("The workspace must be given by its short name (letters, digits "
                               "and hyphens)."))
    workspace_id = db.session.execute(select(Workspace.id).where(Workspace.slug == slug)
                                      ).scalar()
    if workspace_id is None or (not scope.all_workspaces and workspace_id != scope.workspace_id):
        raise Narrowing(404, _("There is no workspace %(slug)s.", slug=slug))
    return workspace_id
