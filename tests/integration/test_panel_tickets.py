"""The panel ticket workflow end to end against the fake Perfect Panel (its ticket endpoints as
docs/external-apis.md 1.2 describes them): subject rules, ids only after the last staff reply,
ownership, the reply in the ticket, provider dispatches like chat's, one answer per customer
message across repeated polls, two workers and a reply that may have reached the panel; the
plan, the settings and the engine deciding whether it runs; garbage from the panel."""
from __future__ import annotations

import threading

import pytest

from app.domain.replies import render_reply
from app.extensions import db
from app.jobs import tickets
from app.jobs.workspace_config import forget
from app.models import OutboundMessage, TicketActivity, TicketRule, WorkspaceSettings
from tests.integration.pipeline_support import (GROUP_CHAT, build_desk, days_ago,
                                                seed_refill_order)

REPLY_PATH = "*/tickets/*/reply"


@pytest.fixture
def desk(app, db, factory, redis_conn, fake_perfectpanel):
    desk = build_desk(factory, fake_perfectpanel.url)
    settings = db.session.query(WorkspaceSettings).filter_by(
        workspace_id=desk.workspace.id).one()
    settings.tickets_enabled = True
    db.session.commit()
    forget()
    return desk


def poll(desk) -> dict:
    summary = tickets.poll_workspace(desk.workspace.id)
    db.session.expire_all()
    return summary


def activities() -> list[TicketActivity]:
    return db.session.query(TicketActivity).order_by(TicketActivity.id).all()


def ticket_dispatches() -> list[OutboundMessage]:
    return (db.session.query(OutboundMessage).filter_by(purpose="dispatch")
            .filter(OutboundMessage.idempotency_key.like("ticket:%"))
            .order_by(OutboundMessage.id).all())


def staff_replies(fake, ticket_id: int) -> list[str]:
    return [m["message"] for m in fake.tickets[ticket_id]["messages"]
            if m["sender_name"] == "support"]


def test_refill_ticket_is_answered_and_dispatched_once(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-88231")
    ticket = fake_perfectpanel.add_ticket(
        user="alice", subject="Order - Refill",
        messages=[("alice", "Order ID: 2274209\nPlease refill, it dropped")])

    summary = poll(desk)

    assert summary["answered"] == 1, summary
    (row,) = activities()
    assert (row.state, row.outcome, row.action, row.order_ids) == \
        ("answered", "dispatched", "refill", "2274209")
    assert row.username == "alice" and row.rule == "default: refill"
    (dispatch,) = ticket_dispatches()
    assert dispatch.chat_id == GROUP_CHAT and "EXT-88231" in dispatch.text
    assert dispatch.idempotency_key == f"ticket:{row.id}:{desk.route.id}"
    assert staff_replies(fake_perfectpanel, ticket) == [row.reply_text]
    assert "2274209" in row.reply_text
    assert fake_perfectpanel.tickets[ticket]["status"] == "answered"
    assert row.orders and row.orders[0]["reason"] == "ok"

    # the panel keeps listing it as pending: read again, nothing new after our reply
    fake_perfectpanel.tickets[ticket]["status"] = "pending"
    for _ in range(2):
        poll(desk)
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 1
    assert len(ticket_dispatches()) == 1 and len(activities()) == 1


def test_ids_are_read_only_after_the_last_staff_reply(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-88231")
    seed_refill_order(fake_perfectpanel, "2274210", "EXT-88232")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill", messages=[
        ("alice", "2274209 refill"), ("support", "Done for 2274209."),
        ("alice", "now 2274210 too, thanks")])

    poll(desk)

    (row,) = activities()
    assert row.order_ids == "2274210"
    assert row.customer_text == "now 2274210 too, thanks"
    (dispatch,) = ticket_dispatches()
    assert "EXT-88232" in dispatch.text and "EXT-88231" not in dispatch.text
    assert len(staff_replies(fake_perfectpanel, ticket)) == 2

    # the customer writes again: a new message, answered once more (its cooldown holds)
    fake_perfectpanel.tickets[ticket]["messages"].append(
        {"message": "2274210 again please", "sender_name": "alice",
         "created": fake_perfectpanel.tickets[ticket]["messages"][0]["created"]})
    fake_perfectpanel.tickets[ticket]["status"] = "pending"
    poll(desk)
    assert len(activities()) == 2
    assert len(ticket_dispatches()) == 1  # the refill cooldown: no second provider message
    assert len(staff_replies(fake_perfectpanel, ticket)) == 3


def test_an_order_of_another_customer_is_refused(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274211", "EXT-9", user="bob")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                          messages=[("alice", "2274211")])

    poll(desk)

    (row,) = activities()
    assert row.state == "answered" and row.outcome == "refused"
    assert row.orders[0]["reason"] != "ok"
    assert not ticket_dispatches()
    assert staff_replies(fake_perfectpanel, ticket) == [row.reply_text]


def test_the_customers_language_answers_when_known(desk, fake_perfectpanel):
    desk.user.language = "es"
    db.session.commit()
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    fake_perfectpanel.add_ticket(user="ALICE", subject="Pedido - Recarga",
                                 messages=[("ALICE", "2274209")])
    poll(desk)
    (row,) = activities()
    assert row.language == "es" and row.action == "refill" and row.state == "answered"


def test_two_workers_polling_at_once_answer_once(app, desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-88231")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                          messages=[("alice", "2274209")])
    fake_perfectpanel.latency = 0.05  # both workers have read the ticket before either claims
    barrier = threading.Barrier(2)
    results, errors = [], []
    workspace_id = desk.workspace.id

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                results.append(tickets.poll_workspace(workspace_id))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    db.session.expire_all()
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 1
    assert len(staff_replies(fake_perfectpanel, ticket)) == 1
    assert len(ticket_dispatches()) == 1
    assert [r.state for r in activities()] == ["answered"]
    assert sorted(r.get("answered", 0) for r in results) == [0, 1]
    assert sorted(r.get("already", 0) for r in results) == [0, 1], results  # it lost the claim


def test_a_claimed_message_is_not_claimed_twice(desk):
    first = tickets.claim_message(desk.workspace.id, "7", "0:abc", {"username": "alice"})
    assert first is not None
    assert tickets.claim_message(desk.workspace.id, "7", "0:abc", {}) is None
    # another workspace's ticket 7 is another ticket
    other = build_other_workspace()
    assert tickets.claim_message(other, "7", "0:abc", {}) is not None


def build_other_workspace() -> int:
    from app.models import Workspace

    workspace = Workspace(slug="other-ws", name="Other")
    db.session.add(workspace)
    db.session.commit()
    return workspace.id


def test_a_reply_that_may_have_reached_the_panel_is_not_posted_again(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                          messages=[("alice", "2274209")])
    fake_perfectpanel.error_next(500, "Internal error", http_status=502, method="POST",
                                 path=REPLY_PATH)

    poll(desk)

    (row,) = activities()
    assert row.state == "reply_unknown" and "unreachable" in (row.error or "")
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 1  # not repeated after a 5xx
    for _ in range(2):
        poll(desk)
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 1
    assert staff_replies(fake_perfectpanel, ticket) == []
    assert len(ticket_dispatches()) == 1 and len(activities()) == 1


def test_a_poll_whose_claim_was_taken_over_never_posts_the_reply(desk, fake_perfectpanel,
                                                                  monkeypatch):
    """A very slow poll: its lease passed and another poll took the message over and is
    posting the reply. The slow one finds the message `replying` and posts nothing."""
    from app.jobs import outbound

    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                 messages=[("alice", "2274209")])
    real_defer = outbound.defer

    def overtaken(item):  # runs after the dispatch rows are written, before the reply
        real_defer(item)
        db.session.execute(TicketActivity.__table__.update().values(state="replying"))
        db.session.commit()

    monkeypatch.setattr(outbound, "defer", overtaken)
    summary = poll(desk)

    assert fake_perfectpanel.count("POST", REPLY_PATH) == 0
    (row,) = activities()
    assert row.state == "replying" and summary


def test_a_panel_that_fails_the_order_fetch_is_tried_again(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                          messages=[("alice", "2274209")])
    fake_perfectpanel.fail_next(3, 503, method="GET", path="*/orders/*")

    poll(desk)
    (row,) = activities()
    assert row.state == "failed" and staff_replies(fake_perfectpanel, ticket) == []

    poll(desk)
    db.session.refresh(row)
    assert row.state == "answered" and row.attempts == 2
    assert len(staff_replies(fake_perfectpanel, ticket)) == 1
    assert len(ticket_dispatches()) == 1


def test_tickets_no_rule_matches_are_left_to_the_staff(desk, fake_perfectpanel):
    fake_perfectpanel.add_ticket(user="alice", subject="Payment",
                                 messages=[("alice", "I paid for 2274209 twice")])
    untouched = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                             messages=[("alice", "it dropped, help me")])
    summary = poll(desk)
    assert summary["not_matched"] == 1
    (row,) = activities()  # the payment ticket is not even read
    assert row.ticket_id == str(untouched) and row.outcome == "no_ids"
    assert row.state == "skipped"
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 0
    assert fake_perfectpanel.count("GET", "*/tickets/1") == 0


def test_a_workspace_rule_comes_before_the_defaults(desk, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    db.session.add(TicketRule(workspace_id=desk.workspace.id, name="staff handles refunds",
                              position=1, subject_words="refund", action="ignore"))
    db.session.add(TicketRule(workspace_id=desk.workspace.id, name="status words",
                              position=2, message_words="где мой заказ, status?",
                              action="details"))
    db.session.commit()
    fake_perfectpanel.add_ticket(user="alice", subject="Refund",
                                 messages=[("alice", "2274209")])
    fake_perfectpanel.add_ticket(user="alice", subject="Other",
                                 messages=[("alice", "Где мой заказ 2274209?")])
    poll(desk)
    refund, status = activities()
    assert (refund.state, refund.outcome) == ("skipped", "ignored_by_rule")
    assert (status.state, status.action) == ("answered", "details")
    assert not ticket_dispatches()


def test_plan_without_the_tickets_module_does_not_poll(desk, factory, fake_perfectpanel):
    plan = factory.plan(code="basic-no-tickets", modules="api")
    desk.workspace.plan_id = plan.id
    db.session.commit()
    fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill")

    reason = tickets.enabled_reason(desk.workspace.id)
    assert reason and "ticket workflow" in reason
    assert poll(desk) == {"state": "skipped", "reason": reason}
    assert fake_perfectpanel.request_count == 0 and not activities()


def test_settings_off_and_engines_without_tickets_do_not_poll(desk, fake_perfectpanel):
    settings = db.session.query(WorkspaceSettings).one()
    settings.tickets_enabled = False
    db.session.commit()
    assert "off" in tickets.enabled_reason(desk.workspace.id)
    settings.tickets_enabled = True
    desk.panel.panel_type = "rentalpanel_v1"
    db.session.commit()
    assert "no tickets" in tickets.enabled_reason(desk.workspace.id)
    assert poll(desk)["state"] == "skipped"
    desk.panel.panel_type = "perfectpanel_v2"
    db.session.commit()
    assert tickets.enabled_reason(desk.workspace.id) is None
    assert fake_perfectpanel.request_count == 0


def test_poll_interval_follows_the_settings(desk):
    assert tickets.poll_interval(desk.workspace.id) == 60
    settings = db.session.query(WorkspaceSettings).one()
    settings.ticket_poll_seconds = 15
    db.session.commit()
    assert tickets.poll_interval(desk.workspace.id) == 15


@pytest.mark.parametrize("fault", ["html", "cloudflare", "truncated", "text", "envelope_error",
                                   "no_list"])
def test_garbage_from_the_panel_is_a_clear_failure(desk, fake_perfectpanel, fault):
    fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                 messages=[("alice", "2274209")])
    if fault == "envelope_error":
        fake_perfectpanel.error_next(401, "Invalid API key", n=5, path="*/tickets")
    elif fault == "no_list":
        fake_perfectpanel.override("GET", "*/tickets", body={
            "data": "maintenance", "error_code": 0, "error_message": ""}, times=5)
    else:
        fake_perfectpanel.garbage_next(5, fault, path="*/tickets")

    summary = poll(desk)

    assert summary["state"] == "failed", summary
    assert summary["detail"].startswith("panel "), summary
    assert not activities()


@pytest.mark.parametrize("body", [
    {"data": "nope", "error_code": 0, "error_message": ""},
    {"data": None, "error_code": 404, "error_message": "Ticket not found"},
    {"data": {"id": 1, "subject": "Order - Refill", "user": "alice", "messages": "x"},
     "error_code": 0},
    {"data": {"id": 1, "subject": "Order - Refill", "user": "alice",
              "messages": [None, 5, {"sender_name": {"name": "alice"}}]}, "error_code": 0},
])
def test_a_garbled_ticket_is_skipped_and_the_others_are_handled(desk, fake_perfectpanel, body):
    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    fake_perfectpanel.add_ticket(1, user="alice", subject="Order - Refill",
                                 messages=[("alice", "2274209")])
    good = fake_perfectpanel.add_ticket(2, user="alice", subject="Order - Speed up",
                                        messages=[("alice", "2274209 fast")])
    fake_perfectpanel.override("GET", "*/tickets/1", body=body)

    summary = poll(desk)

    assert [(r.ticket_id, r.action) for r in activities()] == [(str(good), "speed")]
    assert summary["read"] + summary["failed"] == 2
    assert fake_perfectpanel.count("POST", REPLY_PATH) == 1


def test_the_pending_list_is_paged(desk, fake_perfectpanel, monkeypatch):
    monkeypatch.setattr(tickets, "LIST_PAGE_SIZE", 2)
    for n in range(5):
        fake_perfectpanel.add_ticket(user="alice", subject="Hello",
                                     messages=[("alice", f"hi {n}")])
    summary = poll(desk)
    assert summary["pending"] == 5 and summary["not_matched"] == 5
    assert fake_perfectpanel.count("GET", "*/tickets") == 3


def test_rest_twins_are_scoped_and_validated(app, desk, factory, auth, client):
    factory.member(desk.workspace, "acme-manager")
    auth.login("acme-manager")
    bad = client.post("/api/v1/ticket_rule/", json={
        "name": "x", "position": 1, "subject_words": "", "message_words": "",
        "action": "refill", "enabled": True})
    assert bad.status_code == 422
    short = client.post("/api/v1/ticket_rule/", json={
        "name": "x", "position": 1, "subject_words": "ok, a", "action": "refill",
        "enabled": True})
    assert short.status_code == 422 and "subject_words" in short.get_json()["message"]
    good = client.post("/api/v1/ticket_rule/", json={
        "name": "Refill (.*)+ words", "position": 1, "subject_words": "(.*)+$, refill",
        "action": "refill", "enabled": True})
    assert good.status_code == 201, good.get_json()
    settings = db.session.query(WorkspaceSettings).one()
    refused = client.put(f"/api/v1/workspace_settings/{settings.id}",
                         json={"ticket_poll_seconds": 2})
    assert refused.status_code == 422
    assert client.put(f"/api/v1/workspace_settings/{settings.id}",
                      json={"ticket_poll_seconds": 5}).status_code == 200
    listing = client.get("/api/v1/ticket_activity/").get_json()
    assert listing["count"] == 0
    assert client.post("/api/v1/ticket_activity/", json={"ticket_id": "1"}).status_code in (
        403, 405)


def test_reply_text_is_customer_safe(desk, fake_perfectpanel):
    fake_perfectpanel.add_order(2274299, user="alice", status="pending", created=days_ago(0.01),
                                service_name="TikTok Views [No Refill]")
    ticket = fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                          messages=[("alice", "2274299")])
    poll(desk)
    (reply,) = staff_replies(fake_perfectpanel, ticket)
    assert "smmrush" not in reply.lower() and "EXT" not in reply
    assert reply.strip() and render_reply("panel_unavailable") not in reply


def test_the_runner_records_the_polls_and_says_why_it_does_not_run(desk, fake_perfectpanel,
                                                                    factory):
    from app.jobs.runners import run_due
    from app.models import RunnerState

    seed_refill_order(fake_perfectpanel, "2274209", "EXT-1")
    fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                 messages=[("alice", "2274209")])
    assert run_due("tickets", desk.workspace.id) == "ok"
    state = db.session.query(RunnerState).filter_by(runner="tickets").one()
    assert state.enabled and state.summary["answered"] == 1 and state.last_error is None

    fake_perfectpanel.garbage_next(5, "cloudflare", path="*/tickets")
    assert run_due("tickets", desk.workspace.id) == "failed"
    db.session.expire_all()
    state = db.session.query(RunnerState).filter_by(runner="tickets").one()
    assert state.outcome == "failed" and "unreachable" in state.last_error
    assert state.failing_since is not None

    plan = factory.plan(code="no-tickets-plan", modules="api")
    desk.workspace.plan_id = plan.id
    db.session.commit()
    assert run_due("tickets", desk.workspace.id) == "skipped"
    db.session.expire_all()
    state = db.session.query(RunnerState).filter_by(runner="tickets").one()
    assert not state.enabled and "ticket workflow" in state.disabled_reason


def test_the_workspace_file_carries_the_ticket_settings(app, db):
    from app.workspace_file.errors import WorkspaceFileInvalid
    from app.workspace_file.exporter import export_workspace
    from app.workspace_file.importer import import_text

    head = "workspace:\n  slug: tix\n  name: Tix\n"
    with pytest.raises(WorkspaceFileInvalid) as refused:
        import_text(head + "settings:\n  tickets:\n    enabled: true\n    poll_seconds: 2\n",
                    "tix.yaml")
    assert "settings.tickets.poll_seconds" in str(refused.value)
    with pytest.raises(WorkspaceFileInvalid):
        import_text(head + "settings:\n  tickets:\n    every: 5\n", "tix.yaml")

    import_text(head + "settings:\n  tickets:\n    enabled: true\n    poll_seconds: 30\n",
                "tix.yaml")
    settings = db.session.query(WorkspaceSettings).one()
    assert settings.tickets_enabled and settings.ticket_poll_seconds == 30
    exported = export_workspace("tix")
    assert "tickets:\n    enabled: true\n    poll_seconds: 30\n" in exported
    import_text(exported, "again.yaml")
    assert export_workspace("tix") == exported
