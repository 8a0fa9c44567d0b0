"""Rate limits shared by every worker, kept in Redis.

GCRA (generic cell rate algorithm): each key stores its "theoretical arrival time". A rate of
`limit` per `period` seconds with a burst of `burst` lets `burst` calls through at once, then one
every `period / limit` seconds. `try_acquire` checks several keys atomically: it consumes all of
them or none, and otherwise says how long to wait. A key may be given several times: that many
slots of it are taken together (a job sending a batch of messages asks once for all of them;
n slots are allowed when the n-th would be, i.e. GCRA with a cost of n intervals). Redis' own
clock is used so every worker agrees on "now".

It runs as one Lua script (one round trip; every send and panel call takes a slot, so this is on
the hot path). A server without scripting falls back to the same algorithm in a WATCH/MULTI
transaction (four round trips); the embedded substitute has Lua through `lupa`.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import NoScriptError, ResponseError, WatchError

log = logging.getLogger(__name__)

PREFIX = "relaydesk:rl:"


@dataclass(frozen=True)
class Rate:
    limit: int
    period: float  # seconds
    burst: int | None = None

    @property
    def interval(self) -> float:
        return self.period / self.limit

    @property
    def tolerance(self) -> float:
        return self.interval * ((self.burst or self.limit) - 1)


class RateLimited(Exception):
    def __init__(self, wait: float):
        super().__init__(f"rate limited for {wait:.2f}s")
        self.wait = wait


# KEYS: the rate keys (each once); ARGV: interval, tolerance (seconds) and slots wanted of each
# key, in order.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local tolerance = tonumber(ARGV[3 * i - 1])
  local slots = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or '0') or 0
  if tat < now then tat = now end
  local allowed_at = tat + (slots - 1) * interval - tolerance
  if now < allowed_at and allowed_at - now > wait then
    wait = allowed_at - now
  end
  tats[i] = tat + slots * interval
end
if wait > 0 then return string.format('%.6f', wait) end
for i, key in ipairs(KEYS) do
  local ttl = math.max(1000, math.ceil((tats[i] - now) * 1000))
  redis.call('SET', key, string.format('%.6f', tats[i]), 'PX', ttl)
end
return '0'
"""
_scripts: dict[int, object] = {}  # id(connection) → registered script

# The fair variant for one shared resource (a workspace's panel). Besides the GCRA key, a hash
# of the chats waiting for a slot (chat → "expires:since", refreshed at every attempt, so a
# crashed caller stops counting after FAIR_HOLD) and a hash of when each chat was last served.
# A background caller (ARGV[3] empty) takes a slot only when no chat waits (priorities). A chat
# takes it only when no other waiting chat deserves it more: one served longer ago (never: 0),
# on a tie the one waiting longer (fairness: a burst of one chat alternates with the others).
# A caller may stand for several chats (one merged call serves them all: their names joined by
# CHATS_SEPARATOR): it counts as served as long ago as the least recently served of them, and
# taking the slot serves every one of them.
# KEYS: GCRA key, waiting hash, served hash; ARGV: interval, tolerance, who, hold (seconds).
# Times are Redis' own clock (TIME), like the GCRA above.
FAIR_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local who = ARGV[3]
local hold = tonumber(ARGV[4])
local entries = redis.call('HGETALL', KEYS[2])
local function chats(member)
  local found = {}
  for chat in string.gmatch(member, '[^\\31]+') do found[#found + 1] = chat end
  return found
end
local function served_of(member)
  local least = nil
  for _, value in ipairs(redis.call('HMGET', KEYS[3], unpack(chats(member)))) do
    local served = tonumber(value or '0') or 0
    if least == nil or served < least then least = served end
  end
  return least or 0
end
local function parse(entry)  -- "expires:since"
  local sep = string.find(entry, ':', 1, true)
  if not sep then return 0, now end
  return tonumber(string.sub(entry, 1, sep - 1)) or 0, tonumber(string.sub(entry, sep + 1)) or now
end
local my_since = now
local my_served = 0
if who ~= '' then
  my_served = served_of(who)
  local mine = redis.call('HGET', KEYS[2], who)
  if mine then
    local expires, since = parse(mine)
    if expires >= now then my_since = since end
  end
end
local others = 0
local better = false
for i = 1, #entries, 2 do
  local member = entries[i]
  local expires, since = parse(entries[i + 1])
  if expires < now then
    redis.call('HDEL', KEYS[2], member)
  elseif member ~= who then
    others = others + 1
    if who ~= '' then
      local served = served_of(member)
      if served < my_served or (served == my_served and since < my_since) then
        better = true
      end
    end
  end
end
local function register(wait)
  if who ~= '' then
    redis.call('HSET', KEYS[2], who, string.format('%.6f:%.6f', now + wait + hold, my_since))
    redis.call('PEXPIRE', KEYS[2], math.ceil((wait + hold) * 1000) + 1000)
  end
end
if who == '' and others > 0 then return string.format('%.6f', interval) end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if better then
  if wait < interval then wait = interval end
  register(wait)
  return string.format('%.6f', wait)
end
if wait > 0 then
  register(wait)
  return string.format('%.6f', wait)
end
tat = tat + interval
local ttl = math.max(1000, math.ceil((tat - now) * 1000))
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', ttl)
if who ~= '' then
  redis.call('HDEL', KEYS[2], who)
  for _, chat in ipairs(chats(who)) do
    redis.call('HSET', KEYS[3], chat, string.format('%.6f', now))
  end
  redis.call('PEXPIRE', KEYS[3], 3600000)
end
return '0'
"""
FAIR_HOLD = 1.0  # seconds a waiting chat keeps counting after its last attempt
CHATS_SEPARATOR = "\x1f"  # between the chats one caller stands for (FAIR_SCRIPT)
WAITING_SUFFIX = ":waiting"
SERVED_SUFFIX = ":served"
_fair_scripts: dict[int, object] = {}
_no_scripting: set[int] = set()


class RateLimiter:
    def __init__(self, connection: Redis):
        self.redis = connection

    def try_acquire(self, rules: list[tuple[str, Rate]]) -> float:
        """Consume one slot of every rule (a key given n times: n slots), or none. Returns
        0.0, or the seconds to wait."""
        if not rules:
            return 0.0
        wanted: dict[str, list] = {}  # key → [rate, slots], in the order first given
        for key, rate in rules:
            entry = wanted.get(key)
            if entry is None:
                wanted[key] = [rate, 1]
            else:
                entry[1] += 1
        keys = [PREFIX + key for key in wanted]
        if id(self.redis) not in _no_scripting:
            script = _scripts.get(id(self.redis))
            if script is None:
                script = _scripts[id(self.redis)] = self.redis.register_script(GCRA_SCRIPT)
            args = []
            for rate, slots in wanted.values():
                args += [repr(rate.interval), repr(rate.tolerance), slots]
            try:
                return float(script(keys=keys, args=args))
            except NoScriptError:
                raise
            except ResponseError:  # no scripting on this server: the transaction below
                _no_scripting.add(id(self.redis))
        return self._try_acquire_watched(list(wanted.values()), keys)

    def _try_acquire_watched(self, wanted: list[list], keys: list[str]) -> float:
        for _ in range(20):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*keys)
                    seconds, micros = pipe.time()
                    now = seconds + micros / 1e6
                    stored = pipe.mget(keys)
                    wait, updates = 0.0, []
                    for key, (rate, slots), raw in zip(keys, wanted, stored, strict=True):
                        tat = max(float(raw) if raw else 0.0, now)
                        allowed_at = tat + (slots - 1) * rate.interval - rate.tolerance
                        if now < allowed_at:
                            wait = max(wait, allowed_at - now)
                        updates.append((key, tat + slots * rate.interval))
                    if wait > 0:
                        pipe.unwatch()
                        return wait
                    pipe.multi()
                    for key, new_tat in updates:
                        ttl_ms = max(1000, math.ceil((new_tat - now) * 1000))
                        pipe.set(key, repr(new_tat), px=ttl_ms)
                    pipe.execute()
                    return 0.0
                except WatchError:
                    continue  # another worker moved first: read again
        return 0.05

    def take_together(self, rules: list[tuple[str, Rate]], what: str) -> bool:
        """The slots of several calls about to be made, in one request: True when all were
        taken, False when none was (one would have to wait, or Redis could not tell: then each
        call asks for itself, `acquire`). `what` names the calls for the log."""
        try:
            return self.try_acquire(rules) == 0.0
        except Exception:  # noqa: BLE001 - Redis trouble: each call finds out for itself
            log.warning("could not take the rate-limit slots of %s", what, exc_info=True)
            return False

    # ---- a shared resource with priorities and fairness (the panel budget) ----------------
    def try_acquire_fair(self, key: str, rate: Rate, who: str | None,
                         hold: float = FAIR_HOLD) -> float:
        """One slot of `key`, taken in a fair order (FAIR_SCRIPT): `who` names the chat (any
        text; "" or None: a background caller). Returns 0.0, or the seconds to wait before
        asking again."""
        keys = [PREFIX + key, PREFIX + key + WAITING_SUFFIX, PREFIX + key + SERVED_SUFFIX]
        args = [repr(rate.interval), repr(rate.tolerance), who or "", repr(hold)]
        if id(self.redis) not in _no_scripting:
            script = _fair_scripts.get(id(self.redis))
            if script is None:
                script = _fair_scripts[id(self.redis)] = self.redis.register_script(FAIR_SCRIPT)
            try:
                return float(script(keys=keys, args=args))
            except NoScriptError:
                raise
            except ResponseError:
                _no_scripting.add(id(self.redis))
        # no scripting (the embedded substitute without lupa): the plain GCRA, priorities kept
        # by the demand marker alone (`who` waiting marks it; a background caller defers)
        if not who and self.redis.hlen(keys[1]):
            return rate.interval
        wait = self.try_acquire([(key, rate)])
        if who and wait > 0:
            self.redis.hset(keys[1], who, f"{time.time() + wait + hold}:{time.time()}")
            self.redis.pexpire(keys[1], max(1000, math.ceil((wait + hold) * 1000)))
        elif who:
            self.redis.hdel(keys[1], who)
        return wait

    def acquire_fair(self, key: str, rate: Rate, who: str | None, max_wait: float) -> float:
        """Block until `try_acquire_fair` grants the slot; returns the seconds waited.
        :raise RateLimited: it would take more than `max_wait` seconds."""
        started = time.monotonic()
        deadline = started + max_wait
        while True:
            wait = self.try_acquire_fair(key, rate, who)
            if wait == 0.0:
                return time.monotonic() - started
            if time.monotonic() + min(wait, rate.interval) > deadline:
                raise RateLimited(wait)
            time.sleep(min(wait, rate.interval))

    def leave_fair(self, key: str, who: str | None) -> None:
        """`who` no longer waits for a slot of `key` (another caller's call served it)."""
        if who:
            self.redis.hdel(PREFIX + key + WAITING_SUFFIX, who)

    def waiting(self, key: str) -> int:
        """How many chats are waiting for a slot of `key` now (for a wait estimate)."""
        now = time.time()
        count = 0
        for value in self.redis.hvals(PREFIX + key + WAITING_SUFFIX):
            try:
                expires = float((value.decode() if isinstance(value, bytes) else value)
                                .split(":")[0])
            except (ValueError, AttributeError):
                continue
            count += expires >= now
        return count

    def acquire(self, rules: list[tuple[str, Rate]], max_wait: float) -> None:
        """Block until all rules allow a call, or raise RateLimited when that takes > max_wait."""
        deadline = time.monotonic() + max_wait
        while True:
            wait = self.try_acquire(rules)
            if wait == 0.0:
                return
            if time.monotonic() + wait > deadline:
                raise RateLimited(wait)
            time.sleep(wait)
