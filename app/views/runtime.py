"""Master admin › Runtime: the queues, workers, failed and scheduled jobs of RQ, and the cron.

Everything is read through app/jobs/queues.py (`runtime_state`, `retry_failed`,
`delete_failed`) and app/jobs/cron.py (`cron_state`); nothing here talks to RQ. `runtime_report()`
is the one reading both the screen (`RuntimeView`, `/runtime/`) and its JSON twin
(`RuntimeApi`, `GET /api/v1/runtime`) show: the master admin's only (`relaydesk_roles` empty).

When Redis does not answer, the report says so (`reachable: false`) and the screen shows a
sentence instead of the tables: never a 500. A failure is shown by the last line of its
traceback, redacted (app/redaction.py) and cut to `ERROR_LENGTH`: never a secret, never the
whole traceback.
"""
from __future__ import annotations

from datetime import datetime, UTC

from flask import redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from redis.exceptions import RedisError
from sqlalchemy import select

from app.extensions import db, redis_connection
from app.jobs import queues
from app.jobs.cron import cron_state
from app.jobs.mail import JOB as MAIL_LINK_JOB
from app.jobs.mail import RESET_JOB as MAIL_RESET_JOB
from app.models import Channel, InboundEvent, OutboundMessage, Workspace
from app.redaction import flash, redact
from app.views.base import MasterAdminApi
from app.views.formatting import format_time

#: the longest error line shown
ERROR_LENGTH = 300

#: what each job does, in words (a job of another function shows its dotted path)
JOB_LABELS = {
    queues.PROCESS_EVENT: _l("Handle a message or event from a channel"),
    queues.SEND_OUTBOUND: _l("Send a message"),
    queues.VERIFY_CHANNEL: _l("Verify a WhatsApp (Meta Cloud API) channel"),
    queues.REFRESH_SERVICES: _l("Refresh the panel's services"),
    queues.RUN_RUNNER: _l("Run a workspace's runner"),
    MAIL_LINK_JOB: _l("E-mail a link to set a password"),
    MAIL_RESET_JOB: _l("E-mail a password reset link"),
}
CRON_LABELS = {"maintenance_sweep": _l("Maintenance: queue again what was left waiting"),
               "billing_clock": _l("Billing: reminders before expiry, suspension at expiry"),
               "runners_tick": _l("Runners: queue the workspaces' runs that are due")}
WORKER_STATES = {"idle": _l("Idle"), "busy": _l("Busy"), "started": _l("Starting"),
                 "suspended": _l("Suspended"), "stopped": _l("Stopped")}

#: the model whose row a job's first argument names, per job function (its workspace is the
#: job's); a services refresh names the workspace itself
_ROW_OF_JOB = {queues.PROCESS_EVENT: InboundEvent, queues.SEND_OUTBOUND: OutboundMessage,
               queues.VERIFY_CHANNEL: Channel}


def error_line(text: str | None) -> str | None:
    """The last non-empty line of a traceback (the exception and its message), redacted and cut
    to ERROR_LENGTH characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    line = redact(lines[-1])
    return line if len(line) <= ERROR_LENGTH else line[:ERROR_LENGTH - 1] + "…"


def _first_id(job: queues.JobState) -> int | None:
    value = job.args[0] if job.args else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def job_workspaces(jobs: list[queues.JobState]) -> dict[str, Workspace]:
    """The workspace of each job whose arguments name one (an event, a message, a channel, or
    the workspace itself), by job id; one query per kind of row."""
    wanted: dict[type, dict[int, list[str]]] = {}
    workspace_of: dict[str, int] = {}
    for job in jobs:
        if job.function == queues.RUN_RUNNER and len(job.args) > 1 and \
                isinstance(job.args[1], int) and not isinstance(job.args[1], bool):
            workspace_of[job.id] = job.args[1]  # (runner, workspace id)
            continue
        row_id = _first_id(job)
        if row_id is None:
            continue
        if job.function == queues.REFRESH_SERVICES:
            workspace_of[job.id] = row_id
        elif job.function in _ROW_OF_JOB:
            wanted.setdefault(_ROW_OF_JOB[job.function], {}).setdefault(row_id, []).append(job.id)
    for model, by_row in wanted.items():
        rows = db.session.execute(select(model.id, model.workspace_id)
                                  .where(model.id.in_(list(by_row))))
        for row_id, workspace_id in rows:
            for job_id in by_row[row_id]:
                workspace_of[job_id] = workspace_id
    ids = set(workspace_of.values())
    found = {w.id: w for w in db.session.query(Workspace).filter(Workspace.id.in_(ids))} \
        if ids else {}
    return {job_id: found[ws] for job_id, ws in workspace_of.items() if ws in found}


def _workspace(workspace: Workspace | None) -> dict | None:
    if workspace is None:
        return None
    return {"id": workspace.id, "slug": workspace.slug, "label": workspace.name}


def _seconds_since(moment: datetime | None, now: datetime) -> int | None:
    return max(0, int((now - moment).total_seconds())) if moment else None


def runtime_report() -> dict:
    """The runtime as plain data (times are aware UTC datetimes): `reachable` (False when Redis
    does not answer: then only `checked_at` besides), `queues` (`name`, `depth`,
    `oldest_enqueued_at`, `oldest_seconds`), `workers` (`name`, `state`, `current_job`,
    `last_heartbeat`, `birth`, `queues`), `failed` (`id`, `queue`, `function`, `workspace`
    as {id, slug, label} or None, `failed_at`, `error`: the redacted last line), `scheduled`
    (`id`, `queue`, `function`, `workspace`, `run_at`) and `cron` (`name`, `function`,
    `every_seconds`, `last_run_at`, `next_run_at`, `overdue`)."""
    now = datetime.now(UTC)
    state = queues.runtime_state()
    try:
        cron = cron_state(redis_connection()) if state.reachable else []
    except RedisError:
        state, cron = queues.RuntimeState(reachable=False), []
    if not state.reachable:
        return {"reachable": False, "checked_at": now}
    owners = job_workspaces(state.failed + state.scheduled)
    return {
        "reachable": True,
        "checked_at": now,
        "queues": [{"name": q.name, "depth": q.depth, "oldest_enqueued_at": q.oldest_enqueued_at,
                    "oldest_seconds": _seconds_since(q.oldest_enqueued_at, now)}
                   for q in state.queues],
        "workers": [{"name": w.name, "state": w.state, "current_job": w.current_job_id,
                     "last_heartbeat": w.last_heartbeat, "birth": w.birth,
                     "queues": list(w.queues)} for w in state.workers],
        "failed": [{"id": j.id, "queue": j.queue, "function": j.function,
                    "workspace": _workspace(owners.get(j.id)), "failed_at": j.at,
                    "error": error_line(j.error)} for j in state.failed],
        "scheduled": [{"id": j.id, "queue": j.queue, "function": j.function,
                       "workspace": _workspace(owners.get(j.id)), "run_at": j.at}
                      for j in state.scheduled],
        "cron": [{"name": c.entry.key, "function": c.entry.function,
                  "every_seconds": c.entry.seconds, "last_run_at": c.last_run,
                  "next_run_at": c.next_run, "overdue": c.overdue(now)} for c in cron],
    }


def as_json(value):
    """`value` with every datetime as ISO 8601 UTC text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return value


def job_label(function: str | None) -> str:
    if function is None:
        return _("Unknown job (its data has expired)")
    label = JOB_LABELS.get(function)
    return str(label) if label is not None else function


def duration(seconds: int | None) -> str:
    """"3 h 20 min", "5 min 2 s", "12 s", or "—"."""
    if seconds is None:
        return "—"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes)
    if minutes:
        return _("%(minutes)d min %(seconds)d s", minutes=minutes, seconds=secs)
    return _("%(seconds)d s", seconds=secs)


class RuntimeView(BaseView):
    """The master admin's view of the job system, with Retry, Retry all and Delete for
    failed jobs (POST, CSRF-checked like every form)."""

    route_base = "/runtime"
    default_view = "index"
    relaydesk_roles: dict = {}
    method_permission_name = {"index": "show", "retry": "edit", "retry_all": "edit",
                              "delete": "edit"}

    @expose("/")
    @has_access
    def index(self):
        report = runtime_report()
        return self.render_template(
            "relaydesk/runtime.html", report=report, job_label=job_label,
            duration=duration, when=lambda moment: format_time(moment, seconds=True)
            if moment else "—", worker_state=lambda code: WORKER_STATES.get(code, code),
            cron_label=lambda key: CRON_LABELS.get(key, key))

    @expose("/retry", methods=["POST"])
    @has_access
    def retry(self):
        chosen = [job_id for job_id in request.form.getlist("job_id") if job_id]
        if not chosen:
            flash(_("Choose a failed job first."), "warning")
            return self._back()
        self._tell(queues.retry_failed(chosen), "retried")
        return self._back()

    @expose("/retry-all", methods=["POST"])
    @has_access
    def retry_all(self):
        self._tell(queues.retry_failed(None), "retried")
        return self._back()

    @expose("/delete", methods=["POST"])
    @has_access
    def delete(self):
        chosen = [job_id for job_id in request.form.getlist("job_id") if job_id]
        if not chosen:
            flash(_("Choose a failed job first."), "warning")
            return self._back()
        self._tell(queues.delete_failed(chosen), "deleted")
        return self._back()

    @staticmethod
    def _tell(count: int | None, what: str) -> None:
        if count is None:
            flash(_("Redis did not answer, so nothing was changed. Try again when it is back."),
                  "danger")
        elif count == 0:
            flash(_("That job is no longer among the failed jobs: the list was out of date."),
                  "warning")
        elif what == "retried":
            flash(ngettext("%(num)d job was queued again.", "%(num)d jobs were queued again.",
                           count), "success")
        else:
            flash(ngettext("%(num)d failed job was deleted.", "%(num)d failed jobs were deleted.",
                           count), "success")

    @staticmethod
    def _back():
        return redirect(url_for("RuntimeView.index"))


class RuntimeApi(MasterAdminApi):
    """`GET /api/v1/runtime`: `runtime_report()` as JSON (times ISO 8601 UTC), the master
    admin's only (JWT, X-API-Key or the browser session; others 403). With Redis down it
    answers 200 `{"reachable": false, "checked_at", "message"}`."""

    resource_name = "runtime"
    route_base = "/api/v1/runtime"

    @expose("", methods=["GET"])
    @protect()
    def get(self):
        """The queues, workers, failed and scheduled jobs, and the cron entries.
        ---
        get:
          description: The job system's state (master admin only).
          responses:
            200:
              description: The state; `reachable` is false when Redis does not answer.
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        report = as_json(runtime_report())
        if not report["reachable"]:
            report["message"] = _("Redis does not answer: the queues cannot be read right now.")
        return self.response(200, **report)
