"""Order fetches shared across jobs (issue 14, the fair panel budget: "coalesce wherever the
panel's API allows one call to serve several commands").

`fetch_all` (app/jobs/drivers.py) merges the fetches of one job's batch. Several jobs of the
same workspace (other workers) wait for the same panel's slots at the same time, each with its
own batch: each slot then served one job, and a job waited for every other job's turn. Here a
fetch that waits for its slot leaves its ids in a list in Redis (`asks`, one list per
coalescing key: the panel's rate key and engine, and the customer where the engine answers
only one customer's orders per call); whichever waiting fetch gets the slot takes the other
fetches' ids with its own (up to `MAX_IDS`, one call's worth), makes the one call, and leaves
each of them its share of the answer (`replies`, JSON, `REPLY_TTL`). A fetch that finds its
reply returns it without calling. The fair order of the budget is unchanged (each waiting
fetch still asks for the slot as the chats it serves, app/integrations/ratelimit.py).

What can go wrong, and what then happens:
* the taker dies after taking: its followers keep asking for the slot and, when one gets it,
  it calls for its own ids (a fetch that gets the slot always calls for its own ids, so the
  worst case is one redundant read, never a lost command);
* Redis fails: the fetch calls for itself (`need.fetch()`), as before;
* the call fails: the followers get the same PanelError (kind, detail, cause) at once rather
  than each waiting for a slot to fail again.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, fields
from datetime import datetime

from flask import current_app

log = logging.getLogger(__name__)

PREFIX = "relaydesk:share:"
MAX_IDS = 100  # one getOrders-by-id call (docs/external-apis.md 1.3)
REPLY_TTL = 60  # seconds a reply waits for its fetch
ASKS_TTL = 60  # seconds the list of asks lives after the last one
POLL = 0.05  # seconds between looks for a reply while waiting

# Take asks from the head of the list while their ids fit in ARGV[1] (always at least one).
# Each ask is "<number of ids>:<json>".
TAKE_SCRIPT = """
local room = tonumber(ARGV[1])
local taken = {}
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local sep = string.find(head, ':', 1, true)
  local size = tonumber(string.sub(head, 1, (sep or 1) - 1)) or 1
  if #taken > 0 and size > room then break end
  redis.call('LPOP', KEYS[1])
  taken[#taken + 1] = head
  room = room - size
  if room <= 0 then break end
end
return taken
"""
_take_scripts: dict[int, object] = {}


def shareable(need) -> bool:
    """Fetches of a panel reached over HTTP whose engine answers several commands in one call:
    the ones `fetch_all` merges inside a batch."""
    from app.integrations.panels import PanelTransport

    return isinstance(getattr(need.adapter, "http", None), PanelTransport)


def asks_key(need) -> str:
    from app.integrations.panels import rate_key

    adapter = need.adapter
    scope = getattr(adapter, "coalesce_scope", "user")
    user = (need.username or "").strip().lower() if scope == "user" else ""
    return f"{PREFIX}{rate_key(adapter.http.settings)}:{adapter.engine}:{user}:asks"


def fetch_shared(need) -> tuple:
    """`need.fetch()` (OrdersResult or None, PanelError or None, milliseconds), with the slot
    wait shared as the module docstring says. Chat priority only (the caller's)."""
    from app.integrations.panels import ANY_CHAT, current_chat, current_max_wait
    from app.jobs.pipeline import _timed

    try:
        redis = current_app.extensions["relaydesk_redis"]
        key = asks_key(need)
        ask_id = uuid.uuid4().hex
        ask = f"{len(need.ids)}:{json.dumps({'id': ask_id, 'ids': need.ids})}"
        with redis.pipeline() as pipe:
            pipe.rpush(key, ask)
            pipe.expire(key, ASKS_TTL)
            pipe.execute()
    except Exception:  # noqa: BLE001 - Redis trouble: the fetch calls for itself
        log.warning("could not share a panel fetch", exc_info=True)
        return need.fetch()
    started = time.perf_counter()
    who = current_chat() or ANY_CHAT
    deadline = time.monotonic() + current_max_wait()
    answer = _wait_or_lead(redis, need, key, ask, ask_id, who, deadline)
    if answer is not None:
        result, error = answer
        return result, error, (time.perf_counter() - started) * 1000
    return _lead(redis, need, key, ask, started, _timed)


def _wait_or_lead(redis, need, key, ask, ask_id, who, deadline):
    """Wait for a reply or the slot. Returns (result, error) from a reply or a timeout; None
    when this fetch got the slot (it leads)."""
    from app.integrations.panels import PanelError, panel_rate, rate_key
    from app.integrations.ratelimit import RateLimiter

    settings = need.adapter.http.settings
    limiter = RateLimiter(redis)
    rate = panel_rate(settings.requests_per_second)
    slot = rate_key(settings)
    next_try = 0.0
    while True:
        with redis.pipeline() as pipe:  # read and remove the reply, in one transaction
            raw, _gone = pipe.get(f"{PREFIX}reply:{ask_id}").delete(
                f"{PREFIX}reply:{ask_id}").execute()
        if raw is not None:
            limiter.leave_fair(slot, who)
            return decode(raw)
        now = time.monotonic()
        if now >= next_try:
            wait = limiter.try_acquire_fair(slot, rate, who)
            if wait == 0.0:
                return None
            if now + min(wait, rate.interval) > deadline:
                redis.lrem(key, 1, ask)
                return None, PanelError("unreachable", f"panel rate limit: next slot in "
                                                       f"{wait:.1f}s", cause="paced")
            next_try = now + min(wait, rate.interval)
        time.sleep(max(0.0, min(POLL, next_try - time.monotonic())))  # next_try is ahead


def _lead(redis, need, key, ask, started, timed) -> tuple:
    """This fetch has the slot: take the other asks that fit, call once, leave the replies."""
    from app.integrations.panels import slot_paid

    others = []
    try:
        redis.lrem(key, 1, ask)
        script = _take_scripts.get(id(redis))
        if script is None:
            script = _take_scripts[id(redis)] = redis.register_script(TAKE_SCRIPT)
        room = MAX_IDS - len(need.ids)
        for raw in (script(keys=[key], args=[room]) if room > 0 else []):
            text = raw.decode() if isinstance(raw, bytes) else raw
            others.append(json.loads(text.split(":", 1)[1]))
    except Exception:  # noqa: BLE001 - Redis trouble: the others call for themselves
        log.warning("could not take the shared panel fetches", exc_info=True)
    ids = list(dict.fromkeys([*need.ids, *(i for other in others for i in other["ids"])]))
    with slot_paid():
        result, error, _ms = timed(lambda: need.adapter.get_orders(ids,
                                                                  username=need.username))
    together = 1 + len(others)
    try:
        with redis.pipeline() as pipe:
            for other in others:
                pipe.set(f"{PREFIX}reply:{other['id']}",
                         encode(share(result, other["ids"], together), error), ex=REPLY_TTL)
            pipe.execute()
    except Exception:  # noqa: BLE001 - their fetches call for themselves after their wait
        log.warning("could not leave the shared panel answers", exc_info=True)
    mine = share(result, need.ids, together) if others else result
    return mine, error, (time.perf_counter() - started) * 1000


def share(result, ids: list[str], together: int):
    """The part of a merged answer that `ids` asked for (None stays None)."""
    from app.integrations.panels import clean_ids
    from app.integrations.panels.base import OrdersResult

    if result is None:
        return None
    valid, invalid = clean_ids(ids)
    asked = set(valid) | set(invalid)
    return OrdersResult(orders={i: o for i, o in result.orders.items() if i in asked},
                        missing=[i for i in result.missing if i in asked],
                        calls=result.calls, coalesced=together)


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


def encode(result, error) -> str:
    if error is not None:
        return json.dumps({"error": {"kind": error.kind, "detail": error.detail,
                                     "transient": error.transient, "cause": error.cause,
                                     "status": error.status}})
    return json.dumps({"orders": [{k: _plain(v) for k, v in asdict(order).items()}
                                  for order in result.orders.values()],
                       "missing": result.missing, "calls": result.calls,
                       "coalesced": result.coalesced})


_DATES = ("created_at", "panel_now")


def decode(raw) -> tuple:
    """(OrdersResult, None) or (None, PanelError) from `encode`'s text."""
    from app.integrations.panels.base import OrdersResult, PanelError, PanelOrder

    data = json.loads(raw)
    if "error" in data:
        e = data["error"]
        return None, PanelError(e["kind"], e["detail"], transient=e["transient"],
                                cause=e["cause"], status=e["status"])
    known = {f.name for f in fields(PanelOrder)}
    orders = {}
    for item in data["orders"]:
        item = {k: v for k, v in item.items() if k in known}
        for name in _DATES:
            if item.get(name):
                item[name] = datetime.fromisoformat(item[name])
        orders[item["id"]] = PanelOrder(**item)
    # the call was the taker's: none was made for this fetch
    return OrdersResult(orders=orders, missing=data["missing"], calls=0,
                        coalesced=data["coalesced"]), None
