"""What a customer is told, through the real webhook and pipeline (issue 11, "Customer replies"):
one order in the singular, the precise reason of each refusal (facts of the service before facts
of the status), an answer for every message that reads as a command (`refill 1 2 3`, ids not
found, more ids than allowed, mixed), and workspace overrides of counted replies.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import WorkspaceSettings
from tests.integration.pipeline_support import (REFILL_30, build_desk, days_ago, dispatches,
                                                line, reasons, reply_of, seed_refill_order,
                                                send, steps)

ORDER = "2274209"
NO_REFILL = "TikTok Views [No Refill]"


@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, "EXT-88231")


@pytest.fixture
def desk(factory, pp, redis_conn):
    return build_desk(factory, pp.url)


def settings(desk) -> WorkspaceSettings:
    return db.session.query(WorkspaceSettings).filter_by(workspace_id=desk.workspace.id).one()


def test_one_order_is_spoken_of_in_the_singular(client, desk, pp):
    pp.add_order(2274219, user="bob", service_name=REFILL_30, created=days_ago(2))
    log = send(client, desk.channel, "2274219 refill")
    assert reply_of(log) == "This order is not on your account: 2274219"

    pp.add_order(2274220, user="bob", service_name=REFILL_30, created=days_ago(2))
    log = send(client, desk.channel, "2274219 2274220 refill")
    assert reply_of(log) == "These 2 orders are not on your account: 2274219, 2274220"


def test_a_pending_order_of_a_service_without_refill_hears_no_refill(client, desk, pp):
    pp.add_order(2274301, user="alice", service_name=NO_REFILL, status="pending",
                 created=days_ago(0, minutes=5))
    pp.add_order(2274302, user="alice", service_name=NO_REFILL, status="canceled",
                 created=days_ago(1))
    pp.add_order(2274303, user="alice", service_name=REFILL_30, status="pending",
                 created=days_ago(0, minutes=5))
    log = send(client, desk.channel, "2274301 2274302 2274303 refill")
    assert reasons(log) == {"2274301": "refill_not_covered", "2274302": "refill_not_covered",
                            "2274303": "refill_not_completed"}
    reply = reply_of(log).splitlines()
    assert "The service of these 2 orders has no refill: 2274301, 2274302" in reply
    assert "Refill is possible once the order is completed: 2274303" in reply
    assert not any("completed: 2274301" in text for text in reply)


def test_a_refill_window_that_has_ended_answers_before_the_status(client, desk, pp):
    pp.add_order(2274304, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=10, created=days_ago(40))
    log = send(client, desk.channel, "2274304 refill")
    assert reasons(log) == {"2274304": "refill_window_ended"}
    assert reply_of(log) == "The refill period of this order has ended: 2274304"


def test_a_disabled_speed_or_cancel_answers_before_the_status(client, factory, desk, pp):
    pp.add_order(2274305, user="alice", service_id=78, service_name=REFILL_30,
                 status="completed", created=days_ago(1))
    factory.service_rule(desk.workspace, service_id="78", refill_kind="window", refill_days=30,
                         allow_speed=False, allow_cancel=False, is_override=True)
    log = send(client, desk.channel, "2274305 speed\n2274305 cancel")
    assert {(s["action"], s["verdict"]) for s in steps(log, "rule")} == {
        ("speed", "speed_disabled"), ("cancel", "cancel_disabled")}
    reply = reply_of(log).splitlines()
    assert "Speed-up is not available for the service of this order: 2274305" in reply
    assert "Cancellation is not available for the service of this order: 2274305" in reply


def test_refill_with_numbers_that_are_not_ids_is_answered(client, desk, pp):
    log = send(client, desk.channel, "refill 1 2 3")
    assert log.outcome == "answered"
    assert reply_of(log) == line("invalid_ids", order_ids="1, 2, 3") == \
        "These 3 numbers are not order ids (order ids have 4 to 12 digits): 1, 2, 3"
    assert pp.request_count == 0 and dispatches() == []

    log = send(client, desk.channel, "123")
    assert reply_of(log) == \
        "This is not an order id (order ids have 4 to 12 digits): 123"


def test_a_message_mixing_good_bad_and_unknown_ids(client, desk, pp):
    log = send(client, desk.channel, f"refill {ORDER} 123 9999999")
    assert reasons(log) == {ORDER: "ok", "9999999": "order_not_found"}
    reply = reply_of(log).split("\n")
    assert reply[0] == "This is not an order id (order ids have 4 to 12 digits): 123"
    assert f"Refill requested: {ORDER}" in reply
    assert "Order not found: 9999999" in reply
    assert len(dispatches(log)) == 1


def test_ids_not_found_are_counted(client, desk, pp):
    log = send(client, desk.channel, "9999991 9999992 9999993 refill")
    assert reply_of(log) == "3 orders not found: 9999991, 9999992, 9999993"


def test_more_ids_than_allowed_says_the_limit(client, desk, pp):
    pp.add_order(2274401, user="alice", service_name=REFILL_30, created=days_ago(2),
                 external_id="EXT-2")
    settings(desk).max_ids_per_message = 2
    db.session.commit()
    log = send(client, desk.channel, f"{ORDER} 2274401 2274402 refill")
    text = reply_of(log)
    assert text.startswith("Please send at most 2 order ids in one message.")
    assert f"Refill requested for 2 orders: {ORDER}, 2274401" in text
    assert "2274402" not in text.split("\n", 1)[1]

    settings(desk).max_ids_per_message = 1
    db.session.commit()
    log = send(client, desk.channel, "2274501 2274502 speed")
    assert reply_of(log).startswith("Please send at most 1 order id in one message.")


def test_every_parsed_command_gets_a_reply(client, desk, pp):
    for text in ("refill", "refill 1 2 3", "1 2 3 refill", "help", "balance", f"{ORDER}",
                 "refill 99999999999999", f"{ORDER} refill", "9999999 cancel"):
        log = send(client, desk.channel, text)
        assert reply_of(log), f"no reply to {text!r}"


def test_workspace_overrides_for_one_and_for_several(client, factory, desk, pp):
    for order_id in (2274601, 2274602):
        pp.add_order(order_id, user="bob", service_name=REFILL_30, created=days_ago(2))
    factory.reply_template(desk.workspace, key="not_owner", language="en",
                           body="Not yours ({count}): {order_ids}")
    log = send(client, desk.channel, "2274601 refill")
    assert reply_of(log) == "Not yours (1): 2274601"  # one override answers every count

    factory.reply_template(desk.workspace, key="not_owner_one", language="en",
                           body="That one is not yours: {order_ids}")
    log = send(client, desk.channel, "2274602 refill")
    assert reply_of(log) == "That one is not yours: 2274602"
    log = send(client, desk.channel, "2274601 2274602 speed")
    assert reply_of(log) == "Not yours (2): 2274601, 2274602"
