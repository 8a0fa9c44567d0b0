"""The periodic work of the fleet besides RQ: what the cron thread of each worker with the
scheduler runs (app/jobs/worker.py `cron_loop`), and when each entry last ran and is due next.

Each entry runs every `seconds` under a fleet-wide Redis lock (`SET NX EX`), so one worker of
the fleet runs it; the worker that takes the lock records the time in `<lock>:last_run`, which
the master admin's Runtime screen reads (`cron_state`). An entry whose next run is long past
means no worker with the scheduler is running.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from app.jobs.maintenance import SWEEP_SECONDS

#: how long a recorded run is kept: far longer than any interval, so "overdue" stays visible
LAST_RUN_TTL = 7 * 86400


@dataclass(frozen=True)
class CronEntry:
    key: str  # a stable name ("maintenance_sweep"); its words are the screen's
    function: str  # dotted path of what runs
    seconds: int  # every this many seconds
    lock: str  # the fleet-wide lock's Redis key

    @property
    def last_run_key(self) -> str:
        return f"{self.lock}:last_run"


SWEEP = CronEntry("maintenance_sweep", "app.jobs.maintenance.sweep", SWEEP_SECONDS,
                  "relaydesk:cron:sweep")
#: reminders before expiry and suspension at expiry (app/jobs/billing.py): queued on "low"
BILLING_CLOCK = CronEntry("billing_clock", "app.jobs.billing.run_billing_clock", 3600,
                          "relaydesk:cron:billing")
#: the workspaces' runners (app/jobs/runners.py `tick`): queues the runs that are due
RUNNERS_TICK = CronEntry("runners_tick", "app.jobs.runners.tick", 5, "relaydesk:cron:runners")
CRON_ENTRIES = (SWEEP, BILLING_CLOCK, RUNNERS_TICK)
#: how often the cron thread wakes up: the shortest interval of its entries
CRON_WAKE_SECONDS = min(entry.seconds for entry in (SWEEP, RUNNERS_TICK))


@dataclass(frozen=True)
class CronState:
    entry: CronEntry
    last_run: datetime | None  # UTC; None: never recorded (or more than LAST_RUN_TTL ago)
    next_run: datetime | None  # UTC; None when it never ran: the first worker runs it

    def overdue(self, now: datetime) -> bool:
        """Past its next run by more than one interval: no worker runs the scheduler."""
        return self.next_run is not None and \
            now - self.next_run > timedelta(seconds=self.entry.seconds)


def take_turn(connection, entry: CronEntry, seconds: int | None = None) -> bool:
    """Whether this worker runs `entry` now (it took the fleet-wide lock, for `seconds`,
    default the entry's interval); if so the run is recorded. Raises RedisError when Redis does
    not answer (the cron loop logs it)."""
    if not connection.set(entry.lock, "1", nx=True, ex=max(1, (seconds or entry.seconds) - 1)):
        return False
    connection.set(entry.last_run_key, f"{datetime.now(UTC).timestamp():.3f}",
                   ex=LAST_RUN_TTL)
    return True


def cron_state(connection) -> list[CronState]:
    """Each entry with its last recorded run and next run (last run + interval). Raises
    RedisError when Redis does not answer."""
    raw = connection.mget([entry.last_run_key for entry in CRON_ENTRIES])
    states = []
    for entry, value in zip(CRON_ENTRIES, raw, strict=False):
        last = None
        if value:
            try:
                last = datetime.fromtimestamp(float(value), tz=UTC)
            except ValueError:
                last = None
        states.append(CronState(entry, last,
                                last + timedelta(seconds=entry.seconds) if last else None))
    return states
