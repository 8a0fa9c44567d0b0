"""The per-plan API rate limit: every authenticated REST call of a workspace counts, in Redis.

Contract (docs/contracts.md "SaaS contracts", "Public API")
----------------------------------------------------------
* `limit_api_request(user)` is called once a REST request knows its caller: after an
  `X-API-Key` (or `Authorization: Bearer rdk_…`) was validated and after a JWT's login was
  loaded (app/security.py `validate_api_key`, `load_user_jwt`). It counts the call against the
  caller's workspace, once per request, and raises `ApiRateLimited` (429) when the workspace's
  plan allows no more calls now.
* Limits come from the workspace's plan, read at each call: `api_requests_per_minute` and
  `api_requests_per_day` (NULL: unlimited). No plan, the master admin (every workspace) and
  logins outside any workspace are not limited. Before counting, a pending workspace's call and
  a suspended workspace's write are refused with 403 (app/signup/pending.py,
  app/suspension.py). Browser sessions calling the REST API (the screens, Swagger UI) are not
  counted: the contract counts JWT and API-key calls.
* Windows are fixed, on Redis' clock (UTC): the calendar minute and the calendar day. A call is
  counted only when both windows have room, so refused calls use up nothing; the answer is 429
  with `Retry-After` (seconds until the window that refused ends) and the project's REST error
  shape (app/errors.py, code `RATE_LIMITED`). Every counted answer carries
  `X-RateLimit-Limit` and `X-RateLimit-Remaining` of the tighter window.
* Counted per workspace in Redis, so every web process (and every thread of each) shares one
  count. Redis not answering: the call goes through uncounted (fail open), a warning is
  logged, and the process does not ask Redis again for REDIS_RETRY_SECONDS (so an outage costs
  one slow call per process every 10 s, not every call) — an outage of the limiter must not
  stop the API.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from flask_babel import gettext
from redis.exceptions import RedisError, ResponseError
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

PREFIX = "relaydesk:api"
MINUTE, DAY = 60, 86400
REDIS_RETRY_SECONDS = 10.0  # after Redis failed, calls go uncounted this long before it is asked

# KEYS[1]: the workspace's key prefix. ARGV: the minute and day limits (-1: unlimited).
# Returns {allowed (0|1), used this minute, used today, seconds to wait}. The window keys are
# made here, from Redis' own clock, so that every process agrees on the window.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1])
local minute = math.floor(now / 60)
local day = math.floor(now / 86400)
local mkey = KEYS[1] .. ':m:' .. minute
local dkey = KEYS[1] .. ':d:' .. day
local mlimit = tonumber(ARGV[1])
local dlimit = tonumber(ARGV[2])
local mused = tonumber(redis.call('GET', mkey) or '0')
local dused = tonumber(redis.call('GET', dkey) or '0')
local wait = 0
if mlimit >= 0 and mused >= mlimit then wait = (minute + 1) * 60 - now end
if dlimit >= 0 and dused >= dlimit then
  local until_tomorrow = (day + 1) * 86400 - now
  if until_tomorrow > wait then wait = until_tomorrow end
end
if wait > 0 then return {0, mused, dused, wait} end
if mlimit >= 0 then
  mused = redis.call('INCR', mkey)
  if mused == 1 then redis.call('EXPIRE', mkey, 120) end
end
if dlimit >= 0 then
  dused = redis.call('INCR', dkey)
  if dused == 1 then redis.call('EXPIRE', dkey, 90000) end
end
return {1, mused, dused, 0}
"""
_scripts: dict[int, object] = {}
_no_scripting: set[int] = set()
_redis_down_until = [0.0]  # time.monotonic() before which Redis is not asked (fail open)
_COUNTED = "relaydesk.api_counted"
_RATE = "relaydesk.api_rate"  # (limit, remaining) of the tighter window, for the headers


class ApiRateLimited(TooManyRequests):
    """429: the workspace's plan allows no more API calls now. `api_message` is the REST error
    answer's `message` (app/errors.py), `retry_after` its Retry-After."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(retry_after=retry_after)
        self.api_message = message


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int | None  # of the tighter window (None: no window limits)
    remaining: int | None
    retry_after: int  # seconds (0 when allowed)
    refused_by: str | None  # the limit that refused: api_requests_per_minute or …_per_day


def decide(redis, workspace_id: int, per_minute: int | None,
           per_day: int | None) -> Verdict:
    """Count one call of the workspace if both windows have room (one atomic step in Redis)."""
    key = f"{PREFIX}:{workspace_id}"
    args = [-1 if per_minute is None else per_minute, -1 if per_day is None else per_day]
    allowed, used_minute, used_day, wait = _run(redis, key, args)
    windows = [(limit, used) for limit, used in ((per_minute, used_minute),
                                                 (per_day, used_day)) if limit is not None]
    limit, remaining = None, None
    if windows:
        limit, used = min(windows, key=lambda w: w[0] - w[1])
        remaining = max(0, limit - used)
    refused_by = None
    if not allowed:  # the day first: its wait is the longer one
        day_full = per_day is not None and used_day >= per_day
        refused_by = "api_requests_per_day" if day_full else "api_requests_per_minute"
    return Verdict(bool(allowed), limit, remaining, int(wait), refused_by)


def _run(redis, key: str, args: list[int]) -> tuple[int, int, int, int]:
    if id(redis) not in _no_scripting:
        script = _scripts.get(id(redis))
        if script is None:
            script = _scripts[id(redis)] = redis.register_script(_SCRIPT)
        try:
            return tuple(int(v) for v in script(keys=[key], args=args))
        except ResponseError:  # no scripting on this server: the transaction below
            _no_scripting.add(id(redis))
    return _run_without_scripting(redis, key, args)


def _run_without_scripting(redis, key: str, args: list[int]) -> tuple[int, int, int, int]:
    """The same on a server without Lua: count first in one transaction, then give the call
    back if a window was full (a refused call may briefly hold a place another call needed)."""
    seconds, _micros = redis.time()
    minute, day = seconds // MINUTE, seconds // DAY
    keys = {"m": f"{key}:m:{minute}", "d": f"{key}:d:{day}"}
    limits = {"m": args[0], "d": args[1]}
    counted = [w for w in ("m", "d") if limits[w] >= 0]
    with redis.pipeline() as pipe:
        for window in counted:
            pipe.incr(keys[window])
            pipe.expire(keys[window], 120 if window == "m" else 90000)
        answers = pipe.execute()
    used = {"m": 0, "d": 0}
    for index, window in enumerate(counted):
        used[window] = int(answers[2 * index])
    wait = 0
    if limits["m"] >= 0 and used["m"] > limits["m"]:
        wait = (minute + 1) * MINUTE - seconds
    if limits["d"] >= 0 and used["d"] > limits["d"]:
        wait = max(wait, (day + 1) * DAY - seconds)
    if wait:
        with redis.pipeline() as pipe:
            for window in counted:
                pipe.decr(keys[window])
            pipe.execute()
        return 0, max(0, used["m"] - 1), max(0, used["d"] - 1), wait
    return 1, used["m"], used["d"], 0


def _workspace_of(user) -> int | None:
    """The caller's workspace when the limit applies to them (None: not limited)."""
    from app.tenancy import current_scope

    g.user = user  # FAB sets it too; the scope is read from it
    scope = current_scope()
    return None if scope.all_workspaces else scope.workspace_id


def _plan_limits(workspace_id: int) -> tuple[int | None, int | None]:
    from app.plans import plan_of

    plan = plan_of(workspace_id)
    if plan is None:
        return None, None
    return plan.api_requests_per_minute, plan.api_requests_per_day


def _refusal(workspace_id: int, verdict: Verdict) -> ApiRateLimited:
    from app.plans import LIMIT_NAMES, plan_of

    plan = plan_of(workspace_id)
    limit = getattr(plan, verdict.refused_by or "", None)
    message = gettext(
        "The %(plan)s plan allows %(limit)s %(what)s. Try again in %(seconds)s seconds.",
        plan=plan.name if plan else "", limit=limit,
        what=LIMIT_NAMES.get(verdict.refused_by or "", ""), seconds=verdict.retry_after)
    return ApiRateLimited(max(1, verdict.retry_after), message)


def limit_api_request(user) -> None:
    """Count this REST request against its caller's workspace (once per request).

    :raise ApiRateLimited: the plan allows no more calls now (429 with Retry-After).
    :raise WorkspacePending: the workspace waits for its first payment (403).
    :raise WorkspaceSuspended: a write while the workspace is suspended (403)."""
    # per request, in the request's environ: `g` lives as long as the app context, which a
    # test client (or any caller holding a context) shares between requests
    if user is None or request.environ.get(_COUNTED):
        return
    request.environ[_COUNTED] = True
    workspace_id = _workspace_of(user)
    if workspace_id is None:
        return
    from app.signup.pending import refuse_pending_api
    from app.suspension import refuse_suspended_api

    refuse_pending_api(workspace_id)  # a workspace waiting for its first payment: 403
    refuse_suspended_api(workspace_id)  # a suspended workspace: reads only, writes 403
    per_minute, per_day = _plan_limits(workspace_id)
    if per_minute is None and per_day is None:
        return
    if time.monotonic() < _redis_down_until[0]:
        return
    try:
        verdict = decide(current_app.extensions["relaydesk_redis"], workspace_id, per_minute,
                         per_day)
    except (RedisError, OSError) as exc:
        _redis_down_until[0] = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("the API rate limit could not reach Redis (%s): calls are let through "
                    "uncounted for %d s before it is asked again", exc.__class__.__name__,
                    REDIS_RETRY_SECONDS)
        return
    if verdict.limit is not None:
        request.environ[_RATE] = (verdict.limit, verdict.remaining)
    if not verdict.allowed:
        raise _refusal(workspace_id, verdict)


def rate_limit_headers(response):
    """`X-RateLimit-Limit` and `X-RateLimit-Remaining` on every counted answer (429 too)."""
    rate = request.environ.get(_RATE)
    if rate is not None:
        response.headers["X-RateLimit-Limit"] = str(rate[0])
        response.headers["X-RateLimit-Remaining"] = str(rate[1])
    return response


def init_api_limits(app: Flask) -> None:
    app.after_request(rate_limit_headers)


