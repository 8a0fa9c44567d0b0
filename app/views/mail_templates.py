"""Master admin › E-mail templates: the text of every e-mail, per language, with `{{name}}`
placeholders checked when saved (app/mail_templates.py)."""
from __future__ import annotations

from flask_babel import gettext, lazy_gettext as _l
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel.speaklater import LazyString
from wtforms import SelectField
from wtforms.validators import DataRequired, ValidationError

from app.domain.mail_text import MailTextError
from app.mail_templates import MAILS, check_text
from app.models import EmailTemplate
from app.validation import FieldError
from app.views.base import CheckedModelView, RelaydeskInterface


def mail_error(error: MailTextError) -> str:
    if not error.syntax:
        return gettext("%(written)s is not offered by this e-mail. Write one of: %(allowed)s.",
                       written=error.written,
                       allowed=", ".join("{{" + name + "}}" for name in error.allowed))
    return gettext("%(written)s is not a placeholder: write a name in double braces, such "
                   "as {{name}}.", written=error.written)


class KnownMail:
    """WTForms validator: the mail key exists (a crafted form can post any value)."""

    valid_example = "invoice_paid"
    invalid_example = "no_such_mail"

    def __call__(self, form, field) -> None:
        if field.data not in MAILS:
            raise ValidationError(gettext("Choose one of the e-mails offered."))


def _mail_choices() -> list[tuple[str, str]]:
    return [(key, str(mail.label)) for key, mail in MAILS.items()]


def mail_template_valid(item) -> None:
    """Screens and REST: a known mail, and a subject and body that name only its variables."""
    if item.key not in MAILS:
        raise FieldError("key", gettext("Choose one of the e-mails offered."))
    for column in ("subject", "body"):
        try:
            check_text(item.key, getattr(item, column) or "")
        except MailTextError as error:
            raise FieldError(column, mail_error(error)) from None


def _variables_help() -> str:
    lines = [gettext("Placeholders are names in double braces; each e-mail offers its own:")]
    for mail in MAILS.values():
        names = ", ".join("{{" + name + "}}" for name in mail.allowed)
        lines.append(f"{mail.label}: {names}")
    lines.append(gettext("Without a text for a language, the built-in text in that language is "
                         "sent."))
    return "\n".join(lines)


def mail_label(key) -> str:
    mail = MAILS.get(key)
    return str(mail.label) if mail else key


class EmailTemplateView(CheckedModelView):
    """Every e-mail's text in each language; a language without a row gets the built-in text."""

    datamodel = RelaydeskInterface(EmailTemplate)
    relaydesk_roles: dict = {}
    page_size = 50
    list_columns = ["key", "language", "subject", "updated_at"]
    show_columns = ["key", "language", "subject", "body", "updated_at"]
    add_columns = ["key", "language", "subject", "body"]
    edit_columns = ["subject", "body"]
    search_columns = ["key", "language", "subject", "body"]
    label_columns = {"key": _l("E-mail"), "language": _l("Language"), "subject": _l("Subject"),
                     "body": _l("Text"), "updated_at": _l("Updated")}
    add_form_extra_fields = {"key": SelectField(_l("E-mail"), choices=_mail_choices,
                                                validate_choice=False,
                                                validators=[DataRequired(), KnownMail()],
                                                widget=Select2Widget())}
    description_columns = {"body": LazyString(_variables_help)}
    formatters_columns = {"key": mail_label}
    item_validators = (mail_template_valid,)
