"""Set-password links: the invitation of a new member and "Forgot your password?".

A link carries a token signed with SECRET_KEY (itsdangerous, one salt per purpose, so an
invitation token is no reset token), holding the login's id and a fingerprint of its current
password hash and its revocation epoch. It is refused when:

* the signature does not match (forged or altered): `LinkInvalid("invalid")`;
* it is older than INVITATION_LINK_HOURS / PASSWORD_RESET_LINK_HOURS: `LinkInvalid("expired")`;
* the password or the epoch changed since it was made (the link was used: setting the password
  changes the hash; or the login signed out everywhere, was suspended or got another password):
  `LinkInvalid("used")`; so is a link of a login that is suspended or no longer exists.

No table records the links: single use follows from the fingerprint.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urljoin

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.auth import revocation

INVITATION = "invitation"
RESET = "reset"
PURPOSES = (INVITATION, RESET)
_HOURS_SETTING = {INVITATION: "INVITATION_LINK_HOURS", RESET: "PASSWORD_RESET_LINK_HOURS"}
_DEFAULT_HOURS = {INVITATION: 72, RESET: 2}


class LinkInvalid(Exception):
    """A link that cannot be used; `reason` is "invalid", "expired" or "used"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"],
                                  salt=f"relaydesk-password-link-{purpose}")


def lifetime_hours(purpose: str) -> int:
    return int(current_app.config.get(_HOURS_SETTING[purpose]) or _DEFAULT_HOURS[purpose])


def _fingerprint(user) -> str:
    state = f"{user.password or ''}|{revocation.current_epoch(user.id)}"
    return hashlib.sha256(state.encode()).hexdigest()[:24]


def make_token(user, purpose: str) -> str:
    return _serializer(purpose).dumps({"u": int(user.id), "f": _fingerprint(user)})


def link_for(token: str, purpose: str) -> str:
    """The absolute URL (PUBLIC_BASE_URL) of the page that takes the token."""
    base = current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
    path = "invitation" if purpose == INVITATION else "reset"
    return urljoin(base.rstrip("/") + "/", f"password/{path}/{token}")


def user_for(token: str, purpose: str):
    """The login the token was made for, if it may still set its password.

    :raise LinkInvalid: forged, expired, already used, or its login suspended or gone.
    """
    try:
        data = _serializer(purpose).loads(token or "", max_age=lifetime_hours(purpose) * 3600)
    except SignatureExpired:
        raise LinkInvalid("expired") from None
    except BadSignature:
        raise LinkInvalid("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) \
            or not isinstance(data.get("f"), str):
        raise LinkInvalid("invalid")
    user = current_app.appbuilder.sm.get_user_by_id(data["u"])
    if user is None or not user.active:
        raise LinkInvalid("used")
    if not hmac.compare_digest(_fingerprint(user), data["f"]):
        raise LinkInvalid("used")
    return user
