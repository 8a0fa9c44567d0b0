"""Extension objects shared by the app factory, the CLI and the jobs.

The AppBuilder is NOT a module-level singleton: FAB can only serve one Flask app per AppBuilder
(FAB pitfall 8), so `create_app` makes a fresh one each time and it is reached through
`current_app.appbuilder`.
"""
from __future__ import annotations

from flask import current_app
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = get_sqla_class()()
migrate = Migrate()
csrf = CSRFProtect()


def redis_connection():
    """The Redis client of the current app (made once per app in create_app)."""
    return current_app.extensions["relaydesk_redis"]
