"""A message whose ids are clear but whose action is not (`2274209 cancel or refill?`, `should I
cancel 2274209 or wait?`) is answered with a short question in the customer's language listing
the choices; nothing is dispatched and the panel is not even asked. Sending a choice back as it
is then does what it says.
"""
from __future__ import annotations

import pytest

from tests.integration.pipeline_support import (build_desk, dispatches, line, reasons, reply_of,
                                                seed_refill_order, send, steps)

ORDER = "2274209"


@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, "EXT-88231")


def test_two_actions_offered_as_alternatives_are_asked_back(client, factory, pp, redis_conn):
    desk = build_desk(factory, pp.url)
    log = send(client, desk.channel, f"{ORDER} cancel or refill?")
    assert log.outcome == "asked"
    assert reply_of(log) == line("ask_action", choices=f'"{ORDER} cancel" · "{ORDER} refill"')
    assert reply_of(log) == ("Which one do you want? Nothing has been done yet. Send one of "
                             f'these messages: "{ORDER} cancel" · "{ORDER} refill"')
    assert steps(log, "parse")[0]["ambiguous"] == [f"{ORDER}: cancel/refill"]
    assert dispatches() == [] and reasons(log) == {}
    assert pp.request_count == 0  # nothing to look up before the customer chooses

    # the customer sends one choice back as it is: now it is a request
    log = send(client, desk.channel, f"{ORDER} refill")
    assert reasons(log) == {ORDER: "ok"}
    assert len(dispatches(log)) == 1


def test_advice_asked_for_is_a_question_in_the_customers_language(client, factory, pp,
                                                                   redis_conn):
    desk = build_desk(factory, pp.url, language="ru")
    log = send(client, desk.channel, f"отменить {ORDER} или подождать?")
    assert log.outcome == "asked"
    assert reply_of(log) == ("Что именно вы хотите? Пока ничего не сделано. Отправьте одно из "
                             f'этих сообщений: "{ORDER} отмена"')
    assert dispatches() == [] and pp.request_count == 0

    log = send(client, desk.channel, f"{ORDER} отмена")  # the choice, sent back
    assert [s["action"] for s in steps(log, "rule")] == ["cancel"]
