"""Fake Stripe API: the calls Relaydesk makes, in the documented shapes (API version the pinned
`stripe` SDK sends), and the events Stripe would send after them.

Server: `FakeStripe(secret_key="sk_test_fake")`; point the SDK at it with
`STRIPE_API_BASE = fake.url`. Requests are form-encoded with Stripe's bracket notation
(`line_items[0][price]=…`), authenticated with `Authorization: Bearer <secret key>`.
- `POST /v1/checkout/sessions` → a `checkout.session` (`url` on checkout.stripe.com, `status`
  "open"); `mode`, `success_url` and existing `line_items[][price]` required; `customer` and
  `customer_email` exclusive; an unknown customer or price → 400 `resource_missing`.
- `POST /v1/billing_portal/sessions` (`customer` required, must exist) → `billing_portal.session`.
- `GET /v1/subscriptions/{id}`, `POST /v1/subscriptions/{id}` (`items[i][id]` must be an item of
  it, `items[i][price]` an existing price, `proration_behavior` one of Stripe's) → `subscription`.
- Errors as Stripe answers them: `{"error": {"type", "code", "param", "message"}}`; a bad key 401;
  an unknown path 404.
Store: `add_price(id, amount, currency, interval)`, `prices`, `customers`, `sessions`,
`subscriptions`, `invoices`.
Events: `complete_checkout(session_id)` does what paying on the Checkout page does (customer,
subscription with the session's `subscription_data.metadata`, a paid invoice) and returns the
events Stripe sends, by type (`checkout.session.completed`, `invoice.paid`,
`customer.subscription.created`); `event(type, obj, created=)` builds any other event;
`renew(sub_id)` a next paid invoice.

Invented (not from Stripe's documentation): ids are `<prefix>_test_<counter>`; the session and
portal URLs' paths; periods start at the fake's clock (`now`, default: the real time).
"""
from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, fake_fixture

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")
MODES = ("payment", "setup", "subscription")
MONTH = 30 * 86400
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def decode_form(pairs: dict[str, str]) -> dict[str, Any]:
    """Stripe's bracket notation as nested dicts and lists: `a[0][b]=1` → {"a": [{"b": "1"}]}."""
    root: dict[str, Any] = {}
    for key, value in pairs.items():
        parts = [m.group(1) if m.group(1) is not None else m.group(2) for m in _KEY.finditer(key)]
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = None if last else parts[index + 1]
            default: Any = value if last else ([] if nxt is not None and nxt.isdigit() else {})
            if isinstance(node, list):
                position = int(part)
                while len(node) <= position:
                    node.append(None)
                if node[position] is None or last:
                    node[position] = default
                node = node[position]
            else:
                if part not in node or last:
                    node[part] = default
                node = node[part]
    return root


class FakeStripe(FakeServer):
    name = "stripe"

    def __init__(self, secret_key: str = "sk_test_fake", *, now: int | None = None,  # noqa: S107
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret_key, self.clock = secret_key, now
        self.prices: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self._counter = 0
        self.route("POST", r"/v1/checkout/sessions", self._create_session)
        self.route("POST", r"/v1/billing_portal/sessions", self._create_portal)
        self.route("GET", r"/v1/subscriptions/(?P<sub_id>[^/]+)", self._get_subscription)
        self.route("POST", r"/v1/subscriptions/(?P<sub_id>[^/]+)", self._modify_subscription)

    # ---- store -------------------------------------------------------------------------------
    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_test_{self._counter:06d}"

    def add_price(self, price_id: str, amount: int = 1900, currency: str = "usd",
                  interval: str = "month") -> dict:
        price = {"id": price_id, "object": "price", "active": True, "currency": currency,
                 "unit_amount": amount, "type": "recurring",
                 "recurring": {"interval": interval, "interval_count": 1}}
        self.prices[price_id] = price
        return price

    def add_customer(self, email: str | None = None) -> dict:
        customer = {"id": self.new_id("cus"), "object": "customer", "email": email}
        self.customers[customer["id"]] = customer
        return customer

    # ---- errors ------------------------------------------------------------------------------
    @staticmethod
    def stripe_error(status: int, message: str, *, code: str | None = None,
                     param: str | None = None, kind: str = "invalid_request_error") -> Reply:
        error = {"type": kind, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        return Reply(status, {"error": error}, {"Request-Id": "req_fake"})

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        if status == 429:
            return self.stripe_error(429, "Too many requests.", code="rate_limit")
        return self.stripe_error(status, "An unknown error occurred.", kind="api_error")

    def not_found(self, req: RecordedRequest) -> Reply:
        return self.stripe_error(404, f"Unrecognized request URL ({req.method}: {req.path}).")

    def _authorised(self, req: RecordedRequest) -> Reply | None:
        given = req.headers.get("Authorization", "")
        if given != f"Bearer {self.secret_key}":
            return self.stripe_error(401, "Invalid API Key provided: sk_test_****")
        return None

    # ---- handlers ----------------------------------------------------------------------------
    def _create_session(self, req: RecordedRequest) -> Reply:
        refused = self._authorised(req)
        if refused:
            return refused
        params = decode_form(req.form)
        mode = params.get("mode")
        if mode not in MODES:
            return self.stripe_error(400, "Missing required param: mode.",
                                     code="parameter_missing", param="mode")
        if not params.get("success_url"):
            return self.stripe_error(400, "Missing required param: success_url.",
                                     code="parameter_missing", param="success_url")
        if params.get("customer") and params.get("customer_email"):
            return self.stripe_error(400, "You may only specify one of these parameters: "
                                          "customer, customer_email.", param="customer_email")
        if params.get("customer") and params["customer"] not in self.customers:
            return self.stripe_error(400, f"No such customer: '{params['customer']}'",
                                     code="resource_missing", param="customer")
        items = params.get("line_items") or []
        if not items:
            return self.stripe_error(400, "Missing required param: line_items.",
                                     code="parameter_missing", param="line_items")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or item.get("price") not in self.prices:
                return self.stripe_error(400, f"No such price: '{(item or {}).get('price')}'",
                                         code="resource_missing",
                                         param=f"line_items[{index}][price]")
        session_id = self.new_id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": mode,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "status": "open", "payment_status": "unpaid",
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"), "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {}, "subscription": None,
            "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
            "created": self.now(), "livemode": False,
            "_line_items": items, "_subscription_data": params.get("subscription_data") or {},
        }
        self.sessions[session_id] = session
        return Reply(200, self._public(session))

    def _create_portal(self, req: RecordedRequest) -> Reply:
        refused = self._authorised(req)
        if refused:
            return refused
        params = decode_form(req.form)
        customer = params.get("customer")
        if not customer:
            return self.stripe_error(400, "Missing required param: customer.",
                                     code="parameter_missing", param="customer")
        if customer not in self.customers:
            return self.stripe_error(400, f"No such customer: '{customer}'",
                                     code="resource_missing", param="customer")
        portal_id = self.new_id("bps")
        return Reply(200, {"id": portal_id, "object": "billing_portal.session",
                           "customer": customer, "return_url": params.get("return_url"),
                           "url": f"https://billing.stripe.com/p/session/{portal_id}",
                           "created": self.now(), "livemode": False})

    def _get_subscription(self, req: RecordedRequest, sub_id: str) -> Reply:
        refused = self._authorised(req)
        if refused:
            return refused
        if sub_id not in self.subscriptions:
            return self.stripe_error(404, f"No such subscription: '{sub_id}'",
                                     code="resource_missing", param="id")
        return Reply(200, self.subscriptions[sub_id])

    def _modify_subscription(self, req: RecordedRequest, sub_id: str) -> Reply:
        refused = self._authorised(req)
        if refused:
            return refused
        subscription = self.subscriptions.get(sub_id)
        if subscription is None:
            return self.stripe_error(404, f"No such subscription: '{sub_id}'",
                                     code="resource_missing", param="id")
        params = decode_form(req.form)
        behavior = params.get("proration_behavior")
        if behavior is not None and behavior not in PRORATION_BEHAVIORS:
            return self.stripe_error(400, "Invalid proration_behavior.",
                                     param="proration_behavior")
        items = {item["id"]: item for item in subscription["items"]["data"]}
        for index, change in enumerate(params.get("items") or []):
            if change.get("id") not in items:
                return self.stripe_error(400, f"No such subscription item: '{change.get('id')}'",
                                         code="resource_missing", param=f"items[{index}][id]")
            if change.get("price") not in self.prices:
                return self.stripe_error(400, f"No such price: '{change.get('price')}'",
                                         code="resource_missing", param=f"items[{index}][price]")
            items[change["id"]]["price"] = self.prices[change["price"]]
        if isinstance(params.get("metadata"), dict):
            subscription["metadata"].update(params["metadata"])
        subscription["_last_proration_behavior"] = behavior
        return Reply(200, subscription)

    @staticmethod
    def _public(obj: dict) -> dict:
        return {key: value for key, value in obj.items() if not key.startswith("_")}

    # ---- what Stripe does after the customer pays ----------------------------------------------
    def event(self, event_type: str, obj: dict, *, created: int | None = None,
              event_id: str | None = None) -> dict:
        return {"id": event_id or self.new_id("evt"), "object": "event",
                "api_version": "2026-10-28.endive", "created": created or self.now(),
                "type": event_type, "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": self._public(obj)}}

    def complete_checkout(self, session_id: str) -> dict[str, dict]:
        """Pay the session: its customer, subscription and first paid invoice; the events."""
        with self.lock:
            session = self.sessions[session_id]
            customer = session["customer"] or self.add_customer(session["customer_email"])["id"]
            start = self.now()
            items = [{"id": self.new_id("si"), "object": "subscription_item",
                      "price": self.prices[item["price"]], "quantity": int(item.get("quantity")
                                                                           or 1),
                      "current_period_start": start, "current_period_end": start + MONTH}
                     for item in session["_line_items"]]
            subscription = {
                "id": self.new_id("sub"), "object": "subscription", "customer": customer,
                "status": "active", "cancel_at_period_end": False, "created": start,
                "metadata": dict(session["_subscription_data"].get("metadata") or {}),
                "items": {"object": "list", "data": items}}
            self.subscriptions[subscription["id"]] = subscription
            session.update(status="complete", payment_status="paid", customer=customer,
                           subscription=subscription["id"])
            invoice = self.paid_invoice(subscription["id"], start)
        return {"checkout.session.completed": self.event("checkout.session.completed", session),
                "customer.subscription.created": self.event("customer.subscription.created",
                                                            subscription),
                "invoice.paid": self.event("invoice.paid", invoice)}

    def paid_invoice(self, sub_id: str, start: int, *, status: str = "paid") -> dict:
        subscription = self.subscriptions[sub_id]
        item = subscription["items"]["data"][0]
        price = item["price"]
        invoice = {
            "id": self.new_id("in"), "object": "invoice", "customer": subscription["customer"],
            "status": status, "currency": price["currency"],
            "amount_due": price["unit_amount"],
            "amount_paid": price["unit_amount"] if status == "paid" else 0,
            "billing_reason": "subscription_create", "created": start,
            "period_start": start, "period_end": start,
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": sub_id,
                                                "metadata": dict(subscription["metadata"])}},
            "lines": {"object": "list", "data": [{
                "id": self.new_id("il"), "object": "line_item", "amount": price["unit_amount"],
                "currency": price["currency"],
                "period": {"start": start, "end": start + MONTH},
                "pricing": {"type": "price_details",
                            "price_details": {"price": price["id"], "product": "prod_fake"}},
                "parent": {"type": "subscription_item_details",
                           "subscription_item_details": {"subscription": sub_id,
                                                         "subscription_item": item["id"],
                                                         "proration": False}}}]}}
        self.invoices[invoice["id"]] = invoice
        return invoice

    def renew(self, sub_id: str, start: int) -> dict:
        """The next period's paid invoice (an `invoice.paid` event)."""
        with self.lock:
            for item in self.subscriptions[sub_id]["items"]["data"]:
                item.update(current_period_start=start, current_period_end=start + MONTH)
            invoice = self.paid_invoice(sub_id, start)
            invoice["billing_reason"] = "subscription_cycle"
        return self.event("invoice.paid", invoice, created=start)


fake_stripe = fake_fixture(FakeStripe, "fake_stripe")
