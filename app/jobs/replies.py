"""Reply texts in a customer's language.

Lookup order for a key: the workspace's own text (ReplyTemplate) → the platform default edited by
the master admin (GlobalReplyTemplate) → the catalogue translation of the built-in English text
(translations/<lang>/LC_MESSAGES/messages.po) → the English text itself.

Counted keys (app/domain/replies.py `COUNTED_REPLIES`: texts that list orders) are asked for
with the number of orders the line lists. The catalogue answers with the language's plural
form for that number (ngettext: Russian has three, Arabic six). A stored override is one text:
for exactly one order a stored `<key>_one` answers first, then a stored `<key>`, at each level
(workspace `<key>_one`, workspace `<key>`, platform `<key>_one`, platform `<key>`); so a
workspace that overrides `<key>` alone gives that text for every count.

A stored text that is not a valid template of its key (saved before texts were checked on save,
or written to the database by hand) is skipped as if absent: the next text in that order answers
(in the end the built-in English text, which a unit test keeps valid). Each skip is logged and
told to `note(key, source, error)`, which the pipeline writes into the command's trace.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app
from flask_babel import force_locale, get_translations, gettext

from app.domain.replies import (COUNTED_REPLIES, DEFAULT_REPLIES, STATUS_NAMES, base_key, escape,
                                general_count, reply_template, text_keys)
from app.domain.templates import Template, TemplateError, compile_template, reply_kind
from app.extensions import db
from app.models import GlobalReplyTemplate, ReplyTemplate

log = logging.getLogger(__name__)


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
    def __init__(self, workspace_id: int, language: str | None, config=None,
                 note: Callable[[str, str, TemplateError], None] | None = None):
        """`config`: the workspace's configuration snapshot (app/jobs/workspace_config.py),
        which keeps the templates of each language once loaded. `note(key, source, error)` hears
        of every stored text skipped because it is not a valid template."""
        self.workspace_id = workspace_id
        self.language = supported_language(language)
        self._note = note
        if config is not None:
            self._workspace, self._global = config.templates(self.language)
        else:
            self._workspace = dict(db.session.query(ReplyTemplate.key, ReplyTemplate.body)
                                   .filter_by(workspace_id=workspace_id,
                                              language=self.language))
            self._global = dict(db.session.query(GlobalReplyTemplate.key,
                                                 GlobalReplyTemplate.body)
                                .filter_by(language=self.language))
        self._templates: dict[tuple[str, int | None], tuple[str, Template]] = {}

    def text(self, key: str, count: int | None = None) -> str:
        """The template text that answers for `key` (the first valid one in lookup order);
        `count`: how many orders the line lists (counted keys; None: the plural text)."""
        return self._template(key, count)[0]

    def template(self, key: str, count: int | None = None) -> Template:
        return self._template(key, count)[1]

    def render(self, key: str, count: int | None = None, **values) -> str:
        """The reply for `key` in the book's language, filled and bounded; `count` chooses the
        plural form of a counted key and fills its `{count}`."""
        if count is not None:
            values.setdefault("count", count)
        return self._template(key, count)[1].render(values)

    def _template(self, key: str, count: int | None) -> tuple[str, Template]:
        if base_key(key) != key:  # "<key>_one" asked for directly: the text for one
            key, count = base_key(key), 1
        if key not in COUNTED_REPLIES:
            count = None
        found = self._templates.get((key, count))
        if found is None:
            found = self._templates[(key, count)] = self._first_valid(key, count)
        return found

    def _first_valid(self, key: str, count: int | None) -> tuple[str, Template]:
        kind = reply_kind(key)
        default = DEFAULT_REPLIES.get(key)
        if kind is None or default is None:  # a key nobody documented: say it as it is
            return escape(key), reply_template(key)
        if key in COUNTED_REPLIES:
            one, other = COUNTED_REPLIES[key]
            default = one if count == 1 else other
            translated = self._translate_plural(
                one, other, general_count(self.language) if count is None else count)
        else:
            translated = self._translate(default)
        stored = text_keys(key, count)
        candidates = (*(("workspace", name, self._workspace.get(name)) for name in stored),
                      *(("platform", name, self._global.get(name)) for name in stored),
                      ("catalogue", key, translated if self.language != "en" else None),
                      ("built-in", key, default))
        for source, name, text in candidates:
            if text is None:
                continue
            try:
                return text, compile_template(reply_kind(name) or kind, text)
            except TemplateError as exc:
                self._skipped(name, source, exc)
        raise AssertionError(f"the built-in reply {key!r} is not a valid template")

    def _skipped(self, key: str, source: str, error: TemplateError) -> None:
        log.warning("reply %s (%s text, workspace %s, %s) is not a valid template, the next "
                    "text answers: %s", key, source, self.workspace_id, self.language, error)
        if self._note is not None:
            self._note(key, source, error)

    def status_name(self, status: str) -> str:
        return self._translate(STATUS_NAMES.get(status, status))

    def word(self, msgid: str) -> str:
        """A catalogue word (an action of `ask_action`'s choices) in the book's language."""
        return self._translate(msgid)

    def _translate(self, msgid: str) -> str:
        if self.language == "en":
            return msgid
        with force_locale(self.language):
            return gettext(msgid)

    def _translate_plural(self, singular: str, plural: str, count: int) -> str:
        """The catalogue's form for `count` (no %-formatting: texts are brace templates)."""
        if self.language == "en":
            return singular if count == 1 else plural
        with force_locale(self.language):
            return get_translations().ungettext(singular, plural, count)
