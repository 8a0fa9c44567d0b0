"""Plans and their prices, subscriptions and invoices."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, DateTime, Enum, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import Timestamps, WorkspaceOwned, split_list
from app.models.sensitive import PAYMENT_ID, sensitive
from app.labels import code_label
from app.money import from_minor, money_text

BILLING_INTERVALS = ("month", "year")
SUBSCRIPTION_STATUSES = ("trialing", "pending_payment", "active", "past_due", "canceled")
INVOICE_STATUSES = ("draft", "pending", "paid", "void")
PAYMENT_METHODS = ("manual", "stripe")


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
    interval = Column(
        Enum(*BILLING_INTERVALS, name="billing_interval", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="month",
    )
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
    __tablename__ = "subscription"

    id = Column(Integer, primary_key=True)
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="RESTRICT"), nullable=False,
                     index=True)
    plan = relationship("Plan")
    status = Column(
        Enum(*SUBSCRIPTION_STATUSES, name="subscription_status", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="trialing",
    )
    current_period_start = Column(DateTime, nullable=True)
    current_period_end = Column(DateTime, nullable=True)
    stripe_customer_id = Column(String(120), nullable=True, info=sensitive(PAYMENT_ID))
    stripe_subscription_id = Column(String(120), nullable=True, unique=True,
                                    info=sensitive(PAYMENT_ID))

    def __str__(self) -> str:
        return f"{self.workspace} · {self.plan} ({code_label('subscription_status', self.status)})"


class Invoice(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "invoice"

    id = Column(Integer, primary_key=True)
    number = Column(String(40), unique=True, nullable=False)
    subscription_id = Column(Integer, ForeignKey("subscription.id", ondelete="SET NULL"),
                             nullable=True, index=True)
    subscription = relationship("Subscription")
    amount_cents = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="USD")
    status = Column(
        Enum(*INVOICE_STATUSES, name="invoice_status", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="pending",
    )
    payment_method = Column(
        Enum(*PAYMENT_METHODS, name="payment_method", native_enum=False, create_constraint=True),
        nullable=False,
        default="manual",
    )
    payment_reference = Column(String(200), nullable=True)
    stripe_invoice_id = Column(String(120), nullable=True, unique=True,
                               info=sensitive(PAYMENT_ID))
    issued_at = Column(DateTime, nullable=True)
    paid_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return self.number
