"""Panel connection actions: test the connection, detect the engine, refresh the services."""
from __future__ import annotations

from flask import redirect
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.redaction import flash
from app.extensions import db
from app.integrations.panels.base import PanelError
from app.jobs import queues
from app.labels import code_label
from app.models.base import utcnow
from app.plans import module_refusal, plan_of
from app.status_words import panel_problem
from app.views.logs import visible


class PanelConnectionActionsMixin:
    """Mixed into PanelConnectionView; rows come through the scoped interface (FAB pitfall 1)."""

    def _back(self):
        self.update_redirect()
        return redirect(self.get_redirect())

    @action("test_panel", _l("Test connection"), None, "fa-stethoscope")
    def test_panel(self, items):
        from app.integrations.panels.registry import adapter_for

        for connection in visible(items):
            try:
                check = adapter_for(connection).test_connection()
            except PanelError as exc:
                check = None
                said, ok = panel_problem(exc), False
            else:
                said, ok = check.said, check.ok
            connection.status = "ok" if ok else "error"
            connection.status_detail = said.encode()
            connection.last_checked_at = utcnow()
            if check is not None and check.api_path:
                connection.api_path = check.api_path
            db.session.commit()
            flash(said.words(), "success" if ok else "danger")
        return self._back()

    @action("detect_panel", _l("Detect engine"),
            _l("Probe the panel URL and set the engine that answers?"), "fa-search")
    def detect_panel(self, items):
        from app.integrations.panels.registry import detect

        for connection in visible(items):
            check = detect(connection.url, connection.api_key or "",
                           workspace_id=connection.workspace_id,
                           timeout=connection.timeout_seconds,
                           requests_per_second=connection.requests_per_second)
            if check.engine:
                connection.panel_type = check.engine
                connection.api_path = check.api_path
            connection.status = "ok" if check.ok else "error"
            connection.status_detail = check.said.encode()
            connection.last_checked_at = utcnow()
            db.session.commit()
            flash(check.said.words(), "success" if check.ok else "danger")
        return self._back()

    @action("refresh_services", _l("Refresh services"),
            _l("Fetch the panel's services into the service rules now?"), "fa-refresh")
    def refresh_services(self, items):
        for connection in visible(items):
            if connection.service_rules_mode != "cached":
                flash(_("Service rules come from the service names: set \"%(field)s\" to "
                        "\"%(option)s\" to keep a per-service list.",
                        field=_("Service rules from"),
                        option=code_label("service_rules_mode", "cached")), "info")
                continue
            refusal = module_refusal(plan_of(connection.workspace_id), "service_cache")
            if refusal is not None:  # the plan lacks cached service rules: nothing is queued
                flash(refusal.message, "danger")
                continue
            if queues.enqueue_services_refresh(connection.workspace_id):
                flash(_("Refreshing services in the background; the service rules list fills "
                        "in within a minute."), "success")
            else:  # Redis down: say so, change nothing
                flash(_("The job queue is not reachable right now; try again shortly."),
                      "danger")
        return self._back()
