"""The built-in customer replies (app/domain/replies.py) as a catalogue: each key, the
placeholders it may use and its text in every shipped language, beside the overrides.

The master admin (and translators) override a built-in text for the whole platform (a
GlobalReplyTemplate row, then edited in "Default replies") and revert to the built-in (the row
goes). Workspace members see the same catalogue read-only, with their workspace's own Reply
templates overrides beside it.
"""
from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import force_locale
from flask_babel import gettext as _

from app.domain.replies import DEFAULT_REPLIES
from app.domain.templates import reply_kind
from app.extensions import db
from app.models import GlobalReplyTemplate, ReplyTemplate
from app.redaction import flash
from app.security import ROLE_AGENT, ROLE_MANAGER, ROLE_TRANSLATOR, WRITE, READ
from app.tenancy import current_scope, scoped_query
from app.views.template_fields import builtin_reply_text


def built_in_text(key: str, language: str) -> str:
    """The built-in text of `key` in `language` (the catalogue's translation of the msgid)."""
    with force_locale(language):  # counted keys: the plural form, `<key>_one` the singular
        return builtin_reply_text(key, DEFAULT_REPLIES[key])


class BuiltInRepliesView(BaseView):
    route_base = "/replies/built-in"
    default_view = "list"
    relaydesk_roles = {ROLE_MANAGER: READ, ROLE_AGENT: READ, ROLE_TRANSLATOR: WRITE}
    method_permission_name = {"list": "list", "override": "edit", "revert": "edit"}

    @expose("/")
    @has_access
    def list(self):
        languages = list(current_app.config["LANGUAGES"])
        chosen = request.args.get("language")
        shown = [chosen] if chosen in languages else languages
        platform = {(row.key, row.language): row for row in db.session.query(GlobalReplyTemplate)}
        scope = current_scope()
        workspace = {}
        if scope.workspace_id is not None:
            workspace = {(row.key, row.language): row for row in scoped_query(ReplyTemplate)}
        rows = []
        for key in DEFAULT_REPLIES:
            kind = reply_kind(key)
            rows.append({
                "key": key,
                "placeholders": [f"{{{name}}}" for name in (kind.placeholders if kind else ())],
                "languages": [{"code": language,
                               "name": current_app.config["LANGUAGES"][language]["name"],
                               "text": built_in_text(key, language),
                               "platform": platform.get((key, language)),
                               "workspace": workspace.get((key, language))}
                              for language in shown],
            })
        may_override = self.appbuilder.sm.has_access("can_edit", self.class_permission_name)
        return self.render_template("relaydesk/built_in_replies.html", rows=rows,
                                    languages=current_app.config["LANGUAGES"], chosen=chosen,
                                    may_override=may_override,
                                    in_workspace=scope.workspace_id is not None)

    @expose("/override", methods=["POST"])
    @has_access
    def override(self):
        key, language = self._key_and_language()
        row = db.session.query(GlobalReplyTemplate).filter_by(key=key, language=language).first()
        if row is None:
            row = GlobalReplyTemplate(key=key, language=language,
                                      body=built_in_text(key, language))
            db.session.add(row)
            db.session.commit()
            flash(_("The platform now uses its own text for this reply: edit it here."), "info")
        return redirect(url_for("GlobalReplyTemplateView.edit", pk=row.id))

    @expose("/revert", methods=["POST"])
    @has_access
    def revert(self):
        key, language = self._key_and_language()
        row = db.session.query(GlobalReplyTemplate).filter_by(key=key, language=language).first()
        if row is not None:
            db.session.delete(row)
            db.session.commit()
            flash(_("Back to the built-in text."), "success")
        return redirect(url_for("BuiltInRepliesView.list", language=request.args.get("language"))
                        + f"#reply-{key}")

    @staticmethod
    def _key_and_language() -> tuple[str, str]:
        key = request.form.get("key", "")
        language = request.form.get("language", "")
        if key not in DEFAULT_REPLIES or language not in current_app.config["LANGUAGES"]:
            abort(400)
        return key, language
