"""Error answers: a page inside the app's layout for people, JSON for machines.

- Screens (everything else): 400, 403, 404, 405, 429 and 500 render relaydesk/error.html inside
  the layout, with a way back (home, previous page, sign-in for anonymous people), translated.
  A 404 is answered as a 404 to anonymous people too: no redirect to the sign-in page.
- `/api/…`: `{"error": true, "message": "…", "code": "NOT_FOUND"}` (docs/contracts.md
  "Public API"); FAB's REST answers it writes itself (`{"message": …}`) are untouched.
- `/webhooks/…`: `{"ok": false, "error": "…"}`, the shape of app/webhooks/http.py's `refuse`.

A 500 never shows a trace, an exception text or a secret: the page says what happened in general
words; the exception goes to the log (which redacts secrets, app/redaction.py).
"""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
WEBHOOK_PREFIX = "/webhooks/"
MACHINE_PATHS = ("/healthz", "/readyz")

# status → (title, explanation) shown on the page
PAGES = {
    400: (_l("This request could not be handled"),
          _l("Something in the address or the form was not understood. Go back and try again.")),
    403: (_l("You do not have access to this page"),
          _l("Your role does not allow this page. If you need it, ask a manager of your "
             "workspace.")),
    404: (_l("Page not found"),
          _l("The page or record does not exist, or it belongs to another workspace.")),
    405: (_l("This action is not possible here"),
          _l("The page cannot be used this way. Go back and use its buttons.")),
    429: (_l("Too many requests"),
          _l("Please wait a moment, then try again.")),
    500: (_l("Something went wrong on our side"),
          _l("The error was recorded. Please try again in a moment; if it keeps happening, "
             "tell the platform's administrator the time it happened.")),
}

# a 403's explanation for people whose role has nobody above it in the workspace
FORBIDDEN_FOR_MANAGERS = _l("Your role does not allow this page. If you need it, ask the "
                            "platform's administrator.")
FORBIDDEN_ANONYMOUS = _l("This page needs a sign-in with a role that may open it.")

CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
         405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 429: "RATE_LIMITED",
         500: "INTERNAL_ERROR"}

# A page when the layout itself cannot be rendered (the database is down, say): no template.
BARE_PAGE = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}"
             "</title></head><body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1>"
             "<p>{text}</p><p><a href=\"/\">Relaydesk</a></p></body></html>")


def init_error_pages(app: Flask) -> None:
    for status in (400, 403, 404, 405, 429):
        app.register_error_handler(status, handle_http_error)
    app.register_error_handler(InternalServerError, handle_server_error)


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def _is_webhook() -> bool:
    return request.path.startswith(WEBHOOK_PREFIX)


def handle_http_error(error: HTTPException):
    status = error.code or 500
    if _is_api() or _is_webhook() or request.path in MACHINE_PATHS:
        return machine_answer(status, error)
    response = error.get_response()  # keeps headers such as Allow (405) and Retry-After (429)
    body, _ = error_page(status)
    response.set_data(body)
    response.mimetype = "text/html"
    return response


def handle_server_error(error: Exception):
    # Flask has logged the exception with its trace (app.log_exception) before calling this.
    _rollback()
    if _is_api() or _is_webhook() or request.path in MACHINE_PATHS:
        return machine_answer(500, None)
    return error_page(500)


def machine_answer(status: int, error: HTTPException | None):
    if _is_webhook():
        message = "not found" if status == 404 else (
            "internal error" if status >= 500 else (error.name.lower() if error else "error"))
        response = jsonify(ok=False, error=message)
    else:
        message = ((getattr(error, "api_message", None) or error.name)
                   if error is not None and status < 500 else "Internal server error")
        response = jsonify(error=True, message=message, code=CODES.get(status, f"HTTP_{status}"))
    response.status_code = status
    if error is not None and status != 500:
        for header in ("Allow", "Retry-After"):
            if header in error.get_response().headers:
                response.headers[header] = error.get_response().headers[header]
    return response


def _forbidden_text():
    """A 403's explanation, worded for the reader's role: agents ask a manager, managers (and
    anyone else without a workspace manager above them) the platform's administrator."""
    from flask import g

    from app.security import ROLE_AGENT

    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return FORBIDDEN_ANONYMOUS
    roles = {role.name for role in getattr(user, "roles", ()) or ()}
    if ROLE_AGENT in roles:
        return PAGES[403][1]
    return FORBIDDEN_FOR_MANAGERS


def error_page(status: int):
    title, text = PAGES.get(status, PAGES[500])
    if status == 403:
        try:
            text = _forbidden_text()
        except Exception:  # noqa: BLE001 - the general words still fit
            log.warning("the 403 text could not be chosen", exc_info=True)
    try:
        appbuilder = current_app.appbuilder
        body = render_template("relaydesk/error.html", appbuilder=appbuilder,
                               base_template=appbuilder.base_template, status=status,
                               title=title, text=text, back_url=_same_site_referrer())
    except Exception:  # noqa: BLE001 - the layout needs the database; answer without it
        log.exception("the error page could not be rendered")
        _rollback()
        body = BARE_PAGE.format(title=escape(str(title)), text=escape(str(text)))
    return body, status


def _same_site_referrer() -> str | None:
    """The previous page, only when it is one of ours (never send people elsewhere)."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url) and referrer != request.url:
        return referrer
    return None


def _rollback() -> None:
    try:
        from app.extensions import db

        db.session.rollback()
    except Exception:  # noqa: BLE001 - nothing more to do when even this fails
        log.warning("rolling back before an error page failed", exc_info=True)
