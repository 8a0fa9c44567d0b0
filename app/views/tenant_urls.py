"""The outbound URL policy on screens and their REST twins (app/integrations/urlpolicy.py).

A model declares the URLs a tenant chooses (`tenant_urls`, a tuple of `TenantUrl`). For those:

* the screens get two form validators, so the message sits beside the field: `OutboundUrl` on
  the URL field (the policy, with the host resolved now) and `ReenterSecret` on each secret that
  goes to that URL (an edit that changes the URL Relaydesk calls must carry the secret again);
* every add and update, screen or REST, runs `check_item` in `pre_add`/`pre_update` (the REST
  API has no forms): the same two rules, raising `FieldRefused` with the field's name, which
  the REST API answers with 422 `{"message": {field: [text]}}`. An update that changes the URL
  also clears the `dropped` secrets that were not given again.

"Given" means a non-blank value in this request's form or JSON body: secrets are write-only and a
blank one keeps the stored value, so the stored value never counts as entered again.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import inspect
from wtforms.validators import ValidationError

from app.extensions import db
from app.integrations.urlpolicy import REENTER_SECRET, TenantUrl, UrlRefused, check_for_saving
from app.validation import FieldError, with_examples


class FieldRefused(FieldError):
    """A value refused for one field by the URL policy; `str()` is the message for the
    person (a `FieldError` of app/validation.py, answered and shown like every other)."""


def tenant_urls_of(model) -> tuple[TenantUrl, ...]:
    return tuple(getattr(model, "tenant_urls", ()) or ())


def secrets_for(model, secret: str) -> tuple[TenantUrl, ...]:
    """The tenant URLs a secret column is sent to."""
    return tuple(u for u in tenant_urls_of(model) if secret in u.secrets)


# --- forms ----------------------------------------------------------------------------------------

def _form_getter(form, stored=None):
    def get(column: str):
        if column in form:
            return form[column].data
        return getattr(stored, column, None)
    return get


#: the example a URL field's "enter a full web address" refusal gives, by column
EXAMPLE_URLS = {"api_url": "https://7103.api.greenapi.com", "api_base": "https://api.telegram.org",
                "url": "https://panel.example.com"}


class OutboundUrl:
    """Form validator of a URL field: the outbound URL policy, error beside the field."""

    #: examples for the form matrix (tests/browser/test_form_matrix.py): a name under the
    #: reserved .example domain never resolves, which https accepts; a private address never
    #: passes (the suite allows loopback only)
    valid_example = "https://relaydesk-check.example"
    invalid_example = "http://10.11.12.13/"

    def __init__(self, model, tenant_url: TenantUrl) -> None:
        self.model = model
        self.tenant_url = tenant_url

    def __call__(self, form, field) -> None:
        stored = _stored(form, self.model)
        url = self.tenant_url.called(_form_getter(form, stored))
        if url is None or not (field.data or "").strip():
            return
        try:
            check_for_saving(url)
        except UrlRefused as exc:
            example = EXAMPLE_URLS.get(self.tenant_url.column)
            if exc.reason == "malformed" and example:
                raise ValidationError(_("Enter a full web address, for example %(example)s.",
                                        example=example)) from None
            raise ValidationError(str(exc)) from None


class ReenterSecret:
    """Form validator of a secret field: on an edit that changes a URL this secret is sent to,
    the secret must be entered again (blank would keep the stored one)."""

    #: the browser form matrix's examples (app/validation.py contract). No value is invalid on
    #: its own: a blank secret is refused only on an edit that changes the URL, which the
    #: integration tests (test_tenant_urls) cover; the matrix has nothing to type
    valid_example = "new-secret-key-1"
    invalid_example = None
    context_dependent = True

    def __init__(self, model, tenant_urls: tuple[TenantUrl, ...]) -> None:
        self.model = model
        self.tenant_urls = tenant_urls

    def __call__(self, form, field) -> None:
        if (field.data or "").strip():
            return
        stored = _stored(form, self.model)
        if stored is None:  # an add form: nothing stored to protect
            return
        new, old = _form_getter(form, stored), (lambda column: getattr(stored, column))
        for tenant_url in self.tenant_urls:
            if tenant_url.called(new) not in (None, tenant_url.called(old)):
                raise ValidationError(str(REENTER_SECRET))


def _stored(form, model):
    """The row an edit form edits (FAB sets `form._id` before validating an edit; the row is in
    the session already, loaded through the scoped interface), or None for an add form."""
    pk = getattr(form, "_id", None)
    return None if pk is None else db.session.get(model, pk)


def form_validators(model) -> dict[str, list]:
    """{column: [validators]} for the URL columns of `model`."""
    return {u.column: [with_examples(OutboundUrl(model, u), u.default or "https://panel.example.com",
                                     "not a url")]
            for u in tenant_urls_of(model)}


def secret_validators(model, secret: str) -> list:
    """The validators of a secret field: [ReenterSecret] when the secret goes to a tenant URL."""
    urls = secrets_for(model, secret)
    return [ReenterSecret(model, urls)] if urls else []


# --- every save (screens and REST) -------------------------------------------------------------

def submitted() -> Mapping:
    """The values this request carries (form fields or JSON body), {} outside a request."""
    if not has_request_context():
        return {}
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form


def given(values: Mapping, column: str) -> bool:
    value = values.get(column)
    return isinstance(value, str) and bool(value.strip())


def check_item(item, values: Mapping, *, new: bool) -> None:
    """The policy for every tenant URL of `item`, and on an update (`new` False) the secrets
    that must come with a changed URL; clears the `dropped` secrets of a changed URL that
    `values` does not carry. Call after blank secrets were given their stored values back.

    :raise FieldRefused: naming the URL field (refused URL) or the secret field (not entered
        again).
    """
    state = None if new else inspect(item)
    for tenant_url in tenant_urls_of(type(item)):
        url = tenant_url.called(lambda column: getattr(item, column))
        if url is not None:
            try:
                check_for_saving(url)
            except UrlRefused as exc:
                raise FieldRefused(tenant_url.column, exc) from None
        if state is None:
            continue
        before = tenant_url.called(lambda column: _loaded_value(state, column))
        if url is None or url == before:
            continue
        for secret in tenant_url.secrets:
            if not given(values, secret):
                raise FieldRefused(secret, REENTER_SECRET)
        for secret in tenant_url.dropped:
            if not given(values, secret):
                setattr(item, secret, None)


def _loaded_value(state, column: str):
    """A column's value as loaded from the database, before this save changed it."""
    history = state.attrs[column].history
    if history.deleted:
        return history.deleted[0]
    if history.added:
        return None  # set without a loaded value: count it as a change
    return getattr(state.object, column)
