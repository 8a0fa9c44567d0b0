"""Activity charts (issue 15, point 5): what a workspace's bot did over the last days, for the
workspace's home page and, across every workspace, for the master admin's dashboard.

`activity(workspace_id, days=14, now=None)` → a dict that app/static/js/dashboard.js draws,
titles and labels translated:

* `commands`: commands per UTC day by outcome group (passed on, answered, refused, not
  understood, not linked, panel unavailable, other);
* `providers`: requests passed on per provider (accepted orders with a provider);
* `latency`: messages by the time from the webhook to the provider's message being sent
  (buckets: under 1 s, 1-5 s, 5-30 s, 30 s-5 min, longer);
* `refusals`: refused orders by reason (the eight most frequent);
* `channels`: messages received per channel.

`workspace_id=None` means every workspace (the master admin). Each chart is one GROUP BY over
the window on a (workspace, time) index.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, case, cast, func, select
from sqlalchemy import Date as SqlDate

from app.extensions import db
from app.models import Channel, CommandLog, CommandOrder, InboundEvent, OutboundMessage, Provider
from app.models.base import utcnow

DAYS = 14
TOP_REFUSALS = 8

OUTCOME_GROUPS = {
    "dispatched": "passed_on", "answered": "answered", "refused": "refused",
    "fallback": "not_understood", "no_ids": "not_understood", "asked": "not_understood",
    "not_linked": "not_linked", "panel_unavailable": "panel_unavailable",
}
GROUP_LABELS = {
    "passed_on": _l("Passed on"), "answered": _l("Answered"), "refused": _l("Refused"),
    "not_understood": _l("Not understood"), "not_linked": _l("Not linked"),
    "panel_unavailable": _l("Panel unavailable"), "other": _l("Other"),
}
REFUSAL_LABELS = {
    "not_linked": _l("Chat not linked"), "owner_unknown": _l("Owner unknown"),
    "not_owner": _l("Not the customer's order"), "status_unknown": _l("Status unknown"),
    "refill_not_completed": _l("Refill: order not completed"),
    "refill_partial_not_allowed": _l("Refill: partial order"),
    "refill_order_canceled": _l("Refill: order canceled"),
    "refill_disabled": _l("Refill: turned off"),
    "refill_not_covered": _l("Refill: service has none"),
    "refill_unknown_terms": _l("Refill: terms unknown"),
    "refill_date_unknown": _l("Refill: date unknown"),
    "refill_window_ended": _l("Refill: period ended"),
    "speed_not_running": _l("Speed-up: order not running"),
    "speed_disabled": _l("Speed-up: turned off"),
    "speed_nothing_remaining": _l("Speed-up: nothing remaining"),
    "speed_date_unknown": _l("Speed-up: date unknown"),
    "speed_start_time_not_passed": _l("Speed-up: too early"),
    "cancel_already_finished": _l("Cancel: already finished"),
    "cancel_disabled": _l("Cancel: turned off"),
    "order_not_found": _l("Order not found"), "provider_missing": _l("Provider unknown"),
    "route_missing": _l("No route to the provider"), "cooldown": _l("Asked recently"),
}
LATENCY_BUCKETS = ((1, _l("under 1 s")), (5, _l("1–5 s")), (30, _l("5–30 s")),
                   (300, _l("30 s–5 min")), (None, _l("longer")))


def _scoped(statement, model, workspace_id: int | None):
    return statement if workspace_id is None else statement.where(
        model.workspace_id == workspace_id)


def activity(workspace_id: int | None, days: int = DAYS, now: datetime | None = None) -> dict:
    now = now or utcnow()
    first_day = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time())
    day_list = [first_day + timedelta(days=n) for n in range(days)]
    return {"commands": _commands(workspace_id, since, day_list),
            "providers": _providers(workspace_id, since),
            "latency": _latency(workspace_id, since),
            "refusals": _refusals(workspace_id, since),
            "channels": _channels(workspace_id, since),
            "days": days}


def _sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _day(column):
    """The calendar day of a timestamp: a DATE on PostgreSQL; the text YYYY-MM-DD on SQLite
    (whose CAST to DATE gives a number), read back by `_commands`."""
    return func.date(column, type_=String) if _sqlite() else cast(column, SqlDate)


def _seconds_between(later, earlier):
    """`later - earlier` in seconds, in the database (SQLite has no interval type)."""
    if _sqlite():
        return (func.julianday(later) - func.julianday(earlier)) * 86400
    return func.extract("epoch", later - earlier)


def _commands(workspace_id, since, day_list: list[date]) -> dict:
    day = _day(CommandLog.created_at)
    rows = db.session.execute(_scoped(
        select(day, CommandLog.outcome, func.count()).where(CommandLog.created_at >= since)
        .group_by(day, CommandLog.outcome), CommandLog, workspace_id)).all()
    counts: dict[str, dict[date, int]] = {}
    for when, outcome, count in rows:
        when = when if isinstance(when, date) else date.fromisoformat(str(when)[:10])
        group = OUTCOME_GROUPS.get(outcome or "", "other")
        per_day = counts.setdefault(group, {})
        per_day[when] = per_day.get(when, 0) + count
    series = [{"key": key, "label": str(label),
               "counts": [counts[key].get(d, 0) for d in day_list]}
              for key, label in GROUP_LABELS.items() if key in counts]
    return {"title": _("Commands per day, by outcome"),
            "days": [d.isoformat() for d in day_list], "series": series}


def _providers(workspace_id, since) -> dict:
    rows = db.session.execute(_scoped(
        select(Provider.name, func.count()).select_from(CommandOrder)
        .join(Provider, Provider.id == CommandOrder.provider_id)
        .where(CommandOrder.created_at >= since, CommandOrder.ok.is_(True))
        .group_by(Provider.name).order_by(func.count().desc()).limit(12),
        CommandOrder, workspace_id)).all()
    return {"title": _("Requests passed on, by provider"), "label": _("Requests"),
            "names": [name for name, _count in rows], "counts": [c for _name, c in rows]}


def _latency(workspace_id, since) -> dict:
    seconds = _seconds_between(OutboundMessage.sent_at, InboundEvent.received_at)
    bucket = case(*[(seconds < limit, index) for index, (limit, _label)
                    in enumerate(LATENCY_BUCKETS) if limit is not None],
                  else_=len(LATENCY_BUCKETS) - 1)
    rows = db.session.execute(_scoped(
        select(bucket, func.count()).select_from(OutboundMessage)
        .join(InboundEvent, InboundEvent.id == OutboundMessage.inbound_event_id)
        .where(OutboundMessage.purpose == "dispatch", OutboundMessage.sent_at.isnot(None),
               OutboundMessage.created_at >= since)
        .group_by(bucket), OutboundMessage, workspace_id)).all()
    counts = dict(rows)
    return {"title": _("Time from the customer's message to the provider's"),
            "label": _("Requests"),
            "buckets": [str(label) for _limit, label in LATENCY_BUCKETS],
            "counts": [counts.get(index, 0) for index in range(len(LATENCY_BUCKETS))]}


def _refusals(workspace_id, since) -> dict:
    rows = db.session.execute(_scoped(
        select(CommandOrder.reason, func.count())
        .where(CommandOrder.created_at >= since, CommandOrder.ok.is_(False))
        .group_by(CommandOrder.reason).order_by(func.count().desc()).limit(TOP_REFUSALS),
        CommandOrder, workspace_id)).all()
    return {"title": _("Refusals, by reason"), "label": _("Orders"),
            "reasons": [str(REFUSAL_LABELS.get(reason, reason.replace("_", " ")))
                        for reason, _count in rows],
            "counts": [count for _reason, count in rows]}


def _channels(workspace_id, since) -> dict:
    rows = db.session.execute(_scoped(
        select(Channel.name, func.count()).select_from(InboundEvent)
        .join(Channel, Channel.id == InboundEvent.channel_id)
        .where(InboundEvent.received_at >= since, InboundEvent.kind == "message")
        .group_by(Channel.name).order_by(func.count().desc()).limit(12),
        InboundEvent, workspace_id)).all()
    return {"title": _("Messages received, by channel"), "label": _("Messages"),
            "names": [name for name, _count in rows], "counts": [c for _name, c in rows]}

