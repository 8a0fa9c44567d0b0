"""The sign-up journey's forms (Flask-WTF: each carries the CSRF token)."""
from __future__ import annotations

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from app.auth.views import POLICY_HINT
from app.auth.passwords import password_problems
from app.money import amount_problem
from app.signup.journey import slug_taken, valid_slug
from app.validation import slug_problem


#: WTForms' own message comes from its catalogues, which lack some shipped languages; ours have it
REQUIRED = _l("This field is required.")


def _languages() -> list[tuple[str, str]]:
    return [(code, info["name"]) for code, info in current_app.config["LANGUAGES"].items()]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class StrongPassword:
    """The password policy (app/auth/passwords.py) for the login named by the e-mail field."""

    def __call__(self, form, field) -> None:
        problems = password_problems(field.data, (form.email.data or "").strip().lower())
        if problems:
            raise ValidationError(" ".join(str(problem) for problem in problems))


class FreeSlug:
    """A slug of the right shape that no workspace has."""

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        problem = slug_problem(field.data)
        if problem is not None or not valid_slug(field.data):
            raise ValidationError(str(problem))
        if slug_taken(field.data):
            raise ValidationError(str(_l("This address is taken: choose another one.")))


#: the address is also the login name, which holds 128 characters (FAB's `ab_user.username`)
EMAIL_MAX = 128


class SignupForm(FlaskForm):
    full_name = StringField(_l("Your name"), filters=[_strip],
                            validators=[DataRequired(message=REQUIRED), Length(max=128)])
    email = StringField(_l("E-mail"), filters=[_strip],
                        validators=[DataRequired(message=REQUIRED), Length(max=EMAIL_MAX),
                                    Email(message=_l("Enter an e-mail address like "
                                                     "name@example.com."))],
                        description=_l("We send a link there to confirm it; it is also your "
                                       "sign-in name."))
    password = PasswordField(_l("Password"), validators=[StrongPassword()],
                             description=POLICY_HINT)
    workspace_name = StringField(_l("Workspace name"), filters=[_strip],
                                 validators=[DataRequired(message=REQUIRED), Length(max=120)],
                                 description=_l("Usually your panel's name, e.g. Acme SMM."))
    slug = StringField(_l("Workspace address"), filters=[_strip, lambda v: v.lower() if v else v],
                       validators=[Optional(), Length(max=64), FreeSlug()],
                       description=_l("Lowercase letters, digits and hyphens, e.g. acme-smm. "
                                      "Leave it empty to make it from the workspace name."))
    language = SelectField(_l("Language"), validators=[DataRequired(message=REQUIRED)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = _languages()
        if not self.language.data:
            self.language.data = str(get_locale() or "en")


class ResendForm(FlaskForm):
    """Only the CSRF token: "send the link again" for an expired link."""


class PlanForm(FlaskForm):
    """Read by hand in the view (the plan comes from the card's button); the form is here for
    its CSRF token and the panel engine's choices."""

    panel_type = SelectField(_l("Your panel’s engine"), validators=[Optional()],
                             validate_choice=False)  # journey.choose checks it


class PaymentForm(FlaskForm):
    method = RadioField(_l("How you paid"), validators=[DataRequired(
        message=_l("Choose how you paid."))], coerce=str)
    amount = StringField(_l("Amount"), filters=[_strip],
                         validators=[DataRequired(message=REQUIRED)])
    reference = StringField(_l("Payment reference"), filters=[_strip],
                            validators=[DataRequired(message=REQUIRED), Length(max=200)],
                            description=_l("The transaction id or reference your bank or "
                                           "wallet shows for the payment."))
    note = TextAreaField(_l("Note (optional)"), filters=[_strip],
                         validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_amount(self, field) -> None:
        problem = amount_problem(field.data, self.currency)
        if problem is not None:
            raise ValidationError(str(problem))
        from app.money import parse_amount

        if not parse_amount(field.data):
            raise ValidationError(str(_l("Enter the amount you paid.")))
