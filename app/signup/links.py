"""The confirmation link of a sign-up: what was typed, signed, and usable once.

A link carries a token signed with SECRET_KEY (itsdangerous, its own salt, so no password link
is a confirmation link and no confirmation link a password link) holding the login's id, a
fingerprint of its state (password hash, active flag, revocation epoch) and the workspace the
person asked for (name, slug, language). No table keeps sign-ups in between: the login exists
(inactive) and the rest travels in the link. The token is refused when:

* the signature does not match (forged or altered): `LinkInvalid("invalid")`;
* it is older than SIGNUP_CONFIRM_HOURS: `LinkInvalid("expired")` — `pending_for` still reads
  such a link (its signature is good), so "send it again" needs nothing typed;
* the login changed since (the link was used: confirming activates the login; or the address
  signed up again, which replaced the password and so every earlier link), or it is gone:
  `LinkInvalid("used")`.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.auth import revocation
from app.auth.password_links import LinkInvalid

SALT = "relaydesk-signup-confirm"
DEFAULT_HOURS = 48

__all__ = ["LinkInvalid", "Pending", "lifetime_hours", "make_token", "link_for", "pending_for"]


@dataclass(frozen=True)
class Pending:
    """A sign-up waiting for its confirmation: the login and the workspace asked for."""

    user: object
    workspace_name: str
    slug: str
    language: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def lifetime_hours() -> int:
    return int(current_app.config.get("SIGNUP_CONFIRM_HOURS") or DEFAULT_HOURS)


def _fingerprint(user) -> str:
    state = f"{user.password or ''}|{bool(user.active)}|{revocation.current_epoch(user.id)}"
    return hashlib.sha256(state.encode()).hexdigest()[:24]


def make_token(user, workspace_name: str, slug: str, language: str) -> str:
    return _serializer().dumps({"u": int(user.id), "f": _fingerprint(user),
                                "w": workspace_name, "s": slug, "l": language})


def link_for(token: str) -> str:
    """The absolute URL (PUBLIC_BASE_URL) of the confirmation page."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    return base + url_for("signup.confirm", token=token)


def _load(token: str, max_age: int | None) -> dict:
    try:
        data = _serializer().loads(token or "", max_age=max_age)
    except SignatureExpired:
        raise LinkInvalid("expired") from None
    except BadSignature:
        raise LinkInvalid("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) \
            or not all(isinstance(data.get(key), str) for key in ("f", "w", "s", "l")):
        raise LinkInvalid("invalid")
    return data


def pending_for(token: str, *, expired_ok: bool = False) -> Pending:
    """The sign-up the token confirms, if it may still be confirmed. `expired_ok`: an old but
    genuine link is read too (to send a fresh one to the same login).

    :raise LinkInvalid: forged, expired (unless `expired_ok`), used, or its login gone.
    """
    data = _load(token, None if expired_ok else lifetime_hours() * 3600)
    user = current_app.appbuilder.sm.get_user_by_id(data["u"])
    if user is None or user.active or not hmac.compare_digest(_fingerprint(user), data["f"]):
        raise LinkInvalid("used")
    return Pending(user=user, workspace_name=data["w"], slug=data["s"], language=data["l"])
