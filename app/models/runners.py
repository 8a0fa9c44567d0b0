"""Runners' state (what each scheduled runner of a workspace did last and does next) and the
health snapshots the maintenance runner keeps for the dashboards.

Both are activity, not configuration: the runners write them (app/jobs/runners.py,
app/jobs/maintenance.py); people only read them.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Boolean, Column, DateTime, Integer, String, Text,
                        UniqueConstraint, Index)

from app.models.base import WorkspaceOwned, code_column, utcnow

#: the runners a workspace has (app/jobs/runners.py RUNNERS names them, in this order)
RUNNER_NAMES = ("tickets", "broadcasts", "services", "maintenance", "health")
#: `ok`: the last run did its work; `failed`: it raised (kept until a run succeeds);
#: `skipped`: it could not run (disabled by the plan or the settings, or nothing to run against)
RUNNER_OUTCOMES = ("ok", "failed", "skipped")


class RunnerState(WorkspaceOwned, Model):
    """One row per (workspace, runner): when it ran, how it went and when it runs next."""

    __tablename__ = "runner_state"
    __table_args__ = (
        UniqueConstraint("workspace_id", "runner", name="uq_runner_state"),
        Index("ix_runner_state_next", "next_run_at"),
    )

    id = Column(Integer, primary_key=True)
    runner = code_column(RUNNER_NAMES, "runner_name")
    enabled = Column(Boolean, nullable=False, default=False)
    #: why it does not run (the plan's sentence, "disabled in the settings"...), None when enabled
    disabled_reason = Column(String(300), nullable=True)
    last_run_at = Column(DateTime, nullable=True)
    duration_ms = Column(Integer, nullable=True)
    outcome = code_column(RUNNER_OUTCOMES, "runner_outcome", nullable=True)
    #: a short, customer-safe sentence (the traceback goes to the worker's log)
    last_error = Column(Text, nullable=True)
    #: when the last failure started (a failure "keeps saying so" until a run succeeds)
    failing_since = Column(DateTime, nullable=True)
    #: the last run's figures and notes (what changed, how many were sent...)
    summary = Column(JSON, nullable=True)
    next_run_at = Column(DateTime, nullable=True)
    #: a run was handed to the queue and has not finished: the tick leaves it alone until then
    queued_until = Column(DateTime, nullable=True)
    runs = Column(Integer, nullable=False, default=0)
    failures = Column(Integer, nullable=False, default=0)

    def __str__(self) -> str:
        return self.runner


class HealthSnapshot(WorkspaceOwned, Model):
    """What a workspace's traffic looked like over one period (the maintenance runner takes one
    an hour): the dashboards' history, kept as long as the plan keeps logs."""

    __tablename__ = "health_snapshot"
    __table_args__ = (
        UniqueConstraint("workspace_id", "period_start", name="uq_health_snapshot_period"),
    )

    id = Column(Integer, primary_key=True)
    period_start = Column(DateTime, nullable=False)
    period_end = Column(DateTime, nullable=False)
    events_received = Column(Integer, nullable=False, default=0)
    events_failed = Column(Integer, nullable=False, default=0)
    commands = Column(Integer, nullable=False, default=0)
    commands_dispatched = Column(Integer, nullable=False, default=0)
    messages_sent = Column(Integer, nullable=False, default=0)
    messages_failed = Column(Integer, nullable=False, default=0)
    panel_calls = Column(Integer, nullable=False, default=0)
    panel_errors = Column(Integer, nullable=False, default=0)
    #: events and messages still waiting when the snapshot was taken
    backlog = Column(Integer, nullable=False, default=0)
    taken_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d %H:%M}"
