"""Health: the workspace's problems with their fix and a link (Setup › Health), the master
admin's overview of every workspace with problems, and `GET /api/v1/health`.

The figures come from app/health_checks.py, shared with the `health` runner.
"""
from __future__ import annotations


from flask import abort
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import select

from app import health_checks
from app.extensions import db
from app.labels import code_label
from app.models import Workspace
from app.security import READ, ROLE_MANAGER
from app.views.narrowing import Narrowing, narrowed_workspace


def report_for(workspace_id: int | None) -> health_checks.Health:
    return health_checks.overview() if workspace_id is None else \
        health_checks.evaluate(workspace_id)


def when(moment) -> str:
    return format_datetime(moment, "short") if moment else "—"


def panel_words() -> dict:
    return {"none": _("No panel connected"), "unknown": _("Not checked yet"),
            "ok": _("Working"), "error": _("Failing"), "degraded": _("Some calls fail"),
            "auth_failed": _("The panel refuses the API key"),
            "unreachable": _("The panel cannot be reached")}


class HealthView(BaseView):
    """Setup › Health: each problem in words with its fix and a link to where to make it."""

    route_base = "/health"
    default_view = "index"
    relaydesk_roles = {ROLE_MANAGER: READ}
    method_permission_name = {"index": "show"}

    @expose("/")
    @has_access
    def index(self):
        try:
            workspace_id = narrowed_workspace()
        except Narrowing as refusal:
            abort(refusal.status, refusal.message)
        health = report_for(workspace_id)
        workspaces = {}
        notices = []
        if workspace_id is None:
            ids = {p.workspace_id for p in health.problems}
            workspaces = {w.id: w for w in db.session.execute(
                select(Workspace).where(Workspace.id.in_(ids))).scalars()} if ids else {}
        else:
            notices = health_checks.notices(workspace_id)
        workspace = db.session.get(Workspace, workspace_id) if workspace_id else None
        return self.render_template(
            "relaydesk/health.html", health=health, workspace=workspace, workspaces=workspaces,
            notices=notices, when=when, code_label=code_label, panel_words=panel_words(),
            message=health_checks.problem_message, fix=health_checks.problem_fix,
            status_words={"ok": _("Everything works."),
                          "warning": _("Something may need your attention."),
                          "problem": _("Something needs fixing.")})


class HealthApi(BaseApi):
    """`GET /api/v1/health` (docs/contracts.md "Health"): JWT, X-API-Key or the browser
    session; a manager reads their workspace, the master admin every one (`?workspace=<slug>`
    narrows it)."""

    resource_name = "health"
    route_base = "/api/v1/health"
    allow_browser_login = True
    relaydesk_roles = {ROLE_MANAGER: READ}
    method_permission_name = {"get": "get"}

    @expose("", methods=["GET"])
    @protect()
    def get(self):
        """The workspace's health: problems with their fix and link, channels, panel, queue.
        ---
        get:
          description: Problems in the reader's language, each with its fix and the screen that
            fixes it; the channels, the panel connection and the queue.
          parameters:
          - in: query
            name: workspace
            schema:
              type: string
            description: (master admin) one workspace's short name
          responses:
            200:
              description: The health report.
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        try:
            workspace_id = narrowed_workspace()
        except Narrowing as refusal:
            return self.response(refusal.status, message=refusal.message)
        return self.response(200, **health_checks.as_json(report_for(workspace_id)))
