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

from app.domain.service_rules import parse_service_name
from app.extensions import db
from app.jobs.bulk import dialect_insert
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
    insert = dialect_insert(table)
    statement = insert.values(values)
    excluded = statement.excluded
    updates = {name: case((table.c.is_override.is_(True), table.c[name]),
                          else_=excluded[name]) for name in PARSED_COLUMNS}
    updates.update(service_name=excluded.service_name, fetched_at=excluded.fetched_at,
                   updated_at=excluded.updated_at)
    return statement.on_conflict_do_update(index_elements=["workspace_id", "service_id"],
                                           set_=updates)


# --- the services runner (app/jobs/runners.py) -------------------------------------------------

#: how often the runner refreshes a workspace's cached services
REFRESH_SECONDS = 6 * 3600
#: how many services of each kind of change the summary and the mail name (the rest are counted)
CHANGES_LISTED = 20


def enabled_reason(workspace_id: int) -> str | None:
    """Why the services runner does not run for the workspace (in words), or None."""
    from flask_babel import gettext as _

    connection = scoped_query(PanelConnection, workspace_id).one_or_none()
    if connection is None:
        return _("No panel is connected.")
    if connection.service_rules_mode != "cached":
        return _("Service rules are read from service names: nothing to refresh.")
    refusal = module_refusal(plan_of(workspace_id), "service_cache")
    return None if refusal is None else str(refusal.message)


def refresh_interval(_workspace_id: int) -> int:
    return REFRESH_SECONDS


def _terms(name: str | None) -> tuple:
    terms = parse_service_name(name)
    return terms.refill_kind, terms.refill_days, terms.start_max_minutes


def _known(workspace_id: int) -> dict[str, tuple]:
    """service id → (name, fetched_at) of the workspace's services as the panel gave them."""
    return {service_id: (name, fetched_at) for service_id, name, fetched_at in db.session.execute(
        select(ServiceRule.service_id, ServiceRule.service_name, ServiceRule.fetched_at)
        .where(ServiceRule.workspace_id == workspace_id))}


def service_changes(before: dict[str, tuple], after: dict[str, tuple], started) -> dict:
    """What a refresh changed: services the panel lists for the first time, services it listed
    at the previous refresh and no longer does, and services renamed so that the rules read
    from their names changed (refill, refill days, start time). Each as a list of at most
    CHANGES_LISTED entries and a count."""
    last_refresh = max((at for _name, at in before.values() if at is not None), default=None)
    new = sorted(service_id for service_id in after if service_id not in before)
    removed = sorted(
        service_id for service_id, (_name, at) in before.items()
        if last_refresh is not None and at == last_refresh
        and (after.get(service_id, (None, None))[1] or started) < started)
    changed = []
    for service_id in sorted(set(before) & set(after)):
        old_name, new_name = before[service_id][0], after[service_id][0]
        if old_name != new_name and _terms(old_name) != _terms(new_name):
            changed.append({"id": service_id, "was": old_name or "", "now": new_name or ""})
    return {"new": [{"id": i, "name": after[i][0] or ""} for i in new[:CHANGES_LISTED]],
            "new_count": len(new),
            "removed": [{"id": i, "name": before[i][0] or ""} for i in removed[:CHANGES_LISTED]],
            "removed_count": len(removed),
            "rules_changed": changed[:CHANGES_LISTED], "rules_changed_count": len(changed)}


def run_refresh(workspace_id: int) -> dict:
    """The services runner: refresh the cached services and tell the managers what changed
    (the summary on Logs › Runners; a mail when something changed since an earlier refresh)."""
    before = _known(workspace_id)
    started = utcnow()
    result = refresh_services(workspace_id)
    if result.get("state") != "ok":
        return result
    changes = service_changes(before, _known(workspace_id), started)
    result.update(changes, first_fill=not any(at for _name, at in before.values()))
    if not result["first_fill"] and (changes["new_count"] or changes["removed_count"]
                                     or changes["rules_changed_count"]):
        _mail_changes(workspace_id, changes)
    return result


def change_lines(changes: dict) -> list[str]:
    """The changes in words, one line each (the mail's body and the Runners screen)."""
    from flask_babel import gettext as _

    lines = []
    for item in changes.get("new") or ():
        lines.append(_("New: %(id)s %(name)s", id=item["id"], name=item["name"]))
    for item in changes.get("removed") or ():
        lines.append(_("No longer listed: %(id)s %(name)s", id=item["id"], name=item["name"]))
    for item in changes.get("rules_changed") or ():
        lines.append(_("Renamed, rules changed: %(id)s \"%(was)s\" → \"%(now)s\"",
                       id=item["id"], was=item["was"], now=item["now"]))
    listed = sum(len(changes.get(key) or ()) for key in ("new", "removed", "rules_changed"))
    total = sum(changes.get(key) or 0 for key in ("new_count", "removed_count",
                                                  "rules_changed_count"))
    if total > listed:
        lines.append(_("…and %(count)d more.", count=total - listed))
    return lines


def _mail_changes(workspace_id: int, changes: dict) -> None:
    from flask_babel import force_locale

    from app.billing_mail import language_of, mail_managers, public_url
    from app.models import Workspace

    workspace = db.session.get(Workspace, workspace_id)
    with force_locale(language_of(workspace)):
        text = "\n".join(change_lines(changes))
    mail_managers(workspace, "services_changed", changes=text,
                  new=changes["new_count"], removed=changes["removed_count"],
                  changed=changes["rules_changed_count"],
                  link=public_url("/serviceruleview/list/"))
