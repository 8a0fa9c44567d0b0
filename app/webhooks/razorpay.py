"""POST /webhooks/razorpay — Razorpay's events (docs/ARCHITECTURE.md "Card payments").

`X-Razorpay-Signature` must be the hex HMAC-SHA256 of the raw body with RAZORPAY_WEBHOOK_SECRET
(checked by the SDK's utility in constant time, app/payments/razorpay_gateway.py): missing, bad,
or no secret configured → 400, nothing stored. `X-Razorpay-Event-Id` identifies the event
(missing → 400): each is stored once (`PaymentEvent`), a repeat answers 200 and does nothing. A
signed body that is not an event (a JSON object with `event`) answers 400. What each type does:
app/payments/razorpay_events.py.
"""
from __future__ import annotations

from flask import request

from app.payments import razorpay_events
from app.payments.events import answer
from app.payments.razorpay_gateway import signature_valid
from app.webhooks.http import (MiB, BadPayload, parse_json, read_body, refuse, webhook_blueprint)
from app.webhooks.intake import from_epoch

razorpay_bp = webhook_blueprint("webhooks_razorpay", __name__)

BODY_LIMIT = MiB


@razorpay_bp.post("/webhooks/razorpay")
def receive():
    body = read_body(BODY_LIMIT)
    if not signature_valid(body, request.headers.get("X-Razorpay-Signature", "")):
        return refuse(400, "bad signature")
    event_id = request.headers.get("X-Razorpay-Event-Id", "").strip()
    if not event_id or len(event_id) > 255:
        return refuse(400, "missing event id")
    try:
        payload = parse_json(body)
    except BadPayload:
        return refuse(400, "malformed event")
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str) \
            or not payload["event"]:
        return refuse(400, "malformed event")
    event_type = payload["event"]
    created = from_epoch(payload.get("created_at"))
    return answer("razorpay", event_id, event_type, created,
                  lambda: razorpay_events.handle(event_type, payload, created))
