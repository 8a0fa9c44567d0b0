"""The health problems of a workspace as the health runner last saw them (app/health_checks.py).

One row per problem occurrence: opened when the runner first sees it, `cleared_at` set when its
cause is gone. While `cleared_at` is NULL the problem is open; a partial UNIQUE index allows one
open row per (workspace, code, subject) so two runs at once open it, and notify it, once. The
rows are also the workspace's in-app notices (the Health page lists the recent ones).
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, text

from app.models.base import WorkspaceOwned, utcnow

SEVERITIES = ("warning", "problem")


class HealthProblem(WorkspaceOwned, Model):
    __tablename__ = "health_problem"
    __table_args__ = (
        Index("uq_health_problem_open", "workspace_id", "code", "subject_key", unique=True,
              postgresql_where=text("cleared_at IS NULL"),
              sqlite_where=text("cleared_at IS NULL")),
        Index("ix_health_problem_workspace_opened", "workspace_id", "opened_at"),
    )

    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False)
    severity = Column(String(10), nullable=False, default="problem")
    #: what the problem is about, as a key ("channel:12", "panel", "queue") and in words
    subject_key = Column(String(80), nullable=False)
    subject = Column(String(200), nullable=False)
    #: what the words need (a Green API state, a runner's name...): message and fix are put
    #: into words when shown, in the reader's language
    params = Column(JSON, nullable=False, default=dict)
    link = Column(String(300), nullable=False)
    #: when the cause started (as far as the data says), when the runner saw it, when it cleared
    since = Column(DateTime, nullable=False, default=utcnow)
    opened_at = Column(DateTime, nullable=False, default=utcnow)
    cleared_at = Column(DateTime, nullable=True)
    #: the managers were told (in-app the row itself; these record the e-mails queued)
    opened_mailed = Column(Integer, nullable=False, default=0)
    cleared_mailed = Column(Integer, nullable=False, default=0)

    def __str__(self) -> str:
        return f"{self.code} {self.subject}"
