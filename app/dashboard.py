"""The figures a SaaS owner looks at first (the master admin's dashboard, app/views/dashboard.py).

`dashboard_figures(now)` reads them all, across every workspace, from the database (and the
failed-job count from RQ through app/jobs/queues.py):

* active workspaces (status `active`);
* MRR, per currency: the monthly-equivalent price of every `active` subscription (its agreed
  `amount_cents`; a yearly one counts a twelfth), summed exactly and rounded half-up to the
  currency's minor unit once, at the end; also per plan and currency, for the chart;
* new sign-ups in the last 7 and 30 days (workspaces created then), and per UTC day over the
  last 30 days, for the chart (days without one count 0);
* payments waiting for the master admin's approval (`payment_submission` rows `pending`);
* active subscriptions whose current period ends within the next 7 days (renewals due: each
  needs a payment, or ends);
* failed jobs (None when Redis does not answer).

Amounts stay in minor units here; the screen and the API say them as money.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.jobs import queues
from app.models import PaymentSubmission, Plan, Subscription, Workspace

EXPIRING_DAYS = 7
SIGNUP_DAYS = 30


@dataclass(frozen=True)
class PlanRevenue:
    plan_id: int
    plan_code: str
    plan_name: str
    currency: str
    amount_cents: int


@dataclass
class DashboardFigures:
    now: datetime  # naive UTC, as the models store times
    active_workspaces: int = 0
    mrr: dict[str, int] = field(default_factory=dict)  # currency → minor units a month
    mrr_by_plan: list[PlanRevenue] = field(default_factory=list)
    signups_7_days: int = 0
    signups_30_days: int = 0
    signups_per_day: list[tuple[date, int]] = field(default_factory=list)
    pending_approvals: int = 0
    expiring_subscriptions: int = 0
    failed_jobs: int | None = None  # None: Redis does not answer

    @property
    def expiring_until(self) -> datetime:
        return self.now + timedelta(days=EXPIRING_DAYS)

    def signups_since(self, days: int) -> datetime:
        return self.now - timedelta(days=days)


def monthly_equivalent(amount_cents: int, interval: str) -> Decimal:
    """A price's share of one month, in minor units (not rounded): a year counts 1/12."""
    amount = Decimal(amount_cents or 0)
    return amount / 12 if interval == "year" else amount


def _rounded(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def revenue() -> tuple[dict[str, int], list[PlanRevenue]]:
    """MRR per currency, and per plan and currency (largest first), of the active
    subscriptions."""
    rows = db.session.execute(
        select(Subscription.plan_id, Plan.code, Plan.name, Subscription.currency,
               Subscription.interval, func.sum(Subscription.amount_cents))
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.status == "active")
        .group_by(Subscription.plan_id, Plan.code, Plan.name, Subscription.currency,
                  Subscription.interval))
    per_currency: dict[str, Decimal] = {}
    per_plan: dict[tuple[int, str, str, str], Decimal] = {}
    for plan_id, code, name, currency, interval, total in rows:
        share = monthly_equivalent(total or 0, interval)
        per_currency[currency] = per_currency.get(currency, Decimal(0)) + share
        key = (plan_id, code, name, currency)
        per_plan[key] = per_plan.get(key, Decimal(0)) + share
    mrr = {currency: _rounded(amount) for currency, amount in sorted(per_currency.items())}
    by_plan = [PlanRevenue(plan_id, code, name, currency, _rounded(amount))
               for (plan_id, code, name, currency), amount in per_plan.items()]
    by_plan.sort(key=lambda r: (r.currency, -r.amount_cents, r.plan_name))
    return mrr, by_plan


def signups_per_day(now: datetime, days: int = SIGNUP_DAYS) -> list[tuple[date, int]]:
    """(UTC day, workspaces created that day) for the last `days` days, today included."""
    first = (now - timedelta(days=days - 1)).date()
    start = datetime.combine(first, datetime.min.time())
    counts: dict[date, int] = {}
    for (created,) in db.session.execute(select(Workspace.created_at)
                                         .where(Workspace.created_at >= start)):
        counts[created.date()] = counts.get(created.date(), 0) + 1
    return [(first + timedelta(days=n), counts.get(first + timedelta(days=n), 0))
            for n in range(days)]


def _count(query) -> int:
    return db.session.execute(query).scalar() or 0


def dashboard_figures(now: datetime) -> DashboardFigures:
    """Every figure of the dashboard at `now` (naive UTC)."""
    figures = DashboardFigures(now=now)
    figures.active_workspaces = _count(select(func.count(Workspace.id))
                                       .where(Workspace.status == "active"))
    figures.mrr, figures.mrr_by_plan = revenue()
    figures.signups_7_days = _count(select(func.count(Workspace.id))
                                    .where(Workspace.created_at >= figures.signups_since(7)))
    figures.signups_30_days = _count(select(func.count(Workspace.id))
                                     .where(Workspace.created_at >= figures.signups_since(30)))
    figures.signups_per_day = signups_per_day(now)
    figures.pending_approvals = _count(select(func.count(PaymentSubmission.id))
                                       .where(PaymentSubmission.status == "pending"))
    figures.expiring_subscriptions = _count(
        select(func.count(Subscription.id))
        .where(Subscription.status == "active", Subscription.current_period_end > now,
               Subscription.current_period_end < figures.expiring_until))
    figures.failed_jobs = queues.failed_job_count()
    return figures
