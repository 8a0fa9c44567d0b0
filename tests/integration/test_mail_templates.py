"""Every e-mail from an editable template in the recipient's language (app/mail_templates.py)."""
import pytest

from app.domain.mail_text import MailTextError, check, fill, placeholders
from app.jobs.mail import send_templated
from app.mail import outbox
from app.mail_templates import MAILS, check_text, render
from app.models import EmailTemplate


def test_placeholders_are_names_in_double_braces_and_nothing_else():
    assert placeholders("Hi {{name}}, {{ link }} {single} }") == ["name", "link"]
    assert fill("Hi {{ name }} {x} {{gone}}", {"name": "Ana"}) == "Hi Ana {x} "
    for bad in ("{{}}", "{{ a.b }}", "{{ x | upper }}", "{{ name() }}", "{{1x}}"):
        with pytest.raises(MailTextError):
            placeholders(bad)
    with pytest.raises(MailTextError) as error:
        check("Dear {{name}}, {{password}}", ("name",))
    assert error.value.written == "{{password}}" and error.value.allowed == ("name",)


def test_every_built_in_mail_uses_only_its_own_variables(app):
    with app.app_context():
        for key, mail in MAILS.items():
            check_text(key, mail.subject)
            check_text(key, mail.body)


def test_a_mail_is_written_in_the_recipients_language(app):
    with app.test_request_context():
        subject, body = render("signup_confirm", "es", {"name": "Ana", "link": "https://x/y",
                                                        "hours": 48})
        english_subject, _ = render("signup_confirm", "en", {"name": "Ana"})
    assert "https://x/y" in body and "Ana" in body and "48" in body
    assert subject != english_subject, "the Spanish subject is translated"


def test_the_master_admins_text_replaces_the_built_in_one_in_its_language(app, db):
    db.session.add(EmailTemplate(key="payment_rejected", language="es",
                                 subject="Pago rechazado: {{workspace}}",
                                 body="Hola {{name}}: {{note}}"))
    db.session.commit()
    values = {"name": "Ana", "workspace": "Acme\nInjected: header", "note": "Falta la referencia"}
    subject, body = render("payment_rejected", "es", values)
    assert subject == "Pago rechazado: Acme Injected: header", "a subject stays one line"
    assert body == "Hola Ana: Falta la referencia"
    english, _ = render("payment_rejected", "en", values)
    assert english.startswith("Your payment for Acme")


def test_a_stored_text_that_no_longer_checks_falls_back_to_the_built_in_one(app, db):
    db.session.add(EmailTemplate(key="invoice_paid", language="en",
                                 subject="{{secret_key}}", body="{{secret_key}}"))
    db.session.commit()
    subject, _ = render("invoice_paid", "en", {"invoice": "RD-2026-00001", "workspace": "Acme"})
    assert subject == "Invoice RD-2026-00001 for Acme"


def test_the_job_sends_through_the_configured_backend(app, db):
    sent = outbox(app)
    sent.clear()
    assert send_templated("workspace_resumed", "owner@example.com", "pt_BR",
                          {"name": "Ana", "workspace": "Acme"}) == "sent"
    assert send_templated("no_such_mail", "owner@example.com", "en", {}) == "skipped"
    assert send_templated("workspace_resumed", "  ", "en", {}) == "skipped"
    assert [m.to for m in sent] == ["owner@example.com"]
    assert "Acme" in sent[0].subject and "Ana" in sent[0].body
