"""Configuration from environment variables (a `.env` file is read if present).

Every setting docs/contracts.md "Set-up and processes" lists has an entry here. Development
defaults are embedded so that `make run` works on a fresh machine; keys that must stay stable
across restarts (SECRET_KEY, ENCRYPTION_KEY) are generated once into `instance/` when the
environment does not set them.
"""
from __future__ import annotations

import os
import tempfile
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from app.auth.passwords import fab_password_complexity

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("RELAYDESK_INSTANCE_DIR", BASE_DIR / "instance"))


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_bool_or_none(name: str) -> bool | None:
    return None if _env(name) is None else _env_bool(name, False)


def _persistent_key(filename: str, make) -> str:
    """A key generated once per instance folder, so restarts keep sessions and secrets readable."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / filename
    if path.exists():
        return path.read_text().strip()
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def normalise_database_url(url: str) -> str:
    # Heroku-style URLs and plain "postgresql://" both map to psycopg2.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


LANGUAGES = {
    "en": {"flag": "gb", "name": "English"},
    "es": {"flag": "es", "name": "Español"},
    "pt_BR": {"flag": "br", "name": "Português (Brasil)"},
    "ru": {"flag": "ru", "name": "Русский"},
    "tr": {"flag": "tr", "name": "Türkçe"},
    "id": {"flag": "id", "name": "Bahasa Indonesia"},
    "ar": {"flag": "sa", "name": "العربية"},
}


class Config:
    APP_NAME = "Relaydesk"
    APP_THEME = ""
    FAB_BASE_TEMPLATE = "relaydesk/baselayout.html"
    FAB_INDEX_VIEW = "app.views.home.HomeView"

    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'relaydesk.db'}")
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Connections are pinged by app/dbpool.py: before every use in web processes (as
    # pool_pre_ping would), only after sitting idle in workers (docs/ARCHITECTURE.md
    # "Database connections").
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False}
    REDIS_URL = _env("REDIS_URL", "redis://127.0.0.1:6379/0")

    # Both fall back to a key generated once into instance/ (see fill_generated_keys).
    SECRET_KEY = _env("SECRET_KEY")
    # Comma-separated Fernet keys, newest first (MultiFernet): rotation adds a key in front.
    ENCRYPTION_KEY = _env("ENCRYPTION_KEY")

    META_APP_ID = _env("META_APP_ID", "")
    META_APP_SECRET = _env("META_APP_SECRET", "")
    META_VERIFY_TOKEN = _env("META_VERIFY_TOKEN", "")
    META_GRAPH_URL = _env("META_GRAPH_URL", "https://graph.facebook.com")
    META_GRAPH_VERSION = _env("META_GRAPH_VERSION", "v21.0")
    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY", "")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET", "")
    # Card payments (app/payments/): unset keys hide the provider. The API bases are for tests
    # (local fakes) and proxies; the timeouts bound every call to the provider.
    STRIPE_API_BASE = _env("STRIPE_API_BASE", "https://api.stripe.com")
    STRIPE_TIMEOUT_SECONDS = float(_env("STRIPE_TIMEOUT_SECONDS", "20"))
    RAZORPAY_KEY_ID = _env("RAZORPAY_KEY_ID", "")
    RAZORPAY_KEY_SECRET = _env("RAZORPAY_KEY_SECRET", "")
    RAZORPAY_WEBHOOK_SECRET = _env("RAZORPAY_WEBHOOK_SECRET", "")
    RAZORPAY_API_BASE = _env("RAZORPAY_API_BASE", "https://api.razorpay.com")
    RAZORPAY_TIMEOUT_SECONDS = float(_env("RAZORPAY_TIMEOUT_SECONDS", "20"))
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # Media (app/media/): where attachments are kept — MEDIA_STORAGE=local (files under
    # MEDIA_ROOT, instance/media by default) or s3 (an S3-compatible bucket: MEDIA_S3_BUCKET,
    # MEDIA_S3_ENDPOINT for a non-AWS store, MEDIA_S3_REGION, MEDIA_S3_ACCESS_KEY,
    # MEDIA_S3_SECRET_KEY). MEDIA_MAX_BYTES caps every file, whatever the platform allows
    # (default 100 MB); the platforms' own limits apply below it.
    MEDIA_STORAGE = _env("MEDIA_STORAGE", "local")
    MEDIA_ROOT = _env("MEDIA_ROOT", str(INSTANCE_DIR / "media"))
    MEDIA_S3_ENDPOINT = _env("MEDIA_S3_ENDPOINT", "")
    MEDIA_S3_BUCKET = _env("MEDIA_S3_BUCKET", "")
    MEDIA_S3_REGION = _env("MEDIA_S3_REGION", "us-east-1")
    MEDIA_S3_ACCESS_KEY = _env("MEDIA_S3_ACCESS_KEY", "")
    MEDIA_S3_SECRET_KEY = _env("MEDIA_S3_SECRET_KEY", "")
    MEDIA_MAX_BYTES = int(_env("MEDIA_MAX_BYTES", str(100 * 1024 * 1024)))
    # no request body may be larger (413 before it is read or spooled to disk): the largest a
    # page takes is a file to send, MEDIA_MAX_BYTES; the contact import sets its own, smaller
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(MEDIA_MAX_BYTES + 1024 * 1024)))

    # Billing (app/billing.py, app/invoice_pdf.py, app/jobs/billing.py). The seller printed on
    # every invoice; the expiry reminders go REMINDER_DAYS days before a period ends (comma
    # list, e.g. "7,1"); an unpaid period expires GRACE_DAYS days after its end; the billing
    # clock runs every BILLING_CLOCK_SECONDS.
    INVOICE_PREFIX = _env("INVOICE_PREFIX", "RD")
    INVOICE_SELLER_NAME = _env("INVOICE_SELLER_NAME", "Relaydesk")
    INVOICE_SELLER_ADDRESS = _env("INVOICE_SELLER_ADDRESS", "")
    REMINDER_DAYS = _env("REMINDER_DAYS", "7,1")
    GRACE_DAYS = _env("GRACE_DAYS", "0")
    BILLING_CLOCK_SECONDS = _env("BILLING_CLOCK_SECONDS", "3600")

    # E-mail (app/mail.py): invitations and password resets, sent by a job (app/jobs/mail.py).
    # MAIL_BACKEND: "smtp" (the SMTP_* settings), "console" (written to the worker's log, for
    # development) or "memory" (kept in the process, for tests). Unset: smtp when SMTP_HOST is
    # set, else console.
    SMTP_HOST = _env("SMTP_HOST", "")
    MAIL_BACKEND = _env("MAIL_BACKEND", "smtp" if _env("SMTP_HOST") else "console")
    SMTP_PORT = int(_env("SMTP_PORT", "587"))
    SMTP_USERNAME = _env("SMTP_USERNAME", "")
    SMTP_PASSWORD = _env("SMTP_PASSWORD", "")
    # STARTTLS after connecting (port 587) or TLS from the start (SMTP_SSL, port 465).
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", _env_bool("SMTP_USE_TLS", True))
    SMTP_SSL = _env_bool("SMTP_SSL", False)
    SMTP_TIMEOUT_SECONDS = float(_env("SMTP_TIMEOUT_SECONDS", "20"))
    MAIL_FROM = _env("MAIL_FROM", _env("SMTP_FROM", "Relaydesk <relaydesk@localhost>"))
    # Who is told of new platform support tickets and customers' replies (a comma list of
    # addresses); unset: every active master admin with an e-mail address (app/platform_support.py).
    SUPPORT_EMAIL = _env("SUPPORT_EMAIL", "")
    # How long the links in those mails work (each works once: setting the password ends it).
    INVITATION_LINK_HOURS = int(_env("INVITATION_LINK_HOURS", "72"))
    PASSWORD_RESET_LINK_HOURS = int(_env("PASSWORD_RESET_LINK_HOURS", "2"))
    # "Forgot your password?" requests per e-mail address / per client address within
    # PASSWORD_RESET_WINDOW_SECONDS before further requests are refused (429) for a while.
    PASSWORD_RESET_MAX_PER_ACCOUNT = int(_env("PASSWORD_RESET_MAX_PER_ACCOUNT", "3"))
    PASSWORD_RESET_MAX_PER_ADDRESS = int(_env("PASSWORD_RESET_MAX_PER_ADDRESS", "10"))
    PASSWORD_RESET_WINDOW_SECONDS = int(_env("PASSWORD_RESET_WINDOW_SECONDS", "3600"))

    # Sign-up (app/signup/): on unless SIGNUP_ENABLED=false (then /signup/ says so, no form).
    # The confirmation link works SIGNUP_CONFIRM_HOURS; sign-up requests per e-mail address /
    # per client address within SIGNUP_WINDOW_SECONDS before further ones are refused (429).
    SIGNUP_ENABLED = _env_bool("SIGNUP_ENABLED", True)
    SIGNUP_CONFIRM_HOURS = int(_env("SIGNUP_CONFIRM_HOURS", "48"))
    SIGNUP_MAX_PER_ACCOUNT = int(_env("SIGNUP_MAX_PER_ACCOUNT", "3"))
    SIGNUP_MAX_PER_ADDRESS = int(_env("SIGNUP_MAX_PER_ADDRESS", "10"))
    SIGNUP_WINDOW_SECONDS = int(_env("SIGNUP_WINDOW_SECONDS", "3600"))

    ADMIN_USERNAME = _env("ADMIN_USERNAME", "admin")
    ADMIN_EMAIL = _env("ADMIN_EMAIL", "admin@relaydesk.local")
    ADMIN_PASSWORD = _env("ADMIN_PASSWORD")  # generated and printed once when unset

    # Flask-AppBuilder
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_UPDATE_PERMS = _env_bool("FAB_UPDATE_PERMS", True)
    FAB_API_SWAGGER_UI = True
    FAB_ADD_SECURITY_API = False
    FAB_API_KEY_ENABLED = True
    FAB_API_KEY_PREFIXES = ["rdk_"]
    FAB_API_MAX_PAGE_SIZE = 100
    # FAB's own password forms, where Relaydesk does not replace them, use the policy too
    # (app/auth/passwords.py; Relaydesk's forms add the username rule).
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    FAB_PASSWORD_COMPLEXITY_VALIDATOR = fab_password_complexity
    LANGUAGES = LANGUAGES
    BABEL_DEFAULT_LOCALE = "en"
    # Flask-Babel merges the catalogues of these directories in order, each read with the domain
    # at the same position in BABEL_DOMAIN; later ones win. FAB prepends its own directory
    # (domain "messages") when it starts, so the order is: FAB's catalogue, then our `fab` domain
    # (translations/<lang>/LC_MESSAGES/fab.po: every FAB string in every shipped language, which
    # FAB's own catalogues lack), then our `messages` domain (Relaydesk's wording wins).
    # The catalogues the translators' workspace edits (app/catalogue_editor.py), read by
    # Flask-Babel from the same place; tests point it at a copy.
    TRANSLATIONS_DIR = _env("RELAYDESK_TRANSLATIONS_DIR", str(BASE_DIR / "translations"))
    BABEL_TRANSLATION_DIRECTORIES = f"{TRANSLATIONS_DIR};{TRANSLATIONS_DIR}"
    BABEL_DOMAIN = "messages;fab;messages"
    JWT_ACCESS_TOKEN_EXPIRES = 3600

    # Rate limits (FAB pitfall 11: off and in memory unless configured).
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    # FAB's limit on POSTs to its sign-in blueprint is per process, in memory, counts successes
    # too and would lump every client behind a proxy together: the sign-in limits below replace
    # it (app/auth/limits.py).
    AUTH_RATE_LIMITED = False
    API_RATE_LIMIT = _env("API_RATE_LIMIT", "300 per minute")

    # Sign-in limits, in Redis, shared by the sign-in page and the API (app/auth/limits.py):
    # this many failures within the window lock an account / a client address for
    # LOGIN_LOCK_SECONDS, doubled at each further lock up to LOGIN_LOCK_MAX_SECONDS.
    LOGIN_ACCOUNT_MAX_FAILURES = int(_env("LOGIN_ACCOUNT_MAX_FAILURES", "5"))
    LOGIN_ADDRESS_MAX_FAILURES = int(_env("LOGIN_ADDRESS_MAX_FAILURES", "20"))
    LOGIN_FAILURE_WINDOW_SECONDS = int(_env("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
    LOGIN_LOCK_SECONDS = int(_env("LOGIN_LOCK_SECONDS", "60"))
    LOGIN_LOCK_MAX_SECONDS = int(_env("LOGIN_LOCK_MAX_SECONDS", "3600"))
    LOGIN_LOCK_MEMORY_SECONDS = int(_env("LOGIN_LOCK_MEMORY_SECONDS", "86400"))
    # Reverse proxies in front of the app that append to X-Forwarded-For (e.g. 1 behind one
    # load balancer); 0 ignores the header. Only the sign-in limits read it.
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    # Cookie flags, HSTS, CSP and frame protection: app/security_headers.py (from PUBLIC_BASE_URL).
    # Browser requests over plain http are redirected to https when FORCE_HTTPS is on; unset, it
    # follows PUBLIC_BASE_URL. Behind a TLS proxy, the proxy must send X-Forwarded-Proto.
    FORCE_HTTPS = _env_bool_or_none("FORCE_HTTPS")

    # Relaydesk
    EMBEDDED_QUEUE = _env_bool("RELAYDESK_EMBEDDED_QUEUE", False)  # `make run` sets it: UI flags it
    # Webhook rows of concurrent requests share one INSERT and commit (PostgreSQL only).
    WEBHOOK_GROUP_COMMIT = _env_bool("WEBHOOK_GROUP_COMMIT", True)
    # Events one pipeline job may take from the queue (PostgreSQL only; docs/ARCHITECTURE.md).
    PIPELINE_BATCH_SIZE = int(_env("PIPELINE_BATCH_SIZE", "10"))
    # ... and with a backlog (app/jobs/events.py `claim_batch`): more commands per panel call
    PIPELINE_BATCH_MAX = int(_env("PIPELINE_BATCH_MAX", "50"))
    # Real time (app/realtime.py, app/views/live.py): an open page's event stream holds a web
    # thread, so each process serves at most LIVE_STREAMS_PER_PROCESS of them (more: 503 and the
    # page retries later) and ends each after LIVE_STREAM_SECONDS (the page reconnects at once
    # and resumes where it was); a comment every LIVE_HEARTBEAT_SECONDS keeps proxies open.
    LIVE_STREAMS_PER_PROCESS = int(_env("LIVE_STREAMS_PER_PROCESS", "24"))
    # and at most this many for one login, and for one workspace, in each process: one member
    # (or one workspace) opening streams in a loop cannot take every other workspace's places
    LIVE_STREAMS_PER_USER = int(_env("LIVE_STREAMS_PER_USER", "5"))
    LIVE_STREAMS_PER_WORKSPACE = int(_env("LIVE_STREAMS_PER_WORKSPACE", "16"))
    LIVE_STREAM_SECONDS = float(_env("LIVE_STREAM_SECONDS", "300"))
    LIVE_HEARTBEAT_SECONDS = float(_env("LIVE_HEARTBEAT_SECONDS", "15"))
    LIVE_RETRY_MS = int(_env("LIVE_RETRY_MS", "2000"))
    PANEL_REQUESTS_PER_SECOND = float(_env("PANEL_REQUESTS_PER_SECOND", "5"))
    # Outbound URL policy (app/integrations/urlpolicy.py): comma-separated CIDRs or host names
    # that tenant URLs may reach although private (loopback, private ranges, ...); plain http is
    # allowed to them too. Empty: public https addresses only. `make run` sets 127.0.0.0/8.
    OUTBOUND_ALLOW_PRIVATE = _env("OUTBOUND_ALLOW_PRIVATE", "")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")


def fill_generated_keys(config: dict) -> None:
    """Give a development instance stable keys without asking anyone to set them."""
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _persistent_key("secret_key", lambda: secrets.token_hex(32))
    if not config.get("ENCRYPTION_KEY"):
        config["ENCRYPTION_KEY"] = _persistent_key(
            "encryption_key", lambda: Fernet.generate_key().decode()
        )


class TestConfig(Config):
    TESTING = True
    WTF_CSRF_ENABLED = False
    FAB_UPDATE_PERMS = True
    RATELIMIT_ENABLED = False
    AUTH_RATE_LIMITED = False
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        _env("TEST_DATABASE_URL", "sqlite:///:memory:")
    )
    REDIS_URL = _env("TEST_REDIS_URL", _env("REDIS_URL", "redis://127.0.0.1:6379/15"))
    SECRET_KEY = "test-secret-key-for-the-relaydesk-suite-0123456789"
    OUTBOUND_ALLOW_PRIVATE = "127.0.0.0/8"  # the fakes of outside services listen there
    MEDIA_ROOT = _env("TEST_MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "relaydesk-test-media"))
    ENCRYPTION_KEY = "6O2wzuQ0d8aMJ2hZq2b4gH3m0QwAqO5m1R2nS3kT4uE="
    MAIL_BACKEND = "memory"  # tests read the outbox (app/mail.py)
