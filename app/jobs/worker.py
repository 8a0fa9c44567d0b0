"""Worker bootstrap: an RQ worker that runs every job inside this app's context.

Decision (recorded in docs/ARCHITECTURE.md): `SimpleWorker`, no fork per job. The worker process
already holds an app context and a warm connection pool; forking per job would cost a fork plus
new database connections for every command. Crash safety does not depend on the fork: state lives
in the database and the maintenance runner re-enqueues abandoned work.
"""
from __future__ import annotations

import logging

from flask import current_app
from rq import SimpleWorker

log = logging.getLogger(__name__)


def run_worker(queues: list[str], burst: bool = False, with_scheduler: bool = True) -> bool:
    connection = current_app.extensions["relaydesk_redis"]
    known = current_app.extensions["relaydesk_queues"]
    worker = SimpleWorker([known[name] for name in queues], connection=connection)
    log.info("worker %s listening on %s (scheduler: %s)", worker.name, queues, with_scheduler)
    return worker.work(burst=burst, with_scheduler=with_scheduler)
