"""What a workspace's plan allows, in one place: the default plans, and every limit check.

Contract
--------
* `ensure_default_plans()` creates the plans of `DEFAULT_PLANS` whose code does not exist yet
  (`flask init`); it never changes an existing plan, so the master admin's edits stay.
* `plan_of(workspace)`: the workspace's plan, or None (no plan: nothing is limited — the
  master admin's own and legacy workspaces).
* `allows_medium(workspace, kind)`, `has_module(workspace, module)`.
* `limit_of(workspace, name)`: a limit of `PLAN_LIMITS` (None: unlimited).
* `check_room(workspace, name, adding=1)`: raises `PlanLimitReached` when `adding` more would
  pass the limit `name` (counted by `COUNTERS` from the database, now, after locking the
  workspace's row until the caller's transaction ends: `lock_workspace`); `check_medium` raises
  `PlanExcludes` for a medium the plan does not allow, `check_module` for a module.
  Both are `PlanRefusal`s: their `message` names the plan and the limit, in the reader's
  language; screens show it, the REST API answers 403 with it. `room_refusal`,
  `medium_refusal` and `module_refusal` answer the same for a given plan and count without
  raising or reading the database (the workspace file judges the plan the file names).
* Where each check is called: docs/ARCHITECTURE.md "Plan enforcement". None of them flushes the
  session.

Everything is read from the plan when it is checked, so a plan change applies at once to the
workspaces on it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.labels import code_label
from app.models import Channel, LinkedUser, Plan, PlanPrice, Workspace
from app.models.billing import PLAN_LIMITS, PLAN_MEDIUMS


@dataclass(frozen=True)
class DefaultPlan:
    code: str
    name: str
    description: str
    modules: tuple[str, ...]
    limits: dict  # PLAN_LIMITS name → number or None (unlimited)
    prices: dict  # (currency, interval) → cents
    sort_order: int


def _prices(usd: int, eur: int, inr: int) -> dict:
    """Monthly prices in whole units; a year costs ten months."""
    return {(currency, interval): amount * 100 * (10 if interval == "year" else 1)
            for currency, amount in (("USD", usd), ("EUR", eur), ("INR", inr))
            for interval in ("month", "year")}


DEFAULT_PLANS: tuple[DefaultPlan, ...] = (
    DefaultPlan("free", "Free", "One channel to try Relaydesk.", ("api",),
                {"max_channels": 1, "max_linked_users": 100, "max_team_members": 2,
                 "max_broadcasts_per_month": 0, "log_retention_days": 7,
                 "api_requests_per_minute": 30, "api_requests_per_day": 1000},
                _prices(0, 0, 0), 0),
    DefaultPlan("starter", "Starter", "A small panel: two channels, cached service rules.",
                ("api", "service_cache"),
                {"max_channels": 2, "max_linked_users": 1000, "max_team_members": 5,
                 "max_broadcasts_per_month": 0, "log_retention_days": 30,
                 "api_requests_per_minute": 60, "api_requests_per_day": 10000},
                _prices(19, 18, 1500), 1),
    DefaultPlan("pro", "Pro", "A busy panel: ticket workflow and broadcasts.",
                ("api", "service_cache", "tickets", "broadcasts", "inbox", "marketing"),
                {"max_channels": 5, "max_linked_users": 10000, "max_team_members": 20,
                 "max_broadcasts_per_month": 30, "log_retention_days": 90,
                 "api_requests_per_minute": 120, "api_requests_per_day": 50000},
                _prices(49, 45, 3900), 2),
    DefaultPlan("enterprise", "Enterprise", "No limits.",
                ("api", "service_cache", "tickets", "broadcasts", "inbox", "marketing"),
                {"max_channels": None, "max_linked_users": None, "max_team_members": None,
                 "max_broadcasts_per_month": None, "log_retention_days": 365,
                 "api_requests_per_minute": 300, "api_requests_per_day": None},
                _prices(149, 139, 11900), 3),
)


def ensure_default_plans() -> list[str]:
    """Create the default plans that do not exist yet (by code); returns the codes created.
    Existing plans, edited or not, are left as they are. Commits."""
    existing = {code for (code,) in db.session.query(Plan.code)}
    created = []
    for default in DEFAULT_PLANS:
        if default.code in existing:
            continue
        plan = Plan(code=default.code, name=default.name, description=default.description,
                    mediums=",".join(PLAN_MEDIUMS), modules=",".join(default.modules),
                    sort_order=default.sort_order, is_public=True, **default.limits)
        plan.prices = [PlanPrice(currency=currency, interval=interval, amount_cents=cents)
                       for (currency, interval), cents in default.prices.items()]
        db.session.add(plan)
        created.append(default.code)
    db.session.commit()
    return created


# --- checks -----------------------------------------------------------------------------------

def _team_members(workspace_id: int) -> int:
    from app.models import WorkspaceMember

    return db.session.query(WorkspaceMember).filter_by(workspace_id=workspace_id).count()


#: how each limit is counted now (the limits that are rates are counted where they apply:
#: API requests by app/security's rate limit, broadcasts by their runner)
COUNTERS: dict[str, Callable[[int], int]] = {
    "max_channels": lambda ws: db.session.query(Channel).filter_by(workspace_id=ws).count(),
    "max_linked_users": lambda ws: db.session.query(LinkedUser)
    .filter_by(workspace_id=ws).count(),
    "max_team_members": _team_members,
}

LIMIT_NAMES = {
    "max_channels": _l("channels"),
    "max_linked_users": _l("linked users and contacts"),
    "max_team_members": _l("team members"),
    "max_broadcasts_per_month": _l("broadcasts a month"),
    "log_retention_days": _l("days of logs"),
    "api_requests_per_minute": _l("API requests a minute"),
    "api_requests_per_day": _l("API requests a day"),
}
MODULE_NAMES = {
    "tickets": _l("the ticket workflow"), "broadcasts": _l("broadcasts"),
    "service_cache": _l("cached service rules"), "api": _l("the REST API"),
    "inbox": _l("the inbox"), "marketing": _l("marketing"),
}


class PlanRefusal(Exception):
    """What the plan does not allow; `message` names the plan and the limit. The facts stay on
    the exception (`plan`, `limit_name`, `limit`, `used`, `kind`, `module`) for a trace or a log
    that is read later in another language."""

    status = 403

    def __init__(self, message, *, plan: str = "", limit_name: str | None = None,
                 limit: int | None = None, used: int | None = None, kind: str | None = None,
                 module: str | None = None):
        super().__init__(message)
        self.plan = plan
        self.limit_name = limit_name
        self.limit = limit
        self.used = used
        self.kind = kind
        self.module = module

    @property
    def message(self) -> str:
        return str(self.args[0])


class PlanLimitReached(PlanRefusal):
    pass


class PlanExcludes(PlanRefusal):
    pass


def plan_of(workspace) -> Plan | None:
    """The workspace's plan (a Workspace or its id), or None. Never flushes: a check runs
    while the row it judges may sit half-made (or half-moved) in the session."""
    with db.session.no_autoflush:
        if not isinstance(workspace, Workspace):
            workspace = db.session.get(Workspace, workspace)
        return workspace.plan if workspace is not None else None


def _workspace_id(workspace) -> int:
    return workspace.id if isinstance(workspace, Workspace) else int(workspace)


def limit_of(workspace, name: str) -> int | None:
    if name not in PLAN_LIMITS:
        raise ValueError(f"{name!r} is not a plan limit")
    plan = plan_of(workspace)
    return getattr(plan, name) if plan is not None else None


def allows_medium(workspace, kind: str) -> bool:
    plan = plan_of(workspace)
    return plan is None or kind in plan.medium_list


def has_module(workspace, module: str) -> bool:
    plan = plan_of(workspace)
    return plan is None or module in plan.module_list


def lock_workspace(workspace) -> None:
    """Hold the workspace's row until the transaction ends (`FOR NO KEY UPDATE` on
    PostgreSQL; SQLite writes one transaction at a time anyway), so that two adds counting
    the same limit run one after the other: the second counts what the first added. Rows
    referencing the workspace (webhooks' events, say) are not held up: their foreign-key
    check takes `FOR KEY SHARE`, which this lock lets through. Never flushes."""
    with db.session.no_autoflush:
        db.session.execute(select(Workspace.id).where(Workspace.id == _workspace_id(workspace))
                           .with_for_update(key_share=True))


def limit_message(plan_name: str, name: str, limit: int, used: int):
    """The sentence of a limit reached, in the reader's language (lazy). Worded so that no
    noun has to agree with the number ("allows 1 channels")."""
    return _l("The %(plan)s plan's limit of %(what)s is %(limit)s, and this workspace has "
              "%(used)s. Choose a larger plan to add more.", plan=plan_name, limit=limit,
              what=LIMIT_NAMES[name], used=used)


def room_refusal(plan: Plan | None, name: str, used: int,
                 adding: int = 1) -> PlanLimitReached | None:
    """The refusal of adding `adding` more of `name` to `used` under `plan` (None: fits)."""
    limit = getattr(plan, name) if plan is not None else None
    if limit is None or used + adding <= limit:
        return None
    return PlanLimitReached(limit_message(plan.name, name, limit, used), plan=plan.name,
                            limit_name=name, limit=limit, used=used)


def medium_refusal(plan: Plan | None, kind: str) -> PlanExcludes | None:
    if plan is None or kind in plan.medium_list:
        return None
    return PlanExcludes(_l("The %(plan)s plan does not include %(medium)s channels.",
                           plan=plan.name, medium=code_label("channel_kind", kind)),
                        plan=plan.name, kind=kind)


def module_refusal(plan: Plan | None, module: str) -> PlanExcludes | None:
    if plan is None or module in plan.module_list:
        return None
    return PlanExcludes(_l("The %(plan)s plan does not include %(module)s.",
                           plan=plan.name, module=MODULE_NAMES[module]),
                        plan=plan.name, module=module)


def count_of(workspace, name: str) -> int:
    """How many of `name` the workspace has now (`COUNTERS`; never flushes)."""
    with db.session.no_autoflush:
        return COUNTERS[name](_workspace_id(workspace))


def check_room(workspace, name: str, adding: int = 1) -> None:
    """Raise PlanLimitReached when `adding` more of `name` would pass the plan's limit.

    When the plan limits `name`, the workspace's row is locked first (`lock_workspace`) and
    stays locked until the caller's transaction ends: the caller adds its rows in the same
    transaction, so concurrent adds at the limit cannot both pass."""
    if limit_of(workspace, name) is None:
        return
    lock_workspace(workspace)
    refusal = room_refusal(plan_of(workspace), name, count_of(workspace, name), adding)
    if refusal is not None:
        raise refusal


def check_medium(workspace, kind: str) -> None:
    refusal = medium_refusal(plan_of(workspace), kind)
    if refusal is not None:
        raise refusal


def check_module(workspace, module: str) -> None:
    refusal = module_refusal(plan_of(workspace), module)
    if refusal is not None:
        raise refusal
