"""Contacts › Contacts, Contact groups, Import contacts (and Communication › Linked users).

"Linked users" stays a screen: the contacts that have a panel username (the same rows, the
same opt-out). Contacts lists every contact, with or without a username.
"""
from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import FilterNotEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import DataRequired, ValidationError
from wtforms.widgets import TextArea

from app import contact_import
from app.contacts import (BadPhone, format_custom_fields, normalise_phone,
                          parse_custom_fields, room_left)
from app.extensions import db
from app.models import ContactGroup, LinkedUser
from app.security import ROLE_AGENT, ROLE_MANAGER, READ, WRITE
from app.tenancy import current_scope, get_scoped
from app.validation import FieldErrors
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.export import CsvExportButton
from app.views.logs import visible
from app.views.plan_checks import linked_user_fits_plan
from app.views.workspace import labels


class CustomFieldsCheck:
    """The `key = value` lines refused beside the field (the same rule as `contact_valid`)."""

    valid_example = "city = Madrid 1000"
    invalid_example = "Bad Key = 1"

    def __call__(self, form, field):
        if isinstance(field.data, str) and parse_custom_fields(field.data)[1]:
            raise ValidationError(str(CUSTOM_FIELDS_PROBLEM))


CUSTOM_FIELDS_PROBLEM = _l("Write one field a line as key = value; keys are small letters, "
                           "digits and _, starting with a letter (at most 50 fields, values "
                           "up to 500 characters).")


class CustomFieldsField(TextAreaField):
    """Custom fields typed as `key = value` lines; stored as a JSON dict."""

    widget = TextArea()

    def process_data(self, value):
        self.data = format_custom_fields(value) if isinstance(value, dict) else (value or "")

    def populate_obj(self, obj, name):
        setattr(obj, name, self.data or "")


def contact_valid(contact) -> None:
    """The phone as digits, the email's shape, custom fields' keys (screen and REST alike)."""
    problems: dict[str, list] = {}
    try:
        contact.phone = normalise_phone(contact.phone)
    except BadPhone:
        problems["phone"] = [_l("Not a phone number: digits with an optional +, spaces, "
                                "dashes or brackets (6 to 15 digits).")]
    if contact.email:
        contact.email = contact.email.strip().lower()
        if not contact_import.EMAIL.match(contact.email):
            problems["email"] = [_l("Not an email address.")]
    fields = contact.custom_fields
    if isinstance(fields, str):
        fields, found = parse_custom_fields(fields)
        if found:
            problems["custom_fields"] = [CUSTOM_FIELDS_PROBLEM]
        else:
            contact.custom_fields = fields
    elif fields is None:
        contact.custom_fields = {}
    elif not isinstance(fields, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in fields.values()) or \
            parse_custom_fields("\n".join(f"{k} = {v}" for k, v in fields.items()))[1]:
        problems["custom_fields"] = [_l("Custom fields: an object of key → text; keys are "
                                        "small letters, digits and _.")]
    if contact.username is not None and not contact.username.strip():
        contact.username = None
    if contact.username is None and contact.id is not None and contact.identities:
        problems["username"] = [_l("Chats are linked to this username (Chat identities): "
                                   "remove those links first.")]
    if not (contact.name or contact.phone or contact.email or contact.username):
        problems.setdefault("name", []).append(
            _l("Give at least a name, a phone, an email or a username."))
    if problems:
        raise FieldErrors(problems)


CONTACT_LABELS = labels(name=_l("Name"), phone=_l("Phone"), email=_l("Email"),
                        username=_l("Panel username"), tags=_l("Tags"), groups=_l("Groups"),
                        source=_l("Source"), custom_fields=_l("Custom fields"),
                        opted_out=_l("Opted out of broadcasts"), opted_out_at=_l("Opted out"),
                        first_seen_at=_l("First seen"), last_seen_at=_l("Last seen"))
CONTACT_HELP = {
    "phone": _l("The international number, e.g. +7 900 123-45-67 (kept as digits)."),
    "username": _l("The customer's username on your panel: chats linked to it may act on "
                   "its orders. Leave empty for a contact that is not a panel user."),
    "tags": _l("Words of your own, comma separated (e.g. vip, reseller): broadcasts can be "
               "sent to the contacts with a tag."),
    "custom_fields": _l("One a line, key = value (e.g. city = Madrid). Keys: small letters, "
                        "digits and _."),
    "opted_out": _l("Receives no broadcasts. Set when the customer writes STOP in the chat "
                    "(START clears it); you may change it here too."),
}


class ContactView(CsvExportButton, WorkspaceModelView):
    """Every contact of the workspace (with or without a panel username)."""

    datamodel = RelaydeskInterface(LinkedUser)
    csv_resource = "contact"
    list_template = "relaydesk/contact_list.html"
    plan_checks = (linked_user_fits_plan,)  # `max_linked_users`: contacts and linked users
    item_validators = (contact_valid,)
    base_order = ("id", "desc")
    list_columns = ["name", "phone", "email", "username", "tags", "source", "opted_out",
                    "last_seen_at"]
    show_columns = ["name", "phone", "email", "username", "language", "tags", "groups",
                    "custom_fields", "notes", "source", "opted_out", "opted_out_at",
                    "first_seen_at", "last_seen_at", "created_at", "updated_at"]
    add_columns = ["name", "phone", "email", "username", "language", "tags", "groups",
                   "custom_fields", "notes", "opted_out"]
    edit_columns = add_columns
    search_columns = ["name", "phone", "email", "username", "tags", "groups", "source",
                      "opted_out", "last_seen_at", "language"]
    order_columns = ["name", "phone", "email", "username", "source", "last_seen_at"]
    label_columns = CONTACT_LABELS
    description_columns = CONTACT_HELP
    add_form_extra_fields = {"custom_fields": CustomFieldsField(
        _l("Custom fields"), validators=[CustomFieldsCheck()],
        description=CONTACT_HELP["custom_fields"])}
    edit_form_extra_fields = add_form_extra_fields
    # a contact typed on a screen has a name (chats and files may make one without)
    validators_columns = {"name": [DataRequired()]}
    formatters_columns = {"custom_fields": lambda v: format_custom_fields(v)}

    def pre_add(self, item):
        if not item.source:
            item.source = "manual"
        super().pre_add(item)

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            scope = current_scope()
            if scope.workspace_id is not None:
                kwargs["contacts_full"] = room_left(scope.workspace_id) == 0
            kwargs["import_url"] = url_for("ContactImportView.upload")
        return super().render_template(template, **kwargs)

    @action("add_to_group", _l("Add to group"), None, "fa-users")
    def add_to_group(self, items):
        rows = visible(items)
        if not rows:
            return redirect(url_for(f"{self.endpoint}.list"))
        ids = ",".join(str(r.id) for r in rows)
        return redirect(url_for("ContactImportView.add_to_group", ids=ids))


def username_given(contact) -> None:
    """On Linked users a row is a linked user: its username is required."""
    if not (contact.username or "").strip():
        raise FieldErrors({"username": [_l("Give the customer's panel username (contacts "
                                           "without one are on Contacts › Contacts).")]})


class LinkedUserView(ContactView):
    """The contacts that have a panel username (the linked users)."""

    csv_resource = ""
    item_validators = (contact_valid, username_given)
    validators_columns = {"username": [DataRequired()]}
    list_template = "appbuilder/general/model/list.html"
    base_filters = [["username", FilterNotEqual, None]]
    list_columns = ["username", "name", "phone", "language", "tags", "opted_out", "created_at"]

    def render_template(self, template, **kwargs):
        return WorkspaceModelView.render_template(self, template, **kwargs)


class ContactGroupView(WorkspaceModelView):
    """Named sets of contacts (add contacts from Contacts › select › Add to group)."""

    datamodel = RelaydeskInterface(ContactGroup)
    list_columns = ["name", "description", "created_at"]
    show_columns = ["name", "description", "contacts", "created_at", "updated_at"]
    add_columns = ["name", "description"]
    edit_columns = add_columns
    search_columns = ["name", "description"]
    label_columns = labels(name=_l("Name"), description=_l("Description"),
                           contacts=_l("Contacts"))


class ContactImportView(BaseView):
    """Import contacts from a CSV or Excel file: upload, map the columns, follow the job."""

    route_base = "/contacts/import"
    default_view = "upload"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    method_permission_name = {"upload": "import", "mapping": "import", "status": "import",
                              "progress": "import", "errors": "import",
                              "add_to_group": "import"}

    def _workspace_id(self) -> int:
        scope = current_scope()
        if scope.workspace_id is None:
            abort(404)  # an import goes into one workspace: a member's
        return scope.workspace_id

    def _import(self, token: str) -> dict:
        info = contact_import.load(token, self._workspace_id())
        if info is None:
            abort(404)
        return info

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        if current_scope().workspace_id is None:  # the master admin: no workspace of their own
            return self.render_template(
                "relaydesk/contact_import_upload.html", full=False,
                max_mb=contact_import.MAX_BYTES // (1024 * 1024),
                error=_("Contacts are imported into one workspace: sign in as one of its "
                        "members (Master admin › Sign in as) to import there."))
        workspace_id = self._workspace_id()
        error = None
        if request.method == "POST":
            # a body beyond the file limit is refused before it is read or spooled to disk
            request.max_content_length = contact_import.MAX_BYTES + 1024 * 1024
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                error = _("Choose a file.")
            else:
                data = upload.read(contact_import.MAX_BYTES + 1)
                try:
                    kind, headers, _samples = contact_import.read_upload(upload.filename, data)
                    from flask_login import current_user

                    token = contact_import.create(workspace_id, current_user.get_id(),
                                                  upload.filename, kind, data, headers)
                except contact_import.UploadRefused as refused:
                    error = str(refused)
                else:
                    return redirect(url_for(".mapping", token=token))
        return self.render_template("relaydesk/contact_import_upload.html", error=error,
                                    max_mb=contact_import.MAX_BYTES // (1024 * 1024),
                                    full=room_left(workspace_id) == 0)

    @expose("/<token>/map", methods=["GET", "POST"])
    @has_access
    def mapping(self, token):
        info = self._import(token)
        if info["state"] != "mapping":
            return redirect(url_for(".status", token=token))
        headers = info["headers"]
        data = contact_import.redis_connection().get(contact_import._key(token) + ":file")
        if data is None:
            abort(404)
        _kind, _headers, samples = contact_import.read_upload(info["filename"], data)
        targets = [request.form.get(f"target_{i}", "ignore") for i in range(len(headers))] \
            if request.method == "POST" else \
            [contact_import.guess_target(h) for h in headers]
        keys = [request.form.get(f"key_{i}", "").strip() for i in range(len(headers))] \
            if request.method == "POST" else [contact_import.slug_key(h) for h in headers]
        mode = request.form.get("mode", "skip")
        problems = []
        if request.method == "POST":
            mapping = [f"custom:{keys[i]}" if t == "custom" else t
                       for i, t in enumerate(targets)]
            allowed = {*contact_import.FIELDS, "ignore"}
            if any(t not in allowed and not t.startswith("custom:") for t in mapping):
                problems.append(_("Choose what each column is."))
            if mode not in contact_import.MODES:
                problems.append(_("Choose what to do with duplicates."))
            problems += contact_import.check_mapping(headers, mapping)
            if not problems:
                if contact_import.start(token, mapping, mode):
                    return redirect(url_for(".status", token=token))
                problems.append(_("The import could not be queued (the job queue is not "
                                  "reachable). Try again in a minute."))
        return self.render_template(
            "relaydesk/contact_import_map.html", info=info, headers=headers, samples=samples,
            targets=targets, keys=keys, mode=mode, problems=problems,
            fields=contact_import.FIELD_LABELS)

    @expose("/<token>/", methods=["GET"])
    @has_access
    def status(self, token):
        info = self._import(token)
        return self.render_template(
            "relaydesk/contact_import_status.html", info=info,
            progress=contact_import.progress(info),
            progress_url=url_for(".progress", token=token),
            errors_url=url_for(".errors", token=token))

    @expose("/<token>/progress", methods=["GET"])
    @has_access
    def progress(self, token):
        response = jsonify(contact_import.progress(self._import(token)))
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/<token>/errors.csv", methods=["GET"])
    @has_access
    def errors(self, token):
        self._import(token)
        return Response(contact_import.error_report(token), mimetype="text/csv",
                        headers={"Content-Disposition":
                                 "attachment; filename=contact-import-errors.csv"})

    @expose("/add-to-group", methods=["GET", "POST"])
    @has_access
    def add_to_group(self):
        raw = request.values.get("ids", "")
        ids = [int(i) for i in raw.split(",") if i.strip().isascii() and i.strip().isdigit()
               and len(i.strip()) < 10][:1000]
        # the scope's contacts (the master admin's: any workspace's, all of one workspace)
        contacts = [c for c in (get_scoped(LinkedUser, i) for i in ids) if c]
        owners = {c.workspace_id for c in contacts}
        if len(owners) > 1:
            flash(_("Choose contacts of one workspace."), "warning")
            return redirect(request.referrer or url_for("ContactView.list"))
        scope = current_scope()
        workspace_id = scope.workspace_id or (owners.pop() if owners else None)
        if workspace_id is None:
            abort(404)
        groups = db.session.query(ContactGroup).filter_by(workspace_id=workspace_id) \
            .order_by(ContactGroup.name).all()
        error = None
        if request.method == "POST":
            group = get_scoped(ContactGroup, request.form.get("group_id", type=int),
                               workspace_id)
            if group is None or not contacts:
                error = _("Choose a group.")
            else:
                for contact in contacts:
                    if group not in contact.groups:
                        contact.groups.append(group)
                db.session.commit()
                flash(_("%(n)s contacts are in %(group)s.", n=len(contacts), group=group.name),
                      "success")
                return redirect(url_for("ContactView.list" if scope.workspace_id
                                        else "AdminContactView.list"))
        return self.render_template("relaydesk/contact_add_to_group.html", contacts=contacts,
                                    groups=groups, ids=raw, error=error)
