"""Logs › Runners: what each scheduled runner of the workspace did last and does next
(app/jobs/runners.py writes the rows; nobody edits them). Managers may "Run now"; the master
admin's copy (All workspaces) lists every workspace's runners.
"""
from __future__ import annotations

from flask import redirect
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape

from app.jobs import runners
from app.models import RunnerState
from app.redaction import flash
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.logs import LOG_PERMISSIONS, LOG_ROLES_WITH_ACTIONS, visible

#: a summary's figures in words, per key (keys not listed are shown as they are)
SUMMARY_LABELS = {
    "fetched": _l("Services fetched"), "created": _l("Services added"),
    "updated": _l("Services updated"), "overrides_kept": _l("Overrides kept"),
    "cooldowns_expired": _l("Expired cooldowns removed"), "retention_days": _l("Logs kept (days)"),
    "snapshots": _l("Health snapshots taken"), "pruned": _l("Old log rows deleted"),
    "reason": _l("Reason"), "detail": _l("Detail"), "error": _l("Error"),
}
#: keys a summary holds for the screen's other lines (the services' changes), not shown as figures
CHANGE_KEYS = ("new", "removed", "rules_changed", "new_count", "removed_count",
               "rules_changed_count", "first_fill", "state")


def summary_words(summary) -> Markup:
    """A run's summary as lines a manager reads: figures with their words, then the services'
    changes one per line."""
    if not isinstance(summary, dict) or not summary:
        return Markup("")
    from app.jobs.services import change_lines

    lines = []
    for key, value in summary.items():
        if key in CHANGE_KEYS:
            continue
        label = SUMMARY_LABELS.get(key, key.replace("_", " ").capitalize())
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "0"
        elif value is None:
            value = _("no limit") if key == "retention_days" else "—"
        lines.append(f"{label}: {value}")
    if summary.get("first_fill"):
        lines.append(_("First refresh: every service is new."))
    else:
        lines.extend(change_lines(summary))
    return Markup("<br>").join(escape(line) for line in lines)


class RunnerStateView(WorkspaceModelView):
    """The scheduled runners of the workspace: enabled or why not, last run, outcome, next run."""

    datamodel = RelaydeskInterface(RunnerState)
    base_permissions = LOG_PERMISSIONS + ["can_run_now"]
    method_permission_name = {"run_now": "run_now"}
    relaydesk_roles = LOG_ROLES_WITH_ACTIONS
    base_order = ("runner", "asc")
    list_columns = ["runner", "enabled", "last_run_at", "duration_ms", "outcome", "last_error",
                    "next_run_at"]
    show_columns = ["runner", "enabled", "disabled_reason", "last_run_at", "duration_ms",
                    "outcome", "last_error", "failing_since", "summary", "next_run_at", "runs",
                    "failures"]
    search_columns = ["runner", "enabled", "outcome", "last_run_at", "next_run_at"]
    order_columns = ["runner", "last_run_at", "next_run_at", "outcome"]
    label_columns = {
        "runner": _l("Runner"), "enabled": _l("Enabled"), "disabled_reason": _l("Why not"),
        "last_run_at": _l("Last run"), "duration_ms": _l("Duration (ms)"),
        "outcome": _l("Outcome"), "last_error": _l("Last error"),
        "failing_since": _l("Failing since"), "summary": _l("Last run's summary"),
        "next_run_at": _l("Next run"), "runs": _l("Runs"), "failures": _l("Failures"),
        "workspace": _l("Workspace"),
    }
    description_columns = {
        "enabled": _l("A runner runs when the plan includes it and its settings turn it on."),
        "last_error": _l("Kept until a run succeeds; the full detail is in the worker's log."),
    }
    formatters_columns = {"summary": summary_words}

    @action("run_now", _l("Run now"), _l("Run the selected runners now?"), "fa-play")
    def run_now(self, items):
        rows = visible(items)
        queued = sum(1 for row in rows if runners.wake(row.workspace_id, row.runner))
        if queued:
            flash(ngettext("%(num)d runner queued.", "%(num)d runners queued.", queued),
                  "success")
        if queued < len(rows):
            flash(_("The queue is not reachable: the runners run at the next tick of the "
                    "scheduler."), "warning")
        self.update_redirect()
        return redirect(self.get_redirect())


#: the REST twin's columns (docs/contracts.md "Runner contracts"), read-only
API_COLUMNS = {
    "list_columns": ["id", "runner", "enabled", "disabled_reason", "last_run_at", "duration_ms",
                     "outcome", "last_error", "failing_since", "next_run_at"],
    "show_columns": ["id", "runner", "enabled", "disabled_reason", "last_run_at", "duration_ms",
                     "outcome", "last_error", "failing_since", "summary", "next_run_at", "runs",
                     "failures"],
}
