"""Liveness and readiness (docs/contracts.md "Set-up and processes").

`/healthz` touches nothing: the process answers, so it is alive. `/readyz` answers 200 only when
the database and Redis both answer, 503 otherwise, with a per-dependency report and no secrets.
"""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, redis_connection

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@health_bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis()}
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), (200 if ready else 503)


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # noqa: BLE001 - the report says "down"; details go to the log
        db.session.rollback()
        return "down"


def _check_redis() -> str:
    try:
        return "ok" if redis_connection().ping() else "down"
    except Exception:  # noqa: BLE001
        return "down"
