"""Plans, subscriptions and invoices: the fields only (billing behaviour comes later)."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from app.models.base import Timestamps, WorkspaceOwned
from app.models.sensitive import PAYMENT_ID, sensitive
from app.labels import code_label

BILLING_INTERVALS = ("month", "year")
SUBSCRIPTION_STATUSES = ("trialing", "pending_payment", "active", "past_due", "canceled")
INVOICE_STATUSES = ("draft", "pending", "paid", "void")
PAYMENT_METHODS = ("manual", "stripe")


class Plan(Timestamps, Model):
    __tablename__ = "plan"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), unique=True, nullable=False)
    name = Column(String(120), nullable=False)
    description = Column(Text, nullable=True)
    price_cents = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="USD")
    interval = Column(
        Enum(*BILLING_INTERVALS, name="billing_interval", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="month",
    )
    max_channels = Column(Integer, nullable=False, default=1)
    max_linked_users = Column(Integer, nullable=False, default=500)
    max_commands_per_month = Column(Integer, nullable=False, default=5000)
    stripe_price_id = Column(String(120), nullable=True)
    is_public = Column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return self.name


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
