"""The API rate limit's counting (app/api_limits.py) on the in-process Redis substitute: the Lua
script and the transaction used by servers without scripting give the same answers."""
from __future__ import annotations

import fakeredis
import pytest

from app import api_limits


@pytest.fixture(params=["script", "transaction"])
def redis(request, monkeypatch):
    connection = fakeredis.FakeRedis()
    if request.param == "transaction":
        monkeypatch.setattr(api_limits, "_no_scripting", {id(connection)})
    return connection


def test_both_windows_count_and_refusals_use_up_nothing(redis):
    verdicts = [api_limits.decide(redis, 7, 2, 3) for _ in range(4)]
    assert [(v.allowed, v.limit, v.remaining) for v in verdicts] == [
        (True, 2, 1), (True, 2, 0), (False, 2, 0), (False, 2, 0)]
    assert verdicts[2].refused_by == "api_requests_per_minute"
    assert 1 <= verdicts[2].retry_after <= 60
    day = [key for key in redis.keys("relaydesk:api:7:d:*")]
    assert [int(redis.get(key)) for key in day] == [2]  # the refused calls were not counted


def test_the_day_window_refuses_until_midnight(redis):
    assert [api_limits.decide(redis, 8, None, 1).allowed for _ in range(2)] == [True, False]
    refused = api_limits.decide(redis, 8, None, 1)
    assert refused.refused_by == "api_requests_per_day" and refused.retry_after > 0
    now = int(redis.time()[0])
    assert abs(refused.retry_after - (86400 - now % 86400)) <= 1
    assert redis.keys("relaydesk:api:8:m:*") == []  # an unlimited window is not counted


def test_workspaces_are_counted_apart(redis):
    assert api_limits.decide(redis, 1, 1, None).allowed
    assert not api_limits.decide(redis, 1, 1, None).allowed
    assert api_limits.decide(redis, 2, 1, None).allowed
