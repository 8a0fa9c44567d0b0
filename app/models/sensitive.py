"""Sensitive data, declared once on the model and honoured by every way data leaves.

A column is declared sensitive in its `info`: `Column(..., info=sensitive(SECRET))`. The kinds:

* `SECRET`: a credential Relaydesk must use (API keys, tokens, app secrets). Write-only: forms and
  REST add/edit schemas take it, nothing ever dumps it; pages show `<column>_masked` (the last
  four characters). Stored encrypted (`EncryptedText`).
* `PAYMENT_ID`: a payment provider's customer/subscription/invoice id. Treated like a secret:
  write-only, shown masked.
* `HASH`: a password, API-key or link-code hash. Never shown, never taken from a form.

Who honours the declaration: the screen and REST bases (app/views/base.py) refuse to list a
sensitive column unmasked and dump related rows as summaries only; the workspace file exports
secrets only when asked; the redaction step (app/redaction.py) removes secrets from texts. FAB's
own tables (users, API keys, registrations) are declared here, since their models are FAB's.
"""
from __future__ import annotations

from flask_appbuilder.security.sqla.models import ApiKey, RegisterUser, User
from app.crypto import mask

SECRET = "secret"  # noqa: S105 - the name of a kind, not a password
PAYMENT_ID = "payment_id"
HASH = "hash"
KINDS = (SECRET, PAYMENT_ID, HASH)
#: kinds that forms take (write-only) and pages show masked
WRITE_ONLY = (SECRET, PAYMENT_ID)

_FAB_DECLARATIONS = {
    User: {"password": HASH},
    RegisterUser: {"password": HASH, "registration_hash": HASH},
    ApiKey: {"key_hash": HASH, "lookup_hash": HASH},
}


def sensitive(kind: str) -> dict:
    """The `info` of a sensitive column: `Column(EncryptedText, info=sensitive(SECRET))`."""
    if kind not in KINDS:
        raise ValueError(f"unknown sensitive kind {kind!r}")
    return {"sensitive": kind}


def sensitive_columns(model) -> dict[str, str]:
    """{column name: kind} of every column of `model` declared sensitive."""
    table = getattr(model, "__table__", None)
    if table is None:
        return {}
    return {column.key: column.info["sensitive"] for column in table.columns
            if column.info.get("sensitive")}


def write_only_columns(model) -> tuple[str, ...]:
    return tuple(c for c, kind in sensitive_columns(model).items() if kind in WRITE_ONLY)


def masked_name(column: str) -> str:
    return f"{column}_masked"


def _masker(column: str):
    def masked(self) -> str:
        return mask(getattr(self, column))

    masked.__name__ = masked_name(column)
    masked.__doc__ = f"What a page may show of `{column}`: its mask."
    return masked


def install(models) -> None:
    """Declare FAB's sensitive columns and give every model a `<column>_masked` method for each
    write-only column (pages and REST answers show those instead)."""
    for model, columns in _FAB_DECLARATIONS.items():
        for name, kind in columns.items():
            model.__table__.c[name].info["sensitive"] = kind
    for model in models:
        for column in write_only_columns(model):
            if not hasattr(model, masked_name(column)):
                setattr(model, masked_name(column), _masker(column))
