"""The landing page: the current workspace at a glance and what is left to set up."""
from __future__ import annotations

from flask import g, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import gettext as _

from app.models import Channel, LinkedUser, PanelConnection, Provider, ProviderRoute, Workspace
from app.tenancy import current_scope, scoped_query


def _count(model) -> int:
    return scoped_query(model).count()


class HomeView(IndexView):
    index_template = "relaydesk/index.html"

    @expose("/")
    def index(self):
        user = g.user
        context = {"workspace": None, "is_admin": False, "cards": [], "checklist": []}
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
                context["checklist"] = [
                    (_count(Channel) > 0, _("Connect a WhatsApp or Telegram channel")),
                    (_count(PanelConnection) > 0, _("Connect your panel")),
                    (_count(ProviderRoute) > 0, _("Route a provider to its group")),
                    (_count(LinkedUser) > 0, _("Link a customer to their chat")),
                ]
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)


def _safe_url(endpoint: str) -> str | None:
    try:
        return url_for(endpoint)
    except Exception:  # noqa: BLE001 - a missing screen just drops the link
        return None
