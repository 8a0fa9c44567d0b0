"""Fake Razorpay API: subscriptions as Relaydesk creates them, and the webhook payloads
Razorpay sends after a charge (documented shapes: `{"entity": "event", "event", "contains",
"payload": {"subscription": {"entity": …}, "payment": {"entity": …}}, "created_at"}`).

Server: `FakeRazorpay(key_id="rzp_test_fake", key_secret="fake-secret")`; point the SDK at it
with `RAZORPAY_API_BASE = fake.url`. HTTP Basic auth with the key id and secret.
- `POST /v1/subscriptions` (JSON: `plan_id` of an added plan, `total_count` ≥ 1, optional
  `customer_notify`, `notes`) → `{"id": "sub_…", "entity": "subscription", "status": "created",
  "short_url", …}`.
- Errors: `{"error": {"code": "BAD_REQUEST_ERROR", "description", "field"}}` with 400; a bad key
  401 with the same shape; unknown path 404.
Store: `add_plan(id, amount, currency, period)`, `plans`, `subscriptions`.
Events: `charge(sub_id, at=)` → the `subscription.activated` (first charge) and
`subscription.charged` payloads of a paid period; `event(type, subscription=, payment=)`.

Invented: ids `<prefix>_fake<counter>`; the short_url host path; a period of 30 days for
monthly plans (365 for yearly).
"""
from __future__ import annotations

import base64
import time
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, fake_fixture

DAYS = {"monthly": 30, "yearly": 365, "weekly": 7, "daily": 1}


class FakeRazorpay(FakeServer):
    name = "razorpay"

    def __init__(self, key_id: str = "rzp_test_fake", key_secret: str = "fake-secret",  # noqa: S107
                 *, now: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_id, self.key_secret, self.clock = key_id, key_secret, now
        self.plans: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self._counter = 0
        self.route("POST", r"/v1/subscriptions", self._create_subscription)

    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_fake{self._counter:08d}"

    def add_plan(self, plan_id: str, amount: int = 49900, currency: str = "INR",
                 period: str = "monthly") -> dict:
        plan = {"id": plan_id, "entity": "plan", "interval": 1, "period": period,
                "item": {"amount": amount, "currency": currency, "name": plan_id}}
        self.plans[plan_id] = plan
        return plan

    @staticmethod
    def razorpay_error(status: int, description: str, field: str | None = None) -> Reply:
        return Reply(status, {"error": {"code": "BAD_REQUEST_ERROR", "description": description,
                                        "source": "business", "step": "payment_initiation",
                                        "reason": "input_validation_failed",
                                        "metadata": {}, "field": field}})

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        return Reply(status, {"error": {"code": "SERVER_ERROR",
                                        "description": "The server encountered an error."}})

    def not_found(self, req: RecordedRequest) -> Reply:
        return self.razorpay_error(404, "The requested URL was not found on the server.")

    def _create_subscription(self, req: RecordedRequest) -> Reply:
        auth = req.headers.get("Authorization", "")

        expected = "Basic " + base64.b64encode(
            f"{self.key_id}:{self.key_secret}".encode()).decode()
        if auth != expected:
            return self.razorpay_error(401, "Authentication failed")
        data = req.json if isinstance(req.json, dict) else {}
        if data.get("plan_id") not in self.plans:
            return self.razorpay_error(400, "The id provided does not exist", "plan_id")
        count = data.get("total_count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            return self.razorpay_error(400, "The total count field is required.", "total_count")
        sub_id = self.new_id("sub")
        subscription = {
            "id": sub_id, "entity": "subscription", "plan_id": data["plan_id"],
            "customer_id": None, "status": "created", "current_start": None,
            "current_end": None, "ended_at": None, "quantity": 1,
            "notes": data.get("notes") or {}, "charge_at": None, "start_at": None,
            "end_at": None, "auth_attempts": 0, "total_count": count, "paid_count": 0,
            "customer_notify": bool(data.get("customer_notify", True)),
            "created_at": self.now(), "expire_by": None,
            "short_url": f"https://rzp.io/rzp/{sub_id[-8:]}", "has_scheduled_changes": False,
            "change_scheduled_at": None, "source": "api", "remaining_count": count}
        self.subscriptions[sub_id] = subscription
        return Reply(200, subscription)

    # ---- what Razorpay sends ----------------------------------------------------------------
    def event(self, event_type: str, *, subscription: dict | None = None,
              payment: dict | None = None, created: int | None = None) -> dict:
        payload, contains = {}, []
        if subscription is not None:
            payload["subscription"] = {"entity": dict(subscription)}
            contains.append("subscription")
        if payment is not None:
            payload["payment"] = {"entity": dict(payment)}
            contains.append("payment")
        return {"entity": "event", "account_id": "acc_fake0000000001", "event": event_type,
                "contains": contains, "payload": payload, "created_at": created or self.now()}

    def charge(self, sub_id: str, at: int | None = None) -> dict[str, dict]:
        """One paid period: the subscription active for it and its captured payment."""
        with self.lock:
            subscription = self.subscriptions[sub_id]
            plan = self.plans[subscription["plan_id"]]
            start = at or self.now()
            subscription.update(status="active", current_start=start,
                                current_end=start + DAYS[plan["period"]] * 86400,
                                paid_count=subscription["paid_count"] + 1,
                                remaining_count=subscription["remaining_count"] - 1)
            payment = {"id": self.new_id("pay"), "entity": "payment",
                       "amount": plan["item"]["amount"], "currency": plan["item"]["currency"],
                       "status": "captured", "method": "card", "invoice_id": self.new_id("inv"),
                       "captured": True, "created_at": start}
        events = {"subscription.charged": self.event("subscription.charged",
                                                     subscription=subscription, payment=payment,
                                                     created=start)}
        if subscription["paid_count"] == 1:
            events["subscription.activated"] = self.event("subscription.activated",
                                                          subscription=subscription,
                                                          created=start)
        return events


fake_razorpay = fake_fixture(FakeRazorpay, "fake_razorpay")
