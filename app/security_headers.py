"""What every browser-facing answer carries: cookie flags, HSTS, frame protection, a
Content-Security-Policy (Flask-Talisman), and what the machine endpoints are spared.

* Cookies (the session, Flask-Login's remember-me) are always `HttpOnly` and `SameSite=Lax`, and
  `Secure` when `PUBLIC_BASE_URL` is https: the product is then reached over https only, so a
  cookie must never travel in clear.
* HSTS is sent only then (and, as browsers require, only on answers that came over https: directly
  or through a proxy that says so in `X-Forwarded-Proto`). `FORCE_HTTPS` (default: on when
  `PUBLIC_BASE_URL` is https) redirects a browser request that came over plain http to https;
  `make run` (http on 127.0.0.1) is never redirected.
* Every page, API answer and error page refuses to be framed (`X-Frame-Options: DENY` and
  `frame-ancestors 'none'`), forbids MIME sniffing, and sends the referrer only to this site.
* `CONTENT_SECURITY_POLICY` allows only this site's own assets (the app vendors them all). Scripts
  need a per-request nonce: every script of FAB's templates and of app/templates carries one
  (`baselib.get_nonce()`), and none uses an inline event handler or a `javascript:` URL, so no
  `'unsafe-inline'` is needed for scripts. Styles keep `'unsafe-inline'`: FAB's templates and
  widgets write `style="…"` attributes, which a nonce cannot cover.
* The webhooks and `/healthz`, `/readyz` are called by machines, never rendered by a browser, and
  are the hot path: none of this runs for them (no nonce, no headers, no redirect).
"""
from __future__ import annotations

from flask import Flask, request
from flask_talisman import DENY, Talisman

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # + 'nonce-…' per request (content_security_policy_nonce_in)
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
REFERRER_POLICY = "same-origin"
HSTS_MAX_AGE = 365 * 24 * 3600


class RelaydeskTalisman(Talisman):
    """Flask-Talisman that leaves the machine blueprints (webhooks, health) untouched."""

    def __init__(self, machine_blueprints: frozenset[str]) -> None:
        super().__init__()
        self.machine_blueprints = machine_blueprints

    def _for_machines(self) -> bool:
        return request.blueprint in self.machine_blueprints

    def _force_https(self):
        if self._for_machines():
            return None
        return super()._force_https()

    def _make_nonce(self):
        if self._for_machines():
            return None
        return super()._make_nonce()

    def _set_response_headers(self, response):
        if self._for_machines():
            return response
        response = super()._set_response_headers(response)
        own = getattr(response, "relaydesk_csp", None)
        if own:  # a served file's own, stricter policy (app/views/media.py): sandboxed
            response.headers["Content-Security-Policy"] = own
        return response


def serves_https(config) -> bool:
    """Whether the product is reached over https (PUBLIC_BASE_URL)."""
    return str(config.get("PUBLIC_BASE_URL") or "").lower().startswith("https://")


def init_security_headers(app: Flask, machine_blueprints: set[str]) -> Talisman:
    """Set the cookie flags and install Talisman's hooks; `machine_blueprints` are skipped."""
    https = serves_https(app.config)
    force_https = app.config.get("FORCE_HTTPS")
    app.config.update(
        SESSION_COOKIE_SECURE=https, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https, REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    talisman = RelaydeskTalisman(frozenset(machine_blueprints))
    talisman.init_app(
        app,
        force_https=https if force_https is None else bool(force_https),
        strict_transport_security=https,
        strict_transport_security_max_age=HSTS_MAX_AGE,
        frame_options=DENY,
        content_security_policy=CONTENT_SECURITY_POLICY,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy=REFERRER_POLICY,
        # The flags are set above, once; Talisman would rewrite SESSION_COOKIE_SECURE on every
        # request (and drop it in debug mode).
        session_cookie_secure=False,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
    )
    app.extensions["relaydesk_talisman"] = talisman
    return talisman
