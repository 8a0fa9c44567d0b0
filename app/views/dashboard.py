"""Master admin › Dashboard (the master admin's landing page) and `GET /api/v1/dashboard`.

The figures are app/dashboard.py's. Each tile links to the screen that lists what it counts,
filtered to those rows (active workspaces, active subscriptions, recent sign-ups, pending
payments, subscriptions ending soon, failed jobs): the screen is looked up at run time among
the registered screens the master admin may open (`list_url`), so a screen registered later
(the payment approvals) is linked without editing this module, and a tile whose screen does
not exist has no link.

The charts (sign-ups per day, MRR by plan) are drawn by Chart.js, served from
app/static/vendor/chartjs/ (`make vendor`); the page hands their data to
app/static/js/dashboard.js as a `<script type="application/json">` block, so no script is
built from text and the Content Security Policy needs no exception.
"""
from __future__ import annotations

from flask import url_for
from flask_appbuilder import BaseView, ModelView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterGreater, FilterSmaller
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext as _

from app.activity import activity
from app.dashboard import EXPIRING_DAYS, DashboardFigures, dashboard_figures
from app.models import PaymentSubmission, Subscription, Workspace
from app.models.base import utcnow
from app.money import from_minor, money_text
from app.views.base import MasterAdminApi


def list_url(model, *filters) -> str | None:
    """The list screen of `model` the signed-in person may open (the master admin's own
    screens first), with `filters` as FAB list filters: (column, FAB filter class, value).
    None when there is no such screen, or it cannot filter by one of those columns."""
    from flask import current_app

    appbuilder = current_app.appbuilder
    views = [v for v in appbuilder.baseviews if isinstance(v, ModelView)
             and v.datamodel.obj is model
             and appbuilder.sm.has_access("can_list", v.class_permission_name)]
    views.sort(key=lambda v: bool(getattr(v, "relaydesk_roles", None)))  # admin screens first
    for view in views:
        args = {}
        searchable = view._filters.get_search_filters()  # noqa: SLF001 - FAB's filter index
        for column, kind, value in filters:
            index = next((n for n, f in enumerate(searchable.get(column, ()))
                          if type(f) is kind), None)
            if index is None:
                break
            args[f"_flt_{index}_{column}"] = value
        else:
            return url_for(f"{view.endpoint}.list", **args)
    return None


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def tiles(figures: DashboardFigures) -> list[dict]:
    """The tiles, in reading order: key, title, the figure as text, a note, the screen."""
    mrr = [money_text(amount, currency) for currency, amount in figures.mrr.items()]
    failed = figures.failed_jobs
    since_7, since_30 = _stamp(figures.signups_since(7)), _stamp(figures.signups_since(30))
    return [
        {"key": "active_workspaces", "title": _("Active workspaces"),
         "value": str(figures.active_workspaces), "note": None,
         "url": list_url(Workspace, ("status", FilterEqual, "active"))},
        {"key": "mrr", "title": _("Monthly recurring revenue"),
         "value": " · ".join(mrr) if mrr else "0", "values": mrr,
         "note": _("Every active subscription's monthly share; a yearly price counts a "
                   "twelfth."),
         "url": list_url(Subscription, ("status", FilterEqual, "active"))},
        {"key": "signups_7_days", "title": _("New sign-ups, last 7 days"),
         "value": str(figures.signups_7_days), "note": None,
         "url": list_url(Workspace, ("created_at", FilterGreater, since_7))},
        {"key": "signups_30_days", "title": _("New sign-ups, last 30 days"),
         "value": str(figures.signups_30_days), "note": None,
         "url": list_url(Workspace, ("created_at", FilterGreater, since_30))},
        {"key": "pending_approvals", "title": _("Payments waiting for approval"),
         "value": str(figures.pending_approvals), "note": None,
         "url": list_url(PaymentSubmission, ("status", FilterEqual, "pending"))},
        {"key": "expiring_subscriptions",
         "title": _("Subscriptions ending within %(days)d days", days=EXPIRING_DAYS),
         "value": str(figures.expiring_subscriptions), "note": None,
         "url": list_url(Subscription, ("status", FilterEqual, "active"),
                         ("current_period_end", FilterGreater, _stamp(figures.now)),
                         ("current_period_end", FilterSmaller,
                          _stamp(figures.expiring_until)))},
        {"key": "failed_jobs", "title": _("Failed jobs"),
         "value": "—" if failed is None else str(failed),
         "note": _("Redis does not answer.") if failed is None else None,
         "url": url_for("RuntimeView.index")},
    ]


def chart_data(figures: DashboardFigures) -> dict:
    """What dashboard.js draws: the sign-ups per day and MRR per plan (one series per
    currency, in the currency's units), with their translated titles."""
    currencies = sorted({r.currency for r in figures.mrr_by_plan})
    plans = list(dict.fromkeys(r.plan_name for r in figures.mrr_by_plan))
    amounts = {(r.plan_name, r.currency): r.amount_cents for r in figures.mrr_by_plan}
    return {
        "signups": {"title": _("Sign-ups per day, last 30 days"),
                    "label": _("Sign-ups"),
                    "days": [day.isoformat() for day, _count in figures.signups_per_day],
                    "counts": [count for _day, count in figures.signups_per_day]},
        "mrr": {"title": _("Monthly recurring revenue by plan"),
                "plans": plans,
                "series": [{"currency": currency,
                            "amounts": [float(from_minor(amounts.get((plan, currency), 0),
                                                         currency)) for plan in plans]}
                           for currency in currencies]},
    }


def as_json(figures: DashboardFigures) -> dict:
    """The JSON twin's answer (amounts in minor units, with their currency)."""
    return {
        "active_workspaces": figures.active_workspaces,
        "mrr": [{"currency": currency, "amount_cents": amount}
                for currency, amount in figures.mrr.items()],
        "mrr_by_plan": [{"plan": {"id": r.plan_id, "code": r.plan_code, "label": r.plan_name},
                         "currency": r.currency, "amount_cents": r.amount_cents}
                        for r in figures.mrr_by_plan],
        "signups": {"last_7_days": figures.signups_7_days,
                    "last_30_days": figures.signups_30_days,
                    "per_day": [{"date": day.isoformat(), "count": count}
                                for day, count in figures.signups_per_day]},
        "pending_approvals": figures.pending_approvals,
        "expiring_subscriptions": figures.expiring_subscriptions,
        "failed_jobs": figures.failed_jobs,
    }


class DashboardView(BaseView):
    """What the platform's owner looks at first; `/` brings the master admin here."""

    route_base = "/dashboard"
    default_view = "index"
    relaydesk_roles: dict = {}
    method_permission_name = {"index": "show"}

    @expose("/")
    @has_access
    def index(self):
        figures = dashboard_figures(utcnow())
        return self.render_template("relaydesk/dashboard.html", tiles=tiles(figures),
                                    charts=chart_data(figures), activity=activity(None))


class DashboardApi(MasterAdminApi):
    """`GET /api/v1/dashboard`: the dashboard's figures, the master admin's only (JWT,
    X-API-Key or the browser session; others 403)."""

    resource_name = "dashboard"
    route_base = "/api/v1/dashboard"

    @expose("", methods=["GET"])
    @protect()
    def get(self):
        """The figures of the master admin's dashboard.
        ---
        get:
          description: Active workspaces, MRR per currency and per plan (minor units),
            sign-ups, pending payment approvals, subscriptions ending soon, failed jobs
            (null when Redis does not answer). Master admin only.
          responses:
            200:
              description: The figures.
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self.response(200, **as_json(dashboard_figures(utcnow())))
