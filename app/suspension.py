"""A suspended workspace is read-only until it is resumed (docs/ARCHITECTURE.md "Suspended
workspaces are read-only").

While a workspace's status is `suspended` (app/billing.py `suspend`: an unpaid period, or the
master admin), its members keep reading everything, on the screens and through the REST API
(the data stays theirs and may be exported), but nothing of the workspace changes:

* REST: every POST, PUT, PATCH or DELETE answers 403 in the REST error shape (app/errors.py,
  code `FORBIDDEN`) with `SUSPENDED_MESSAGE`, for API keys and JWTs (`refuse_suspended_api`,
  called by app/api_limits.py once the caller is known) and for a browser session calling the
  API (`refuse_suspended_writes`). The login resource (`/api/v1/security/`) stays open.
* Screens: a write (any POST, and FAB's delete and action endpoints whatever the method) is not
  run: the person is sent back to the page they came from (or the home page) with
  `SUSPENDED_MESSAGE` as a flash message. GET pages, forms included, still open.
* Open while suspended (`OPEN`): Billing and the card payment buttons (to pay), signing in and
  out, the person's own account (profile, password, API keys, language), the set-password links,
  the Playground (it writes and sends nothing), the sign-up pages (they answer only pending
  workspaces), Platform support (a suspended workspace may need to ask), and the master
  admin's "Return to my account" after "Sign in as".

The master admin (all workspaces) and people outside any workspace are never refused. Webhooks
and health checks are left alone (a suspended workspace's events are skipped:
app/jobs/events.py). Resuming (app/billing.py `resume`, a paid invoice) opens writes again at
the next request: the status is read on every write, never cached.
"""
from __future__ import annotations

from flask import current_app, redirect, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from app.extensions import db
from app.redaction import flash
from app.signup.pending import ALLOWED
from app.tenancy import current_scope

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: FAB endpoints that change rows even when called with GET
WRITE_ENDPOINT_SUFFIXES = (".delete", ".action", ".action_post")
#: endpoints (or prefixes, ending in ".") whose writes a suspended workspace's member may make
OPEN = ALLOWED + ("PlaygroundView.",)  # those a pending workspace's member may open, and more
NOT_SCREENS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/static/")
#: the REST paths that stay open (signing in for a token, signing out)
API_OPEN = ("/api/v1/security/",)

SUSPENDED_MESSAGE = _l("This workspace is suspended: its data can be read and exported, but not "
                       "changed. To resume it, pay or renew on the Billing page.")


class WorkspaceSuspended(Forbidden):
    """403: the caller's workspace is suspended. `api_message`: the REST answer's words."""

    def __init__(self) -> None:
        super().__init__()
        self.api_message = str(SUSPENDED_MESSAGE)


def is_suspended(workspace_id: int | None) -> bool:
    from app.models import Workspace

    if workspace_id is None:
        return False
    return db.session.execute(select(Workspace.status).where(
        Workspace.id == workspace_id)).scalar_one_or_none() == "suspended"


def refuse_suspended_api(workspace_id: int | None) -> None:
    """:raise WorkspaceSuspended: a REST write for a suspended workspace."""
    if request.method in WRITE_METHODS and not request.path.startswith(API_OPEN) \
            and is_suspended(workspace_id):
        raise WorkspaceSuspended()


def _open(endpoint: str | None) -> bool:
    if endpoint is None:  # no such page: the 404 page is fine
        return True
    return any(endpoint == name or (name.endswith(".") and endpoint.startswith(name))
               for name in OPEN)


def _is_write(endpoint: str | None) -> bool:
    return request.method in WRITE_METHODS or (
        endpoint is not None and endpoint.endswith(WRITE_ENDPOINT_SUFFIXES))


def _workspace_id() -> int | None:
    scope = current_scope()
    return None if scope.all_workspaces else scope.workspace_id


def _back():
    """To the page the person came from (a form posts to itself: back to it), when it is ours
    and not this very GET (which would refuse again)."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url) and (request.method != "GET"
                                                  or referrer != request.url):
        return redirect(referrer)
    return redirect(current_app.appbuilder.get_url_for_index)


def refuse_suspended_writes():
    """Before every request: a suspended workspace's member may read, not write."""
    if request.path.startswith(NOT_SCREENS) and not request.path.startswith("/api/"):
        return None  # webhooks, health checks, static files: not even the session is read
    if not current_user or not current_user.is_authenticated:
        return None
    if request.path.startswith("/api/"):  # a browser session calling the REST API
        refuse_suspended_api(_workspace_id())
        return None
    if request.path.startswith(NOT_SCREENS) or _open(request.endpoint) \
            or not _is_write(request.endpoint):
        return None
    if not is_suspended(_workspace_id()):
        return None
    flash(SUSPENDED_MESSAGE, "danger")
    return _back()


def install(app) -> None:
    app.before_request(refuse_suspended_writes)


__all__ = ["OPEN", "SUSPENDED_MESSAGE", "WorkspaceSuspended", "install", "is_suspended",
           "refuse_suspended_api", "refuse_suspended_writes"]
