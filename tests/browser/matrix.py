"""Helpers of the browser form and action matrices (test_form_matrix.py, test_action_matrix.py).

Everything is discovered at run time from `app.appbuilder.baseviews`: the ModelViews with an add
or edit form, their fields (from the WTForms form classes FAB built), their actions. A screen
added later is covered without editing a test.

* `registered_views()`: the view class names, from an app built for collection (no database).
* `FormSpec.of(view)`: what the browser fills in each field of a form: a value derived from the
  field (unique strings within the column's length, numbers within range, the first option of a
  select), or the `valid_example` of one of its validators; `invalid_example`s to try one by one.
* `PageWatch`: JavaScript errors, failed requests and error answers of every page of a context.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

from flask_appbuilder import ModelView
from wtforms import fields as wtf
from wtforms.validators import EqualTo, Length, NumberRange
from wtforms.widgets import PasswordInput

from app.security import ROLE_ADMIN, ROLE_MANAGER, WRITE

_unique = itertools.count(1)

ADD, EDIT = "add", "edit"


# --- which views ---------------------------------------------------------------------------------

def is_relaydesk_view(view) -> bool:
    """Screens Relaydesk declares, admin variants and the replaced user screen included (FAB's
    own role, group and permission screens, which app/auth/views.py only makes readable and
    marks `fab_screen`, are not forms a panel owner uses)."""
    return type(view).__module__.startswith("app.") and not getattr(view, "fab_screen", False)


def allows(view, permission: str) -> bool:
    perms = view.base_permissions
    return perms is None or permission in perms


def form_views(app) -> list:
    """Every registered ModelView of Relaydesk's with an add or edit form."""
    return [v for v in app.appbuilder.baseviews
            if isinstance(v, ModelView) and is_relaydesk_view(v)
            and (allows(v, "can_add") or allows(v, "can_edit"))]


def action_views(app) -> list:
    return [v for v in app.appbuilder.baseviews
            if isinstance(v, ModelView) and is_relaydesk_view(v) and v.actions]


def view_named(app, name: str):
    for view in app.appbuilder.baseviews:
        if type(view).__name__ == name:
            return view
    raise LookupError(name)


_collected: dict[str, list[str]] = {}


def registered_views(kind: str) -> list[str]:
    """Class names of the form views ("forms") or views with actions ("actions") of an app built
    for collection only (SQLite in memory, no permission sync: nothing is written)."""
    if kind not in _collected:
        from app import create_app
        from tests.conftest import base_config

        bare = create_app(base_config(SQLALCHEMY_DATABASE_URI="sqlite://",
                                      FAB_UPDATE_PERMS=False))
        with bare.app_context():
            _collected["forms"] = [type(v).__name__ for v in form_views(bare)]
            _collected["actions"] = [type(v).__name__ for v in action_views(bare)]
    return _collected[kind]


def role_for(view) -> str:
    """The role that uses the view: the workspace manager for the screens managers write, the
    master admin for every other (admin variants, platform tables, logins)."""
    roles = getattr(view, "relaydesk_roles", None) or {}
    return ROLE_MANAGER if roles.get(ROLE_MANAGER) == WRITE else ROLE_ADMIN


# --- forms ---------------------------------------------------------------------------------------

@dataclass
class FieldSpec:
    name: str
    kind: str  # text, textarea, secret, password, int, decimal, bool, select, multiselect,
    #            datetime, date
    required: bool
    max_length: int | None = None
    low: float | None = None
    high: float | None = None
    valid_example: str | None = None
    invalid_examples: list[str] = field(default_factory=list)
    equal_to: str | None = None  # a confirmation field: the value of that field
    needed: bool = False  # optional alone, but the screen wants it (tenancy_helpers.EXTRA_VALUES)

    @property
    def hides_value(self) -> bool:
        """A password box: the page never shows its value back (by design)."""
        return self.kind in ("secret", "password")

    def value(self, save: int = 0) -> str | None:
        """The valid value to type on the `save`-th save (strings unique on every call)."""
        if self.valid_example is not None:
            return _varied(self.valid_example)
        if self.kind in ("text", "textarea", "secret", "password"):
            token = f"fm{next(_unique)}{self.name.replace('_', '')}"
            limit = self.max_length or 60
            return token[:limit] if limit >= 4 else token[-limit:]
        if self.kind in ("int", "decimal"):
            low = self.low if self.low is not None else 1
            high = self.high if self.high is not None else low + 100
            number = min(max(low, 1 + save), high)
            return str(int(number)) if self.kind == "int" else f"{number:g}"
        if self.kind == "datetime":
            return f"2026-0{1 + save}-15 10:30:00"
        if self.kind == "date":
            return f"2026-0{1 + save}-15"
        return None  # bool, select: chosen on the page


def _varied(example: str) -> str:
    """A validator's valid example with the last three digits of its first run of 4 or more
    digits made unique (same length and shape): a chat id or a platform id saved twice must not
    collide with itself in a unique column."""
    run = re.search(r"\d{4,}", example)  # the first: a chat id's number, a bot token's id
    if run is None:
        return example
    digits = f"{next(_unique) % 1000:03d}"
    return example[:run.end() - 3] + digits + example[run.end():]


def _kind(form_field) -> str:
    widget = form_field.widget
    if isinstance(form_field, wtf.BooleanField):
        return "bool"
    if isinstance(form_field, wtf.PasswordField):
        return "password"
    if isinstance(widget, PasswordInput):
        return "secret"
    if isinstance(form_field, wtf.IntegerField):
        return "int"
    if isinstance(form_field, (wtf.DecimalField, wtf.FloatField)):
        return "decimal"
    if isinstance(form_field, wtf.DateTimeField):
        return "datetime"
    if isinstance(form_field, wtf.DateField):
        return "date"
    if "Multiple" in type(form_field).__name__ or isinstance(form_field, wtf.SelectMultipleField):
        return "multiselect"
    if isinstance(form_field, wtf.SelectFieldBase) or "Select" in type(form_field).__name__ \
            or "Enum" in type(form_field).__name__:
        return "select"
    if isinstance(form_field, wtf.TextAreaField):
        return "textarea"
    return "text"


def field_spec(form_field) -> FieldSpec:
    spec = FieldSpec(form_field.name, _kind(form_field), bool(form_field.flags.required))
    for validator in form_field.validators:
        if isinstance(validator, Length) and validator.max and validator.max > 0:
            spec.max_length = min(spec.max_length or validator.max, validator.max)
        if isinstance(validator, NumberRange):
            spec.low, spec.high = validator.min, validator.max
        if isinstance(validator, EqualTo):
            spec.equal_to = validator.fieldname
        example = getattr(validator, "valid_example", None)
        if example is not None and spec.valid_example is None:
            spec.valid_example = example
        bad = getattr(validator, "invalid_example", None)
        if bad is not None and bad not in spec.invalid_examples:
            spec.invalid_examples.append(bad)
    return spec


@dataclass
class FormSpec:
    view_name: str
    route_base: str
    mode: str  # ADD or EDIT
    fields: list[FieldSpec]

    @classmethod
    def of(cls, app, view, mode: str, variant: dict | None = None) -> FormSpec:
        """The form as the page builds it (an `add_variants` entry: for that query string)."""
        from tests.tenancy_helpers import EXTRA_VALUES

        with app.test_request_context(query_string=variant or {}):
            form = (view.add_form if mode == ADD else view.edit_form)()
            fields = [field_spec(f) for f in form if f.name != "csrf_token"
                      and f.type not in ("HiddenField", "CSRFTokenField")]
        # optional fields a screen's item validator still wants together (a ticket rule needs
        # subject or message words): filled like required ones, with the table's known value
        extra = EXTRA_VALUES.get(view.datamodel.obj.__tablename__, {})
        fields = [replace(f, valid_example=extra[f.name], needed=True) if f.name in extra
                  else f for f in fields]
        return cls(type(view).__name__, view.route_base, mode, fields)

    def get(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def has_booleans(self) -> bool:
        return any(f.kind == "bool" for f in self.fields)

    def to_fill(self) -> list[FieldSpec]:
        """Required fields (a validator's `valid_example` when it gives one) and confirmations;
        every other optional field stays empty (booleans are set on and off separately). A
        many-select gets its first option too: FAB's user form wants a role or a group, a rule
        that no field's flags tell."""
        return [f for f in self.fields if f.kind in ("bool", "multiselect") or f.required
                or f.equal_to or f.needed]


# --- pages ---------------------------------------------------------------------------------------

class PageWatch:
    """Everything a page of a context reports that a person should never meet: console errors,
    uncaught exceptions, failed requests and answers with an error status."""

    def __init__(self, context) -> None:
        self.problems: list[str] = []
        context.on("page", self._watch)
        for page in context.pages:
            self._watch(page)

    def _watch(self, page) -> None:
        page.on("console", lambda m: m.type == "error" and self._note(
            f"console error on {page.url}: {m.text}", (m.location or {}).get("url", "")))
        page.on("pageerror", lambda exc: self.problems.append(
            f"JavaScript error on {page.url}: {exc}"))
        # net::ERR_ABORTED is the page itself dropping a request it no longer needs (a
        # background fetch when the test moves on); a server failing answers an error status
        # (below) or resets the connection, which still count
        page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED" and self._note(
            f"request failed: {r.method} {r.url} ({r.failure})", r.url))
        page.on("response", lambda r: r.status >= 400 and self._note(
            f"{r.status} answer: {r.request.method} {r.url}", r.url))

    def _note(self, problem: str, url: str) -> None:
        self.problems.append(problem)

    def take(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems


FORM = "#model_form"


def control(page, name: str):
    return page.locator(f"{FORM} [name='{name}']").first


def options(page, name: str) -> list[str]:
    return [v for v in page.locator(f"{FORM} select[name='{name}'] option").evaluate_all(
        "els => els.map(e => e.value)") if v not in ("", "__None")]


def fill(page, spec: FieldSpec, value) -> None:
    """Put `value` in the field the way its widget takes it (select2 keeps the real <select>)."""
    if spec.kind == "bool":
        control(page, spec.name).set_checked(bool(value))
    elif spec.kind in ("select", "multiselect"):
        values = value if isinstance(value, list) else [value]
        select = page.locator(f"{FORM} select[name='{spec.name}']")
        offered = set(options(page, spec.name))
        for crafted in (v for v in values if v not in offered):
            # a value no option offers (an invalid example): posted as an attacker would, by
            # adding the option to the page first
            select.evaluate("(el, v) => el.add(new Option(v, v))", crafted)
        select.select_option(values, force=True)
    else:
        control(page, spec.name).fill(value)


def snapshot(page) -> dict[str, object]:
    """Every visible value of the form by field name (hidden-value boxes left out)."""
    return page.locator(FORM).evaluate("""form => {
        const out = {};
        for (const el of form.querySelectorAll('input, select, textarea')) {
            if (!el.name || el.name === 'csrf_token' || el.type === 'hidden'
                || el.type === 'password') continue;
            if (el.type === 'checkbox') out[el.name] = el.checked;
            else if (el.tagName === 'SELECT' && el.multiple)
                out[el.name] = Array.from(el.selectedOptions).map(o => o.value);
            else out[el.name] = el.value;
        }
        return out;
    }""")


def submit(page) -> None:
    page.locator(FORM).locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()


def alerts(page, kind: str) -> list[str]:
    """Texts of the flash messages of one kind ("" for every kind)."""
    # flashed messages only (they carry a close button), not a page's own notes (#next-step)
    selector = f".alert-{kind}:has(button.close)" if kind else ".alert:has(button.close)"
    return [" ".join(t.split()) for t in page.locator(selector).all_inner_texts()]


_EDIT_URL = re.compile(r"/(add|edit/[^/?#]+)(\?|$)")


def still_on_form(page) -> bool:
    return bool(_EDIT_URL.search(page.url.split("#")[0]))
