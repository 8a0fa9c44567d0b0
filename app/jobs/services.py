"""The services cache (`service_rules: cached`): the panel's services list as ServiceRule rows.

`refresh_services(workspace_id)` fetches the services through the workspace's panel adapter and
upserts one `ServiceRule` per service id in one statement per UPSERT_BATCH rows (safe against a
concurrent refresh): the panel's `refill`/`cancel` flags (`panel_refill`/`panel_cancel`), what
the name parser read (`refill_kind`, `refill_days`, `start_minutes_max`, `recognised`) and
`fetched_at`. A row the workspace overrode (`is_override`) keeps everything except its
`service_name` and `fetched_at`. Services the panel no longer lists are left as they are (old
orders still name them).

Queued by `app.jobs.queues.enqueue_services_refresh(workspace_id)`.
Returns a summary dict; panel failures are returned too (`state: "failed"`), not raised, so a
manager's "refresh now" can show them.
"""
from __future__ import annotations

import logging

from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite

from app.domain.service_rules import parse_service_name
from app.extensions import db
from app.integrations.panels.base import PanelError, PanelService
from app.integrations.panels import panel_priority
from app.integrations.panels.registry import adapter_for
from app.models import PanelConnection, ServiceRule
from app.models.base import utcnow
from app.plans import module_refusal, plan_of
from app.tenancy import scoped_query, workspace_scope

log = logging.getLogger(__name__)

UPSERT_BATCH = 500
# Parsed columns an override keeps; service_name and fetched_at are always refreshed.
PARSED_COLUMNS = ("refill_kind", "refill_days", "start_minutes_max", "recognised",
                  "panel_refill", "panel_cancel")


def refresh_services(workspace_id: int) -> dict:
    """Fetch the workspace panel's services into its ServiceRule rows (cached mode only).

    Returns {"state": "ok", "fetched", "created", "updated", "overrides_kept"}, or
    {"state": "skipped", "reason"} (no panel, not in cached mode; `reason` "plan" with the
    plan's sentence as `detail` when the workspace's plan lacks the `service_cache` module:
    the panel is not asked), or {"state": "failed", "error": PanelError.kind, "detail"}.
    """
    with workspace_scope(workspace_id):
        connection = scoped_query(PanelConnection, workspace_id).one_or_none()
        if connection is None:
            return {"state": "skipped", "reason": "no panel connection"}
        if connection.service_rules_mode != "cached":
            return {"state": "skipped", "reason": "service rules come from names"}
        refusal = module_refusal(plan_of(workspace_id), "service_cache")
        if refusal is not None:  # queued before a plan change, or by hand
            log.info("services refresh of workspace %s refused: %s", workspace_id,
                     refusal.message)
            return {"state": "skipped", "reason": "plan", "detail": refusal.message}
        try:
            with panel_priority("background"):  # chat commands go first (the panel budget)
                services = adapter_for(connection).services()
        except PanelError as exc:
            log.warning("services refresh of workspace %s failed: %s", workspace_id, exc)
            return {"state": "failed", "error": exc.kind, "detail": exc.detail}
        return store_services(workspace_id, services)


def store_services(workspace_id: int, services: list[PanelService]) -> dict:
    """Upsert the services as ServiceRule rows of the workspace (see the module docstring)."""
    now = utcnow()
    rows = {}
    for service in services:
        service_id = (service.id or "").strip()[:64]
        if service_id:
            rows[service_id] = _row(workspace_id, service_id, service, now)  # last one wins
    existing = dict(db.session.execute(
        select(ServiceRule.service_id, ServiceRule.is_override)
        .where(ServiceRule.workspace_id == workspace_id)).all())
    values = list(rows.values())
    for start in range(0, len(values), UPSERT_BATCH):
        db.session.execute(_upsert(values[start:start + UPSERT_BATCH]))
    db.session.commit()
    return {"state": "ok", "fetched": len(rows),
            "created": sum(1 for key in rows if key not in existing),
            "updated": sum(1 for key in rows if key in existing and not existing[key]),
            "overrides_kept": sum(1 for key in rows if existing.get(key))}


def _row(workspace_id: int, service_id: str, service: PanelService, now) -> dict:
    terms = parse_service_name(service.name)
    recognised = "; ".join(terms.recognised) or (f"({terms.doubt})" if terms.doubt else "")
    return {"workspace_id": workspace_id, "service_id": service_id,
            "service_name": (service.name or "")[:500] or None,
            "refill_kind": terms.refill_kind, "refill_days": terms.refill_days,
            "start_minutes_max": terms.start_max_minutes, "recognised": recognised[:500] or None,
            "panel_refill": service.refill, "panel_cancel": service.cancel, "fetched_at": now,
            "allow_refill": True, "allow_speed": True, "allow_cancel": True,
            "is_override": False, "created_at": now, "updated_at": now}


def _upsert(values: list[dict]):
    table = ServiceRule.__table__
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = insert.values(values)
    excluded = statement.excluded
    updates = {name: case((table.c.is_override.is_(True), table.c[name]),
                          else_=excluded[name]) for name in PARSED_COLUMNS}
    updates.update(service_name=excluded.service_name, fetched_at=excluded.fetched_at,
                   updated_at=excluded.updated_at)
    return statement.on_conflict_do_update(index_elements=["workspace_id", "service_id"],
                                           set_=updates)
