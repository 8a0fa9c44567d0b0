"""The landing page: the current workspace at a glance and what is left to set up."""
from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext as _

from app.activity import activity
from app.security import READ, ROLE_AGENT, ROLE_MANAGER

from app.models import Channel, LinkedUser, Provider, ProviderRoute, Workspace
from app.onboarding import checklist
from app.views.narrowing import Narrowing, narrowed_workspace
from app.tenancy import current_scope, scoped_query


def setup_steps() -> list[dict]:
    """The onboarding checklist of the current workspace (app/onboarding.py), in the order a
    panel owner works through it: each item with whether it is done (from real state) and the
    screen that completes it, when the reader may open it."""
    return [{"key": item.key, "done": item.done, "text": item.title, "hint": item.hint,
             "url": _allowed_url(item.endpoint)}
            for item in checklist(current_scope().workspace_id)]


def next_step(steps: list[dict], workspace) -> dict:
    """What to do next: the first step of the checklist not done (that the person may open),
    in the demo workspace too; the Playground once all are."""
    playground = {"key": "playground", "done": False, "url": _allowed_url("PlaygroundView.index"),
                  "text": _("Try a customer's message in the Playground")}
    return next((step for step in steps if not step["done"] and step["url"]), playground)


def _count(model) -> int:
    return scoped_query(model).count()


class HomeView(IndexView):
    """`/`: a member's home (their workspace, its checklist); the master admin's landing page
    is the dashboard (app/views/dashboard.py), where `/` sends them."""

    index_template = "relaydesk/index.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is not None and user.is_authenticated and current_scope().all_workspaces:
            dashboard = _safe_url("DashboardView.index")
            if dashboard:
                return redirect(dashboard)
        context = {"workspace": None, "is_admin": False, "cards": [], "checklist": [],
                   "next_step": None, "activity": None}
        if user is not None and user.is_authenticated:
            scope = current_scope()
            context["is_admin"] = scope.all_workspaces
            if scope.workspace_id is not None:
                context["workspace"] = scoped_query(Workspace).first()
            if not scope.is_empty:
                cards = [
                    (_("Channels"), Channel, "ChannelView.list"),
                    (_("Providers"), Provider, "ProviderView.list"),
                    (_("Provider routes"), ProviderRoute, "ProviderRouteView.list"),
                    (_("Linked users"), LinkedUser, "LinkedUserView.list"),
                ]
                if scope.all_workspaces:
                    cards.insert(0, (_("Workspaces"), Workspace, "WorkspaceAdminView.list"))
                for label, model, endpoint in cards:
                    context["cards"].append({"label": label, "count": _count(model),
                                             "url": _safe_url(endpoint)})
                if scope.workspace_id is not None:  # the master admin has no single workspace
                    context["activity"] = activity(scope.workspace_id)
                    context["checklist"] = setup_steps()
                    context["next_step"] = next_step(context["checklist"],
                                                     context["workspace"])
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)


def _allowed_url(endpoint: str) -> str | None:
    """The URL of a screen the signed-in person may open (an agent gets no link to an add
    form they cannot use), else None."""
    from flask import current_app

    view_name, method = endpoint.split(".")
    if not current_app.appbuilder.sm.has_access(f"can_{method}", view_name):
        return None
    return _safe_url(endpoint)


def _safe_url(endpoint: str) -> str | None:
    try:
        return url_for(endpoint)
    except Exception:  # noqa: BLE001 - a missing screen just drops the link
        return None


class OnboardingApi(BaseApi):
    """`GET /api/v1/onboarding`: the onboarding checklist (app/onboarding.py) of the reader's
    workspace (JWT, X-API-Key or the browser session)."""

    resource_name = "onboarding"
    route_base = "/api/v1/onboarding"
    allow_browser_login = True
    relaydesk_roles = {ROLE_MANAGER: READ, ROLE_AGENT: READ}
    method_permission_name = {"get": "get"}

    @expose("", methods=["GET"])
    @protect()
    def get(self):
        """The onboarding checklist, each item ticked from real state.
        ---
        get:
          description: The items `channel`, `panel`, `routes`, `linked_user`, `test_command`
            and `service_rules` with whether each is done and the screen that completes it.
            The master admin names the workspace with `?workspace=<slug>`.
          parameters:
          - in: query
            name: workspace
            schema:
              type: string
          responses:
            200:
              description: The checklist.
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
        except Narrowing as refused:
            return self.response(refused.status, message=refused.message)
        if workspace_id is None:  # the master admin, who sees every workspace: name one
            return self.response(400, message=_("Name the workspace: ?workspace=<slug>."))
        items = checklist(workspace_id)
        return self.response(200, items=[
            {"key": item.key, "done": item.done, "link": _safe_url(item.endpoint)}
            for item in items], done=sum(item.done for item in items), total=len(items))
