"""Worker bootstrap: an RQ worker that runs every job inside this app's context.

Decision (docs/ARCHITECTURE.md): `SimpleWorker`, no fork per job. The worker already holds an app
context and a warm connection pool; forking per job would cost a fork plus new database
connections for every command. Crash safety does not depend on the fork: state lives in the
database and the maintenance sweep re-enqueues abandoned work.

With the scheduler on, the worker also runs RQ's scheduler (delayed jobs, retries) and a small
cron thread that queues the workspaces' runners that are due (app/jobs/runners.py, every few
seconds) and runs the maintenance sweep every SWEEP_SECONDS; a Redis lock per entry makes only
one worker of the fleet do each at a time. The same thread queues the billing clock
(app/jobs/billing.py) once every BILLING_CLOCK_SECONDS across the fleet (`billing_tick`).
"""
from __future__ import annotations

import logging
import threading

from flask import Flask, current_app
from rq import SimpleWorker

from app import dbpool
from app.catalogue_editor import refresh_if_changed
from app.extensions import db
from app.jobs import runners
from app.jobs.cron import BILLING_CLOCK, CRON_WAKE_SECONDS, RUNNERS_TICK, SWEEP, take_turn
from app.jobs.maintenance import sweep
from app.jobs.queues import enqueue_billing_clock, worker_queues
from app.redaction import redact

log = logging.getLogger(__name__)
CRON_LOCK = SWEEP.lock


class RelaydeskWorker(SimpleWorker):
    """Every job starts with a fresh database session and leaves none behind; a failure's
    traceback is redacted before RQ stores it.

    Within a job, commits do not expire what the job has loaded (`expire_on_commit=False`; why:
    docs/ARCHITECTURE.md "Throughput"). Where a job needs another transaction's writes it
    re-reads explicitly (`populate_existing` in the claims), and the session is discarded after
    every job, so nothing stale outlives it. Before each job the worker looks (at most every
    two seconds) whether a translator changed a catalogue (app/catalogue_editor.py)."""

    def perform_job(self, job, queue):
        db.session.remove()
        refresh_if_changed(current_app)  # a translator's save, seen without a restart
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string=""):
        """RQ keeps a failed job's traceback in Redis, where the Runtime screen reads it: it
        passes the one redaction step first (app/redaction.py), in this process, which knows
        the secrets the job had in play (a web process may never have seen them)."""
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=redact(exc_string or ""))


def run_worker(queues: list[str], burst: bool = False, with_scheduler: bool = True) -> bool:
    dbpool.PING_IDLE_SECONDS = dbpool.WORKER_PING_IDLE_SECONDS
    app = current_app._get_current_object()
    connection = app.extensions["relaydesk_redis"]
    listened = worker_queues(app, queues)
    db.session.remove()
    db.session.configure(expire_on_commit=False)  # this process only: it runs jobs, not views
    worker = RelaydeskWorker(listened, connection=connection)
    stop = threading.Event()
    if with_scheduler and not burst:
        threading.Thread(target=cron_loop, args=(app, stop), daemon=True,
                         name="relaydesk-cron").start()
    log.info("worker %s listening on %s (scheduler: %s)", worker.name, queues, with_scheduler)
    try:
        return worker.work(burst=burst, with_scheduler=with_scheduler,
                           logging_level=app.config.get("LOG_LEVEL") or "INFO")
    finally:
        stop.set()


def cron_loop(app: Flask, stop: threading.Event) -> None:
    """Run the cron entries (app/jobs/cron.py) when they are due, each while holding its
    fleet-wide lock: the runners' tick, the maintenance sweep and the billing clock."""
    while not stop.wait(CRON_WAKE_SECONDS):
        cron_pass(app)


def cron_pass(app: Flask) -> None:
    """One wake-up of the cron thread; a failing entry is logged and tried at the next one."""
    connection = app.extensions["relaydesk_redis"]
    try:
        if take_turn(connection, RUNNERS_TICK):  # another worker's turn otherwise
            with app.app_context():
                runners.tick()
    except Exception:  # noqa: BLE001 - Redis or the database may be down; try next tick
        log.warning("runners tick failed; retrying next tick", exc_info=True)
    try:
        if take_turn(connection, SWEEP):
            with app.app_context():
                sweep()
                billing_tick(connection)
    except Exception:  # noqa: BLE001 - Redis or the database may be down; try next tick
        log.warning("maintenance sweep failed; retrying next tick", exc_info=True)


def billing_tick(connection) -> bool:
    """Queue the billing clock when no worker of the fleet did in the last
    BILLING_CLOCK_SECONDS (the cron entry's lock, app/jobs/cron.py); True when it was queued."""
    seconds = max(60, int(current_app.config.get("BILLING_CLOCK_SECONDS") or 3600))
    if not take_turn(connection, BILLING_CLOCK, seconds + 1):
        return False
    if enqueue_billing_clock():
        return True
    connection.delete(BILLING_CLOCK.lock)  # not queued: try again at the next tick
    return False
