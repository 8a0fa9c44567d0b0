"""Card payments through Stripe and Razorpay (docs/ARCHITECTURE.md "Card payments").

* `stripe_gateway`: Checkout, the billing portal and plan changes (the `stripe` SDK).
* `razorpay_gateway`: hosted subscriptions (the `razorpay` SDK) and the webhook signature.
* `events`: a provider's webhook event stored once (`PaymentEvent`) and the billing changes
  both providers share (invoice, activation, cancellation, mail).
* `stripe_events` / `razorpay_events`: what each provider's event types do.

The webhooks themselves are app/webhooks/stripe.py and app/webhooks/razorpay.py; every billing
change goes through app/billing.py.
"""
