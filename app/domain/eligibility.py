"""May this chat ask for this action on this order? One verdict, with a reason for every refusal.

Contract
--------
`check(action, order, terms, *, linked_username, now, options=WorkspaceOptions(),
is_admin=False, force=False) -> Verdict` for `action` in `ORDER_ACTIONS`
(`refill`, `speed`, `cancel`, `details`); `check_refill`, `check_speed`, `check_cancel`,
`check_details` take the same arguments. `Verdict.reason` is `"ok"` or a stable machine key
from `REFUSAL_REASONS`; `Verdict.detail` holds plain values for the reply (days left, …).

Rules, checked in this order (the first failing rule is the reason). Facts of the service
that can never change come before facts of the order's status, which may: a pending order of a
service without refill hears "no refill", not "wait until it is completed".
1. Ownership first, for every action: the chat's linked username must equal the order's
   username, trimmed and case-insensitive (`not_linked`, `owner_unknown`, `not_owner`).
   An admin identity (`is_admin`) speaks for the panel and skips this rule.
2. The service: refill allowed (`refill_disabled`, a workspace rule) and covered (`none` →
   `refill_not_covered`), a `window` not ended when the creation date is known
   (`refill_window_ended`); speed allowed (`speed_disabled`); cancel allowed
   (`cancel_disabled`).
3. The order status, normalised by `normalise_status`, must be known (`status_unknown`).
4. refill: status `completed` (canceled: `refill_order_canceled`; running:
   `refill_not_completed`; `partial` only with `options.allow_partial_refill`:
   `refill_partial_not_allowed`); then terms we could not read (`unknown`, or a window without
   days → `refill_unknown_terms`); `lifetime` has no window; a `window` needs the creation date
   (`refill_date_unknown`). The window is measured from `order.created_at` to
   `order.panel_now` when the panel gives its clock, else to `now`; the last instant of the
   window still counts.
   speed: status `pending`/`in_progress`/`processing` (`speed_not_running`), `remains` > 0
   when the panel reports it (`speed_nothing_remaining`), and the expected start time
   (`terms.start_max_minutes`, else `options.default_start_minutes`; none → no wait) has
   passed since creation (`speed_start_time_not_passed`, `speed_date_unknown`).
   cancel: status not `completed`, `partial` or `canceled` (`cancel_already_finished`).
   details: ownership only.
5. `force` counts only with `is_admin`. It overrides the refusals that come from the service's
   terms or the clock (`FORCEABLE_REASONS`), never ownership, an unknown status or the status
   rules; a forced verdict is ok with `detail["forced"]` listing what was overridden.

Datetimes may be naive (read as UTC, the project's storage convention) or aware; adapters must
convert panel-local times (or give `panel_now` in the same clock as `created_at`). Cooldowns
are not decided here (they are a database claim). Pure: no Flask, no database, no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.domain.service_rules import ServiceTerms
from app.domain.text import fold

ORDER_ACTIONS: tuple[str, ...] = ("refill", "speed", "cancel", "details")


class OrderStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    CANCELED = "canceled"
    UNKNOWN = "unknown"


RUNNING_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.IN_PROGRESS,
                              OrderStatus.PROCESSING})
FINISHED_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.PARTIAL,
                               OrderStatus.CANCELED})

_STATUS_WORDS: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,
    "inprogress": OrderStatus.IN_PROGRESS,
    "processing": OrderStatus.PROCESSING,
    "completed": OrderStatus.COMPLETED,
    "complete": OrderStatus.COMPLETED,
    "partial": OrderStatus.PARTIAL,
    "partiallycompleted": OrderStatus.PARTIAL,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
}

OK = "ok"
NOT_LINKED = "not_linked"
OWNER_UNKNOWN = "owner_unknown"
NOT_OWNER = "not_owner"
STATUS_UNKNOWN = "status_unknown"
REFILL_NOT_COMPLETED = "refill_not_completed"
REFILL_PARTIAL_NOT_ALLOWED = "refill_partial_not_allowed"
REFILL_ORDER_CANCELED = "refill_order_canceled"
REFILL_DISABLED = "refill_disabled"
REFILL_NOT_COVERED = "refill_not_covered"
REFILL_UNKNOWN_TERMS = "refill_unknown_terms"
REFILL_DATE_UNKNOWN = "refill_date_unknown"
REFILL_WINDOW_ENDED = "refill_window_ended"
SPEED_NOT_RUNNING = "speed_not_running"
SPEED_DISABLED = "speed_disabled"
SPEED_NOTHING_REMAINING = "speed_nothing_remaining"
SPEED_DATE_UNKNOWN = "speed_date_unknown"
SPEED_START_TIME_NOT_PASSED = "speed_start_time_not_passed"
CANCEL_ALREADY_FINISHED = "cancel_already_finished"
CANCEL_DISABLED = "cancel_disabled"

REFUSAL_REASONS: frozenset[str] = frozenset({
    NOT_LINKED, OWNER_UNKNOWN, NOT_OWNER, STATUS_UNKNOWN,
    REFILL_NOT_COMPLETED, REFILL_PARTIAL_NOT_ALLOWED, REFILL_ORDER_CANCELED, REFILL_DISABLED,
    REFILL_NOT_COVERED, REFILL_UNKNOWN_TERMS, REFILL_DATE_UNKNOWN, REFILL_WINDOW_ENDED,
    SPEED_NOT_RUNNING, SPEED_DISABLED, SPEED_NOTHING_REMAINING, SPEED_DATE_UNKNOWN,
    SPEED_START_TIME_NOT_PASSED, CANCEL_ALREADY_FINISHED, CANCEL_DISABLED,
})
# Refusals an admin may override with `force`: they come from service terms or the clock.
FORCEABLE_REASONS: frozenset[str] = frozenset({
    REFILL_PARTIAL_NOT_ALLOWED, REFILL_DISABLED, REFILL_NOT_COVERED, REFILL_UNKNOWN_TERMS,
    REFILL_DATE_UNKNOWN, REFILL_WINDOW_ENDED, SPEED_DISABLED, SPEED_DATE_UNKNOWN,
    SPEED_START_TIME_NOT_PASSED, CANCEL_DISABLED,
})


@dataclass(frozen=True)
class Order:
    """An order as a panel adapter reports it (strings and numbers already parsed)."""

    id: str
    username: str | None
    status: str
    service_name: str | None = None
    service_id: str | None = None
    created_at: datetime | None = None
    remains: int | None = None
    start_count: int | None = None
    provider: str | None = None
    external_id: str | None = None
    panel_now: datetime | None = None  # the panel's clock when it answered (Rental Panel)


@dataclass(frozen=True)
class WorkspaceOptions:
    allow_partial_refill: bool = False
    # expected start when the service states none; None: speed may be asked at once
    default_start_minutes: int | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def normalise_status(value: str | int | None, status_name: str | None = None) -> OrderStatus:
    """Map any panel spelling of an order status to `OrderStatus`.

    Accepts `Pending`, `In progress` (`in_progress`, `In Progress`, `inprogress`), `Processing`,
    `Completed`, `Partial`, `Canceled`/`Cancelled`, any case, and a numeric status with its
    `status_name` (`2`, `"Completed"`): the name wins. A number without a name, or a word not
    listed, is `OrderStatus.UNKNOWN` (numeric codes are not documented).
    """
    for candidate in (status_name, value):
        if candidate is None or isinstance(candidate, bool):
            continue
        key = re.sub(r"[^a-z]", "", fold(str(candidate)))
        if key in _STATUS_WORDS:
            return _STATUS_WORDS[key]
        if key == "unknown":
            return OrderStatus.UNKNOWN
    return OrderStatus.UNKNOWN


def same_username(a: str | None, b: str | None) -> bool:
    """Usernames match when equal after trimming, case-insensitively (both must be given)."""
    if a is None or b is None or not a.strip() or not b.strip():
        return False
    return a.strip().casefold() == b.strip().casefold()


def check_owner(order: Order, linked_username: str | None, *, is_admin: bool = False) -> Verdict:
    """Ownership alone: an admin identity, or the chat's linked username owns the order."""
    if is_admin:
        return Verdict(True, OK, {"as_admin": True})
    if linked_username is None or not linked_username.strip():
        return Verdict(False, NOT_LINKED)
    if order.username is None or not order.username.strip():
        return Verdict(False, OWNER_UNKNOWN)
    if not same_username(order.username, linked_username):
        return Verdict(False, NOT_OWNER)
    return Verdict(True, OK)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def reference_clock(order: Order, now: datetime) -> tuple[datetime, str]:
    """The clock windows are measured on: the panel's when it gave one, else ours."""
    if order.panel_now is not None:
        return _utc(order.panel_now), "panel"
    return _utc(now), "server"


def _age(order: Order, now: datetime) -> tuple[timedelta | None, str]:
    reference, clock = reference_clock(order, now)
    if order.created_at is None:
        return None, clock
    return max(reference - _utc(order.created_at), timedelta(0)), clock


class _Decision:
    """Collects forceable refusals when an admin forces, else stops at the first refusal."""

    def __init__(self, forcing: bool) -> None:
        self.forcing = forcing
        self.overridden: list[str] = []

    def refuse(self, reason: str, **detail: Any) -> Verdict | None:
        if self.forcing and reason in FORCEABLE_REASONS:
            self.overridden.append(reason)
            return None
        return Verdict(False, reason, detail)

    def accept(self, **detail: Any) -> Verdict:
        if self.overridden:
            detail["forced"] = list(self.overridden)
        return Verdict(True, OK, detail)


def _status(order: Order) -> tuple[Verdict | None, OrderStatus]:
    status = normalise_status(order.status)
    if status is OrderStatus.UNKNOWN:
        return Verdict(False, STATUS_UNKNOWN, {"status": str(order.status)}), status
    return None, status


def check_refill(
    order: Order, terms: ServiceTerms, *, linked_username: str | None, now: datetime,
    options: WorkspaceOptions = WorkspaceOptions(), is_admin: bool = False, force: bool = False,
) -> Verdict:
    """Refill eligibility (rules in the module docstring)."""
    owner = check_owner(order, linked_username, is_admin=is_admin)
    if not owner.ok:
        return owner
    decision = _Decision(force and is_admin)
    # what the service says can never change: it answers before the status, which may
    if not terms.allow_refill and (v := decision.refuse(REFILL_DISABLED)) is not None:
        return v
    if terms.refill_kind == "none":
        if (v := decision.refuse(REFILL_NOT_COVERED)) is not None:
            return v
    window = timedelta(days=terms.refill_days) if (terms.refill_kind == "window"
                                                   and terms.refill_days) else None
    age, clock = _age(order, now)
    if window is not None and age is not None and age > window:
        ended = age - window
        v = decision.refuse(REFILL_WINDOW_ENDED, window_days=terms.refill_days, clock=clock,
                            ended_days_ago=ended.days,
                            ended_hours_ago=int(ended.total_seconds() // 3600))
        if v is not None:
            return v
    refused, status = _status(order)
    if refused:
        return refused
    if status is OrderStatus.CANCELED:
        return Verdict(False, REFILL_ORDER_CANCELED, {"status": status.value})
    if status in RUNNING_STATUSES:
        return Verdict(False, REFILL_NOT_COMPLETED, {"status": status.value})
    if status is OrderStatus.PARTIAL and not options.allow_partial_refill:
        if (v := decision.refuse(REFILL_PARTIAL_NOT_ALLOWED, status=status.value)) is not None:
            return v
    if terms.refill_kind not in ("window", "lifetime", "none") or (
        terms.refill_kind == "window" and not terms.refill_days
    ):
        if (v := decision.refuse(REFILL_UNKNOWN_TERMS, doubt=terms.doubt)) is not None:
            return v
    if terms.refill_kind == "lifetime":
        return decision.accept(refill_kind="lifetime")
    if window is None:
        return decision.accept(refill_kind=terms.refill_kind)
    if age is None:
        v = decision.refuse(REFILL_DATE_UNKNOWN, window_days=terms.refill_days)
        return v if v is not None else decision.accept(refill_kind="window",
                                                       window_days=terms.refill_days)
    if age > window:  # forced past the end of the window
        return decision.accept(refill_kind="window", window_days=terms.refill_days, clock=clock)
    left = window - age
    return decision.accept(refill_kind="window", window_days=terms.refill_days, clock=clock,
                           days_left=left.days, hours_left=int(left.total_seconds() // 3600))


def check_speed(
    order: Order, terms: ServiceTerms, *, linked_username: str | None, now: datetime,
    options: WorkspaceOptions = WorkspaceOptions(), is_admin: bool = False, force: bool = False,
) -> Verdict:
    """Speed-up eligibility (rules in the module docstring)."""
    owner = check_owner(order, linked_username, is_admin=is_admin)
    if not owner.ok:
        return owner
    decision = _Decision(force and is_admin)
    if not terms.allow_speed and (v := decision.refuse(SPEED_DISABLED)) is not None:
        return v
    refused, status = _status(order)
    if refused:
        return refused
    if status not in RUNNING_STATUSES:
        return Verdict(False, SPEED_NOT_RUNNING, {"status": status.value})
    if order.remains is not None and order.remains <= 0:
        return Verdict(False, SPEED_NOTHING_REMAINING, {"remains": order.remains})
    start = terms.start_max_minutes
    if start is None:
        start = options.default_start_minutes
    if start is None:
        return decision.accept(status=status.value)
    age, clock = _age(order, now)
    if age is None:
        v = decision.refuse(SPEED_DATE_UNKNOWN, start_max_minutes=start)
        return v if v is not None else decision.accept(status=status.value)
    expected = timedelta(minutes=start)
    if age < expected:
        wait = expected - age
        v = decision.refuse(SPEED_START_TIME_NOT_PASSED, start_max_minutes=start, clock=clock,
                            minutes_left=max(1, -(-int(wait.total_seconds()) // 60)))
        if v is not None:
            return v
    return decision.accept(status=status.value, clock=clock)


def check_cancel(
    order: Order, terms: ServiceTerms, *, linked_username: str | None, now: datetime,
    options: WorkspaceOptions = WorkspaceOptions(), is_admin: bool = False, force: bool = False,
) -> Verdict:
    """Cancel eligibility (rules in the module docstring)."""
    owner = check_owner(order, linked_username, is_admin=is_admin)
    if not owner.ok:
        return owner
    decision = _Decision(force and is_admin)
    if not terms.allow_cancel and (v := decision.refuse(CANCEL_DISABLED)) is not None:
        return v
    refused, status = _status(order)
    if refused:
        return refused
    if status in FINISHED_STATUSES:
        return Verdict(False, CANCEL_ALREADY_FINISHED, {"status": status.value})
    return decision.accept(status=status.value)


def check_details(
    order: Order, terms: ServiceTerms | None = None, *, linked_username: str | None,
    now: datetime | None = None, options: WorkspaceOptions = WorkspaceOptions(),
    is_admin: bool = False, force: bool = False,
) -> Verdict:
    """Details are shown to the order's owner (or an admin) whatever the status."""
    owner = check_owner(order, linked_username, is_admin=is_admin)
    if not owner.ok:
        return owner
    return Verdict(True, OK, {"status": normalise_status(order.status).value})


_CHECKS: dict[str, Callable[..., Verdict]] = {
    "refill": check_refill,
    "speed": check_speed,
    "cancel": check_cancel,
    "details": check_details,
}


def check(
    action: str, order: Order, terms: ServiceTerms, *, linked_username: str | None,
    now: datetime, options: WorkspaceOptions = WorkspaceOptions(), is_admin: bool = False,
    force: bool = False,
) -> Verdict:
    """Eligibility of `order` for `action` (one of `ORDER_ACTIONS`).

    :raise ValueError: if `action` is not an order action (balance, help … need no order).
    """
    try:
        rule = _CHECKS[action]
    except KeyError:
        raise ValueError(f"{action!r} is not an order action") from None
    return rule(order, terms, linked_username=linked_username, now=now, options=options,
                is_admin=is_admin, force=force)
