"""Group commit: the writes of concurrent requests become one database transaction.

`GroupCommit(flush, after)` batches work items handed to `submit()` by several threads. There
is no background thread: the first thread to arrive while no flush is running becomes the
*leader*. It takes every item waiting at that moment (its own included), runs `flush(items)`
once, hands each waiting thread its outcome and wakes it, passes the leadership to the first
thread that arrived during the flush (if any), and only then runs `after(extra, more_coming)`
(the enqueue, which therefore never delays the other requests of the batch nor the next batch;
`more_coming` tells it that another batch is already on its way, so it may leave its work to
that batch's leader).

* A thread alone (the Flask test client, a quiet server) is its own leader with a batch of
  one: no thread hand-off, no waiting, the same cost as doing the work inline.
* Batches form by themselves while a flush is in flight: no timer, no added latency. (A
  leader that lingered for requests already inside the app, in the manner of PostgreSQL's
  commit_delay, was measured under gunicorn 2x4 and made batches no larger: dropped.)
* `flush(items) -> (outcomes, extra)`: one outcome per item, None for success or an exception
  instance for `submit()` to raise in that item's thread. If flush raises, every item of the
  batch (the leader's too) gets `BatchFailed`, the error is logged and `after(None, …)` still
  runs (so that work left to this batch by an earlier one is not stranded).
* Nothing outlives the object: no thread to stop at exit, nothing to join. It is not fork-safe
  by itself (a lock held at fork time stays held in the child): owners keep one per process
  (see `app.webhooks.persist_group.ingest_writer`, which checks os.getpid()).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

WAIT_TIMEOUT = 60.0  # a follower gives up (and its request answers 503) after this long


class BatchFailed(RuntimeError):
    """The leader's flush raised: the outcome of this item is unknown (nothing acknowledged)."""


class _Slot:
    __slots__ = ("item", "outcome", "lead", "settled", "_wake")

    def __init__(self, item: Any):
        self.item = item
        self.outcome: BaseException | None = None
        self.lead = False  # promoted: this thread leads the next batch
        self.settled = False  # the outcome is final
        self._wake = threading.Lock()
        self._wake.acquire()

    def wait(self, timeout: float) -> bool:
        return self._wake.acquire(timeout=timeout)

    def wake(self) -> None:
        self._wake.release()


class GroupCommit:
    def __init__(self, flush: Callable[[list], tuple[list, Any]],
                 after: Callable[[Any, bool], None] | None = None,
                 wait_timeout: float = WAIT_TIMEOUT):
        self._flush = flush
        self._after = after
        self._wait_timeout = wait_timeout
        self._lock = threading.Lock()
        self._waiting: list[_Slot] = []
        self._busy = False
        self.batches = 0  # statistics, for tests and benchmarks
        self.items = 0

    def submit(self, item: Any) -> None:
        """Run `item` in the next batch; returns once its batch is flushed, or raises the
        exception its outcome names."""
        slot = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            if not slot.wait(self._wait_timeout):
                return self._give_up(slot)
            if not slot.lead:
                return self._result(slot)
        self._lead(slot)
        return self._result(slot)

    def _lead(self, own: _Slot) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        failure: BaseException | None = None
        try:
            outcomes, extra = self._flush([slot.item for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError("flush returned the wrong number of outcomes")
        except Exception:  # a bug in flush: nobody in the batch may be acknowledged
            log.exception("group commit: the flush of %d item(s) failed", len(batch))
            extra = None
            outcomes = [BatchFailed("the batch failed") for _ in batch]
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt etc.: settle, re-raise
            failure, extra = exc, None
            outcomes = [BatchFailed("the batch was interrupted") for _ in batch]
        self.batches += 1  # only the leader writes these
        self.items += len(batch)
        with self._lock:
            for slot, outcome in zip(batch, outcomes, strict=True):
                slot.outcome, slot.settled = outcome, True
            successor = self._waiting[0] if self._waiting else None
            if successor is not None:
                successor.lead = True
            else:
                self._busy = False
        for slot in batch:
            if slot is not own:
                slot.wake()
        if successor is not None:
            successor.wake()
        if failure is not None:
            raise failure
        if self._after is not None:
            self._after(extra, successor is not None)

    def _give_up(self, slot: _Slot) -> None:
        with self._lock:
            if slot.settled:  # settled just now: the wake-up is on its way, take the outcome
                pass
            elif slot in self._waiting and not slot.lead:
                self._waiting.remove(slot)  # never taken: nothing was written
                raise TimeoutError("no batch took this write in time")
            elif not slot.lead:  # in a batch that is still running: its outcome is unknown
                raise TimeoutError("the batch did not finish in time")
        if slot.lead:  # promoted meanwhile: lead, or everyone behind it waits forever
            slot.wait(self._wait_timeout)  # the pending wake-up that promoted it
            self._lead(slot)
        return self._result(slot)

    @staticmethod
    def _result(slot: _Slot) -> None:
        if slot.outcome is not None:
            raise slot.outcome
