"""The sign-up pages (blueprint `signup`, under /signup/): plain Flask views in the app's
layout. What they decide is app/signup/journey.py's; how a sign-up pays,
app/signup/payments.py's.

| URL | what |
|---|---|
| `GET/POST /signup/` | the form; always "check your mail" once it is valid (429 when limited) |
| `GET /signup/confirm/<token>` | confirms, signs in, → plan step (404 forged, 410 old/used) |
| `POST /signup/confirm/<token>/again` | a fresh link for an expired one |
| `GET/POST /signup/plan` | the public plans in a currency, the billing period, the panel engine |
| `GET/POST /signup/pay` | manual methods (reference form), card gateways' buttons |
| `POST /signup/pay/<gateway>` | → the gateway's payment page |
| `GET /signup/stripe/success` | back from Stripe Checkout → the status page |
| `GET /signup/status` | waiting for approval / for the gateway; a rejection and its note |
"""
from __future__ import annotations

import logging
from urllib.parse import urljoin

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from sqlalchemy import select

from app.auth.limits import client_address, format_wait
from app.auth.password_links import LinkInvalid
from app.billing import BillingRefused, choose_plan, subscription_of
from app.extensions import db
from app.labels import code_label
from app.models import PaymentMethod, PaymentSubmission, Workspace
from app.money import from_minor, parse_amount, to_minor
from app.redaction import flash
from app.signup import journey, links, payments
from app.signup.forms import PaymentForm, PlanForm, ResendForm, SignupForm
from app.tenancy import current_scope

log = logging.getLogger(__name__)

signup_bp = Blueprint("signup", __name__, url_prefix="/signup")

LINK_PROBLEMS = {
    "expired": (410, _l("This confirmation link has expired.")),
    "used": (410, _l("This confirmation link was already used or replaced by a newer one.")),
    "invalid": (404, _l("This confirmation link is not valid: check that it was copied "
                        "completely.")),
}


def _page(template: str, status: int = 200, headers: dict | None = None, **context):
    appbuilder = current_app.appbuilder
    body = render_template(template, appbuilder=appbuilder,
                           base_template=appbuilder.base_template, **context)
    return body, status, headers or {}


def _enabled() -> bool:
    return bool(current_app.config.get("SIGNUP_ENABLED", True))


# --- 1. the form ---------------------------------------------------------------------------------

@signup_bp.route("/", methods=["GET", "POST"])
def start():
    """:raise 429: too many sign-ups for the address or from the client."""
    title = gettext("Create your account")
    if not _enabled():
        return _page("signup/closed.html", title=title)
    if current_user.is_authenticated:
        return redirect(url_for("signup.status"))
    form = SignupForm()
    if request.method == "POST" and form.validate():
        email = form.email.data.lower()
        limits = journey.signup_limits(current_app)
        address = client_address()
        wait = limits.retry_after(email, address)
        if wait:
            form.email.errors = [gettext("Too many requests. Try again in %(time)s.",
                                         time=format_wait(wait))]
            return _page("signup/form.html", 429, {"Retry-After": str(wait)}, title=title,
                         form=form)
        limits.failed(email, address)  # every sign-up counts
        slug = form.slug.data or journey.free_slug(journey.slugify(form.workspace_name.data))
        journey.register(full_name=form.full_name.data, email=email,
                         password=form.password.data, workspace_name=form.workspace_name.data,
                         slug=slug, language=form.language.data)
        return _page("signup/check_mail.html", title=gettext("Check your mail"), email=email,
                     hours=links.lifetime_hours())
    return _page("signup/form.html", title=title, form=form)


# --- 2. the confirmation -------------------------------------------------------------------------

def _link_problem(reason: str, token: str):
    status, text = LINK_PROBLEMS[reason]
    return _page("signup/link_problem.html", status, title=gettext("Confirm your e-mail address"),
                 problem=str(text), reason=reason, form=ResendForm(),
                 again_url=url_for("signup.again", token=token))


@signup_bp.get("/confirm/<token>")
def confirm(token):
    """:raise 404: a forged link. :raise 410: an expired or used one (a page saying so)."""
    try:
        pending = links.pending_for(token)
    except LinkInvalid as problem:
        return _link_problem(problem.reason, token)
    journey.confirm(pending)
    user = pending.user
    login_user(user, remember=False)  # stamps the session (app/auth/revocation.py)
    current_app.appbuilder.sm.update_user_auth_stat(user, True)
    from flask import session

    session["locale"] = pending.language
    flash(gettext("Your e-mail address is confirmed and your workspace is ready. Choose a "
                  "plan to start."), "success")
    return redirect(url_for("signup.plan"))


@signup_bp.post("/confirm/<token>/again")
def again(token):
    """A fresh link to the address an expired link was made for (nothing typed)."""
    try:
        pending = links.pending_for(token, expired_ok=True)
    except LinkInvalid as problem:
        return _link_problem(problem.reason, token)
    limits = journey.signup_limits(current_app)
    wait = limits.retry_after(pending.user.email, client_address())
    if wait:
        abort(429)
    limits.failed(pending.user.email, client_address())
    journey.send_again(pending)
    return _page("signup/check_mail.html", title=gettext("Check your mail"),
                 email=pending.user.email, hours=links.lifetime_hours())


# --- the signed-in steps -------------------------------------------------------------------------

def _workspace() -> Workspace | None:
    scope = current_scope()
    return db.session.get(Workspace, scope.workspace_id) if scope.workspace_id else None


def _signed_in_workspace():
    """(workspace, None) for a member, or (None, the answer: sign in first, or home)."""
    if not current_user.is_authenticated:
        return None, redirect(url_for("AuthDBView.login", next=request.path))
    workspace = _workspace()
    if workspace is None or workspace.status != "pending":
        return None, redirect(current_app.appbuilder.get_url_for_index)
    return workspace, None


def _latest_submission(workspace) -> PaymentSubmission | None:
    return db.session.execute(
        select(PaymentSubmission).where(PaymentSubmission.workspace_id == workspace.id)
        .order_by(PaymentSubmission.id.desc()).limit(1)).scalar_one_or_none()


def _may_choose_plan(subscription, latest) -> bool:
    return subscription is None or (subscription.status == "pending_payment"
                                    and (latest is None or latest.status != "pending"))


def _may_pay(subscription, latest) -> bool:
    return subscription is not None and subscription.status in ("pending_payment",
                                                                "pending_approval") \
        and (latest is None or latest.status == "rejected")


def _payable():
    """(workspace, subscription, None) when the signed-in visitor may pay now, else
    (None, None, the redirect that answers instead): to sign in, to the plan page when no plan
    is chosen, to the status page when nothing is to be paid or a payment reference already
    waits for approval (no second payment, by reference or by card, beside it)."""
    workspace, answer = _signed_in_workspace()
    if answer is not None:
        return None, None, answer
    subscription = subscription_of(workspace)
    if subscription is None:
        return None, None, redirect(url_for("signup.plan"))
    if not _may_pay(subscription, _latest_submission(workspace)):
        return None, None, redirect(url_for("signup.status"))
    return workspace, subscription, None


# --- 3. the plan ---------------------------------------------------------------------------------

@signup_bp.route("/plan", methods=["GET", "POST"])
def plan():
    workspace, answer = _signed_in_workspace()
    if answer is not None:
        return answer
    subscription, latest = subscription_of(workspace), _latest_submission(workspace)
    if not _may_choose_plan(subscription, latest):
        return redirect(url_for("signup.status"))
    plans = journey.public_plans()
    currencies = journey.currencies(plans)
    values = request.form if request.method == "POST" else request.args
    currency = (values.get("currency") or "").strip().upper() \
        or (subscription.currency if subscription else None) or journey.default_currency(plans)
    interval = values.get("interval") or (subscription.interval if subscription else "month")
    form = PlanForm()
    form.panel_type.choices = [("", gettext("I do not know yet"))] + [
        (code, str(code_label("panel_type", code))) for code in journey.SIGNUP_PANEL_TYPES]
    if request.method == "GET":
        form.panel_type.data = journey.panel_type_of(workspace)
    problems = {}
    if request.method == "GET" and currency and currency not in currencies:
        problems["currency"] = journey.NO_SUCH_CURRENCY
    if request.method == "POST" and form.validate():
        try:
            subscription, price = journey.choose(
                workspace, plan_id=request.form.get("plan"), currency=currency,
                interval=interval, panel_type=form.panel_type.data or "")
        except journey.ChoiceRefused as refused:
            db.session.rollback()
            problems = refused.problems
        else:
            db.session.commit()
            if subscription.status == "active":
                flash(gettext("Welcome to %(app)s! Your workspace %(workspace)s is ready: "
                              "start with the checklist below.",
                              app=current_app.config.get("APP_NAME", "Relaydesk"),
                              workspace=workspace.name), "success")
                return redirect(current_app.appbuilder.get_url_for_index)
            return redirect(url_for("signup.pay"))
    shown_currency = currency if currency in currencies else journey.default_currency(plans)
    cards = [{"plan": p, "features": journey.plan_features(p),
              "month": journey.price_of(p, shown_currency, "month"),
              "year": journey.price_of(p, shown_currency, "year"),
              "free": journey.is_free(p, shown_currency)} for p in plans]
    status = 400 if problems else 200
    return _page("signup/plan.html", status, title=gettext("Choose your plan"), form=form,
                 cards=cards, currencies=currencies, currency=shown_currency,
                 interval=interval if interval in ("month", "year") else "month",
                 problems={key: str(value) for key, value in problems.items()},
                 chosen=subscription)


# --- 4. paying -----------------------------------------------------------------------------------

def _payment_form(subscription, price, methods, data=None) -> PaymentForm:
    form = PaymentForm(formdata=data, currency=subscription.currency)
    form.method.choices = [(str(m.id), m.name) for m in methods]
    if data is None:
        form.amount.data = f"{from_minor(subscription.amount_cents, subscription.currency):f}"
        if len(methods) == 1:
            form.method.data = str(methods[0].id)
    return form


def _pay_context(workspace, subscription):
    price = journey.current_price(subscription)
    methods = payments.manual_methods(subscription.currency)
    return price, methods, payments.gateways(price)


#: app/billing.py's refusal keys → this form's fields (the others are shown above the form)
REFUSAL_FIELDS = {"reference": "reference", "amount": "amount", "payment_method": "method"}


def submit_reference(workspace, subscription, price, methods, form) -> bool:
    """Record the reference when the form is valid (errors go beside the fields)."""
    if not form.validate():
        return False
    method = next((m for m in methods if str(m.id) == form.method.data), None)
    try:
        payments.submit_payment(
            workspace, price=price, method=method,
            amount_cents=to_minor(parse_amount(form.amount.data), subscription.currency),
            currency=subscription.currency, reference=form.reference.data,
            note=form.note.data or None, by_user=current_user._get_current_object())
    except BillingRefused as refused:
        db.session.rollback()
        for name, messages in refused.problems.items():
            field = getattr(form, REFUSAL_FIELDS.get(name, name), None)
            if field is not None and hasattr(field, "errors") and name in REFUSAL_FIELDS:
                field.errors = [*field.errors, *messages]
            else:  # about the whole payment (another one pending, the currency)
                form.form_errors.extend(messages)
        return False
    db.session.commit()
    return True


@signup_bp.route("/pay", methods=["GET", "POST"])
def pay():
    workspace, subscription, answer = _payable()
    if answer is not None:
        return answer
    price, methods, gateways = _pay_context(workspace, subscription)
    form = _payment_form(subscription, price, methods,
                         request.form if request.method == "POST" else None)
    if request.method == "POST":
        if submit_reference(workspace, subscription, price, methods, form):
            flash(gettext("Thank you: your payment reference was sent for approval."), "success")
            return redirect(url_for("signup.status"))
    return _page("signup/pay.html", 400 if form.errors or form.form_errors else 200,
                 title=gettext("Pay for your plan"), form=form, subscription=subscription,
                 methods=methods, gateways=gateways, workspace=workspace,
                 plan_name=subscription.plan.name if subscription.plan else "")


@signup_bp.post("/pay/<gateway_key>")
def pay_with(gateway_key):
    """:raise 404: a gateway that is not offered for this price."""
    workspace, subscription, answer = _payable()
    if answer is not None:
        return answer
    price = journey.current_price(subscription)
    gateway = next((g for g in payments.gateways(price) if g.key == gateway_key), None)
    if gateway is None:
        abort(404)
    subscription = choose_plan(workspace, price, gateway.key)
    db.session.commit()
    base = (current_app.config.get("PUBLIC_BASE_URL") or request.host_url).rstrip("/") + "/"
    try:
        target = payments.start(gateway, subscription, price,
                                urljoin(base, url_for("signup.stripe_success").lstrip("/")),
                                urljoin(base, url_for("signup.pay").lstrip("/")))
    except Exception:  # noqa: BLE001 - the gateway's failure is logged, the person told
        db.session.rollback()
        log.exception("starting a %s payment failed", gateway.key)
        flash(gettext("%(gateway)s could not be reached just now. Try again in a moment, or "
                      "pay another way.", gateway=gateway.label), "danger")
        return redirect(url_for("signup.pay"))
    db.session.commit()
    return redirect(target, code=303)


@signup_bp.get("/stripe/success")
def stripe_success():
    """Back from Stripe Checkout: the status page shows that the payment's confirmation is
    awaited (Stripe's webhook activates the subscription)."""
    return redirect(url_for("signup.status"))


# --- 5. the status -------------------------------------------------------------------------------

@signup_bp.get("/status")
def status():
    workspace, answer = _signed_in_workspace()
    if answer is not None:
        return answer
    subscription, latest = subscription_of(workspace), _latest_submission(workspace)
    if subscription is None:
        return redirect(url_for("signup.plan"))
    gateway_waiting = subscription.payment_method in ("stripe", "razorpay") \
        and subscription.status == "pending_payment"
    if latest is None and not gateway_waiting and subscription.status == "pending_payment":
        return redirect(url_for("signup.pay"))
    form = price = methods = None
    if latest is not None and latest.status == "rejected":
        price, methods, _gateways = _pay_context(workspace, subscription)
        form = _payment_form(subscription, price, methods)
    method = db.session.get(PaymentMethod, latest.payment_method_id) \
        if latest is not None and latest.payment_method_id else None
    from app.views.formatting import format_time

    return _page("signup/status.html", title=gettext("Your sign-up"), workspace=workspace,
                 submitted_at=(format_time(latest.created_at, seconds=False)
                               if latest is not None else ""),
                 subscription=subscription, submission=latest, method=method,
                 gateway_waiting=gateway_waiting, form=form, methods=methods,
                 gateway_label=code_label("payment_method", subscription.payment_method))
