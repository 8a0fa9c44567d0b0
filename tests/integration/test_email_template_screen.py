"""Master admin › E-mail templates: placeholders checked on save (screen and REST), and the
saved text is what the mail says."""
from app.extensions import db
from app.mail_templates import render
from app.models import EmailTemplate
from tests.form_errors import field_error


def test_an_unknown_placeholder_is_refused_beside_the_field_and_nothing_is_lost(app, factory,
                                                                                 auth, client):
    factory.admin()
    auth.login("root")
    page = client.post("/emailtemplateview/add", data={
        "key": "payment_rejected", "language": "es", "subject": "Pago {{workspace}}",
        "body": "Hola {{name}}, tu {{password}}"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    error = field_error(html, "body")
    assert error and "{{password}}" in error and "{{note}}" in error
    assert "Hola {{name}}, tu {{password}}" in html, "what was typed is kept"
    with app.app_context():
        assert db.session.query(EmailTemplate).count() == 0

    bad_syntax = client.post("/emailtemplateview/add", data={
        "key": "payment_rejected", "language": "es", "subject": "{{ workspace.owner }}",
        "body": "x"}).get_data(as_text=True)
    assert "not a placeholder" in (field_error(bad_syntax, "subject") or "")
    unknown = client.post("/emailtemplateview/add", data={
        "key": "no_such_mail", "language": "es", "subject": "x", "body": "x"})
    assert field_error(unknown.get_data(as_text=True), "key")

    saved = client.post("/emailtemplateview/add", data={
        "key": "payment_rejected", "language": "es", "subject": "Pago {{workspace}}",
        "body": "Hola {{name}}: {{note}}"})
    assert saved.status_code == 302
    with app.test_request_context():
        assert render("payment_rejected", "es", {"name": "Ana", "workspace": "Acme",
                                                 "note": "falta"}) == ("Pago Acme",
                                                                       "Hola Ana: falta")
    listing = client.get("/emailtemplateview/list/").get_data(as_text=True)
    assert "Payment not approved" in listing, "the e-mail is named in words, not by its key"


def test_the_rest_twin_checks_like_the_screen_and_is_the_admins_only(app, factory, auth, client):
    workspace = factory.workspace("acme")
    factory.member(workspace, "manager1")
    factory.admin()
    auth.login("root")
    refused = client.post("/api/v1/email_template/", json={
        "key": "invoice_paid", "language": "en", "subject": "{{secret}}", "body": "x"})
    assert refused.status_code == 422 and "{{secret}}" in refused.json["message"]["subject"][0]
    made = client.post("/api/v1/email_template/", json={
        "key": "invoice_paid", "language": "en", "subject": "Invoice {{invoice}}",
        "body": "{{amount}} received"})
    assert made.status_code == 201, made.json
    auth.logout()
    auth.login("manager1")
    assert client.get("/api/v1/email_template/").status_code in (401, 403)
    assert client.get("/emailtemplateview/list/").status_code in (302, 403)
