"""Master admin › Payment events: every payment webhook event, what was done, in words; the
master admin's only."""
from app.extensions import db
from app.models import PaymentEvent
from app.models.base import utcnow


def test_the_master_admin_reads_what_was_done_with_each_event(app, factory, auth, client):
    workspace = factory.workspace("acme")
    factory.member(workspace, "manager1")
    factory.admin()
    db.session.add_all([
        PaymentEvent(provider="stripe", event_id="evt_1", event_type="invoice.paid",
                     workspace_id=workspace.id, outcome="applied", received_at=utcnow()),
        PaymentEvent(provider="razorpay", event_id="evt_2", event_type="subscription.halted",
                     outcome="unknown_workspace", received_at=utcnow()),
    ])
    db.session.commit()
    auth.login("root")
    page = client.get("/paymenteventview/list/").get_data(as_text=True)
    assert "invoice.paid" in page and "subscription.halted" in page
    assert "No workspace of ours" in page and "Applied" in page
    assert "unknown_workspace" not in page, "outcomes read as words"
    listed = client.get("/api/v1/payment_event/").get_json()
    assert {row["event_type"] for row in listed["result"]} == {"invoice.paid",
                                                               "subscription.halted"}
    assert client.post("/api/v1/payment_event/", json={
        "provider": "stripe", "event_id": "x", "event_type": "y"}).status_code in (403, 405)
    auth.logout()
    auth.login("manager1")
    assert client.get("/api/v1/payment_event/").status_code in (401, 403)
    assert client.get("/paymenteventview/list/").status_code in (302, 403)
