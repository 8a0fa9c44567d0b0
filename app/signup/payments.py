"""How a sign-up pays: the manual methods, the card gateways and the submitted reference.

* `manual_methods(currency)`: the active `PaymentMethod`s that take the currency, in order.
* `gateways(price)`: the card gateways offered for a price — Stripe when STRIPE_SECRET_KEY is
  set and the price has a `stripe_price_id`, Razorpay when RAZORPAY_KEY_ID is set and it has a
  `razorpay_plan_id`, each only when its module (`app.payments.stripe_gateway`,
  `app.payments.razorpay_gateway`) is installed. The modules are imported when used, so the
  journey works (without those buttons) where they are not.
* `start(gateway, subscription, price, success_url, cancel_url)`: the gateway's page to send the
  person to (`start_checkout(subscription, price, success_url, cancel_url)` /
  `start_subscription(subscription, price)`).
* `submit_payment`: app/billing.py's.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import PaymentMethod

from app.billing import submit_payment

__all__ = ["Gateway", "GATEWAYS", "gateways", "manual_methods", "start", "submit_payment"]


@dataclass(frozen=True)
class Gateway:
    key: str            # "stripe" | "razorpay" (the subscription's payment method)
    label: str
    module: str
    setting: str        # the configuration that must be set
    price_column: str   # the PlanPrice column naming the gateway's price or plan


GATEWAYS = (
    Gateway("stripe", "Stripe", "app.payments.stripe_gateway", "STRIPE_SECRET_KEY",
            "stripe_price_id"),
    Gateway("razorpay", "Razorpay", "app.payments.razorpay_gateway", "RAZORPAY_KEY_ID",
            "razorpay_plan_id"),
)


def manual_methods(currency: str) -> list[PaymentMethod]:
    methods = db.session.execute(select(PaymentMethod).where(PaymentMethod.active.is_(True))
                                 .order_by(PaymentMethod.sort_order, PaymentMethod.id)).scalars()
    return [method for method in methods if method.takes(currency)]


def _module(gateway: Gateway):
    try:
        return importlib.import_module(gateway.module)
    except ImportError:
        return None


def gateways(price) -> list[Gateway]:
    if price is None:
        return []
    return [gateway for gateway in GATEWAYS
            if current_app.config.get(gateway.setting) and getattr(price, gateway.price_column)
            and _module(gateway) is not None]


def start(gateway: Gateway, subscription, price, success_url: str, cancel_url: str) -> str:
    """The URL of the gateway's payment page. Raises whatever the gateway raises."""
    module = _module(gateway)
    if gateway.key == "stripe":
        return module.start_checkout(subscription, price, success_url, cancel_url)
    return module.start_subscription(subscription, price)
