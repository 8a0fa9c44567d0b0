"""The platform support queue through the test client: a manager opens a ticket, the master
admin answers (and writes an internal note the workspace never sees), the manager replies,
closes and reopens; the mails (recipients, language), tenancy (404 for another workspace's
ticket), what agents may do, refused input beside its field, CSRF, and the REST resource.

Data is read and made in short app contexts, as in test_billing_screens.py."""
from __future__ import annotations

import re

import pytest

from app.extensions import db as database
from app.models import SupportMessage, SupportTicket
from app.models.support import BODY_MAX, SUBJECT_MAX
from tests.form_errors import field_errors
from tests.integration.billing_support import deliver_billing_mail
from tests.integration.team_support import signed_in

ADD = "/supportticketview/add"
LIST = "/supportticketview/list/"
QUEUE = "/supportqueueview/list/"
API = "/api/v1/support_ticket/"


def _session(app):
    class _Context:
        def __enter__(self):
            self.ctx = app.app_context()
            self.ctx.push()
            return database.session

        def __exit__(self, *exc):
            database.session.remove()
            self.ctx.pop()

    return _Context()


@pytest.fixture
def world(app, redis_conn):
    from tests.factories import Factory

    with _session(app):
        factory = Factory(app)
        alpha = factory.workspace("alpha", name="Alpha Panel", language="es")
        bravo = factory.workspace("bravo", name="Bravo Panel")
        factory.member(alpha, "alpha-manager", "manager")
        factory.member(alpha, "alpha-second", "manager")
        factory.member(alpha, "alpha-agent", "agent")
        factory.member(bravo, "bravo-manager", "manager")
        factory.admin("root")
        return {"alpha": alpha.id, "bravo": bravo.id}


def open_ticket(client, subject="Invoice shows the wrong plan", category="billing",
                message="Invoice 2026-00012 says Starter; we pay for Pro."):
    return client.post(ADD, data={"subject": subject, "category": category,
                                  "message": message})


def only_ticket(app) -> dict:
    with _session(app) as session:
        ticket = session.query(SupportTicket).one()
        return {"id": ticket.id, "status": ticket.status, "workspace": ticket.workspace_id,
                "subject": ticket.subject, "messages": [
                    (m.body, m.from_platform, m.internal) for m in ticket.messages]}


def test_the_whole_conversation_with_mails_to_the_right_people(app, world):
    manager = signed_in(app, "alpha-manager")
    assert 'name="message"' in manager.get(ADD).get_data(as_text=True)
    opened = open_ticket(manager)
    ticket = only_ticket(app)
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith(f"/supportticketview/show/{ticket['id']}")
    assert ticket["status"] == "open" and ticket["workspace"] == world["alpha"]
    assert ticket["messages"] == [("Invoice 2026-00012 says Starter; we pay for Pro.", False,
                                   False)]
    # the platform (the master admin, in the default language) is told
    mails = deliver_billing_mail(app)
    assert [m.to for m in mails] == ["root@test.example"]
    assert "Alpha Panel" in mails[0].subject and "Invoice shows the wrong plan" in mails[0].subject
    assert "Billing" in mails[0].body and "we pay for Pro" in mails[0].body
    assert f"/supportqueueview/show/{ticket['id']}" in mails[0].body

    admin = signed_in(app, "root")
    queue = admin.get(QUEUE).get_data(as_text=True)
    assert "Invoice shows the wrong plan" in queue and "Alpha Panel" in queue
    page = f"/supportqueueview/show/{ticket['id']}"
    # an internal note: on the admin's page, never the workspace's, no mail
    noted = admin.post(f"/supportqueueview/reply/{ticket['id']}",
                       data={"body": "Check plan change of 2 Dec", "internal": "y"})
    assert noted.status_code == 302
    assert "Check plan change of 2 Dec" in admin.get(page).get_data(as_text=True)
    assert deliver_billing_mail(app) == []
    assert only_ticket(app)["status"] == "open"
    # the public answer: the workspace's managers are told, in the workspace's language
    admin.post(f"/supportqueueview/reply/{ticket['id']}",
               data={"body": "Fixed: the invoice now says Pro."})
    assert only_ticket(app)["status"] == "answered"
    mails = deliver_billing_mail(app)
    assert sorted(m.to for m in mails) == ["alpha-manager@test.example",
                                           "alpha-second@test.example"]
    assert all("Fixed: the invoice now says Pro." in m.body and "Hola" in m.body
               and f"/supportticketview/show/{ticket['id']}" in m.body for m in mails)

    mine = manager.get(f"/supportticketview/show/{ticket['id']}").get_data(as_text=True)
    assert "Fixed: the invoice now says Pro." in mine
    assert "Check plan change" not in mine and "Internal note" not in mine
    assert mine.index("we pay for Pro") < mine.index("Fixed: the invoice")  # oldest first
    # the customer replies: open again, the platform is told
    manager.post(f"/supportticketview/reply/{ticket['id']}", data={"body": "Thanks, and the PDF?"})
    assert only_ticket(app)["status"] == "open"
    mails = deliver_billing_mail(app)
    assert [m.to for m in mails] == ["root@test.example"]
    assert "Thanks, and the PDF?" in mails[0].body

    # close; a reply is refused beside the field and nothing is written; reopen
    manager.post(f"/supportticketview/status/{ticket['id']}", data={"status": "closed"})
    assert only_ticket(app)["status"] == "closed"
    refused = manager.post(f"/supportticketview/reply/{ticket['id']}",
                           data={"body": "One more thing"})
    assert refused.status_code == 200
    assert "reopen it" in " ".join(field_errors(refused.get_data(as_text=True), "body"))
    assert len(only_ticket(app)["messages"]) == 4
    manager.post(f"/supportticketview/status/{ticket['id']}", data={"status": "open"})
    assert only_ticket(app)["status"] == "open"
    assert manager.post(f"/supportticketview/status/{ticket['id']}",
                        data={"status": "answered"}).status_code == 400


def test_support_email_setting_replaces_the_master_admins(app, world):
    app.config["SUPPORT_EMAIL"] = "help@platform.example, desk@platform.example"
    try:
        open_ticket(signed_in(app, "alpha-manager"))
        mails = deliver_billing_mail(app)
    finally:
        app.config["SUPPORT_EMAIL"] = ""
    assert sorted(m.to for m in mails) == ["desk@platform.example", "help@platform.example"]


def test_admin_sets_status_and_priority_and_the_queue_puts_the_waiting_first(app, world):
    for subject in ("First question", "Second question", "Third question"):
        open_ticket(signed_in(app, "alpha-manager"), subject=subject)
    with _session(app) as session:
        ids = {t.subject: t.id for t in session.query(SupportTicket)}
    admin = signed_in(app, "root")
    admin.post(f"/supportqueueview/reply/{ids['First question']}", data={"body": "Done."})
    admin.post(f"/supportqueueview/triage/{ids['Third question']}",
               data={"status": "open", "priority": "high"})
    queue = admin.get(QUEUE).get_data(as_text=True)
    order = sorted(ids, key=lambda subject: queue.index(subject))
    assert order == ["Third question", "Second question", "First question"]
    refused = admin.post(f"/supportqueueview/triage/{ids['Second question']}",
                         data={"status": "bogus", "priority": "high"})
    assert refused.status_code == 200 and field_errors(refused.get_data(as_text=True),
                                                       "status")
    with _session(app) as session:
        assert session.get(SupportTicket, ids["Second question"]).priority == "normal"
    waiting = admin.get("/supportqueueview/list/?_flt_0_status=open").get_data(as_text=True)
    assert "First question" not in waiting and "Second question" in waiting


def test_another_workspaces_ticket_answers_404_and_agents_only_read(app, world):
    open_ticket(signed_in(app, "alpha-manager"))
    pk = only_ticket(app)["id"]
    other = signed_in(app, "bravo-manager")
    assert "Invoice shows the wrong plan" not in other.get(LIST).get_data(as_text=True)
    for path, data in ((f"/supportticketview/show/{pk}", None),
                       ("/supportticketview/show/987654", None),
                       (f"/supportticketview/reply/{pk}", {"body": "mine now"}),
                       (f"/supportticketview/status/{pk}", {"status": "closed"}),
                       (f"{API}{pk}", None)):
        answer = other.post(path, data=data) if data else other.get(path)
        assert answer.status_code == 404, path
    assert only_ticket(app)["status"] == "open" and len(only_ticket(app)["messages"]) == 1
    # the manager's scoped screen never reaches the admin's queue
    assert other.get(QUEUE).status_code == 403
    assert other.get(f"/supportqueueview/show/{pk}").status_code == 403

    agent = signed_in(app, "alpha-agent")
    page = agent.get(f"/supportticketview/show/{pk}").get_data(as_text=True)
    assert "we pay for Pro" in page and 'id="support-reply"' not in page
    assert agent.post(f"/supportticketview/reply/{pk}", data={"body": "hi"}).status_code == 403
    assert agent.get(ADD).status_code == 403
    # the master admin's menu has the queue, not the workspace's screen
    menu = signed_in(app, "root").get(QUEUE).get_data(as_text=True)
    assert "/supportqueueview/list/?_flt_0_status=open" in menu
    assert 'href="/supportticketview/list/"' not in menu
    assert 'href="/supportticketview/list/"' in signed_in(app, "alpha-manager").get(
        LIST).get_data(as_text=True)


@pytest.mark.parametrize("field, values", [
    ("subject", {"subject": "   "}),
    ("subject", {"subject": "s" * (SUBJECT_MAX + 1)}),
    ("message", {"message": ""}),
    ("message", {"message": "m" * (BODY_MAX + 1)}),
    ("category", {"category": "gossip"}),
])
def test_a_refused_ticket_keeps_what_was_typed(app, world, field, values):
    manager = signed_in(app, "alpha-manager")
    data = {"subject": "Webhook stopped", "category": "technical",
            "message": "Since 9:00 nothing arrives.", **values}
    answer = manager.post(ADD, data=data)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and field_errors(page, field), field
    for name, value in data.items():
        if name not in (field, "category") and value.strip():
            assert value in page
    with _session(app) as session:
        assert session.query(SupportTicket).count() == 0
        assert session.query(SupportMessage).count() == 0
    assert deliver_billing_mail(app) == []


def test_refused_replies_and_unknown_ids(app, world):
    manager = signed_in(app, "alpha-manager")
    open_ticket(manager)
    pk = only_ticket(app)["id"]
    for body in ("  ", "x" * (BODY_MAX + 1)):
        answer = manager.post(f"/supportticketview/reply/{pk}", data={"body": body})
        assert answer.status_code == 200 and field_errors(answer.get_data(as_text=True), "body")
    assert len(only_ticket(app)["messages"]) == 1
    # an internal note typed by hand into the workspace's form is a plain reply
    manager.post(f"/supportticketview/reply/{pk}", data={"body": "hello", "internal": "y"})
    assert only_ticket(app)["messages"][-1] == ("hello", False, False)
    for path in ("/supportticketview/show/0", "/supportticketview/show/abc",
                 "/supportqueueview/show/987654"):
        client = signed_in(app, "root") if "queue" in path else manager
        assert client.get(path).status_code == 404, path
    assert manager.post("/supportticketview/reply/987654", data={"body": "x"}).status_code == 404


def test_forms_carry_csrf_and_refuse_without(app, world):
    manager = signed_in(app, "alpha-manager")
    open_ticket(manager)
    pk = only_ticket(app)["id"]
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = manager.get(f"/supportticketview/show/{pk}").get_data(as_text=True)
        assert len(re.findall(r'name="csrf_token"', page)) >= 2
        for path, data in ((f"/supportticketview/reply/{pk}", {"body": "no token"}),
                           (f"/supportticketview/status/{pk}", {"status": "closed"}),
                           (ADD, {"subject": "s", "category": "other", "message": "m"})):
            assert manager.post(path, data=data).status_code == 400, path
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    ticket = only_ticket(app)
    assert ticket["status"] == "open" and len(ticket["messages"]) == 1


def test_rest_resource_opens_lists_and_never_shows_internal_notes(app, world):
    manager = signed_in(app, "alpha-manager")
    made = manager.post(API, json={"subject": "API question", "category": "technical",
                                   "message": "How do I page the list?"})
    assert made.status_code == 201, made.get_json()
    pk = made.get_json()["id"]
    with _session(app) as session:
        assert session.get(SupportTicket, pk).workspace_id == world["alpha"]
    admin = signed_in(app, "root")
    admin.post(f"/supportqueueview/reply/{pk}", data={"body": "secret triage", "internal": "y"})
    admin.post(f"/supportqueueview/reply/{pk}", data={"body": "Use ?q=(page:1)."})
    shown = manager.get(f"{API}{pk}").get_json()["result"]
    assert [m["body"] for m in shown["thread"]] == ["How do I page the list?",
                                                   "Use ?q=(page:1)."]
    assert shown["status"] == "answered" and "secret triage" not in str(shown)
    assert "secret triage" not in str(admin.get(f"{API}{pk}").get_json())
    assert [t["id"] for t in manager.get(API).get_json()["result"]] == [pk]
    assert signed_in(app, "bravo-manager").get(API).get_json()["result"] == []
    assert len(admin.get(API).get_json()["result"]) == 1

    short = manager.post(API, json={"subject": "Is there a sandbox?"})
    assert short.status_code == 201
    assert short.get_json()["result"]["thread"][0]["body"] == "Is there a sandbox?"
    assert short.get_json()["result"]["category"] == "other"
    for payload, field in (({"subject": "", "message": "m"}, "subject"),
                           ({"subject": "s", "message": "m" * (BODY_MAX + 1)}, "message"),
                           ({"subject": "s", "message": "m", "category": "x"}, "category"),
                           ({"subject": "s", "message": "m", "workspace": world["bravo"]},
                            "workspace")):
        refused = manager.post(API, json=payload)
        assert refused.status_code == 422 and field in refused.get_json()["message"], payload
    assert manager.post(API, data="not json", content_type="application/json"
                        ).status_code == 400
    assert signed_in(app, "alpha-agent").post(API, json={"subject": "s", "message": "m"}
                                               ).status_code == 403
    assert admin.post(API, json={"subject": "s", "message": "m"}).status_code == 400
    assert manager.put(f"{API}{pk}", json={"status": "closed"}).status_code in (403, 405)
    assert manager.delete(f"{API}{pk}").status_code in (403, 405)
    with _session(app) as session:
        assert session.query(SupportTicket).count() == 2
        assert session.query(SupportTicket).filter_by(workspace_id=world["bravo"]).count() == 0
