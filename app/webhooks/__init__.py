"""Webhook blueprints, one per platform (DESIGN "Webhook endpoints"). CSRF does not apply:
each platform authenticates with its own token or signature, checked in constant time."""
from __future__ import annotations

from flask import Flask


def register_webhooks(app: Flask) -> None:
    from app.extensions import csrf
    from app.webhooks.greenapi import greenapi_bp
    from app.webhooks.meta import meta_bp
    from app.webhooks.telegram import telegram_bp

    for blueprint in (greenapi_bp, meta_bp, telegram_bp):
        app.register_blueprint(blueprint)
        csrf.exempt(blueprint)
