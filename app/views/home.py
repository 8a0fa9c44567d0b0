"""The landing page: the current workspace at a glance and what is left to set up."""
from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import gettext as _

from app.models import Channel, LinkedUser, PanelConnection, Provider, ProviderRoute, Workspace
from app.tenancy import current_scope, scoped_query


def setup_steps() -> list[dict]:
    """The "Getting started" checklist of the current workspace, in the order a panel owner
    works through it: each step with whether it is done and the screen that completes it."""
    has_channel = _count(Channel) > 0
    steps = [
        # a connection made at sign-up names the engine only: done once it has its URL
        ("panel", scoped_query(PanelConnection).filter(PanelConnection.url != "").count() > 0,
         _("Connect your panel"),
         "PanelConnectionView.list"),
        ("channel", has_channel, _("Add a WhatsApp or Telegram channel"), "ChannelView.add"),
        ("webhook", has_channel and scoped_query(Channel).filter(
            Channel.last_webhook_at.isnot(None)).count() > 0,
         _("Configure the channel's webhook"),
         "ChannelView.list"),
        ("provider", _count(Provider) > 0, _("Add a provider"), "ProviderView.add"),
        ("route", _count(ProviderRoute) > 0, _("Route the provider to its group chat"),
         "ProviderRouteView.add"),
        ("linked_user", _count(LinkedUser) > 0, _("Link a customer to their chat"),
         "LinkedUserView.list"),
    ]
    return [{"key": key, "done": done, "text": text, "url": _allowed_url(endpoint)}
            for key, done, text, endpoint in steps]


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
                   "next_step": None}
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
