"""The translators' workspace (Master admin › Translations) and its JSON twin
(`/api/v1/catalogue`): the `messages.po` catalogues of every language, edited in the app.
What a save does (lock, atomic write, compile, live in every process): app/catalogue_editor.py.
Translator and Admin roles only; everyone else 403."""
from __future__ import annotations

import hashlib
import logging
import math

from flask import abort, current_app, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.decorators import has_access, protect
from flask_babel import gettext as _

from app import audit
from app import catalogue_editor as editor
from app.extensions import db
from app.redaction import flash
from app.security import ROLE_TRANSLATOR, WRITE

log = logging.getLogger(__name__)
PAGE_SIZE = 25


def audit_change(language: str, saved: dict, before) -> None:
    """The audit trail's row for a saved translation (platform-wide: no workspace)."""
    label = f"{language}: {saved['id']}" + (f" ({saved['context']})" if saved["context"] else "")
    audit.record(db.session, "update", workspace_id=None, model="Catalogue", row_id=None,
                 row_label=label, changes={"translation": [before, saved["translation"]]})
    db.session.commit()
    log.info("catalogue %s: %r changed", language, saved["id"][:80])


def audit_added(language: str) -> None:
    audit.record(db.session, "create", workspace_id=None, model="Catalogue", row_id=None,
                 row_label=language, changes={"language": [None, language]})
    db.session.commit()
    log.info("catalogue %s added", language)


def _flag(name: str) -> bool:
    return request.args.get(name, "") not in ("", "0", "false", "off")


def language_name(code: str) -> str:
    known = current_app.config.get("LANGUAGES", {}).get(code)
    if known:
        return known["name"]
    try:
        from babel import Locale

        return Locale.parse(code).get_display_name(code) or code
    except Exception:  # noqa: BLE001 - a directory Babel does not know: its code
        return code


def entry_anchor(msgid: str, context: str | None) -> str:
    digest = hashlib.sha1(f"{context or ''}\x04{msgid}".encode(), usedforsecurity=False)
    return "entry-" + digest.hexdigest()[:12]


class CatalogueApi(BaseApi):
    """`GET /api/v1/catalogue/<lang>` (`?untranslated=1`, `?fuzzy=1`, `?search=`),
    `PUT /api/v1/catalogue/<lang>` `{"id", "context"?, "translation"}`,
    `POST /api/v1/catalogue` `{"language"}`. JWT, X-API-Key or the browser session."""

    resource_name = "catalogue"
    route_base = "/api/v1/catalogue"
    allow_browser_login = True
    relaydesk_roles = {ROLE_TRANSLATOR: WRITE}
    method_permission_name = {"get": "get", "put": "put", "post": "post"}

    def _refused(self, error: editor.CatalogueError):
        return self.response(error.status, message=error.message)

    @expose("/<lang>", methods=["GET"])
    @protect()
    def get(self, lang: str):
        """A language's catalogue.
        ---
        get:
          description: The entries of one language's catalogue (Translator and Admin).
          parameters:
          - in: path
            name: lang
            schema: {type: string}
          - in: query
            name: untranslated
            schema: {type: string}
          - in: query
            name: fuzzy
            schema: {type: string}
          - in: query
            name: search
            schema: {type: string}
          responses:
            200:
              description: '`{"language", "entries": [{"id", "context", "plural", "translation",
                "fuzzy", "locations"}]}`'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        try:
            catalog = editor.read_catalogue(lang)
        except editor.CatalogueError as error:
            return self._refused(error)
        search = request.args.get("search") or None
        found = [editor.entry(m) for m in editor.messages(catalog)
                 if editor.matches(m, untranslated=_flag("untranslated"), fuzzy=_flag("fuzzy"),
                                   search=search)]
        return self.response(200, language=lang, entries=found)

    @expose("/<lang>", methods=["PUT"])
    @protect()
    def put(self, lang: str):
        """Change one entry's translation: saved, compiled, live in every process.
        ---
        put:
          description: '`{"id", "context"?, "translation"}`; `translation` a list for plural
            entries. 400 `{"message"}` when its placeholders differ from the original.'
          parameters:
          - in: path
            name: lang
            schema: {type: string}
          responses:
            200:
              description: Saved.
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return self.response_400(message="send a JSON object")
        try:
            saved, before = editor.save_translation(lang, data.get("id"), data.get("context"),
                                                    data.get("translation"))
        except editor.CatalogueError as error:
            return self._refused(error)
        audit_change(lang, saved, before)
        return self.response(200, language=lang, entry=saved)

    @expose("", methods=["POST"])
    @protect()
    def post(self):
        """Add a language (a catalogue with every text untranslated).
        ---
        post:
          description: '`{"language": "<code>"}` → 201 `{"language"}`.'
          responses:
            201:
              description: Added.
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return self.response_400(message="send a JSON object")
        try:
            language = editor.add_language(data.get("language"))
        except editor.CatalogueError as error:
            return self._refused(error)
        audit_added(language)
        return self.response(201, language=language)


class TranslationsView(BaseView):
    """Pick a language, filter, edit one entry at a time (one field per plural form)."""

    route_base = "/translations"
    default_view = "index"
    relaydesk_roles = {ROLE_TRANSLATOR: WRITE}
    method_permission_name = {"index": "list", "save": "edit", "add": "add"}

    @expose("/")
    @has_access
    def index(self):
        return self._page()

    def _page(self, errors: dict | None = None, typed: dict | None = None, status: int = 200):
        codes = editor.languages()
        chosen = request.values.get("language") or None
        if chosen is not None and chosen not in codes:
            abort(404)
        overview = []
        for code in codes:
            figures = editor.progress(editor.read_catalogue(code))
            overview.append({"code": code, "name": language_name(code), "progress": figures})
        context = {"languages": overview, "chosen": chosen, "errors": errors or {},
                   "typed": typed or {}, "entries": [], "page": 0, "pages": 0,
                   "filters": self._filters(), "language_name": language_name,
                   "anchor": entry_anchor, "progress": None, "shown": 0}
        if chosen is not None:
            catalog = editor.read_catalogue(chosen)
            filters = context["filters"]
            found = [m for m in editor.messages(catalog)
                     if editor.matches(m, untranslated=filters["untranslated"],
                                       fuzzy=filters["fuzzy"], search=filters["search"])]
            pages = max(1, math.ceil(len(found) / PAGE_SIZE))
            page = min(max(filters["page"], 0), pages - 1)
            context.update(
                entries=[editor.entry(m) for m in found[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]],
                page=page, pages=pages, shown=len(found), progress=editor.progress(catalog),
                forms=catalog.num_plurals)
        shown = {entry_anchor(e["id"], e["context"]) for e in context["entries"]}
        for key, message in (errors or {}).items():
            if key not in shown:  # its entry is not on this page: said above the list
                flash(message, "danger")
        return self.render_template("relaydesk/translations.html", **context), status

    @staticmethod
    def _filters() -> dict:
        try:
            page = int(request.values.get("page") or 0)
        except ValueError:
            page = 0
        return {"untranslated": request.values.get("untranslated") == "1",
                "fuzzy": request.values.get("fuzzy") == "1",
                "search": (request.values.get("search") or "").strip()[:200], "page": page}

    def _back(self, anchor: str | None = None):
        filters = self._filters()
        args = {"language": request.form.get("language")}
        args.update({k: "1" for k in ("untranslated", "fuzzy") if filters[k]})
        if filters["search"]:
            args["search"] = filters["search"]
        if filters["page"]:
            args["page"] = filters["page"]
        return redirect(url_for("TranslationsView.index", **args)
                        + (f"#{anchor}" if anchor else ""))

    @expose("/save", methods=["POST"])
    @has_access
    def save(self):
        language = request.form.get("language", "")
        msgid = request.form.get("id", "")
        context = request.form.get("context") or None
        forms = request.form.getlist("translation")
        plural = request.form.get("plural") == "1"
        anchor = entry_anchor(msgid, context)
        if not forms:  # no box at all (an empty box sends "": it removes the translation)
            return self._page(errors={anchor: _("No translation was sent: nothing was saved.")},
                              status=400)
        if not plural and len(forms) > 1:  # a text without plural forms takes one box
            return self._page(errors={anchor: _("This text has one form: send one "
                                                "translation. Nothing was saved.")},
                              typed={anchor: forms[:1]}, status=400)
        try:
            saved, before = editor.save_translation(
                language, msgid, context, forms if plural else forms[0])
        except editor.CatalogueError as error:
            if error.status == 404:
                abort(404)
            # the page again, the error beside the field and what was typed kept (200, as
            # every refused form of the app's)
            return self._page(errors={anchor: error.message}, typed={anchor: forms})
        audit_change(language, saved, before)
        flash(_("Saved. Every screen and reply uses the new text within seconds."), "success")
        return self._back(anchor)

    @expose("/add", methods=["POST"])
    @has_access
    def add(self):
        try:
            language = editor.add_language(request.form.get("new_language", ""))
        except editor.CatalogueError as error:
            if error.status == 409:
                flash(_("This language already has a catalogue."), "warning")
            else:
                flash(_("That is not a language code Babel knows (for example fr, de or "
                        "pt_PT)."), "danger")
            return redirect(url_for("TranslationsView.index"))
        audit_added(language)
        flash(_("Language added: every text is untranslated for now."), "success")
        return redirect(url_for("TranslationsView.index", language=language))
