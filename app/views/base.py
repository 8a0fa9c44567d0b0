"""Base classes for every Relaydesk screen and REST API over a workspace-owned model.

* `WorkspaceModelView` / `WorkspaceRestApi`: scoped through `ScopedInterface` (app/tenancy.py),
  the workspace set from the signed-in member on add (the relationship itself, FAB pitfall 2),
  related ids checked inside the workspace (FAB pitfall 3), sensitive columns as declared on the
  model (app/models/sensitive.py): secrets write-only and shown masked, hashes never shown.
* `SummaryConverter`: every REST answer dumps a related row as `{"id", "label"}`, never the row.
* `admin_variant(view)`: the master admin's copy of a view, with the workspace column in lists,
  forms and search; only the Admin role gets it.
"""
from __future__ import annotations

import functools
import logging

from flask import abort, g, request
from flask_appbuilder import ModelRestApi, ModelView
from flask_appbuilder.api import BaseApi
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.fields import EnumField
from flask_appbuilder.urltools import (get_filter_args, get_order_args, get_page_args,
                                      get_page_size_args)
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from marshmallow import fields
from sqlalchemy import inspect
from sqlalchemy import types as sa_types
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2ManyWidget, Select2Widget
from wtforms import DateField, DateTimeField, SelectField, SelectMultipleField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, ValidationError
from wtforms.widgets import PasswordInput

from app.redaction import flash
from app.crypto import mask
from app.extensions import db
from app.labels import CODE_LIST_COLUMNS, ENUM_LABELS
from app.models.base import is_workspace_owned, split_list
from app.models.sensitive import HASH, sensitive_columns, write_only_columns
from app.money import amount_problem, to_minor
from app.ownership import IdentifierTaken, identifier_in_violation
from app.plans import PlanRefusal
from app.status_words import status_detail_text
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import (ScopedInterface, TenancyError, check_references, current_scope,
                         workspace_scope)
from app.validation import FieldErrors, blamed_column, duplicate_message, unique_sets
from app.validation import FormCheck, Rule, attach_rules, language_problem, rules_for
from app.validation import check_item as check_values
from app.validation import form_validators as checked_columns
from app.views.big_lists import LABEL_HINTS, capped_count, count_cap, label_filters
from app.views.formatting import LANGUAGE_COLUMNS, language_choices, language_name
from app.views.narrowing import Narrowing, narrowed_workspace
from app.views.api_input import BadInput, typed
from app.views.plan_checks import api_refusal
from app.views.tenant_urls import check_item, form_validators, secret_validators, submitted

log = logging.getLogger(__name__)


BAD_VALUE = _l("A value does not fit its field: check the types and sizes of the values sent.")


class WriteRefused(Exception):
    """A write the database refused, with a message fit for the person who tried it."""


def describe_db_error(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", exc)).lower()
    if isinstance(exc, IntegrityError):
        if "unique" in text or "duplicate" in text:
            return str(_l("A row with these values already exists."))
        if "not null" in text or "null value" in text:
            return str(_l("A required field is missing."))
        if "foreign key" in text:
            return str(_l("This row is still used elsewhere, or refers to a missing row."))
    return str(_l("The database refused this change."))


def _refusal(exc: SQLAlchemyError, model=None) -> Exception:
    """What a refused write raises: IdentifierTaken when it collided on a platform identifier
    (a save that raced past the check: same message as the check), FieldErrors naming the
    field when it collided on another unique column set of `model`, else WriteRefused. The
    message is remembered for the request, for FAB's edit screen which shows only
    `database_error_message` (see WorkspaceModelView)."""
    column = identifier_in_violation(exc)
    if column:
        refusal: Exception = IdentifierTaken([column])
    else:
        refusal = _unique_refusal(exc, model) or WriteRefused(describe_db_error(exc))
    g.relaydesk_write_refusal = str(refusal)
    return refusal


def _unique_refusal(exc: SQLAlchemyError, model) -> FieldErrors | None:
    """FieldErrors for a UNIQUE violation whose columns can be told from the database's
    message (the constraint's name on PostgreSQL, the columns on SQLite)."""
    if model is None or not isinstance(exc, IntegrityError):
        return None
    orig = getattr(exc, "orig", None)
    name = getattr(getattr(orig, "diag", None), "constraint_name", None) or ""
    text = str(orig or exc)
    table = model.__table__
    for columns in unique_sets(model):
        constraint = next((c.name for c in table.constraints
                           if [col.key for col in getattr(c, "columns", ())] == list(columns)),
                          None)
        named = {str(constraint or ""), f"{table.name}_{'_'.join(columns)}_key"}
        listed = ", ".join(f"{table.name}.{c}" for c in columns)
        # (a violation the database names no constraint of, NOT NULL, is not a unique one)
        if (name and name in named) or f"failed: {listed}" in text:
            blamed = blamed_column(columns)
            return FieldErrors({blamed: [duplicate_message(columns, blamed, model=model)]})
    return None


class RelaydeskInterface(ScopedInterface):
    """ScopedInterface whose write errors carry a clean message (never SQL) and roll back, and
    the one place where form values meet columns:

    * a boolean is never required: FAB makes every non-null column's field required, and a
      checkbox left off sends nothing, so "off" could not be saved (the browser refused the
      form). Every boolean column here has a default, and a form's box left off means False;
    * an empty optional text is stored as NULL, never '' (a '' collided with other rows'
      '' in unique columns: a second channel could not be added through the form).
    """

    def query_count(self, query, filters=None, select_columns=None):
        """FAB's row count, capped while a screen counts (app/views/big_lists.py)."""
        return capped_count(self, query, filters, select_columns)

    def is_nullable(self, col_name):
        if self.is_boolean(col_name):
            return True
        return super().is_nullable(col_name)

    def _blank_to_null(self, item) -> None:
        for column in item.__table__.columns:
            if column.nullable and getattr(item, column.key, None) == "" \
                    and isinstance(column.type, (sa_types.String, sa_types.Text)):
                setattr(item, column.key, None)

    def _write(self, op, item, commit):
        try:
            op(item, commit)
        except TenancyError:
            self.session.rollback()
            raise
        except SQLAlchemyError as exc:
            self.session.rollback()
            raise _refusal(exc, self.obj) from exc
        except Exception as exc:  # FAB wraps edit/delete errors in DatabaseException
            cause = exc.__cause__
            self.session.rollback()
            if isinstance(cause, TenancyError):
                raise cause from None
            if isinstance(cause, SQLAlchemyError):
                raise _refusal(cause, self.obj) from exc
            raise

    def add(self, item, commit=True):
        self._blank_to_null(item)
        self._write(super().add, item, commit)

    def edit(self, item, commit=True):
        self._blank_to_null(item)
        self._write(super().edit, item, commit)

    def delete(self, item, commit=True):
        self._write(super().delete, item, commit)


class SecretInput(PasswordInput):
    """A password box that never shows the stored value, only its mask as a hint."""

    def __init__(self) -> None:
        super().__init__(hide_value=True)

    def __call__(self, field, **kwargs):
        kwargs["class"] = "form-control"
        hint = getattr(field, "mask_hint", "")
        kwargs["placeholder"] = hint or (field.label.text if field.label else "")
        return super().__call__(field, **kwargs)


SECRET_NOTE_ADD = _l("Stored encrypted and never shown again.")
SECRET_NOTE_EDIT = _l("Stored encrypted and never shown again. Leave blank to keep the current "
                      "value.")


def secret_field(label, validators=(), *, new: bool = False) -> StringField:
    """A secret's field: on an edit form a blank keeps the stored value, and the hint says so;
    on an add form (`new`) there is nothing to keep, and the hint does not say it."""
    return StringField(label, validators=list(validators), widget=SecretInput(),
                       description=SECRET_NOTE_ADD if new else SECRET_NOTE_EDIT)


def for_new_rows(unbound):
    """The add form's copy of a secret's field: the edit form's "leave blank to keep" hint
    becomes the add form's (other fields as they are)."""
    if not isinstance(unbound, UnboundField) or \
            unbound.kwargs.get("description") is not SECRET_NOTE_EDIT:
        return unbound
    return UnboundField(unbound.field_class, *unbound.args, name=unbound.name,
                        **{**unbound.kwargs, "description": SECRET_NOTE_ADD})


class SensitiveColumnError(TypeError):
    """A view lists a column its model declares sensitive (a start-up error, never a page)."""


def declared_secrets(view_cls) -> tuple[str, ...]:
    """The write-only columns of the view's model, as declared on the model."""
    datamodel = getattr(view_cls, "datamodel", None)
    return write_only_columns(datamodel.obj) if datamodel is not None else ()


def check_sensitive_columns(view_cls) -> None:
    """Refuse, when the class is made, a view that would show or take a hash, or show a secret
    other than through its mask."""
    datamodel = getattr(view_cls, "datamodel", None)
    if datamodel is None:
        return
    declared = sensitive_columns(datamodel.obj)
    for attr in ("list_columns", "show_columns", "add_columns", "edit_columns",
                 "search_columns", "order_columns"):
        for column in getattr(view_cls, attr, None) or ():
            kind = declared.get(column.split(".", 1)[0])
            shown = attr in ("list_columns", "show_columns", "search_columns", "order_columns")
            if kind == HASH or (kind and shown):
                raise SensitiveColumnError(
                    f"{view_cls.__name__}.{attr} names {column!r}, declared sensitive ({kind})")
            if "." in column:
                raise SensitiveColumnError(
                    f"{view_cls.__name__}.{attr} names {column!r}: related rows leave as "
                    "summaries only")


#: what a date-and-time field takes: FAB's date picker writes a date only (`2026-01-31`, read
#: as midnight), a person may type the time too
DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def accept_dates(form_cls) -> None:
    """Make the date-and-time fields of a FAB form class take what its date picker writes.
    FAB pairs a date-only picker (`yyyy-mm-dd`) with a field that wanted seconds, so a chosen
    date was always refused ("Not a valid datetime value")."""
    if form_cls is None:
        return
    for name in dir(form_cls):
        unbound = getattr(form_cls, name, None)
        if isinstance(unbound, UnboundField) and issubclass(unbound.field_class, DateTimeField) \
                and not issubclass(unbound.field_class, DateField):
            unbound.kwargs["format"] = list(DATETIME_FORMATS)


class LabelledEnumField(EnumField):
    """FAB's select of an Enum column, offering each code by its label (app/labels.py): the
    option's value stays the code, the person reads "WhatsApp (Green API)", not `greenapi`."""

    def __init__(self, *args, labels: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        labels = labels or {}
        self.choices = [(code, labels.get(code, shown)) for code, shown in self.choices]

    def pre_validate(self, form):
        """FAB's check of the choice raises a plain ValueError, which WTForms does not catch
        (a code posted by hand answered 500): refused beside the field instead."""
        try:
            super().pre_validate(form)
        except ValidationError:
            raise
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class LabelledCodeListField(SelectMultipleField):
    """A text column holding a comma list of codes (`CODE_LIST_COLUMNS`: a plan's mediums and
    modules) as a multiple choice: each option's value is a code, its text the code's label
    ("WhatsApp (Green API)", "Ticket workflow"); stored as the comma list again, in the
    order of the options. The codes offered are the column's rule's (`Rule.codes`), which also
    refuses, beside the field, a code posted by hand that the form does not offer."""

    widget = Select2ManyWidget()

    def __init__(self, label=None, validators=None, codes=(), labels=None, **kwargs):
        for unused in ("choices", "widget", "filters", "coerce"):
            kwargs.pop(unused, None)
        labels = labels or {}
        super().__init__(label, validators, choices=[(code, labels.get(code, code))
                                                     for code in codes], **kwargs)

    def process_data(self, value):
        if isinstance(value, str):
            self.data = split_list(value)
        else:
            self.data = [str(v) for v in value or ()]

    def process_formdata(self, valuelist):
        self.data = [str(v) for v in valuelist]

    def pre_validate(self, form):
        """A code the form does not offer is the column rule's to refuse (its message names
        it), not WTForms' "not a valid choice"."""

    def populate_obj(self, obj, name):
        offered = [code for code, _label in self.choices]
        chosen = list(dict.fromkeys(self.data or ()))
        ordered = [c for c in offered if c in chosen] + [c for c in chosen if c not in offered]
        setattr(obj, name, ",".join(ordered))


def code_list_choices(form_cls, model) -> None:
    """Make the comma-list columns of a FAB form class (`CODE_LIST_COLUMNS`) multiple choices
    of their rule's codes by label (`LabelledCodeListField`). A list that may be empty is not
    required (FAB requires every non-null column), one that may not keeps the requirement."""
    if form_cls is None:
        return
    for name, rules in rules_for(model).items():
        key = CODE_LIST_COLUMNS.get((model.__name__, name))
        unbound = getattr(form_cls, name, None)
        rule = next((r for r in rules if r.codes), None)
        if key is None or rule is None or not isinstance(unbound, UnboundField):
            continue
        if not issubclass(unbound.field_class, LabelledCodeListField):
            unbound.field_class = LabelledCodeListField
            unbound.kwargs.pop("widget", None)
        unbound.kwargs["codes"] = rule.codes
        unbound.kwargs["labels"] = ENUM_LABELS.get(key, {})
        if not rule.checks_blank:
            unbound.kwargs["validators"] = [
                v for v in unbound.kwargs.get("validators") or ()
                if not isinstance(v, (InputRequired, DataRequired))]


class MoneyField(StringField):
    """An amount of money typed as money ("19.00"), for a column holding whole minor units of
    the currency chosen in the same form (app/money.py): `amount_cents` of a plan price. The
    field shows the stored amount with the currency's decimals; on save it writes the minor
    units, with the currency the form was saved with. Refused amounts (not a number, below 0,
    above the maximum, more decimals than the currency has) are refused beside the field."""

    def __init__(self, label=None, validators=None, column: str = "amount_cents",
                 currency_field: str = "currency", **kwargs):
        for unused in ("filters", "widget"):
            kwargs.pop(unused, None)
        super().__init__(label, validators, widget=BS3TextFieldWidget(), **kwargs)
        self.column = column
        self.currency_field = currency_field
        self._currency = None

    def process_data(self, value):
        self.data = None if value is None else str(value)

    def pre_validate(self, form):
        if self.currency_field in form:
            self._currency = form[self.currency_field].data

    def populate_obj(self, obj, name):
        currency = self._currency or getattr(obj, self.currency_field, None)
        if self.data is None or not str(self.data).strip():
            setattr(obj, self.column, None)
        elif amount_problem(self.data, currency) is None:
            setattr(obj, self.column, to_minor(self.data, currency))


class MoneyCheck(FormCheck):
    """The money field's check, with the currency typed beside it."""

    def __init__(self, currency_field: str = "currency") -> None:
        super().__init__(Rule("money", lambda value, other: amount_problem(
            value, other(currency_field)), "19.00", "-5", depends=(currency_field,)))


class LanguageField(SelectField):
    """A language column's select: the shipped languages (`LANGUAGES`), each by its name in the
    reader's language; the option's value is the code, stored unchanged. A row holding another
    language (written through the REST API or the workspace file, which take any ISO 639-1
    code) keeps it: its edit form offers that language too. A language the form does not offer
    is refused beside the field, as is anything the language rule refuses (its `FormCheck`
    stays on the field: the server-side check)."""

    widget = Select2Widget()

    def __init__(self, label=None, validators=None, model=None, **kwargs):
        for unused in ("choices", "widget", "filters"):
            kwargs.pop(unused, None)
        super().__init__(label, validators, choices=language_choices(), **kwargs)
        self.model = model

    def _offer(self, code) -> None:
        if code and isinstance(code, str) and code not in {c for c, _name in self.choices}:
            self.choices = [*self.choices, (code, language_name(code))]

    def process_data(self, value):
        super().process_data(value)
        self._offer(self.data)  # the row's own language, on its edit form

    def pre_validate(self, form):
        pk = getattr(form, "_id", None)  # FAB puts the edited row's id on the form
        stored = db.session.get(self.model, pk) if self.model is not None and pk else None
        self._offer(getattr(stored, self.name, None))
        if self.data in {code for code, _name in self.choices}:
            return
        if language_problem(self.data or "") is None:  # else the language rule says why
            raise ValidationError(str(_l("Choose one of the languages offered.")))


#: Models whose language is a customer's: replies may be written for any language customers
#: speak (German replies for a German customer), not only the ones the screens are translated
#: into, so these keep a text field checked by the ISO 639-1 rule.
CUSTOMER_LANGUAGE_MODELS = {"LinkedUser", "ReplyTemplate", "GlobalReplyTemplate"}


def language_selects(form_cls, model) -> None:
    """Make the language columns (`LANGUAGE_COLUMNS`) of a FAB form class selects of the
    shipped languages (`LanguageField`), keeping their label, hint, default and validators.
    Customers' languages (`CUSTOMER_LANGUAGE_MODELS`) stay free ISO codes."""
    if form_cls is None or getattr(model, "__name__", "") in CUSTOMER_LANGUAGE_MODELS:
        return
    for name in LANGUAGE_COLUMNS:
        unbound = getattr(form_cls, name, None)
        if isinstance(unbound, UnboundField) and issubclass(unbound.field_class, StringField) \
                and not issubclass(unbound.field_class, LanguageField):
            unbound.field_class = LanguageField
            unbound.kwargs["model"] = model


def form_defaults(form_cls, defaults: dict) -> None:
    """Preset values of a FAB form class's fields (`add_defaults` of a view), over the column
    defaults FAB takes from the model."""
    if form_cls is None:
        return
    for name, value in (defaults or {}).items():
        unbound = getattr(form_cls, name, None)
        if isinstance(unbound, UnboundField):
            unbound.kwargs["default"] = value


def label_choices(form_cls, model) -> None:
    """Give every Enum select of a FAB form class the labels of its codes (its field keeps
    its place: the unbound field is changed, not replaced)."""
    if form_cls is None:
        return
    for name in dir(form_cls):
        unbound = getattr(form_cls, name, None)
        if not (isinstance(unbound, UnboundField) and issubclass(unbound.field_class, EnumField)):
            continue
        column = inspect(model).columns.get(name)
        if column is not None and isinstance(column.type, sa_types.Enum):
            unbound.field_class = LabelledEnumField
            unbound.kwargs["labels"] = ENUM_LABELS.get(column.type.name, {})


UNKNOWN_REFERENCE = _l("“%(field)s” names a row that does not exist.")
REQUIRED = _l("This field is required.")


def unknown_references(item, labels) -> dict[str, list[str]]:
    """{relationship: [message]} for every many-to-one reference to an id that does not exist.
    FAB's REST schemas (marshmallow-sqlalchemy's `Related`) answer an unknown id with a new,
    empty row of that id (pending in the session once attached to a loaded row), which the
    flush would then try to insert: refused here, by name, before anything is flushed."""
    problems = {}
    for relationship in inspect(type(item)).relationships:
        target = item.__dict__.get(relationship.key)
        if relationship.direction.name == "MANYTOONE" and target is not None \
                and (inspect(target).transient or inspect(target).pending):
            label = labels.get(relationship.key, relationship.key)
            problems[relationship.key] = [str(UNKNOWN_REFERENCE % {"field": label})]
    return problems


def blank_required(item, shown, *, new: bool) -> dict[str, list[str]]:
    """{column: [message]} for required text columns (not null, no default) of the form or
    schema (`shown`) left blank: the screens' fields require them, FAB's REST schemas take
    `""`. On an update only the columns that change are checked."""
    problems = {}
    state = inspect(item)
    for column in item.__table__.columns:
        key = column.key
        if key not in shown or column.nullable or column.default is not None \
                or column.server_default is not None \
                or not isinstance(column.type, (sa_types.String, sa_types.Text)):
            continue
        value = getattr(item, key, None)
        if isinstance(value, str) and not value.strip() and \
                (new or state.attrs[key].history.has_changes()):
            problems[key] = [str(REQUIRED)]
    return problems


def validate_item(view, item, *, new: bool) -> None:
    """The checks of every add (`new`) and update through a screen or its REST twin: references
    to rows that do not exist (refused alone, first), the view's `item_validators`, required
    texts left blank, then the declared rules and unique sets (app/validation.py). Every other
    refusal is collected, so a person sees all of them at once.

    :raise FieldErrors: naming each refused field (an item validator's plain ValueError is
        raised as it is)."""
    labels = view.label_columns or {}
    unknown = unknown_references(item, labels)
    if unknown:
        raise FieldErrors(unknown)
    problems: dict[str, list[str]] = {}

    def collect(check) -> None:
        try:
            check()
        except FieldErrors as exc:
            for field, messages in exc.problems.items():
                problems.setdefault(field, []).extend(messages)

    for validator in getattr(view, "item_validators", ()) or ():
        collect(lambda validator=validator: validator(item))
    shown = (getattr(view, "add_columns", None) if new else getattr(view, "edit_columns", None))
    for column, messages in blank_required(item, shown or (), new=new).items():
        problems.setdefault(column, []).extend(messages)
    collect(lambda: check_values(item, new=new, labels=labels, shown=shown or ()))
    if problems:
        raise FieldErrors(problems)


class FormRefusals:
    """Add and edit screens that keep what was typed when a save is refused.

    FAB flashes the message of any exception raised by `pre_add`/`pre_update` or by the write
    and redirects, which throws the input away. Here a refusal re-renders the form with every
    typed value, each `FieldErrors` message beside its field (a message for a field the form
    does not show is flashed with the field's label), and other refusals flashed above it.

    Secrets typed into a refused form are not echoed back into the page (their inputs never
    carry a value): the field says so, and must be typed again.

    Every column with declared rules (app/validation.py `COLUMN_RULES`) gets them as form
    validators, so the error is beside the field before anything is written."""

    #: preset values of the add form's fields, over the model's column defaults
    add_defaults: dict = {}

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form):
            accept_dates(form)
            label_choices(form, self.datamodel.obj)
            code_list_choices(form, self.datamodel.obj)
            language_selects(form, self.datamodel.obj)
            attach_rules(form, self.datamodel.obj)
        form_defaults(self.add_form, self.add_defaults)

    def _init_checked_columns(self) -> None:
        merged = dict(self.validators_columns or {})
        for column, validators in checked_columns(self.datamodel.obj).items():
            merged[column] = [*merged.get(column, ()), *validators]
        self.validators_columns = _FreshLists(merged)

    def _refused(self, form, exc: Exception) -> None:
        problems = exc.problems if isinstance(exc, FieldErrors) else {}
        if not problems:
            flash(str(exc), "danger")
        labels = self.label_columns or {}
        for name, messages in problems.items():
            if name in form:
                form[name].errors = [*form[name].errors, *(escape(m) for m in messages)]
            else:
                for message in messages:
                    flash(f"{labels.get(name, name)}: {message}", "danger")

    @staticmethod
    def _secrets_not_kept(form) -> None:
        """A secret typed into a form that comes back is not echoed into the page: say so."""
        for field in form:
            if isinstance(getattr(field, "widget", None), PasswordInput) and \
                    (request.form.get(field.name) or "").strip() and not field.errors:
                field.errors = [*field.errors, str(_l(
                    "Not shown again for your safety: enter it again."))]

    def _saved(self, form, item, *, new: bool) -> bool:
        """FAB's save of an add (`new`) or edit form, minus its redirect on a refusal: True
        when `item` was written, False when the form comes back with the errors beside their
        fields and everything typed kept."""
        if not form.validate():
            return False
        self.process_form(form, new)
        try:
            form.populate_obj(item)
            (self.pre_add if new else self.pre_update)(item)
            (self.datamodel.add if new else self.datamodel.edit)(item)
        except Exception as exc:  # noqa: BLE001 - FAB's own handling, minus the redirect
            db.session.rollback()
            self._refused(form, exc)
            return False
        (self.post_add if new else self.post_update)(item)
        flash(self.add_row_message if new else self.edit_row_message, "success")
        return True

    def _add(self):
        if request.method != "POST":
            return super()._add()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        self._fill_form_exclude_cols(exclude_cols, form)
        if self._saved(form, self.datamodel.obj(), new=True):
            return None
        self._secrets_not_kept(form)
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        if request.method != "POST":
            return super()._edit(pk)
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = self.datamodel.get_pk_value(item)
        if self._saved(form, item, new=False):
            return None
        self._secrets_not_kept(form)
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        return self._get_related_views_widgets(  # as FAB's own edit page (related_views)
            item, filters={}, orders=get_order_args(), pages=get_page_args(),
            page_sizes=get_page_size_args(), widgets=widgets)


class CheckedModelView(FormRefusals, ModelView):
    """A screen over a model that belongs to no workspace (the master admin's plans,
    workspaces, default replies): the declared checks on the form and on every save, and a
    refused form kept (FormRefusals)."""

    item_validators: tuple = ()
    #: checks run before a delete, by the screen (flashed) and its REST twin (422) alike; each
    #: takes the row and raises ValueError with a message fit for the person
    delete_validators: tuple = ()

    def pre_delete(self, item):
        for check in self.delete_validators:
            check(item)

    def __init__(self, **kwargs):
        self._init_checked_columns()
        super().__init__(**kwargs)

    def pre_add(self, item):
        validate_item(self, item, new=True)

    def pre_update(self, item):
        validate_item(self, item, new=False)


class WorkspaceWriteMixin:
    """Shared by screens and APIs: where new rows go, what they may reference, secrets kept."""

    #: the model's write-only columns (declared on the model): shown masked, blank on edit keeps
    #: the value. Set by __init_subclass__ from the declaration, never by hand.
    secret_columns: tuple[str, ...] = ()
    #: roles that get this view; the master admin (Admin role) always has every view
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    #: checks run on every add and update, by the screen and its REST twin alike; each takes the
    #: row and raises ValueError with a message fit for the person (shown / answered with 422)
    item_validators: tuple = ()
    #: run after a successful add or update (the row is committed), by the screen and its REST
    #: twin alike; each takes the row and may return (message, flash category) for the screen
    after_save: tuple = ()
    #: what the workspace's plan allows (app/views/plan_checks.py), run on every add and update
    #: by the screen and its REST twin alike, before the other checks; each takes the row and
    #: raises PlanRefusal (the screen keeps the form and shows the message above it, the REST
    #: twin answers 403 `{"message": …}`). A check that counts a limit locks the workspace's
    #: row until the write commits (app/plans.py `check_room`).
    plan_checks: tuple = ()

    def _place_in_workspace(self, item) -> None:
        scope = current_scope()
        if scope.workspace_id is not None:
            from app.models.tenancy import Workspace

            # no autoflush: the new row already sits in a parent's collection (backref) but not
            # in the session yet, and must not be flushed half-made
            with db.session.no_autoflush:
                item.workspace = db.session.get(Workspace, scope.workspace_id)
        elif not (scope.all_workspaces and (item.workspace_id or item.workspace)):
            raise TenancyError(str(_l(
                "Choose a workspace: master admins add rows from the Master admin screens.")))
        check_references(item)

    def _keep_blank_secrets(self, item) -> None:
        state = inspect(item)
        for column in self.secret_columns:
            if getattr(item, column) in (None, ""):
                history = state.attrs[column].history
                previous = next((v for v in history.deleted if v), None)
                if previous:
                    setattr(item, column, previous)
                elif getattr(item, column) == "":
                    setattr(item, column, None)  # nothing stored, nothing entered: still NULL

    def _safe_default_columns(self) -> None:
        """FAB searches and sorts on every column of the model when a view names none: never
        on a sensitive one (ordering or filtering by a secret is a way to read it)."""
        declared = sensitive_columns(self.datamodel.obj)
        if declared:
            if not self.search_columns:
                self.search_columns = [c for c in self.datamodel.get_search_columns_list()
                                       if c not in declared]
            if not self.order_columns:
                self.order_columns = [c for c in self.datamodel.get_order_columns_list()
                                      if c not in declared]

    def _validate(self, item, *, new: bool = True) -> None:
        validate_item(self, item, new=new)

    def _fits_plan(self, item) -> None:
        """:raise PlanRefusal: from the first of `plan_checks` that refuses."""
        for check in self.plan_checks or ():
            check(item)

    def pre_add(self, item):
        for column in self.secret_columns:
            if getattr(item, column) == "":
                setattr(item, column, None)
        self._place_in_workspace(item)
        self._fits_plan(item)
        self._validate(item, new=True)
        check_item(item, submitted(), new=True)  # the outbound URL policy (tenant_urls)

    def pre_update(self, item):
        self._keep_blank_secrets(item)
        check_references(item)
        self._fits_plan(item)
        self._validate(item, new=False)
        check_item(item, submitted(), new=False)  # a changed URL needs its secrets again

    def _after_save(self, item) -> list[tuple[str, str]]:
        notes = []
        for follow_up in self.after_save:
            note = follow_up(item)
            if note:
                notes.append(note)
        return notes

    def post_add(self, item):
        self._after_save(item)

    def post_update(self, item):
        self._after_save(item)


def _masked(columns, secret_columns):
    return [f"{c}_masked" if c in secret_columns else c for c in columns]


class WorkspaceModelView(FormRefusals, WorkspaceWriteMixin, ModelView):
    """CRUD screen over a workspace-owned model. Subclasses set `datamodel` and columns."""

    page_size = 25
    search_exclude_columns = ["workspace"]
    #: a list counts at most this many rows (past it: "more than 10,000"; app/views/big_lists.py)
    list_count_cap = 10_000
    #: {many-to-one column: text column of the related row}: searched by that text, not
    #: chosen from a select of every related row (app/views/big_lists.py)
    search_by_label: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.search_by_label:
            extra = dict(getattr(cls, "search_form_extra_fields", None) or {})
            labels = getattr(cls, "label_columns", None) or {}
            for column, label_column in cls.search_by_label.items():
                hint = LABEL_HINTS.get(label_column)
                extra.setdefault(column, StringField(labels.get(column, column), render_kw={
                    "class": "form-control",
                    "placeholder": hint if hint is not None else labels.get(column, column)}))
            cls.search_form_extra_fields = extra
        cls.secret_columns = secrets = declared_secrets(cls)
        model = getattr(getattr(cls, "datamodel", None), "obj", None)
        if secrets:
            extra = dict(getattr(cls, "edit_form_extra_fields", None) or {})
            for column in secrets:
                label = (getattr(cls, "label_columns", None) or {}).get(column, column)
                extra.setdefault(column, secret_field(label, secret_validators(model, column)))
            cls.add_form_extra_fields = {column: for_new_rows(unbound) if column in secrets
                                         else unbound for column, unbound in extra.items()}
            cls.edit_form_extra_fields = dict(extra)
            if getattr(cls, "show_columns", None):
                cls.show_columns = _masked(cls.show_columns, secrets)
            if getattr(cls, "list_columns", None):
                cls.list_columns = _masked(cls.list_columns, secrets)
            labels = dict(getattr(cls, "label_columns", None) or {})
            for column in secrets:
                labels.setdefault(f"{column}_masked", labels.get(column, column))
            cls.label_columns = labels
        check_sensitive_columns(cls)

    def __init__(self, **kwargs):
        # FAB appends action permissions to `base_permissions` in place: never to a list that
        # other views share (READ_ONLY, NO_ADD_DELETE, an admin variant's parent).
        if self.base_permissions is not None:
            self.base_permissions = list(self.base_permissions)
        self._safe_default_columns()
        self.validators_columns = _FreshLists(
            {**(self.validators_columns or {}), **form_validators(self.datamodel.obj)})
        self._init_checked_columns()
        super().__init__(**kwargs)
        for action in self.actions.values():
            action.func = _in_scope_only(action.func)

    def _init_properties(self):
        super()._init_properties()
        for column, label_column in self.search_by_label.items():
            if column in self.search_columns:
                # the screen's filters of `column` (FAB applies `_flt_<n>_<column>` from
                # `_all_filters`, and offers `_search_filters`): by name only
                filters = label_filters(column, label_column, self.datamodel)
                self._filters._search_filters[column] = filters
                self._filters._all_filters[column] = list(filters)

    def _get_list_widget(self, *args, **kwargs):
        token = count_cap.set(self.list_count_cap)
        try:
            return super()._get_list_widget(*args, **kwargs)
        finally:
            count_cap.reset(token)

    def pre_add(self, item):
        try:
            super().pre_add(item)
        except Exception:
            db.session.rollback()  # nothing half-made stays in the session after a refusal
            raise

    def pre_update(self, item):
        try:
            super().pre_update(item)
        except Exception:
            db.session.rollback()  # the form already wrote into the row: drop those changes
            raise

    @property
    def database_error_message(self) -> str:
        """FAB's edit screen flashes only this when the write fails: the refusal's own clean
        message when there is one (e.g. an identifier taken by a save that raced this one)."""
        return g.get("relaydesk_write_refusal") or str(_l("The database refused this change."))

    def post_add(self, item):
        for message, category in self._after_save(item):
            flash(message, category)

    def post_update(self, item):
        for message, category in self._after_save(item):
            flash(message, category)

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk, self._base_filters)
        for column in self.secret_columns:
            if column in form and item is not None:
                form[column].mask_hint = mask(getattr(item, column)) or ""


class _FreshLists(dict):
    """`validators_columns` handing FAB a new list on every read: FAB appends its own validators
    (Length, Optional) to the list it gets, which would otherwise pile up on the class's."""

    def get(self, key, default=None):
        value = super().get(key, default)
        return list(value) if value is not None else value


def _in_scope_only(func):
    """Wrap an @action: FAB loads its rows by id and passes None for rows the scope hides
    (FAB pitfall 1); any such id answers 404 and the action does not run at all."""

    @functools.wraps(func)
    def run(items):
        if items is None or (isinstance(items, list) and any(i is None for i in items)):
            abort(404)
        return func(items)

    return run


SECURITY_SCHEMES = {
    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "POST /api/v1/security/login {username, password, provider: db}"},
    "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "A personal API key (Support tools → API keys)"},
}


class Summary(fields.Field):
    """A related row as it leaves in a REST answer: `{"id", "label"}` (a list for to-many).
    Never the row itself: FAB's nested schemas would dump every column of the related model,
    secrets and password hashes included."""

    def __init__(self, many: bool = False, **kwargs):
        super().__init__(dump_only=True, **kwargs)
        self.many = many

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return [] if self.many else None
        return [summarize(item) for item in value] if self.many else summarize(value)


def summarize(row) -> dict:
    identity = inspect(row).identity
    pk = identity[0] if identity and len(identity) == 1 else (list(identity) if identity else None)
    return {"id": pk, "label": str(row)}


class SummaryConverter(Model2SchemaConverter):
    """FAB's model-to-schema converter with Relaydesk's two rules for what leaves:

    * related rows dump as summaries (`Summary`), at any depth, whatever `columns` asks for;
    * a column the model declares sensitive never enters a dump schema (list, show, or one
      built for `?q=(columns:…)`); add/edit schemas take secrets, made load-only by the API.
    """

    def _column2relation(self, datamodel, column, nested=False, parent_schema_name=None):
        if nested:
            return Summary(many=datamodel.is_relation_one_to_many(column.name)
                           or datamodel.is_relation_many_to_many(column.name))
        return super()._column2relation(datamodel, column, nested=False,
                                        parent_schema_name=parent_schema_name)

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        kind = sensitive_columns(datamodel.obj).get(column.name)
        if kind == HASH or (kind and nested):
            raise SensitiveColumnError(
                f"{datamodel.obj.__name__}.{column.name} is declared sensitive ({kind})")
        return super()._column2field(datamodel, column, nested=nested,
                                     parent_schema_name=parent_schema_name)


class MasterAdminApi(BaseApi):
    """A JSON resource of the master admin's only (JWT, X-API-Key or the browser session):
    no workspace role is given a permission on it, so everyone else gets 403; its `get`
    needs the `can_get` permission."""

    allow_browser_login = True
    relaydesk_roles: dict = {}
    method_permission_name = {"get": "get"}


class WorkspaceRestApi(WorkspaceWriteMixin, ModelRestApi):
    """REST API over a workspace-owned model: same scope, sensitive columns as declared on the
    model (secrets write-only, `<column>_masked` in answers), related rows as summaries."""

    allow_browser_login = True
    page_size = 25
    max_page_size = 100
    model2schemaconverter = SummaryConverter
    #: the screen's search-by-name columns: here added to the id filters (big_lists.py)
    search_by_label: dict[str, str] = {}

    def __init__(self, **kwargs):
        self._safe_default_columns()
        super().__init__(**kwargs)

    def _init_properties(self):
        super()._init_properties()
        for column, label_column in self.search_by_label.items():
            if column in self.search_columns:
                self._filters._search_filters[column] = [
                    *self._filters._search_filters.get(column, []),
                    *label_filters(column, label_column, self.datamodel)]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.secret_columns = secrets = declared_secrets(cls)
        if secrets:
            for attr in ("show_columns", "list_columns"):
                if getattr(cls, attr, None):
                    setattr(cls, attr, _masked(getattr(cls, attr), secrets))
        check_sensitive_columns(cls)

    def _init_model_schemas(self) -> None:
        """Secrets are write-only: the add and edit schemas load them but never dump them, so
        neither the POST/PUT answers nor the OpenAPI read schemas carry them. A status detail
        (stored coded, app/status_words.py) reads as text."""
        super()._init_model_schemas()
        for attr in ("list_model_schema", "show_model_schema"):
            schema = getattr(self, attr)
            if "status_detail" in schema.dump_fields:  # stored coded (app/status_words.py)
                field = fields.Function(
                    lambda item: status_detail_text(getattr(item, "status_detail", None)))
                field._bind_to_schema("status_detail", schema)  # noqa: SLF001
                schema.fields["status_detail"] = schema.dump_fields["status_detail"] = field
        for attr in ("add_model_schema", "edit_model_schema"):
            schema = getattr(self, attr)
            write_only = tuple(c for c in self.secret_columns if c in schema.fields)
            if write_only:
                schema = type(schema)(load_only=write_only)
            # the body's types checked before anything reads it (app/views/api_input.py)
            setattr(self, attr, typed(schema, self.datamodel.obj))

    def add_apispec_components(self, api_spec) -> None:
        """Describe the two schemes FAB names on every operation (`jwt`, `api_key`) as Relaydesk
        takes them: FAB's SecurityApi declares `api_key` as a Bearer token, our contract is the
        `X-API-Key` header (Bearer is still accepted), so Swagger UI's "Authorize" sends that."""
        super().add_apispec_components(api_spec)
        api_spec.components.security_schemes.update(SECURITY_SCHEMES)

    def _merge_update_item(self, model_item, data):
        """PUT acts as PATCH; columns the edit schema does not dump (secrets) stay untouched."""
        current = self.edit_model_schema.dump(model_item, many=False)
        for column in self.edit_columns:
            if column not in data and column in current:
                data[column] = current[column]
        return data

    def _plan_gate(self):
        """None, or the 403 answer `{"message": …}` to a member of a workspace whose plan
        lacks the REST API (module `api`, app/views/plan_checks.py `api_refusal`). Runs after
        FAB has authenticated the call (JWT, X-API-Key or session) and before it reads or writes
        anything: every headless method of this class starts with it."""
        refusal = api_refusal()
        if refusal is None:
            return None
        db.session.rollback()
        return self.response(403, message=refusal.message)

    def _narrowed(self, call):
        """A read, in the workspace `?workspace=<slug>` names when it is given (the master
        admin's narrowing; a member may name only their own workspace): 400 for a malformed
        slug, 404 for one the reader may not see or that does not exist."""
        if "workspace" not in request.args:
            return call()
        try:
            workspace_id = narrowed_workspace()
        except Narrowing as refusal:
            return self.response(refusal.status, message=refusal.message)
        with workspace_scope(workspace_id):
            return call()

    def get_list_headless(self, **kwargs):
        gate = self._plan_gate()
        return gate if gate is not None else self._narrowed(
            lambda: super(WorkspaceRestApi, self).get_list_headless(**kwargs))

    def get_headless(self, pk, **kwargs):
        gate = self._plan_gate()
        return gate if gate is not None else self._narrowed(
            lambda: super(WorkspaceRestApi, self).get_headless(pk, **kwargs))

    def info_headless(self, **kwargs):
        gate = self._plan_gate()
        return gate if gate is not None else self._narrowed(
            lambda: super(WorkspaceRestApi, self).info_headless(**kwargs))

    def _refusing(self, call):
        gate = self._plan_gate()
        if gate is not None:
            return gate
        try:
            return call()
        except BadInput as exc:  # a body value of the wrong type (app/views/api_input.py)
            db.session.rollback()
            return self.response_400(message=exc.problems)
        except PlanRefusal as exc:  # app/views/plan_checks.py: the plan's words, 403
            db.session.rollback()
            return self.response(403, message=exc.message)
        except FieldErrors as exc:  # declared checks, URL policy, identifiers: fields named
            db.session.rollback()
            return self.response_422(message=exc.problems)
        except (ValueError, WriteRefused) as exc:  # TenancyError and item_validators included
            db.session.rollback()
            return self.response_422(message=str(exc))
        except SQLAlchemyError as exc:  # a flush the checks above did not foresee
            db.session.rollback()
            refusal = _refusal(exc, self.datamodel.obj)
            if isinstance(refusal, FieldErrors):
                return self.response_422(message=refusal.problems)
            if isinstance(exc, IntegrityError):
                return self.response_422(message=str(refusal))
            log.warning("a REST write the database refused: %s", exc.__class__.__name__)
            return self.response_400(message=str(BAD_VALUE))

    def post_headless(self):
        return self._refusing(super().post_headless)

    def put_headless(self, pk):
        return self._refusing(lambda: super(WorkspaceRestApi, self).put_headless(pk))

    def delete_headless(self, pk):
        return self._refusing(lambda: super(WorkspaceRestApi, self).delete_headless(pk))


class PlatformRestApi(WorkspaceRestApi):
    """REST API over platform data that belongs to no workspace (plans and their prices): the
    master admin's only (`relaydesk_roles` empty), the same checks as its screen on every add
    and update (declared rules, unique sets, `item_validators`: 422 naming the field), related
    rows as summaries. No workspace is set or checked: the rows have none."""

    delete_validators: tuple = ()

    def pre_add(self, item):
        validate_item(self, item, new=True)

    def pre_update(self, item):
        validate_item(self, item, new=False)

    def pre_delete(self, item):
        for check in self.delete_validators:
            check(item)


def admin_variant(view_cls: type) -> type:
    """The master admin's copy of a workspace view: workspace visible and editable."""

    def with_workspace(columns):
        columns = list(columns or [])
        return columns if "workspace" in columns else ["workspace", *columns]

    attrs = {
        "relaydesk_roles": {},
        "search_exclude_columns": [],
        "__module__": view_cls.__module__,
        "__doc__": f"Master admin: {view_cls.__doc__ or view_cls.__name__}",
    }
    if getattr(view_cls, "route_base", None):  # a screen with its own address (/media)
        attrs["route_base"] = f"/admin{view_cls.route_base}"
    for name in ("list_columns", "show_columns", "add_columns", "edit_columns", "search_columns"):
        value = getattr(view_cls, name, None)
        if value:
            attrs[name] = with_workspace(value)
    return type(f"Admin{view_cls.__name__}", (view_cls,), attrs)



VIEW_TO_API_PERMISSIONS = {
    "can_list": ("can_get", "can_info"),
    "can_show": ("can_get",),
    "can_add": ("can_post", "can_info"),
    "can_edit": ("can_put", "can_info"),
    "can_delete": ("can_delete",),
}


def _unmasked(columns, secret_columns):
    bases = {f"{c}_masked": c for c in secret_columns}
    return [bases.get(c, c) for c in columns or []]


def api_for(view_cls: type, resource_name: str, **columns) -> type:
    """The REST API twin of a screen: same model, columns, roles and scope. `columns`
    replaces a column list where the API takes another column than the screen (a plan price's
    `amount_cents` for the screen's money field), or the permissions where the API does what
    a screen action does another way (clearing a cooldown: its DELETE). A model that belongs
    to no workspace gets a `PlatformRestApi`."""
    secrets = getattr(view_cls, "secret_columns", ())
    attrs = {
        "__module__": view_cls.__module__,
        "resource_name": resource_name,
        "datamodel": view_cls.datamodel,
        "relaydesk_roles": view_cls.relaydesk_roles,
        "item_validators": view_cls.item_validators,
        "plan_checks": getattr(view_cls, "plan_checks", ()),
        "after_save": getattr(view_cls, "after_save", ()),
        "delete_validators": getattr(view_cls, "delete_validators", ()),
        "label_columns": dict(getattr(view_cls, "label_columns", None) or {}),
        "description_columns": dict(getattr(view_cls, "description_columns", None) or {}),
        "search_by_label": dict(getattr(view_cls, "search_by_label", None) or {}),
    }
    for name in ("list_columns", "show_columns", "add_columns", "edit_columns", "search_columns"):
        value = view_cls.__dict__.get(name) or getattr(view_cls, name, None)
        if value:
            attrs[name] = _unmasked(value, secrets)
    attrs.update({name: list(value) for name, value in columns.items()})
    if view_cls.__dict__.get("base_permissions") and "base_permissions" not in columns:
        perms = set()
        for perm in view_cls.base_permissions:
            perms.update(VIEW_TO_API_PERMISSIONS.get(perm, ()))
        attrs["base_permissions"] = sorted(perms)
    name = view_cls.__name__.removesuffix("View") + "Api"
    owned = is_workspace_owned(view_cls.datamodel.obj)
    return type(name, (WorkspaceRestApi if owned else PlatformRestApi,), attrs)
