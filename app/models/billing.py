"""Plans and their prices, subscriptions and invoices."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import Timestamps, WorkspaceOwned, code_column, split_list, utcnow
from app.models.sensitive import PAYMENT_ID, sensitive
from app.labels import code_label
from app.money import from_minor, money_text

BILLING_INTERVALS = ("month", "year")
#: `pending_payment`: chosen, not paid yet (Checkout not finished, no reference submitted);
#: `pending_approval`: a manual payment reference waits for the master admin; `expired`: the
#: period ended unpaid (the workspace is suspended); `canceled`: ended for good.
SUBSCRIPTION_STATUSES = ("trialing", "pending_payment", "pending_approval", "active", "past_due",
                         "expired", "canceled")
INVOICE_STATUSES = ("draft", "pending", "paid", "void")
#: how a subscription is paid; `free`: a plan without a price needs no payment
PAYMENT_METHODS = ("manual", "stripe", "razorpay", "free")
SUBMISSION_STATUSES = ("pending", "approved", "rejected")
PAYMENT_PROVIDERS = ("stripe", "razorpay")


#: the channel kinds a plan may allow (Channel.kind)
PLAN_MEDIUMS = ("greenapi", "meta", "telegram", "webchat")
#: the modules a plan may include; the inbox and marketing modules join as they are built
PLAN_MODULES = ("tickets", "broadcasts", "service_cache", "api", "inbox", "marketing")
#: a plan's limits (None: unlimited); what each counts is app/plans.py's
PLAN_LIMITS = ("max_channels", "max_linked_users", "max_team_members",
               "max_broadcasts_per_month", "log_retention_days", "api_requests_per_minute",
               "api_requests_per_day")

#: the limits the master admin's add form starts with (the free plan's, roughly): a new plan is
#: limited unless its limits are emptied; a plan made without limits (REST, code) is unlimited
PLAN_LIMIT_DEFAULTS = {"max_channels": 1, "max_linked_users": 100, "max_team_members": 2,
                       "max_broadcasts_per_month": 0, "log_retention_days": 30,
                       "api_requests_per_minute": 30, "api_requests_per_day": 1000}


class Plan(Timestamps, Model):
    """What a workspace may use: mediums, modules and limits; its prices are `PlanPrice` rows
    (per currency and billing interval). A change applies at once to every workspace on it:
    the limits are read from the plan whenever they are checked (app/plans.py). A limit left
    empty (NULL) is unlimited: the limit columns have no default, since the ORM would write a
    column's default in place of an explicit None."""

    __tablename__ = "plan"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(120), nullable=False)
    description = Column(Text, nullable=True)
    mediums = Column(Text, nullable=False, default=",".join(PLAN_MEDIUMS))
    modules = Column(Text, nullable=False, default="api")
    max_channels = Column(Integer, nullable=True)
    max_linked_users = Column(Integer, nullable=True)
    max_team_members = Column(Integer, nullable=True)
    max_broadcasts_per_month = Column(Integer, nullable=True)
    log_retention_days = Column(Integer, nullable=True)
    api_requests_per_minute = Column(Integer, nullable=True)
    api_requests_per_day = Column(Integer, nullable=True)
    is_public = Column(Boolean, nullable=False, default=True)
    sort_order = Column(Integer, nullable=False, default=0)
    prices = relationship("PlanPrice", back_populates="plan", cascade="all, delete-orphan",
                          order_by="PlanPrice.currency, PlanPrice.interval")

    @property
    def medium_list(self) -> list[str]:
        return split_list(self.mediums)

    @property
    def module_list(self) -> list[str]:
        return split_list(self.modules)

    def __str__(self) -> str:
        return self.name


class PlanPrice(Timestamps, Model):
    """A plan's price in one currency for one billing interval."""

    __tablename__ = "plan_price"
    __table_args__ = (UniqueConstraint("plan_id", "currency", "interval",
                                       name="uq_plan_price"),)

    id = Column(Integer, primary_key=True)
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    plan = relationship("Plan", back_populates="prices")
    currency = Column(String(3), nullable=False, default="USD")
    interval = code_column(BILLING_INTERVALS, "billing_interval", default="month")
    amount_cents = Column(Integer, nullable=False, default=0)
    stripe_price_id = Column(String(120), nullable=True)
    razorpay_plan_id = Column(String(120), nullable=True)

    @property
    def amount(self):
        """The amount as money (a Decimal with the currency's decimals: 19.00), read by the
        screens' money field; `amount_cents` holds it in the currency's minor units
        (app/money.py)."""
        return from_minor(self.amount_cents, self.currency)

    def price_text(self) -> str:
        """"19.00 USD / Monthly", in the reader's language."""
        return f"{money_text(self.amount_cents or 0, self.currency)} / " \
               f"{code_label('billing_interval', self.interval)}"

    def __str__(self) -> str:
        return f"{self.plan} · {self.price_text()}"


class Subscription(Timestamps, WorkspaceOwned, Model):
    """A workspace's subscription to a plan: one row per workspace (UNIQUE), changed in place
    by app/billing.py (approval, extension, plan change, the payment providers' webhooks); the
    history is its invoices and the audit trail. `amount_cents`/`currency`/`interval` are the
    price agreed when it was chosen (a later price change of the plan does not reprice it)."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("workspace_id", name="uq_subscription_workspace"),)

    id = Column(Integer, primary_key=True)
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="RESTRICT"), nullable=False,
                     index=True)
    plan = relationship("Plan")
    status = code_column(SUBSCRIPTION_STATUSES, "subscription_status", default="trialing")
    interval = code_column(BILLING_INTERVALS, "billing_interval", default="month")
    amount_cents = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="USD")
    payment_method = code_column(PAYMENT_METHODS, "payment_method", default="manual")
    current_period_start = Column(DateTime, nullable=True)
    current_period_end = Column(DateTime, nullable=True)
    cancel_at_period_end = Column(Boolean, nullable=False, default=False)
    # the expiry reminder sent for this period end (None: not yet); a new period sends again
    reminder_sent_for = Column(DateTime, nullable=True)
    # the creation time of the newest payment-provider event applied: an older event arriving
    # later (Stripe and Razorpay do not keep order) does not undo a newer state
    provider_event_at = Column(DateTime, nullable=True)
    stripe_customer_id = Column(String(120), nullable=True, info=sensitive(PAYMENT_ID))
    stripe_subscription_id = Column(String(120), nullable=True, unique=True,
                                    info=sensitive(PAYMENT_ID))
    razorpay_subscription_id = Column(String(120), nullable=True, unique=True,
                                      info=sensitive(PAYMENT_ID))

    def price_text(self) -> str:
        return f"{money_text(self.amount_cents or 0, self.currency)} / " \
               f"{code_label('billing_interval', self.interval)}"

    def __str__(self) -> str:
        return f"{self.workspace} · {self.plan} ({code_label('subscription_status', self.status)})"


class Invoice(Timestamps, WorkspaceOwned, Model):
    """A numbered invoice, for every payment path (manual, Stripe, Razorpay). Its number comes
    from `InvoiceCounter` (app/billing.py `next_invoice_number`), never reused."""

    __tablename__ = "invoice"

    id = Column(Integer, primary_key=True)
    number = Column(String(40), unique=True, nullable=False)
    subscription_id = Column(Integer, ForeignKey("subscription.id", ondelete="SET NULL"),
                             nullable=True, index=True)
    subscription = relationship("Subscription")
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="SET NULL"), nullable=True,
                     index=True)
    plan = relationship("Plan")
    description = Column(String(300), nullable=True)
    amount_cents = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="USD")
    status = code_column(INVOICE_STATUSES, "invoice_status", default="pending")
    payment_method = code_column(PAYMENT_METHODS, "payment_method", default="manual")
    payment_reference = Column(String(200), nullable=True)
    period_start = Column(DateTime, nullable=True)
    period_end = Column(DateTime, nullable=True)
    stripe_invoice_id = Column(String(120), nullable=True, unique=True,
                               info=sensitive(PAYMENT_ID))
    razorpay_payment_id = Column(String(120), nullable=True, unique=True,
                                 info=sensitive(PAYMENT_ID))
    issued_at = Column(DateTime, nullable=True)
    paid_at = Column(DateTime, nullable=True)

    def amount_text(self) -> str:
        return money_text(self.amount_cents or 0, self.currency)

    @property
    def pdf_path(self) -> str:
        """Where its PDF is downloaded (app/views/billing.py, tenancy-checked)."""
        return f"/billing/invoices/{self.id}.pdf"

    def __str__(self) -> str:
        return self.number


class InvoiceCounter(Model):
    """The last invoice number given in a year (locked while the next one is taken)."""

    __tablename__ = "invoice_counter"

    year = Column(Integer, primary_key=True, autoincrement=False)
    last_number = Column(Integer, nullable=False, default=0)


class PaymentMethod(Timestamps, Model):
    """A manual way to pay (bank transfer, a wallet...) set by the master admin: its
    instructions are shown to the customer, who then submits the payment's reference."""

    __tablename__ = "payment_method"

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    instructions = Column(Text, nullable=False)
    # the currencies it takes (comma separated; empty: every currency)
    currencies = Column(String(200), nullable=True)
    active = Column(Boolean, nullable=False, default=True)
    sort_order = Column(Integer, nullable=False, default=0)

    @property
    def currency_list(self) -> list[str]:
        return [c.upper() for c in split_list(self.currencies)]

    def takes(self, currency: str) -> bool:
        return not self.currency_list or currency.upper() in self.currency_list

    def __str__(self) -> str:
        return self.name


class PaymentSubmission(Timestamps, WorkspaceOwned, Model):
    """A customer's "I paid": the reference and amount of a manual payment, waiting for the
    master admin's approval (app/billing.py `approve_submission` / `reject_submission`)."""

    __tablename__ = "payment_submission"

    id = Column(Integer, primary_key=True)
    subscription_id = Column(Integer, ForeignKey("subscription.id", ondelete="CASCADE"),
                             nullable=False, index=True)
    subscription = relationship("Subscription")
    payment_method_id = Column(Integer, ForeignKey("payment_method.id", ondelete="SET NULL"),
                               nullable=True, index=True)
    payment_method = relationship("PaymentMethod")
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="RESTRICT"), nullable=False,
                     index=True)
    plan = relationship("Plan")
    interval = code_column(BILLING_INTERVALS, "billing_interval", default="month")
    amount_cents = Column(Integer, nullable=False)
    currency = Column(String(3), nullable=False)
    reference = Column(String(200), nullable=False)
    customer_note = Column(Text, nullable=True)
    status = code_column(SUBMISSION_STATUSES, "submission_status", default="pending", index=True)
    # the master admin's note to the customer (required to reject)
    review_note = Column(Text, nullable=True)
    reviewed_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"),
                            nullable=True)
    reviewed_by = relationship("User")
    reviewed_at = Column(DateTime, nullable=True)
    invoice_id = Column(Integer, ForeignKey("invoice.id", ondelete="SET NULL"), nullable=True)
    invoice = relationship("Invoice")

    def amount_text(self) -> str:
        return money_text(self.amount_cents or 0, self.currency)

    @property
    def reference_seen_before(self) -> int:
        """How many other submissions (any workspace) carry the same reference, compared
        without regard to case and surrounding spaces: a warning for the reviewer."""
        from sqlalchemy import func
        from sqlalchemy.orm import object_session

        session = object_session(self)
        if session is None or not self.reference:
            return 0
        cls = type(self)
        return session.query(func.count(cls.id)).filter(
            func.lower(func.trim(cls.reference)) == self.reference.strip().lower(),
            cls.id != self.id).scalar() or 0

    def __str__(self) -> str:
        return f"{self.reference} · {self.amount_text()}"


class PaymentEvent(Model):
    """A payment provider's webhook event, kept once (UNIQUE provider + event id): a repeated
    delivery finds its row and does nothing. Platform-level: the workspace it concerned, when
    known, is recorded but the row is the master admin's."""

    __tablename__ = "payment_event"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_payment_event"),)

    id = Column(Integer, primary_key=True)
    provider = code_column(PAYMENT_PROVIDERS, "payment_provider")
    event_id = Column(String(255), nullable=False)
    event_type = Column(String(120), nullable=False)
    created = Column(DateTime, nullable=True)  # the provider's creation time of the event
    workspace_id = Column(Integer, ForeignKey("workspace.id", ondelete="SET NULL"),
                          nullable=True, index=True)
    workspace = relationship("Workspace")
    received_at = Column(DateTime, nullable=False, default=utcnow)
    processed_at = Column(DateTime, nullable=True)
    # what was done: applied, ignored (older than the state), unknown (no such workspace)...
    outcome = Column(String(40), nullable=True)
    detail = Column(Text, nullable=True)

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type}"


class EmailTemplate(Timestamps, Model):
    """The master admin's text of one e-mail (`key`) in one language, with `{{name}}`
    placeholders (app/mail_templates.py); without a row the built-in text is used."""

    __tablename__ = "email_template"
    __table_args__ = (UniqueConstraint("key", "language", name="uq_email_template"),)

    id = Column(Integer, primary_key=True)
    key = Column(String(60), nullable=False)
    language = Column(String(10), nullable=False, default="en")
    subject = Column(String(300), nullable=False)
    body = Column(Text, nullable=False)

    def __str__(self) -> str:
        return f"{self.key} [{self.language}]"
