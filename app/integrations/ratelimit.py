"""Rate limits shared by every worker, kept in Redis.

GCRA (generic cell rate algorithm): each key stores its "theoretical arrival time". A rate of
`limit` per `period` seconds with a burst of `burst` lets `burst` calls through at once, then one
every `period / limit` seconds. `try_acquire` checks several keys in one WATCH/MULTI transaction
(no Lua, so it runs on fakeredis too): it consumes all of them or none, and otherwise says how
long to wait. Redis' own clock is used so every worker agrees on "now".
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import WatchError

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


class RateLimiter:
    def __init__(self, connection: Redis):
        self.redis = connection

    def try_acquire(self, rules: list[tuple[str, Rate]]) -> float:
        """Consume one slot of every rule, or none. Returns 0.0, or the seconds to wait."""
        if not rules:
            return 0.0
        keys = [PREFIX + key for key, _ in rules]
        for _ in range(20):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*keys)
                    seconds, micros = pipe.time()
                    now = seconds + micros / 1e6
                    stored = pipe.mget(keys)
                    wait, updates = 0.0, []
                    for (key, rate), raw in zip(rules, stored, strict=True):
                        tat = max(float(raw) if raw else 0.0, now)
                        allowed_at = tat - rate.tolerance
                        if now < allowed_at:
                            wait = max(wait, allowed_at - now)
                        updates.append((PREFIX + key, tat + rate.interval))
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
