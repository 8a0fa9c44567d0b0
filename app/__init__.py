"""The application factory: config → extensions → models → AppBuilder → views → blueprints → CLI."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from flask import Flask
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from app import dbpool
from app.config import BASE_DIR, INSTANCE_DIR, Config, fill_generated_keys
from app.crypto import keyring
from app.extensions import csrf, db, migrate
from app.integrations.urlpolicy import OutboundPolicy
from app.security import RelaydeskAppBuilder, RelaydeskSecurityManager
from app.security_headers import init_security_headers
from app.tenancy import current_scope, install_write_guard

log = logging.getLogger(__name__)
_guard_installed = False


def create_app(test_config: type | Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(Config)
    if isinstance(test_config, type):
        app.config.from_object(test_config)
    elif test_config:
        app.config.update(test_config)
    fill_generated_keys(app.config)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # werkzeug sets its logger to INFO when it is unset: the development server's request lines
    # follow LOG_LEVEL too (`make run` is quiet with WARNING)
    logging.getLogger("werkzeug").setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logging.getLogger("flask_appbuilder.utils.base").addFilter(_only_real_redirect_attempts)

    keyring.configure(app.config["ENCRYPTION_KEY"])
    _redact_operator_secrets(app)
    # a mistyped allow-list stops start-up instead of refusing every call later
    OutboundPolicy.from_setting(app.config.get("OUTBOUND_ALLOW_PRIVATE"))
    from app.catalogues import ensure_compiled

    ensure_compiled(app.config["TRANSLATIONS_DIR"])
    # FAB must not create tables itself: the schema belongs to Alembic (migrations/).
    app.config["FAB_CREATE_DB"] = False

    csrf.init_app(app)  # before FAB, so FAB can exempt its APIs (FAB pitfall 12)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    _install_guard_once()
    _init_redis(app)

    from app import models  # noqa: F401 - register every table on the metadata

    with app.app_context():
        schema_ready = _schema_ready()
        appbuilder = RelaydeskAppBuilder(
            security_manager_class=RelaydeskSecurityManager,
            update_perms=bool(app.config.get("FAB_UPDATE_PERMS")) and schema_ready,
        )
        appbuilder.init_app(app, db.session)
        from app.views import register_views

        register_views(appbuilder)
        from app.views.team import register_team_views

        register_team_views(appbuilder)
        from app.views.titles import translate_plain_labels

        translate_plain_labels(appbuilder)  # FAB's own English column labels, translated
        if appbuilder.update_perms:
            appbuilder.sm.sync_role_definitions()

    from app.auth.impersonation import init_impersonation

    init_impersonation(app)  # after FAB's own before_request, which sets g.user
    from app.catalogue_editor import refresh_if_changed

    @app.before_request
    def _catalogues_fresh() -> None:  # a translator's save, seen within seconds, no restart
        refresh_if_changed(app)

    machine_blueprints = _register_blueprints(app)
    init_security_headers(app, machine_blueprints)
    from app.errors import init_error_pages

    init_error_pages(app)
    from app.api_limits import init_api_limits

    init_api_limits(app)
    from app.signup import init_signup

    init_signup(app)
    from app import suspension

    suspension.install(app)  # a suspended workspace is read-only
    _register_favicon(app)
    from app.views.list_args import install_list_arg_checks

    install_list_arg_checks(app)
    _register_template_helpers(app)
    from app.cli import register_cli

    register_cli(app)
    return app


def _only_real_redirect_attempts(record: logging.LogRecord) -> bool:
    """FAB warns "Invalid redirect detected" on every sign-in without a `next` (nothing to
    redirect to): keep the warning for a `next` that was refused only."""
    from flask import has_request_context, request

    if "Invalid redirect" in str(record.msg) and has_request_context():
        return bool(request.args.get("next"))
    return True


# The operator's own secrets (environment), removed from every text like the tenants' ones.
OPERATOR_SECRETS = ("SECRET_KEY", "ENCRYPTION_KEY", "META_APP_SECRET", "META_VERIFY_TOKEN",
                    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "RAZORPAY_KEY_SECRET",
                    "RAZORPAY_WEBHOOK_SECRET", "SMTP_PASSWORD", "ADMIN_PASSWORD")


def _redact_operator_secrets(app: Flask) -> None:
    from app.redaction import install_log_filter, remember

    for name in OPERATOR_SECRETS:
        value = app.config.get(name)
        if isinstance(value, str):
            remember(*value.split(",") if name == "ENCRYPTION_KEY" else (value,))
    install_log_filter()


def _schema_ready() -> bool:
    try:
        return inspect(db.engine).has_table("ab_permission_view")
    except Exception:  # noqa: BLE001 - an unreachable database is reported by /readyz
        return False


def _install_guard_once() -> None:
    global _guard_installed
    if not _guard_installed:
        from app.jobs.workspace_config import install_version_hook

        from app.integrations.calls import install_call_log_hooks

        from app.audit import install_audit_hook

        from app.realtime import install_session_hooks

        install_write_guard(db.session)
        install_audit_hook(db.session)
        install_version_hook(db.session)
        install_call_log_hooks(db.session)
        install_session_hooks(db.session)
        from app.contacts import install_contact_merge_hook

        install_contact_merge_hook(db.session)
        event.listen(Engine, "connect", _sqlite_pragmas)
        event.listen(Pool, "checkin", dbpool.remember_checkin)
        event.listen(Pool, "checkout", dbpool.ping_idle_connection)
        _guard_installed = True


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite (the embedded default) shared by web and worker processes: WAL so readers do not
    block the writer, a busy timeout instead of "database is locked", and real foreign keys so
    cascades behave as on PostgreSQL."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _init_redis(app: Flask) -> None:
    from redis import Redis

    from app.jobs.queues import init_queues

    connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2,
                                socket_timeout=5, health_check_interval=30)
    app.extensions["relaydesk_redis"] = connection
    init_queues(app, connection)


def _register_blueprints(app: Flask) -> set[str]:
    """Register the machine endpoints (health, webhooks); return their blueprint names."""
    from app.health import health_bp

    app.register_blueprint(health_bp)
    csrf.exempt(health_bp)
    from app.webhooks import register_webhooks

    return {health_bp.name} | register_webhooks(app)


def _register_favicon(app: Flask) -> None:
    """/favicon.ico, which browsers ask for on their own (the layout links the SVG too)."""
    from flask import send_from_directory

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(app.static_folder, "favicon.ico",
                                   mimetype="image/vnd.microsoft.icon", max_age=86400)


def _install_escaping_gettext(app: Flask) -> None:
    """`_()` in templates marks its result safe (Jinja's i18n, newstyle), and FAB passes user
    input through it (`{{ _(error) }}` for every form error, which may quote what was typed).
    A catalogue translation is trusted; a text the catalogues do not know is escaped."""
    from flask_babel import get_translations
    from markupsafe import escape

    def known_or_escaped(source, translated):
        return translated if translated != source else str(escape(source))

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: known_or_escaped(s, get_translations().ugettext(s)),
        ngettext=lambda s, p, n: known_or_escaped(s if n == 1 else p,
                                                  get_translations().ungettext(s, p, n)),
        newstyle=True,
        pgettext=lambda c, s: known_or_escaped(s, get_translations().upgettext(c, s)),
        npgettext=lambda c, s, p, n: known_or_escaped(
            s if n == 1 else p, get_translations().unpgettext(c, s, p, n)),
    )


def _reach_fab_templates_by_prefix(app: Flask) -> None:
    """FAB's own templates stay reachable as `fab/<name>` when the app overrides `<name>`: our
    `appbuilder/general/lib.html` re-exports FAB's macros and replaces only the ones that built
    scripts out of text."""
    import flask_appbuilder
    from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

    fab_templates = Path(flask_appbuilder.__file__).parent / "templates"
    app.jinja_loader = ChoiceLoader([
        FileSystemLoader(str(Path(app.root_path) / app.template_folder)),
        PrefixLoader({"fab": FileSystemLoader(str(fab_templates))}),
    ])


def as_text(value) -> str:
    """Plain text of a template value, so that Jinja escapes it exactly once where it is printed:
    `_()` returns markup (a translation as is, an unknown text escaped) and flask-babel's lazy
    strings claim to be markup, and neither is escaped in an attribute."""
    from markupsafe import Markup

    return value.unescape() if isinstance(value, Markup) else str(value)


def _register_template_helpers(app: Flask) -> None:
    _install_escaping_gettext(app)
    _reach_fab_templates_by_prefix(app)
    app.jinja_env.filters["as_text"] = as_text
    from app.views.media import install_filters
    install_filters(app)  # media_kind, media_state, media_size (templates/media/_item.html)
    @app.context_processor
    def workspace_helpers():
        def current_workspace():
            scope = current_scope()
            if scope.workspace_id is None:
                return None
            from app.models import Workspace

            return db.session.get(Workspace, scope.workspace_id)

        def relaydesk_workspace_name() -> str:
            workspace = current_workspace()
            return workspace.name if workspace else ""

        def relaydesk_suspension() -> dict | None:
            """What the banner of a suspended workspace says to its members: the reason (the
            master admin's words, or the expiry's in the reader's language), and the Billing
            page when the reader may open it."""
            workspace = current_workspace()
            if workspace is None or workspace.status != "suspended":
                return None
            from flask import current_app, url_for

            from app.billing import reason_words

            link = None
            if current_app.appbuilder.sm.has_access("can_index", "BillingView"):
                link = url_for("BillingView.index")
            return {"reason": reason_words((workspace.suspended_reason or "").strip()),
                    "subscription_url": link}

        def relaydesk_locale() -> str:
            from flask_babel import get_locale

            return str(get_locale() or "en")

        return {"relaydesk_workspace_name": relaydesk_workspace_name,
                "relaydesk_suspension": relaydesk_suspension,
                "relaydesk_locale": relaydesk_locale}
