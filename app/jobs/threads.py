"""Side-by-side work inside a job: the panel fetches of a batch (app/jobs/pipeline.py) and its
sends (app/jobs/outbound.py) wait on outside services, so they run in small thread pools.

`submit(pool, fn, *args)` runs `fn` in the named pool (created on first use, per process), in a
copy of the caller's context: the app context and the job's call log buffer go with it. The
threads only talk to outside services; every database step stays in the job's own thread
(the session is not shared between threads).
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future, ThreadPoolExecutor

POOL_SIZES = {"panel-fetch": 8, "send": 8, "broadcast": 16}

_pools: dict[str, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def submit(pool: str, fn, *args) -> Future:
    executor = _pools.get(pool)
    if executor is None:
        with _lock:
            executor = _pools.get(pool)
            if executor is None:
                executor = _pools[pool] = ThreadPoolExecutor(POOL_SIZES[pool],
                                                             thread_name_prefix=pool)
    return executor.submit(contextvars.copy_context().run, fn, *args)
