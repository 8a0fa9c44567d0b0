"""The sign-up journey's rules, apart from its pages (app/signup/views.py).

Contract
--------
* `register(...)`: a new address gets an inactive login (role workspace manager, username =
  the e-mail address, the password policy of app/auth/passwords.py) and the `signup_confirm`
  mail; an address whose login is still unconfirmed gets its password and name replaced and a
  fresh link (every earlier link stops working); an address that already has an account gets
  the `signup_existing` mail ("sign in / reset"). The page answers the same in all three cases
  (no account enumeration), after the same work (a password is hashed in each). Commits.
* `confirm(pending)`: activates the login, creates the workspace — `pending`, with its settings
  row (the `after_insert` listener of app/models/settings.py that every workspace creation
  goes through, the master admin's screen included) — and makes the person its manager. Commits.
* `public_plans()`, `currencies(plans)`, `default_currency(plans)`, `price_of(...)`,
  `plan_features(plan)`: what the plan page shows.
* `choose(workspace, form values)`: the plan step — checks the plan (public), the currency and
  the billing period, stores the panel engine, then app/billing.py `choose_plan`.
  :raise ChoiceRefused: with a message per field. Does not commit.
"""
from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections import Counter

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from werkzeug.security import generate_password_hash

from app.auth.limits import LoginLimits, request_limits
from app.billing import choose_plan, subscription_of
from app.extensions import db
from app.mail_templates import queue_mail
from app.models import PanelConnection, Plan, PlanPrice, Workspace, WorkspaceMember
from app.models.billing import BILLING_INTERVALS, PLAN_LIMITS
from app.models.panel import PANEL_TYPES
from app.security import MEMBER_ROLE_TO_FAB
from app.signup import links
from app.validation import CURRENCIES, SLUG_RE

log = logging.getLogger(__name__)

#: the engines a person may pick at sign-up (the demo panel is for demonstrations)
SIGNUP_PANEL_TYPES = tuple(t for t in PANEL_TYPES if t != "demo")
SLUG_MAX = 64


# --- the workspace's address ---------------------------------------------------------------------

def slugify(name: str) -> str:
    """A slug from a workspace name: ASCII letters and digits joined by hyphens ("Acme SMM!" →
    "acme-smm"); "workspace" when nothing is left (a name in Arabic or Cyrillic letters)."""
    ascii_text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:SLUG_MAX].strip("-")
    return slug or "workspace"


def slug_taken(slug: str) -> bool:
    with db.session.no_autoflush:
        return db.session.execute(
            select(Workspace.id).where(Workspace.slug == slug)).first() is not None


def free_slug(slug: str) -> str:
    """`slug` when nobody has it, else the first free `slug-2`, `slug-3`..."""
    if not slug_taken(slug):
        return slug
    for number in range(2, 10_000):
        suffix = f"-{number}"
        candidate = slug[:SLUG_MAX - len(suffix)].rstrip("-") + suffix
        if not slug_taken(candidate):
            return candidate
    return f"{slug[:40]}-{secrets.token_hex(4)}"


def valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.match(slug or ""))


# --- registering ---------------------------------------------------------------------------------

def signup_limits(app) -> LoginLimits:
    """Sign-up requests per e-mail address and per client address (Redis, apart from the
    sign-in and "Forgot your password?" limits; SIGNUP_* settings)."""
    return request_limits(app, "signup", "SIGNUP")


def _login_with_address(email: str):
    user = current_app.appbuilder.sm.user_model
    return db.session.query(user).filter(
        or_(func.lower(user.email) == email, func.lower(user.username) == email)).first()


def unconfirmed(user) -> bool:
    """A login made by a sign-up that was never confirmed: inactive, never signed in, in no
    workspace (a suspended member is inactive too, but has a workspace)."""
    if user.active or user.login_count or user.last_login is not None:
        return False
    return db.session.query(WorkspaceMember.id).filter_by(user_id=user.id).first() is None


def _names(full_name: str, email: str) -> tuple[str, str]:
    first, _, last = (full_name or "").strip().partition(" ")
    return (first or email.split("@")[0])[:64], last.strip()[:64]


def register(*, full_name: str, email: str, password: str, workspace_name: str, slug: str,
             language: str) -> str:
    """Record a sign-up and queue its mail; returns what happened ("new", "again",
    "existing", or "failed" when a concurrent sign-up took the address), which the page never
    tells. Commits."""
    sm = current_app.appbuilder.sm
    email = email.strip().lower()
    existing = _login_with_address(email)
    if existing is not None and not unconfirmed(existing):
        generate_password_hash(password)  # the same work as the other answers
        db.session.rollback()
        base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
        queue_mail("signup_existing", existing.email or email, language,
                   name=existing.first_name or existing.username,
                   login_link=base + url_for("AuthDBView.login"),
                   reset_link=base + url_for("PasswordLinkView.forgot"))
        return "existing"
    first, last = _names(full_name, email)
    if existing is None:
        user = sm.add_user(email, first, last, email, sm.find_role(MEMBER_ROLE_TO_FAB["manager"]),
                           password=password, commit=False)
        if not user:  # FAB logged why and rolled back (another request took the address)
            log.warning("a sign-up's login could not be created")
            return "failed"
        user.active = False
        outcome = "new"
    else:
        user = existing
        user.first_name, user.last_name = first, last
        user.password = generate_password_hash(password)  # every earlier link stops working
        outcome = "again"
    db.session.commit()
    token = links.make_token(user, workspace_name, slug, language)
    queue_mail("signup_confirm", email, language, name=first, link=links.link_for(token),
               hours=links.lifetime_hours())
    return outcome


def send_again(pending: links.Pending) -> None:
    """A fresh link for an unconfirmed sign-up (its old link expired), to its own address."""
    user = pending.user
    token = links.make_token(user, pending.workspace_name, pending.slug, pending.language)
    queue_mail("signup_confirm", user.email, pending.language,
               name=user.first_name or user.username, link=links.link_for(token),
               hours=links.lifetime_hours())


def confirm(pending: links.Pending) -> Workspace:
    """Activate the login and create its workspace (waiting for a plan) with the person as its
    manager. A slug taken since the sign-up gets a free variant. Commits."""
    user = pending.user
    user.active = True
    workspace = Workspace(name=pending.workspace_name, slug=free_slug(pending.slug),
                          language=pending.language, status="pending")
    db.session.add(workspace)
    db.session.flush()  # the settings row is inserted with it (app/models/settings.py)
    db.session.add(WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role="manager"))
    db.session.commit()
    return workspace


# --- plans ---------------------------------------------------------------------------------------

class ChoiceRefused(ValueError):
    """The plan form's values cannot be used; `problems` maps a field to its message."""

    def __init__(self, problems: dict):
        super().__init__("; ".join(str(m) for m in problems.values()))
        self.problems = problems


def public_plans() -> list[Plan]:
    return list(db.session.execute(
        select(Plan).where(Plan.is_public.is_(True)).order_by(Plan.sort_order, Plan.id)
    ).scalars())


def currencies(plans: list[Plan]) -> list[str]:
    return sorted({price.currency for plan in plans for price in plan.prices})


def default_currency(plans: list[Plan]) -> str | None:
    """The currency most public plans have prices in; among equals, the one the master admin
    priced first (the oldest price row: the platform's main currency)."""
    counts = Counter(currency for plan in plans
                     for currency in {price.currency for price in plan.prices})
    if not counts:
        return None
    best = max(counts.values())
    first_priced = {}
    for price in sorted((p for plan in plans for p in plan.prices), key=lambda p: p.id or 0):
        first_priced.setdefault(price.currency, price.id or 0)
    return min((currency for currency, count in counts.items() if count == best),
               key=lambda currency: first_priced[currency])


def price_of(plan: Plan, currency: str, interval: str) -> PlanPrice | None:
    return next((p for p in plan.prices if p.currency == currency and p.interval == interval),
                None)


def is_free(plan: Plan, currency: str) -> bool:
    prices = [p for p in plan.prices if p.currency == currency]
    return bool(prices) and all(not p.amount_cents for p in prices)


def plan_features(plan: Plan) -> dict:
    """What the plan includes, as words: its channel platforms, its modules and its limits
    (label, the number in the reader's notation or "Unlimited")."""
    from app.labels import code_label
    from app.views.admin import PlanView, unlimited

    labels = PlanView.label_columns
    return {
        "mediums": [str(code_label("channel_kind", code)) for code in plan.medium_list],
        "modules": [str(code_label("plan_module", code)) for code in plan.module_list],
        "limits": [(str(labels.get(name, name)), str(unlimited(getattr(plan, name))))
                   for name in PLAN_LIMITS],
    }


NOT_OFFERED = _l("Choose one of the plans shown.")
NO_SUCH_CURRENCY = _l("Choose one of the currencies shown.")
NO_PRICE = _l("This plan has no price in this currency for this billing period: choose "
              "another currency or period.")
BAD_INTERVAL = _l("Choose monthly or yearly.")
BAD_PANEL = _l("Choose one of the panel engines shown, or “I do not know yet”.")


def choose(workspace: Workspace, *, plan_id, currency, interval, panel_type,
           method: str = "manual"):
    """The plan step: the checks, the panel engine, then `choose_plan`. Returns (subscription,
    price). Does not commit.

    :raise ChoiceRefused: a plan that is not public, a currency no plan is priced in, a period
        that is neither month nor year, a plan without that price, an unknown panel engine.
    """
    problems = {}
    plans = {str(plan.id): plan for plan in public_plans()}
    plan = plans.get(str(plan_id or ""))
    if plan is None:
        problems["plan"] = NOT_OFFERED
    if currency not in CURRENCIES or currency not in currencies(list(plans.values())):
        problems["currency"] = NO_SUCH_CURRENCY
    if interval not in BILLING_INTERVALS:
        problems["interval"] = BAD_INTERVAL
    if panel_type and panel_type not in SIGNUP_PANEL_TYPES:
        problems["panel_type"] = BAD_PANEL
    price = price_of(plan, currency, interval) if not problems else None
    if price is None and not problems:
        problems["plan"] = NO_PRICE
    if problems:
        raise ChoiceRefused(problems)
    remember_panel_type(workspace, panel_type)
    return choose_plan(workspace, price, method), price


def remember_panel_type(workspace: Workspace, panel_type: str | None) -> None:
    """Decision: the engine chosen at sign-up is stored where it is used, on the workspace's
    panel connection (without a URL yet: the home checklist asks for it); none is made for
    "I do not know yet"."""
    if not panel_type:
        return
    connection = db.session.execute(select(PanelConnection).where(
        PanelConnection.workspace_id == workspace.id)).scalar_one_or_none()
    if connection is None:
        db.session.add(PanelConnection(workspace_id=workspace.id, panel_type=panel_type, url=""))
    elif not connection.url:
        connection.panel_type = panel_type


def panel_type_of(workspace: Workspace) -> str:
    connection = db.session.execute(select(PanelConnection).where(
        PanelConnection.workspace_id == workspace.id)).scalar_one_or_none()
    return connection.panel_type if connection is not None else ""


def current_price(subscription) -> PlanPrice | None:
    """The plan price a subscription was chosen at (plan, currency, billing period)."""
    return db.session.execute(select(PlanPrice).where(
        PlanPrice.plan_id == subscription.plan_id, PlanPrice.currency == subscription.currency,
        PlanPrice.interval == subscription.interval)).scalar_one_or_none()


__all__ = ["ChoiceRefused", "SIGNUP_PANEL_TYPES", "choose", "confirm", "currencies",
           "current_price", "default_currency", "free_slug", "is_free", "panel_type_of",
           "plan_features", "price_of", "public_plans", "register", "send_again",
           "signup_limits", "slug_taken", "slugify", "subscription_of", "unconfirmed",
           "valid_slug"]
