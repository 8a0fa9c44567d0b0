"""The sign-up journey: `GET /signup/` → confirm the e-mail address → choose a plan → pay →
wait for approval. See docs/ARCHITECTURE.md "Sign-up".

* `journey`: the rules (register, confirm, plans, the plan step's checks).
* `links`: the signed one-time confirmation link.
* `payments`: manual methods, the card gateways (imported lazily), `submit_payment`.
* `views`: the blueprint `signup`; `pending`: members of a pending workspace are sent to
  `/signup/status`.
"""
from __future__ import annotations


def init_signup(app) -> None:
    """Register the pages and the redirect of pending workspaces' members."""
    from app.signup import pending
    from app.signup.views import signup_bp

    app.register_blueprint(signup_bp)
    pending.install(app)
