"""Reply texts in a customer's language.

Lookup order for a key: the workspace's own text (ReplyTemplate) → the platform default edited by
the master admin (GlobalReplyTemplate) → the catalogue translation of the built-in English text
(translations/<lang>/LC_MESSAGES/messages.po) → the English text itself.
"""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, gettext

from app.domain.replies import DEFAULT_REPLIES, STATUS_NAMES
from app.extensions import db
from app.models import GlobalReplyTemplate, ReplyTemplate


def supported_language(language: str | None) -> str:
    """The closest language we ship catalogues for (pt → pt_BR, es_MX → es), else English."""
    languages = current_app.config.get("LANGUAGES", {})
    if not language:
        return "en"
    language = language.replace("-", "_")
    if language in languages:
        return language
    base = language.split("_")[0].lower()
    for code in languages:
        if code.split("_")[0].lower() == base:
            return code
    return "en"


class ReplyBook:
    def __init__(self, workspace_id: int, language: str | None, config=None):
        """`config`: the workspace's configuration snapshot (app/jobs/workspace_config.py),
        which keeps the templates of each language once loaded."""
        self.language = supported_language(language)
        if config is not None:
            self._workspace, self._global = config.templates(self.language)
        else:
            self._workspace = dict(db.session.query(ReplyTemplate.key, ReplyTemplate.body)
                                   .filter_by(workspace_id=workspace_id,
                                              language=self.language))
            self._global = dict(db.session.query(GlobalReplyTemplate.key,
                                                 GlobalReplyTemplate.body)
                                .filter_by(language=self.language))
        self._cache: dict[str, str] = {}

    def text(self, key: str) -> str:
        if key in self._workspace:
            return self._workspace[key]
        if key in self._global:
            return self._global[key]
        if key not in self._cache:
            default = DEFAULT_REPLIES.get(key, key)
            self._cache[key] = self._translate(default)
        return self._cache[key]

    def status_name(self, status: str) -> str:
        return self._translate(STATUS_NAMES.get(status, status))

    def _translate(self, msgid: str) -> str:
        if self.language == "en":
            return msgid
        with force_locale(self.language):
            return gettext(msgid)
