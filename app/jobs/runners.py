"""Runners: the scheduled work of each workspace (panel tickets, broadcasts, the services cache,
maintenance), and the state each one shows (`RunnerState`, Logs › Runners, REST `runner_state`).

How a run happens:

* The cron thread of a worker with the scheduler calls `tick()` every TICK_SECONDS (one worker
  of the fleet at a time: app/jobs/cron.py). `tick` gives every workspace a state row per
  runner, takes the rows that are due (`next_run_at` empty or past, no run queued) by setting a
  queue lease (`queued_until`) in one UPDATE, and queues `run_due(runner, workspace id)` on
  "low" for each. A job that is lost (Redis restarted, worker killed) is queued again once its
  lease passes.
* `run_due` asks the runner whether it may run (`enabled`: its plan module, its settings, its
  panel); if not, the state says why (`disabled_reason`, outcome `skipped`) and it is asked
  again after DISABLED_RECHECK. Otherwise the runner's function runs inside `runner_run`, which
  records the outcome: `ok`, `skipped` (the function answered {"state": "skipped"}) or `failed`
  (it raised, or answered {"state": "failed"}). A failure is logged with its traceback, kept in
  `last_error` in a short safe sentence and counted; `failing_since` stays until a run succeeds.
  `next_run_at` is the end of the run plus the runner's interval.
* Every panel call made inside a run has background priority (app/integrations/panels
  `panel_priority`): chat commands come first.

Correctness never rests on the scheduler: a runner may run twice at once (a "Run now" beside a
tick, two workers after a lease passed) and after a crash; each keeps its own claims in the
database (ticket messages answered, broadcast recipients sent).
"""
from __future__ import annotations

import importlib
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from app.extensions import db
from app.jobs import queues
from app.jobs.bulk import dialect_insert
from app.models import RunnerState, Workspace
from app.models.base import utcnow
from app.redaction import redact
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)

TICK_SECONDS = 5
#: a queued run not finished after this is queued again (its job was lost)
QUEUE_LEASE = timedelta(minutes=15)
#: a runner that may not run is asked again after this (a plan or settings change shows quickly)
DISABLED_RECHECK = timedelta(seconds=60)
#: how many due runs one tick queues at most (the next tick takes the rest)
TICK_BATCH = 500
ERROR_MAX = 500


@dataclass(frozen=True)
class Runner:
    """A runner: dotted paths of what it runs and asks, so importing this module imports none of
    them. `run(workspace_id) -> dict` (its summary; {"state": "skipped"|"failed", ...} says so),
    `enabled(workspace_id) -> str | None` (None: it may run; else why not, in words),
    `interval(workspace_id) -> int` seconds between runs."""

    name: str
    run: str
    enabled: str
    interval: str
    #: runs while the workspace is suspended or waits for its payment (housekeeping only)
    runs_when_paused: bool = False


RUNNERS: dict[str, Runner] = {
    "tickets": Runner("tickets", "app.jobs.tickets.poll_workspace",
                      "app.jobs.tickets.enabled_reason", "app.jobs.tickets.poll_interval"),
    "services": Runner("services", "app.jobs.services.run_refresh",
                       "app.jobs.services.enabled_reason", "app.jobs.services.refresh_interval"),
    "broadcasts": Runner("broadcasts", "app.jobs.broadcasts.run_workspace",
                         "app.jobs.broadcasts.enabled_reason", "app.jobs.broadcasts.interval"),
    "maintenance": Runner("maintenance", "app.jobs.maintenance.run_workspace",
                          "app.jobs.maintenance.enabled_reason", "app.jobs.maintenance.interval",
                          runs_when_paused=True),
    # what is wrong in the workspace, told to its managers once (app/health_checks.py)
    "health": Runner("health", "app.health_checks.run_workspace",
                     "app.health_checks.enabled_reason", "app.health_checks.interval",
                     runs_when_paused=True),
}


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --- the tick ----------------------------------------------------------------------------------

def ensure_states() -> int:
    """A state row for every (workspace, runner) that has none (new workspaces, new runners);
    returns how many were added. Safe beside another tick (ON CONFLICT DO NOTHING)."""
    have = set(db.session.execute(select(RunnerState.workspace_id, RunnerState.runner)).all())
    missing = [{"workspace_id": workspace_id, "runner": name, "enabled": False, "runs": 0,
                "failures": 0}
               for workspace_id in db.session.execute(select(Workspace.id)).scalars()
               for name in RUNNERS if (workspace_id, name) not in have]
    if missing:
        db.session.execute(_insert_ignoring_duplicates(missing))
        db.session.commit()
    return len(missing)


def _insert_ignoring_duplicates(rows: list[dict]):
    return dialect_insert(RunnerState.__table__).values(rows).on_conflict_do_nothing(
        index_elements=["workspace_id", "runner"])


def claim_due(limit: int = TICK_BATCH) -> list[tuple[int, str]]:
    """Take the due runs: set their queue lease in one statement (a second tick, in another
    worker, finds them leased) and answer [(workspace id, runner)]."""
    now = utcnow()
    due = (select(RunnerState.id)
           .where(RunnerState.runner.in_(list(RUNNERS)))
           .where(or_(RunnerState.next_run_at.is_(None), RunnerState.next_run_at <= now))
           .where(or_(RunnerState.queued_until.is_(None), RunnerState.queued_until < now))
           .order_by(RunnerState.next_run_at.asc().nulls_first(), RunnerState.id)
           .limit(limit).with_for_update(skip_locked=True))
    ids = list(db.session.execute(due).scalars())
    if not ids:
        db.session.rollback()
        return []
    rows = db.session.execute(
        update(RunnerState).where(RunnerState.id.in_(ids))
        .where(or_(RunnerState.queued_until.is_(None), RunnerState.queued_until < now))
        .values(queued_until=now + QUEUE_LEASE)
        .returning(RunnerState.workspace_id, RunnerState.runner)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return [(workspace_id, runner) for workspace_id, runner in rows]


def tick() -> int:
    """One pass of the runners' scheduler: returns how many runs were queued."""
    ensure_states()
    queued = 0
    for workspace_id, name in claim_due():
        if queues.enqueue_runner(name, workspace_id):
            queued += 1
        else:  # Redis said no: let the next tick try again
            _release(workspace_id, name)
    return queued


def _release(workspace_id: int, name: str) -> None:
    db.session.execute(update(RunnerState)
                       .where(and_(RunnerState.workspace_id == workspace_id,
                                   RunnerState.runner == name))
                       .values(queued_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def wake(workspace_id: int, name: str) -> bool:
    """Run `name` for the workspace now (a "Run now" button, a broadcast started): queued at
    once, whatever its next run said. False when it could not be queued (Redis down: the next
    tick runs it, since its next run is now)."""
    if name not in RUNNERS:
        return False
    _state(workspace_id, name)
    now = utcnow()
    db.session.execute(update(RunnerState)
                       .where(and_(RunnerState.workspace_id == workspace_id,
                                   RunnerState.runner == name))
                       .values(next_run_at=now, queued_until=now + QUEUE_LEASE)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    if queues.enqueue_runner(name, workspace_id):
        return True
    _release(workspace_id, name)
    return False


# --- a run -------------------------------------------------------------------------------------

def _state(workspace_id: int, name: str) -> RunnerState:
    state = db.session.execute(
        select(RunnerState).where(RunnerState.workspace_id == workspace_id,
                                  RunnerState.runner == name)
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if state is None:
        db.session.execute(_insert_ignoring_duplicates(
            [{"workspace_id": workspace_id, "runner": name, "enabled": False, "runs": 0,
              "failures": 0}]))
        db.session.commit()
        state = db.session.execute(
            select(RunnerState).where(RunnerState.workspace_id == workspace_id,
                                      RunnerState.runner == name)).scalar_one()
    return state


def paused_reason(workspace_id: int) -> str | None:
    """Why no runner but housekeeping runs for the workspace now (suspended, waiting for its
    payment), or None."""
    from flask_babel import gettext as _

    status = db.session.execute(select(Workspace.status).where(Workspace.id == workspace_id)
                                ).scalar_one_or_none()
    if status == "suspended":
        return _("The workspace is suspended.")
    if status == "pending":
        return _("The workspace waits for its first payment.")
    return None


def run_due(name: str, workspace_id: int) -> str | None:
    """The job `tick` and `wake` queue: run `name` for the workspace if it may run, and record
    how it went. Answers the outcome (None for an unknown runner or a deleted workspace)."""
    runner = RUNNERS.get(name)
    if runner is None:
        log.warning("unknown runner %r queued for workspace %s", name, workspace_id)
        return None
    if db.session.get(Workspace, workspace_id) is None:
        return None
    with workspace_scope(workspace_id):
        try:
            reason = None if runner.runs_when_paused else paused_reason(workspace_id)
            if reason is None:
                reason = _resolve(runner.enabled)(workspace_id)
        except Exception as exc:  # noqa: BLE001 - the gate itself failed: say so, like a run
            db.session.rollback()
            log.exception("runner %s of workspace %s: its gate failed", name, workspace_id)
            _finish(workspace_id, name, enabled=True, outcome="failed",
                    error=failure_text(exc), next_in=DISABLED_RECHECK)
            return "failed"
        if reason is not None:
            _finish(workspace_id, name, enabled=False, disabled_reason=str(reason)[:300],
                    next_in=DISABLED_RECHECK)
            return "skipped"
        interval = timedelta(seconds=max(1, int(_resolve(runner.interval)(workspace_id))))
        with runner_run(workspace_id, name, interval) as run:
            run.summary = _resolve(runner.run)(workspace_id)
        return run.outcome


class RunRecord:
    """What a run reports (its summary) and how it ended (filled in by `runner_run`)."""

    def __init__(self) -> None:
        self.summary: dict | None = None
        self.outcome: str | None = None
        self.error: str | None = None


@contextmanager
def runner_run(workspace_id: int, name: str, interval: timedelta):
    """Record one run of `name`: its duration, outcome, error and next run. The body sets
    `record.summary`. An exception inside is logged (traceback), recorded as `failed` and not
    raised further: the runner keeps saying so until a run succeeds."""
    from app.integrations.panels import panel_priority

    record = RunRecord()
    started = time.perf_counter()
    try:
        with panel_priority("background"):
            yield record
    except Exception as exc:  # noqa: BLE001 - recorded as the runner's failure, and logged
        db.session.rollback()
        log.exception("runner %s of workspace %s failed", name, workspace_id)
        record.outcome, record.error = "failed", failure_text(exc)
    else:
        summary = record.summary if isinstance(record.summary, dict) else {}
        state = summary.get("state")
        if state == "failed":
            record.outcome = "failed"
            record.error = str(summary.get("detail") or summary.get("error") or "failed")
            log.warning("runner %s of workspace %s failed: %s", name, workspace_id,
                        redact(record.error))
        else:
            record.outcome = "skipped" if state == "skipped" else "ok"
    _finish(workspace_id, name, enabled=True, outcome=record.outcome,
            error=record.error, summary=record.summary, next_in=interval,
            duration_ms=int((time.perf_counter() - started) * 1000))


def failure_text(exc: BaseException) -> str:
    """A short sentence of an exception for the state (secrets redacted, no traceback)."""
    detail = getattr(exc, "detail", None) or str(exc)
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return redact(text)[:ERROR_MAX]


def _finish(workspace_id: int, name: str, *, enabled: bool, next_in: timedelta,
            disabled_reason: str | None = None, outcome: str = "skipped",
            error: str | None = None, summary: dict | None = None,
            duration_ms: int | None = None) -> None:
    state = _state(workspace_id, name)
    now = utcnow()
    state.enabled = enabled
    state.disabled_reason = disabled_reason
    state.outcome = outcome
    state.queued_until = None
    state.next_run_at = now + next_in
    if not enabled:
        state.failing_since = None
        state.last_error = None
        state.summary = None
        db.session.commit()
        return
    state.last_run_at = now
    state.duration_ms = duration_ms
    state.runs = (state.runs or 0) + 1
    state.summary = _json_safe(summary)
    if outcome == "failed":
        state.failures = (state.failures or 0) + 1
        state.last_error = redact(error or "")[:ERROR_MAX] or None
        state.failing_since = state.failing_since or now
    else:
        state.last_error = None
        state.failing_since = None
    db.session.commit()


def _json_safe(summary: dict | None) -> dict | None:
    """The summary as stored: JSON types only, redacted strings, bounded lists."""
    if not isinstance(summary, dict):
        return None

    def clean(value, depth=0):
        if isinstance(value, dict) and depth < 4:
            return {str(k)[:60]: clean(v, depth + 1) for k, v in list(value.items())[:50]}
        if isinstance(value, list | tuple) and depth < 4:
            return [clean(v, depth + 1) for v in list(value)[:50]]
        if value is None or isinstance(value, bool | int | float):
            return value
        return redact(str(value))[:ERROR_MAX]

    return clean(summary)
