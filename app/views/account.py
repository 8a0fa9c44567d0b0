"""A signed-in person's own API keys (sent as `X-API-Key`). The key is shown once, at creation."""
from __future__ import annotations

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from app.redaction import flash


class MyApiKeysView(BaseView):
    route_base = "/account/api-keys"
    default_view = "list"
    relaydesk_roles: dict = {}  # every signed-in role gets it (security.SELF_SERVICE)

    @expose("/")
    @has_access
    def list(self):
        keys = self.appbuilder.sm.find_api_keys_for_user(g.user.id)
        return self.render_template("relaydesk/api_keys.html", keys=keys, new_key=None)

    @expose("/create", methods=["POST"])
    @has_access
    def create(self):
        name = (request.form.get("name") or "").strip()[:200]
        if not name:
            flash(_("Give the key a name, e.g. the tool that will use it."), "danger")
            return redirect(url_for("MyApiKeysView.list"))
        created = self.appbuilder.sm.create_api_key(g.user, name)
        if not created:
            flash(_("The key could not be created. Try again."), "danger")
            return redirect(url_for("MyApiKeysView.list"))
        keys = self.appbuilder.sm.find_api_keys_for_user(g.user.id)
        return self.render_template("relaydesk/api_keys.html", keys=keys, new_key=created)

    @expose("/revoke/<uuid>", methods=["POST"])
    @has_access
    def revoke(self, uuid):
        key = self.appbuilder.sm.get_api_key_by_uuid(uuid)
        if key is None or key.user_id != g.user.id:  # has_access checks permissions, not owners
            abort(404)
        self.appbuilder.sm.revoke_api_key(uuid)
        flash(_("Key revoked."), "success")
        return redirect(url_for("MyApiKeysView.list"))
