"""Reply composition: grouped by outcome, details per order, nothing technical for customers."""
import re

import pytest

from app.domain.replies import (DEFAULT_REPLIES, Outcome, compose, english, format_duration,
                                render_reply, technical_lines)
from app.domain.templates import MESSAGE_LIMIT, REPLY_LIMIT, REPLY_PLACEHOLDERS


def test_groups_orders_by_outcome_in_a_stable_order():
    outcomes = [
        Outcome("2274211", "refill", "refill_window_ended", {"days": 30}),
        Outcome("2274209", "refill", "ok"),
        Outcome("2274210", "refill", "ok"),
    ]
    text = compose(outcomes, english)
    assert text.splitlines() == [
        "Refill requested for 2 orders: 2274209, 2274210",
        "The refill period of this order has ended: 2274211",
    ]


def test_cooldowns_with_different_time_left_are_separate_lines():
    outcomes = [Outcome("1111", "refill", "cooldown", {"seconds_left": 3600}),
                Outcome("2222", "refill", "cooldown", {"seconds_left": 3600}),
                Outcome("3333", "refill", "cooldown", {"seconds_left": 120})]
    lines = compose(outcomes, english).splitlines()
    assert "you can ask again in 1h: 1111, 2222" in lines[1] or \
        "you can ask again in 1h: 1111, 2222" in lines[0]
    assert any("2m: 3333" in line for line in lines)


def test_details_lines_come_first_with_status_names():
    outcomes = [Outcome("2274209", "refill", "ok"),
                Outcome("2274210", "details", "ok",
                        {"status": "partial", "start_count": 3572, "remains": 157})]
    text = compose(outcomes, english, status_name=lambda s: s.upper())
    assert text.splitlines()[0] == "2274210: PARTIAL · start count 3572 · remains 157"
    assert text.splitlines()[1] == "Refill requested: 2274209"


def test_the_same_order_twice_is_listed_once():
    outcomes = [Outcome("1111", "speed", "ok"), Outcome("1111", "speed", "ok")]
    assert compose(outcomes, english) == "Speed-up requested: 1111"


def test_customer_text_never_contains_details_but_admin_lines_do():
    outcomes = [Outcome("2274209", "refill", "route_missing",
                        {"provider": "smmrush", "external_id": "EXT-88231"})]
    customer = compose(outcomes, english)
    assert "smmrush" not in customer and "EXT-88231" not in customer
    admin = "\n".join(technical_lines(outcomes))
    assert "provider=smmrush" in admin and "external_id=EXT-88231" in admin


@pytest.mark.parametrize("seconds,expected", [(0, "0s"), (59, "59s"), (60, "1m"),
                                              (3599, "59m"), (3600, "1h"), (12000, "3h 20m"),
                                              (172800, "2d"), (190800, "2d 5h")])
def test_format_duration(seconds, expected):
    assert format_duration(seconds) == expected


def test_a_broken_or_unknown_placeholder_falls_back_to_the_built_in_text():
    assert render_reply("balance", "Hi {balance}", balance="5") == "Hi 5"
    assert render_reply("balance", "Hi {balance}, {unknown}", balance="5") == "Your balance: 5"
    assert render_reply("balance", "broken { brace", balance="5") == "Your balance: 5"
    assert render_reply("balance", "{balance:>99999}", balance="5") == "Your balance: 5"


def test_every_default_reply_uses_exactly_the_placeholders_of_its_key():
    """`{count}` is optional (a plural text says it, a singular one need not)."""
    assert set(REPLY_PLACEHOLDERS) == set(DEFAULT_REPLIES)
    for key, text in DEFAULT_REPLIES.items():
        used = set(re.findall(r"{(\w+)}", text))
        assert used - {"count"} == set(REPLY_PLACEHOLDERS[key]) - {"count"}, key
        assert used <= set(REPLY_PLACEHOLDERS[key]), key


def test_a_group_of_many_ids_spreads_over_lines_and_loses_none():
    ids = [str(1_000_000 + k) for k in range(1000)]  # the most a message may carry
    text = compose([Outcome(i, "refill", "ok") for i in ids], english)
    lines = text.splitlines()
    assert len(lines) > 1 and all(len(line) <= MESSAGE_LIMIT for line in lines)
    prefix = "Refill requested for 1000 orders: "
    assert all(line.startswith(prefix) for line in lines)
    listed = [i for line in lines for i in line.removeprefix(prefix).split(", ")]
    assert listed == ids


def test_the_whole_reply_is_bounded_and_cut_between_lines():
    ids = [str(1_000_000 + k) for k in range(10_000)]
    outcomes = [Outcome(i, "refill", "ok") for i in ids]
    outcomes += [Outcome(i, "details", "ok", {"status": "completed"}) for i in ids]
    text = compose(outcomes, english)
    assert len(text) <= REPLY_LIMIT and text.endswith("\n…")
    assert all(line.startswith(("Refill requested for 10000 orders: ", "1"))
               for line in text.splitlines()[:-1])


def test_a_hundred_ids_stay_on_one_line():
    ids = [str(2_274_000 + k) for k in range(100)]
    assert compose([Outcome(i, "cancel", "ok") for i in ids], english) == \
        "Cancellation requested for 100 orders: " + ", ".join(ids)
