"""Self-service linking through the panel's tickets, in-process.

`link <username>` makes the Perfect Panel fake open a ticket for that username carrying a one-time
code (read back from the ticket the fake recorded, as the customer would read it on the panel);
`verify <code>` in the same chat links it. Codes expire, tries are limited per code and per hour,
link requests are rate limited per chat, and every step is in the command trace.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.domain.replies import DEFAULT_REPLIES, render_reply
from app.extensions import db
from app.jobs import linking
from app.jobs.events import process_event
from app.jobs.drivers import run_event
from app.models import ChatIdentity, CommandLog, InboundEvent, LinkCode, LinkedUser
from tests.integration.pipeline_support import (CUSTOMER_CHAT, REFILL_30, STRANGER_CHAT,
                                                build_desk, days_ago, dispatches, post_green,
                                                reply_of, send, steps)

CODE = re.compile(r"verification code is (\d{6})\b")
OTHER_CHAT = "79006660000@c.us"


@pytest.fixture
def pp(fake_perfectpanel):
    fake_perfectpanel.add_order(2274209, user="carol", service_name=REFILL_30,
                                external_id="EXT-C1", created=days_ago(3))
    return fake_perfectpanel


@pytest.fixture
def desk(factory, pp, redis_conn):
    return build_desk(factory, pp.url)


def sent(key: str, **values) -> str:
    return render_reply(key, **values)


def ticket_code(pp, username: str) -> str:
    tickets = [t for t in pp.tickets.values() if t["user"] == username]
    assert tickets, f"no ticket for {username}"
    match = CODE.search(tickets[-1]["messages"][0]["message"])
    assert match, tickets[-1]
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_link_and_verify_through_a_panel_ticket(client, desk, pp):
    log = send(client, desk.channel, "link carol", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_sent", username="carol")
    (ticket,) = pp.tickets.values()
    assert ticket["user"] == "carol" and ticket["subject"] == linking.TICKET_SUBJECT
    code = ticket_code(pp, "carol")
    stored = db.session.query(LinkCode).one()
    assert (stored.username, stored.chat_id, stored.ticket_id) == \
        ("carol", STRANGER_CHAT, str(ticket["id"]))
    assert code not in stored.code_hash and len(stored.code_hash) == 64
    (step,) = steps(log, "link")
    assert (step["username"], step["ticket"]) == ("carol", str(ticket["id"]))
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0

    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_verified", username="carol")
    assert steps(log, "verify")[0]["ok"] is True
    identity = db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).one()
    assert identity.linked_user.username == "carol" and identity.verified_at is not None
    assert db.session.query(LinkCode).one().used_at is not None

    # the chat now speaks for carol: her order goes through
    log = send(client, desk.channel, "2274209 refill", chat=STRANGER_CHAT)
    assert log.outcome == "dispatched" and dispatches(log)[0].text == "EXT-C1 refill"

    # the code was used once and cannot be used again (from another chat, nor this one)
    assert reply_of(send(client, desk.channel, f"verify {code}", chat=OTHER_CHAT)) == \
        sent("link_failed")


def test_linking_to_an_already_known_username_adds_the_chat(client, desk, pp):
    send(client, desk.channel, "link alice", chat=STRANGER_CHAT)
    code = ticket_code(pp, "alice")
    send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)
    alice = db.session.query(LinkedUser).filter_by(username="alice").one()
    assert sorted(i.chat_id for i in db.session.query(ChatIdentity)
                  .filter_by(linked_user_id=alice.id)) == sorted([CUSTOMER_CHAT, STRANGER_CHAT])
    assert db.session.query(LinkedUser).count() == 1


def test_wrong_code_is_refused_and_counted(client, desk, pp):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(pp, "carol")

    log = send(client, desk.channel, f"verify {wrong(code)}", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_failed")
    assert steps(log, "verify")[0]["ok"] is False
    assert db.session.query(LinkCode).one().attempts == 1
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0
    # a code only works in the chat that asked for it
    assert reply_of(send(client, desk.channel, f"verify {code}", chat=OTHER_CHAT)) == \
        sent("link_failed")
    # the right one still works afterwards
    assert reply_of(send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)) == \
        sent("link_verified", username="carol")


def test_expired_code_is_refused(client, desk, pp):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(pp, "carol")
    stored = db.session.query(LinkCode).one()
    stored.created_at -= linking.CODE_TTL + timedelta(minutes=1)
    stored.expires_at -= linking.CODE_TTL + timedelta(minutes=1)
    db.session.commit()

    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_failed")
    assert steps(log, "verify")[0]["ok"] is False
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0


def test_too_many_wrong_attempts_burn_the_code(client, desk, pp):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(pp, "carol")
    for _ in range(linking.MAX_VERIFY_ATTEMPTS):
        send(client, desk.channel, f"verify {wrong(code)}", chat=STRANGER_CHAT)
    assert db.session.query(LinkCode).one().attempts == linking.MAX_VERIFY_ATTEMPTS

    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_failed")
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0


def test_failed_verifications_are_rate_limited_per_hour(client, desk, pp):
    for _ in range(2):
        send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    codes = db.session.query(LinkCode).all()
    for row in codes:
        row.attempts = linking.MAX_VERIFY_ATTEMPTS
    db.session.commit()
    # every code is burnt: 2 × 5 = 10 failed tries within the hour
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(pp, "carol")

    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_rate_limited")
    assert steps(log, "verify")[0]["error"] == "rate limited"
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0


def test_link_requests_are_rate_limited(client, desk, pp):
    for _ in range(linking.MAX_LINKS_PER_HOUR):
        assert reply_of(send(client, desk.channel, "link carol", chat=STRANGER_CHAT)) == \
            sent("link_sent", username="carol")

    log = send(client, desk.channel, "link carol", chat=STRANGER_CHAT)

    assert reply_of(log) == sent("link_rate_limited")
    assert steps(log, "link")[0]["error"] == "rate limited"
    assert len(pp.tickets) == linking.MAX_LINKS_PER_HOUR
    # another chat is not held by this one's limit
    assert reply_of(send(client, desk.channel, "link carol", chat=OTHER_CHAT)) == \
        sent("link_sent", username="carol")


def test_an_already_linked_chat_is_told_so(client, desk, pp):
    log = send(client, desk.channel, "link carol", chat=CUSTOMER_CHAT)
    assert reply_of(log) == sent("link_already", username="alice")
    assert pp.tickets == {} and db.session.query(LinkCode).count() == 0


def test_a_panel_without_tickets_cannot_link(client, factory, fake_rentalpanel, redis_conn):
    desk = build_desk(factory, fake_rentalpanel.url, panel_type="rentalpanel_v1",
                      api_key="rp-admin-key")
    log = send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    assert reply_of(log) == sent("link_unsupported")
    assert steps(log, "link")[0]["error"] == "panel has no tickets"
    assert fake_rentalpanel.request_count == 0 and db.session.query(LinkCode).count() == 0


def test_a_refused_username_gets_the_same_answer(client, desk, pp):
    pp.error_next(404, "User not found", path="*/tickets/add")
    log = send(client, desk.channel, "link nobody", chat=STRANGER_CHAT)
    # the answer does not tell whether the username exists
    assert reply_of(log) == sent("link_sent", username="nobody")
    assert steps(log, "link")[0]["error"] == "rejected"
    assert "User not found" in steps(log, "link")[0]["detail"]
    assert db.session.query(LinkCode).count() == 0


def test_panel_down_while_linking(client, desk, pp):
    pp.fail_next(3, 500, path="*/tickets/add")
    log = send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    assert reply_of(log) == DEFAULT_REPLIES["panel_unavailable"]
    assert steps(log, "link")[0]["error"] == "unreachable"
    # a ticket post is not repeated after a 5xx: the panel may have acted on it
    assert pp.count("POST", "*/tickets/add") == 1
    assert db.session.query(LinkCode).count() == 0


def test_running_the_same_link_message_again_opens_no_second_ticket(client, desk, pp):
    (event_id,) = post_green(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    process_event(event_id)
    log = db.session.query(CommandLog).one()
    log.state = "processing"  # as after a worker died before finishing the command
    db.session.commit()
    run_event(db.session.get(InboundEvent, event_id))
    assert len(pp.tickets) == 1 and db.session.query(LinkCode).count() == 1


def test_running_the_same_verify_message_again_still_says_linked(client, desk, pp):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(pp, "carol")
    (event_id,) = post_green(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)
    process_event(event_id)
    log = db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()
    log.state = "processing"  # the worker died after linking, before the command was done
    db.session.commit()

    run_event(db.session.get(InboundEvent, event_id))

    db.session.expire_all()
    assert log.reply_text == sent("link_verified", username="carol")
    assert steps(log, "verify")[-1]["repeated"] is True
    assert db.session.query(LinkCode).one().attempts == 0
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 1


def test_verifying_moves_a_chat_a_manager_linked_meanwhile(client, factory, desk, pp):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    bob = factory.linked_user(desk.workspace, username="bob")
    factory.identity(bob, desk.channel, chat_id=STRANGER_CHAT)
    # the chat is now bob's, but it still holds carol's code from before
    code = ticket_code(pp, "carol")
    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)
    assert reply_of(log) == sent("link_verified", username="carol")
    identity = db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).one()
    assert identity.linked_user.username == "carol"
