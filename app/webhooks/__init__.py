"""Webhook blueprints, one per platform (docs/contracts.md "Webhook endpoints"). CSRF does not
apply: each platform authenticates with its own token or signature, checked in constant time."""
from __future__ import annotations

from flask import Flask


def register_webhooks(app: Flask) -> set[str]:
    """Register the platforms' blueprints; return their names."""
    from app.extensions import csrf
    from app.webhooks.greenapi import greenapi_bp
    from app.webhooks.meta import meta_bp
    from app.webhooks.razorpay import razorpay_bp
    from app.webhooks.stripe import stripe_bp
    from app.webhooks.telegram import telegram_bp

    blueprints = (greenapi_bp, meta_bp, telegram_bp, stripe_bp, razorpay_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    _exempt_from_rate_limits(app, {blueprint.name for blueprint in blueprints})
    _no_browser_session(app)
    return {blueprint.name for blueprint in blueprints}


WEBHOOK_PREFIX = "/webhooks/"


def _no_browser_session(app: Flask) -> None:
    """A webhook never has a browser session: none is read from a cookie (no signing
    serializer built, no cookie parsed) and none is saved for it. The request gets an empty
    session that may be written to (a hook that does so loses nothing) and is thrown away."""
    base = type(app.session_interface)

    class WithoutWebhookSessions(base):
        def open_session(self, app, request):
            if request.path.startswith(WEBHOOK_PREFIX):
                return self.session_class()
            return super().open_session(app, request)

        def save_session(self, app, session, response):
            from flask import request

            if request.path.startswith(WEBHOOK_PREFIX):
                return None
            return super().save_session(app, session, response)

    try:
        replacement = WithoutWebhookSessions()
    except TypeError:  # an interface that needs arguments: leave it alone
        return
    replacement.__dict__.update(app.session_interface.__dict__)
    app.session_interface = replacement


def _exempt_from_rate_limits(app: Flask, names: set[str]) -> None:
    """Flask-Limiter (FAB's) resolves every limit for every request, about 30 µs each; the
    webhooks have none and must not get any (the platforms authenticate with secrets and retry
    what is refused, and a per-address limit would throttle Meta's or Telegram's few sending
    addresses for every customer). Its before_request hook is wrapped to skip the webhook
    blueprints; should a Flask-Limiter version register it differently, a request filter (the
    public API, which still resolves the endpoint first) does the same."""
    appbuilder = getattr(app, "appbuilder", None)
    limiter = getattr(getattr(appbuilder, "sm", None), "limiter", None)
    if limiter is None:
        return

    from flask import request

    @limiter.request_filter
    def _webhook_request() -> bool:
        return request.blueprint in names

    hooks = app.before_request_funcs.get(None, [])
    check = getattr(limiter, "_check_request_limit", None)
    for index, hook in enumerate(hooks):
        if check is not None and hook == check:
            def check_unless_webhook(_check=hook):
                if request.blueprint not in names:
                    return _check()
                return None

            hooks[index] = check_unless_webhook
