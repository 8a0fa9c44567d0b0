"""Every e-mail Relaydesk sends, written from an editable template in the recipient's language.

Contract
--------
* `MAILS` lists each mail (`key`): its built-in subject and body (English msgids with
  `{{name}}` placeholders, translated in the catalogues) and the variables it offers.
* The master admin may replace a mail's text in any shipped language (`EmailTemplate` rows,
  Master admin › E-mail templates); `render(key, language, values)` uses that row when there is
  one, else the built-in text in `language`. `{{app}}` is always offered (APP_NAME).
* `check_text(key, text)` raises `MailTextError` for a placeholder the mail does not offer
  (screens show it next to the field; app/domain/mail_text.py parses).
* `queue_mail(key, to, language, **values)` queues the job `app.jobs.mail.send_templated`,
  which renders at send time (an edit made meanwhile applies) and hands the message to the
  configured backend (app/mail.py). Mail is never sent from a request.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale, gettext, lazy_gettext as _l

from app.domain.mail_text import MailTextError, check, fill
from app.mail import Message


def N_(text: str) -> str:  # noqa: N802 - the gettext no-op marker (translated in render)
    return text


@dataclass(frozen=True)
class Mail:
    key: str
    label: object  # what the master admin reads in the list (lazy text)
    subject: str  # msgid
    body: str  # msgid
    variables: tuple[str, ...]

    @property
    def allowed(self) -> tuple[str, ...]:
        return ("app", *self.variables)


MAILS: dict[str, Mail] = {}


def register(mail: Mail) -> Mail:
    MAILS[mail.key] = mail
    return mail


register(Mail(
    "invitation", _l("Invitation to a workspace"),
    N_("You are invited to {{workspace}} on {{app}}"),
    N_("Hello {{name}},\n\nYou have been invited to work in {{workspace}} on {{app}}.\n"
       "Choose your password here (the link works once, for {{hours}} hours):\n\n{{link}}\n\n"
       "Then sign in with your e-mail address: {{email}}\n"),
    ("name", "workspace", "link", "hours", "email")))
register(Mail(
    "password_reset", _l("New password link"),
    N_("Set a new password for {{app}}"),
    N_("Hello {{name}},\n\nSomeone (we hope you) asked to set a new password for your login "
       "{{username}}.\nChoose it here (the link works once, for {{hours}} hours):\n\n{{link}}\n\n"
       "If you did not ask for this, ignore this mail: your password stays as it is.\n"),
    ("name", "username", "link", "hours")))
register(Mail(
    "signup_confirm", _l("Sign-up: confirm the e-mail address"),
    N_("Confirm your e-mail address for {{app}}"),
    N_("Hello {{name}},\n\nThank you for signing up to {{app}}. Confirm your e-mail address "
       "here (the link works for {{hours}} hours):\n\n{{link}}\n\n"
       "If you did not sign up, ignore this mail.\n"),
    ("name", "link", "hours")))
register(Mail(
    "signup_existing", _l("Sign-up: the address already has an account"),
    N_("You already have an account on {{app}}"),
    N_("Hello {{name}},\n\nSomeone (we hope you) tried to sign up to {{app}} with this e-mail "
       "address, which already has an account. Sign in here:\n\n{{login_link}}\n\n"
       "Forgot your password? Choose a new one here:\n\n{{reset_link}}\n\n"
       "If you did not try to sign up, ignore this mail: nothing was changed.\n"),
    ("name", "login_link", "reset_link")))
register(Mail(
    "payment_received", _l("Payment reference received"),
    N_("We received your payment reference for {{workspace}}"),
    N_("Hello {{name}},\n\nWe received your payment of {{amount}} (reference {{reference}}) "
       "for {{workspace}}. We check it and write to you as soon as it is approved.\n"),
    ("name", "workspace", "amount", "reference")))
register(Mail(
    "payment_approved", _l("Payment approved"),
    N_("Your payment for {{workspace}} is approved"),
    N_("Hello {{name}},\n\nYour payment of {{amount}} for {{workspace}} is approved: the "
       "{{plan}} plan is active until {{period_end}}. Invoice {{invoice}}: {{link}}\n\n{{note}}\n"),
    ("name", "workspace", "amount", "plan", "period_end", "invoice", "link", "note")))
register(Mail(
    "payment_rejected", _l("Payment not approved"),
    N_("Your payment for {{workspace}} could not be approved"),
    N_("Hello {{name}},\n\nWe could not approve your payment of {{amount}} (reference "
       "{{reference}}) for {{workspace}}:\n\n{{note}}\n\nYou can send another reference here: "
       "{{link}}\n"),
    ("name", "workspace", "amount", "reference", "note", "link")))
register(Mail(
    "expiry_reminder", _l("Subscription ends soon"),
    N_("{{workspace}}: your {{plan}} plan ends on {{period_end}}"),
    N_("Hello {{name}},\n\nThe {{plan}} plan of {{workspace}} ends on {{period_end}} (in "
       "{{days}} days). Renew it here so that your customers keep getting answers: {{link}}\n"),
    ("name", "workspace", "plan", "period_end", "days", "link")))
register(Mail(
    "workspace_suspended", _l("Workspace suspended"),
    N_("{{workspace}} is suspended"),
    N_("Hello {{name}},\n\n{{workspace}} is suspended: {{reason}}\n\nYour data is kept. "
       "To resume, renew the subscription here: {{link}}\n"),
    ("name", "workspace", "reason", "link")))
register(Mail(
    "workspace_resumed", _l("Workspace resumed"),
    N_("{{workspace}} works again"),
    N_("Hello {{name}},\n\n{{workspace}} works again: your customers' messages are answered "
       "as before.\n"),
    ("name", "workspace")))
register(Mail(
    "invoice_paid", _l("Invoice paid"),
    N_("Invoice {{invoice}} for {{workspace}}"),
    N_("Hello {{name}},\n\nThank you: we received {{amount}} for {{workspace}}. Invoice "
       "{{invoice}} is here: {{link}}\n"),
    ("name", "workspace", "invoice", "amount", "link")))
register(Mail(
    "support_reply", _l("Platform support: the platform replied"),
    N_("[{{ticket}}] {{subject}}"),
    N_("Hello {{name}},\n\n{{author}} wrote about \"{{subject}}\":\n\n{{reply}}\n\n"
       "Answer here: {{link}}\n"),
    ("name", "ticket", "subject", "author", "reply", "link")))
register(Mail(
    "support_ticket_opened", _l("Platform support: a workspace opened a ticket"),
    N_("[{{ticket}}] New support ticket from {{workspace}}: {{subject}}"),
    N_("Hello {{name}},\n\n{{author}} of {{workspace}} opened a support ticket "
       "({{category}}):\n\n{{subject}}\n\n{{message}}\n\nAnswer it here: {{link}}\n"),
    ("name", "workspace", "ticket", "subject", "category", "author", "message", "link")))
register(Mail(
    "support_customer_reply", _l("Platform support: the customer replied"),
    N_("[{{ticket}}] {{workspace}} replied: {{subject}}"),
    N_("Hello {{name}},\n\n{{author}} of {{workspace}} replied to the support ticket "
       "\"{{subject}}\" ({{category}}):\n\n{{reply}}\n\nAnswer it here: {{link}}\n"),
    ("name", "workspace", "ticket", "subject", "category", "author", "reply", "link")))

register(Mail(
    "services_changed", _l("The panel's services changed"),
    N_("{{workspace}}: the panel's services changed"),
    N_("Hello {{name}},\n\nThe services refresh of {{workspace}} found changes on the panel "
       "({{new}} new, {{removed}} no longer listed, {{changed}} renamed with other rules):\n\n"
       "{{changes}}\n\nCheck the service rules here: {{link}}\n"),
    ("name", "workspace", "changes", "new", "removed", "changed", "link")))

register(Mail(
    "health_problem", _l("A health problem started"),
    N_("{{workspace}}: {{problem}}"),
    N_("Hello {{name}},\n\nSomething needs your attention in {{workspace}}:\n\n{{problem}}\n\n"
       "How to fix it: {{fix}}\n\nThe Health page shows it with a link to where to fix it: "
       "{{link}}\n\nYou get one more e-mail when it clears.\n"),
    ("name", "workspace", "problem", "fix", "link")))

register(Mail(
    "health_cleared", _l("A health problem cleared"),
    N_("{{workspace}}: solved — {{problem}}"),
    N_("Hello {{name}},\n\nThis problem in {{workspace}} is gone:\n\n{{problem}}\n\n"
       "The Health page: {{link}}\n"),
    ("name", "workspace", "problem", "link")))

def check_text(key: str, text: str) -> None:
    """Raises MailTextError when `text` names a placeholder mail `key` does not offer."""
    mail = MAILS[key]
    check(text, mail.allowed)


def _language(language: str | None) -> str:
    known = current_app.config.get("LANGUAGES") or {}
    return language if language in known else current_app.config.get("BABEL_DEFAULT_LOCALE",
                                                                      "en")


def render(key: str, language: str | None, values: dict) -> tuple[str, str]:
    """(subject, body) of mail `key` in `language`: the master admin's text when there is
    one, else the built-in one; a stored text that no longer checks (a variable was renamed)
    falls back to the built-in text rather than send holes."""
    from app.extensions import db
    from app.models import EmailTemplate

    mail = MAILS[key]
    language = _language(language)
    values = {"app": current_app.config.get("APP_NAME", "Relaydesk"), **values}
    row = db.session.query(EmailTemplate).filter_by(key=key, language=language).one_or_none()
    if row is not None:
        try:
            check(row.subject, mail.allowed)
            check(row.body, mail.allowed)
            subject, body = row.subject, row.body
        except MailTextError:
            current_app.logger.warning("e-mail template %s [%s] does not check: built-in "
                                       "text used", key, language)
            row = None
    if row is None:
        with force_locale(language):
            subject, body = gettext(mail.subject), gettext(mail.body)
    # a subject is one line, whatever a value holds
    subject = " ".join(fill(subject, values).split())
    return subject, fill(body, values)


def message(key: str, to: str, language: str | None, **values) -> Message:
    subject, body = render(key, language, values)
    return Message(to=to, subject=subject, body=body)


def queue_mail(key: str, to: str, language: str | None, **values) -> bool:
    """Queue mail `key` to `to`; False when the queue is not reachable (logged)."""
    from app.jobs import queues

    if key not in MAILS:
        raise KeyError(key)
    return queues.enqueue_mail("app.jobs.mail.send_templated", key, to, language or "en",
                               {name: ("" if value is None else str(value))
                                for name, value in values.items()})
