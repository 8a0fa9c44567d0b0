"""The one module that talks to RQ to queue work (the worker process, app/jobs/worker.py, runs it).

RQ is a doorbell, never the record: every job names a row the database already holds, so a job
that could not be queued (Redis down) or was lost is queued again by the maintenance sweep
(app/jobs/maintenance.py) or by the person who asked for it, and a job queued twice finds its
work claimed or done. Hence the contract shared by every function here: none raises when Redis
is unreachable; each logs a warning and answers how much it queued (a count or a bool).

Queues (created by `init_queues`, at start-up, on the app's Redis connection):

* `pipeline`: `process_event(id)`, one job per inbound event (`enqueue_events`).
* `default`: sending (`enqueue_send`), media downloads (`enqueue_media_download`), mail
  (`enqueue_mail`), Meta channel verification (`enqueue_verification`).
* `low`: the services refresh (`enqueue_services_refresh`), the billing clock
  (`enqueue_billing_clock`), the workspaces' runners (`enqueue_runner`).

Jobs name their function by dotted path (the constants below), so this module imports none of
them. tests/unit/test_rq_seam.py fails when any other module of app/ (the worker excepted)
imports `rq` or reads the queues.

Reading the runtime (the master admin's Runtime screen, app/views/runtime.py) goes through here
too: `runtime_state()` (queues, workers, failed and scheduled jobs, as plain dataclasses),
`retry_failed()` and `delete_failed()`. They follow the same contract: with Redis unreachable
`runtime_state()` answers `reachable=False` and the others None, never an exception.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq import Queue, Retry, Worker
from rq.exceptions import DeserializationError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.utils import now as rq_now

from app.models.base import utcnow

log = logging.getLogger(__name__)

QUEUES_KEY = "relaydesk_queues"  # app.extensions[QUEUES_KEY]: {name: Queue}
QUEUE_NAMES = ("default", "pipeline", "low")

PROCESS_EVENT = "app.jobs.events.process_event"
SEND_OUTBOUND = "app.jobs.outbound.send_outbound"
DOWNLOAD_MEDIA = "app.media.inbound.download_media"
VERIFY_CHANNEL = "app.jobs.verification.verify_meta_channel"
REFRESH_SERVICES = "app.jobs.services.refresh_services"
BILLING_CLOCK = "app.jobs.billing.run_billing_clock"
RUN_RUNNER = "app.jobs.runners.run_due"


def init_queues(app: Flask, connection) -> None:
    """Create the app's queues ("default", "pipeline", "low") on `connection` (the app's Redis
    client); called by create_app, and again whenever the Redis client is replaced."""
    app.extensions[QUEUES_KEY] = {
        name: Queue(name, connection=connection) for name in QUEUE_NAMES
    }


def worker_queues(app: Flask, names: list[str]) -> list[Queue]:
    """The app's queues of these names, in this order, for a worker to listen on (KeyError for
    a name that is not one of QUEUE_NAMES)."""
    known = app.extensions[QUEUES_KEY]
    return [known[name] for name in names]


def _queue(name: str) -> Queue:
    return current_app.extensions[QUEUES_KEY][name]


def enqueue_events(event_ids: list[int]) -> int:
    """Queue one `process_event(id)` job per id (job id `event-<id>`, queue "pipeline",
    result_ttl 300 s, failure_ttl 1 day) in one round trip; returns how many were queued (0 when
    Redis is unavailable: the rows stay pending and the maintenance sweep queues them later).

    What `Queue.enqueue` writes, in fewer commands: each job is made by RQ (`create_job`) and
    saved by RQ (`Job.save`, status included), then ONE RPUSH hands all the ids to the queue
    (enqueue_many would add a status HSET and an RPUSH per job). Not a MULTI/EXEC: a job left
    half-written by a dropped connection is re-queued by the sweep like any job lost with Redis;
    enqueuing twice is harmless (the event is claimed)."""
    if not event_ids:
        return 0
    queue = current_app.extensions[QUEUES_KEY]["pipeline"]
    try:
        pipe = queue.connection.pipeline(transaction=False)
        enqueued_at = rq_now()
        job_ids = []
        for event_id in event_ids:
            job = queue.create_job(PROCESS_EVENT, args=(event_id,), job_id=f"event-{event_id}",
                                   description=f"{PROCESS_EVENT}({event_id})",
                                   result_ttl=300, failure_ttl=86400, status=JobStatus.QUEUED)
            job.enqueued_at = enqueued_at
            job.save(pipeline=pipe)
            job_ids.append(job.id)
        pipe.sadd(queue.redis_queues_keys, queue.key)
        pipe.rpush(queue.key, *job_ids)
        pipe.execute()
        return len(event_ids)
    except Exception:  # noqa: BLE001 - Redis down: rows stay pending, maintenance re-enqueues
        log.warning("could not enqueue %d event(s); they stay pending", len(event_ids),
                    exc_info=True)
        return 0


def drop_event_jobs(event_ids: list[int]) -> None:
    """Take the queued `event-<id>` jobs of events another job has claimed off the "pipeline"
    queue (LREM + delete of the job hash, one round trip), so that no worker spends a job on
    finding them done. A job already taken by a worker just finds its event claimed
    ("skipped"); with Redis unavailable nothing happens but a warning (the jobs then run and
    skip)."""
    queue = _queue("pipeline")
    try:
        pipe = queue.connection.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.lrem(queue.key, 1, f"event-{event_id}")
            pipe.delete(Job.key_for(f"event-{event_id}"))
        pipe.execute()
    except Exception:  # noqa: BLE001 - the jobs then run and skip
        log.warning("could not drop the jobs of %d taken event(s)", len(event_ids),
                    exc_info=True)


def enqueue_send(outbound_id: int, delay: float = 0.0) -> bool:
    """Queue `send_outbound(outbound_id)` on "default": at once with job id `send-<id>`
    (result_ttl 300 s, failure_ttl 1 day), or, with `delay` > 0 seconds, scheduled after that
    delay with job id `send-<id>-<timestamp>` (RQ's default ttls; run by a worker with the
    scheduler). False when Redis is unavailable (logged): the row stays pending/retrying and
    the maintenance sweep queues it later."""
    queue = _queue("default")
    try:
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), SEND_OUTBOUND, outbound_id,
                             job_id=f"send-{outbound_id}-{utcnow().timestamp():.0f}")
        else:
            queue.enqueue(SEND_OUTBOUND, outbound_id, job_id=f"send-{outbound_id}",
                          result_ttl=300, failure_ttl=86400)
        return True
    except Exception:  # noqa: BLE001 - Redis down: the maintenance sweep finds the row later
        log.warning("could not enqueue outbound %s", outbound_id, exc_info=True)
        return False


def enqueue_media_download(media_id: int, delay: float = 0.0) -> bool:
    """Queue `download_media(media_id)` on "default" (job id `media-<id>`, job_timeout 300 s,
    result_ttl 300 s, failure_ttl 1 day), or with `delay` > 0 scheduled after it (a retry).
    False when Redis is unavailable (logged): the row stays `pending` and the maintenance
    sweep queues it later."""
    queue = _queue("default")
    try:
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), DOWNLOAD_MEDIA, media_id,
                             job_id=f"media-{media_id}-{utcnow().timestamp():.0f}",
                             job_timeout=300)
        else:
            queue.enqueue(DOWNLOAD_MEDIA, media_id, job_id=f"media-{media_id}",
                          job_timeout=300, result_ttl=300, failure_ttl=86400)
        return True
    except Exception:  # noqa: BLE001 - Redis down: the maintenance sweep finds the row later
        log.warning("could not enqueue the download of media %s", media_id, exc_info=True)
        return False


def enqueue_mail(job: str, *args) -> bool:
    """Queue the mail job `job` (a dotted path, app/jobs/mail.py) with `args` on "default":
    RQ's own job id, job_timeout 120 s, no result kept, failure_ttl 7 days, retried after 30 s,
    2 min and 10 min (by a worker with the scheduler). False when Redis is unavailable (logged):
    nothing is recorded elsewhere, the caller tells the person the mail was not sent."""
    queue = _queue("default")
    try:
        queue.enqueue(job, *args, job_timeout=120, result_ttl=0, failure_ttl=7 * 86400,
                      retry=Retry(max=3, interval=[30, 120, 600]))
        return True
    except Exception:  # noqa: BLE001 - Redis down: the caller says the mail was not sent
        log.warning("could not queue the mail job %s", job, exc_info=True)
        return False


def enqueue_verification(channel_id: int) -> bool:
    """Queue `verify_meta_channel(channel_id)` on "default" (job id `verify-channel-<id>`,
    job_timeout 120 s, result_ttl 300 s, failure_ttl 1 day). False when Redis is unavailable
    (logged): the channel stays unverified until "Test connection" or a later save."""
    queue = _queue("default")
    try:
        queue.enqueue(VERIFY_CHANNEL, channel_id, job_id=f"verify-channel-{channel_id}",
                      job_timeout=120, result_ttl=300, failure_ttl=86400)
        return True
    except Exception:  # noqa: BLE001 - Redis down: the channel simply stays unverified
        log.warning("could not queue the verification of channel %s", channel_id, exc_info=True)
        return False


def enqueue_services_refresh(workspace_id: int) -> bool:
    """Queue `refresh_services(workspace_id)` on "low" (job id `services-<workspace id>`,
    job_timeout 600 s, RQ's default ttls). False when Redis is unavailable (logged): nothing
    changes, the caller says so and the manager may try again."""
    queue = _queue("low")
    try:
        queue.enqueue(REFRESH_SERVICES, workspace_id, job_id=f"services-{workspace_id}",
                      job_timeout=600)
        return True
    except Exception:  # noqa: BLE001 - Redis down: say so, change nothing
        log.warning("could not queue the services refresh of workspace %s", workspace_id,
                    exc_info=True)
        return False


def enqueue_runner(runner: str, workspace_id: int) -> bool:
    """Queue `run_due(runner, workspace_id)` on "low" (job id `runner-<runner>-<workspace id>`,
    job_timeout 900 s, result_ttl 300 s, failure_ttl 1 day). False when Redis is unavailable
    (logged): the runner's state keeps it due and the next tick queues it."""
    queue = _queue("low")
    try:
        queue.enqueue(RUN_RUNNER, runner, workspace_id, job_id=f"runner-{runner}-{workspace_id}",
                      job_timeout=900, result_ttl=300, failure_ttl=86400)
        return True
    except Exception:  # noqa: BLE001 - Redis down: the next tick queues it
        log.warning("could not queue runner %s of workspace %s", runner, workspace_id,
                    exc_info=True)
        return False


def enqueue_billing_clock() -> bool:
    """Queue `run_billing_clock()` on "low" (job id `billing-clock`, job_timeout 600 s,
    result_ttl 300 s). False when Redis is unavailable (logged): the next tick tries again."""
    queue = _queue("low")
    try:
        queue.enqueue(BILLING_CLOCK, job_id="billing-clock", job_timeout=600, result_ttl=300,
                      failure_ttl=86400)
        return True
    except Exception:  # noqa: BLE001 - Redis down: the next cron tick queues it
        log.warning("could not queue the billing clock", exc_info=True)
        return False
# --- reading the runtime (the master admin's Runtime screen) ---------------------------------

#: the most failed and scheduled jobs `runtime_state` reads per queue (newest failures first)
RUNTIME_LIMIT = 200


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int
    oldest_enqueued_at: datetime | None  # UTC; None when empty (or its first job is gone)


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str  # RQ's: "idle", "busy", "started", "suspended", "stopped"
    current_job_id: str | None
    last_heartbeat: datetime | None  # UTC
    birth: datetime | None  # UTC
    queues: tuple[str, ...]


@dataclass(frozen=True)
class JobState:
    """A failed or scheduled job: its id, queue, function (dotted path) and arguments; `at`
    is when it failed (failed jobs) or when it is due (scheduled ones), UTC; `error` the
    failure's traceback as RQ stored it (unredacted: the caller redacts what it shows)."""

    id: str
    queue: str
    function: str | None
    args: tuple = ()
    at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class RuntimeState:
    reachable: bool
    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    failed: list[JobState] = field(default_factory=list)
    scheduled: list[JobState] = field(default_factory=list)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else \
        value.astimezone(UTC)


def _queues() -> list[Queue]:
    known = current_app.extensions[QUEUES_KEY]
    return [known[name] for name in QUEUE_NAMES]


def _queue_state(queue: Queue) -> QueueState:
    depth = queue.count
    oldest = None
    first = queue.get_job_ids(0, 1)
    if first:
        job = Job.fetch_many(first, connection=queue.connection)[0]
        oldest = _utc(job.enqueued_at) if job is not None else None
    return QueueState(queue.name, depth, oldest)


def _worker_state(worker: Worker) -> WorkerState:
    return WorkerState(worker.name, worker.get_state(), worker.get_current_job_id(),
                       _utc(worker.last_heartbeat), _utc(worker.birth_date),
                       tuple(worker.queue_names()))


def _failure_text(job: Job) -> str | None:
    result = job.latest_result()
    text = getattr(result, "exc_string", None) if result is not None else None
    return text or job._exc_info or None  # noqa: SLF001 - RQ keeps it there before results


def _failed_jobs(queue: Queue, limit: int) -> list[JobState]:
    registry = FailedJobRegistry(queue=queue)
    ids = registry.get_job_ids(0, limit - 1, desc=True)
    jobs = []
    for job_id, job in zip(ids, Job.fetch_many(ids, connection=queue.connection), strict=True):
        function, args = _call_of(job)
        if job is None:  # its hash expired before the registry entry
            jobs.append(JobState(job_id, queue.name, None))
            continue
        jobs.append(JobState(job.id, queue.name, function, args, _utc(job.ended_at),
                             _failure_text(job)))
    return jobs


def _call_of(job: Job | None) -> tuple[str | None, tuple]:
    """The job's function (dotted path) and arguments; (None, ()) when the job is gone or its
    data cannot be read back (a class its arguments named no longer exists)."""
    if job is None:
        return None, ()
    try:
        return job.func_name, tuple(job.args or ())
    except DeserializationError:
        return None, ()


def _scheduled_jobs(queue: Queue, limit: int) -> list[JobState]:
    registry = ScheduledJobRegistry(queue=queue)
    entries = queue.connection.zrange(registry.key, 0, limit - 1, withscores=True)
    ids = [entry.decode() if isinstance(entry, bytes) else entry for entry, _score in entries]
    jobs = []
    fetched = Job.fetch_many(ids, connection=queue.connection)
    for job_id, (_entry, score), job in zip(ids, entries, fetched, strict=True):
        due = datetime.fromtimestamp(score, tz=UTC)
        function, args = _call_of(job)
        jobs.append(JobState(job_id, queue.name, function, args, due))
    return jobs


def runtime_state(limit: int = RUNTIME_LIMIT) -> RuntimeState:
    """What RQ holds right now: each queue's depth and the enqueue time of its oldest waiting
    job, every registered worker, the failed jobs of every queue (newest first, at most `limit`
    per queue) and the scheduled ones (soonest first: delayed sends, retries waiting for their
    interval). `reachable=False` (and nothing else) when Redis does not answer (logged)."""
    try:
        queues = _queues()
        connection = queues[0].connection
        workers = sorted((_worker_state(w) for w in Worker.all(connection=connection)),
                         key=lambda w: w.name)
        return RuntimeState(
            reachable=True,
            queues=[_queue_state(q) for q in queues],
            workers=workers,
            failed=sorted((j for q in queues for j in _failed_jobs(q, limit)),
                          key=lambda j: j.at or datetime.min.replace(tzinfo=UTC),
                          reverse=True),
            scheduled=sorted((j for q in queues for j in _scheduled_jobs(q, limit)),
                             key=lambda j: j.at),
        )
    except RedisError:
        log.warning("could not read the queues' state", exc_info=True)
        return RuntimeState(reachable=False)


def _failed_ids(queue: Queue, job_ids: list[str] | None) -> list[str]:
    listed = FailedJobRegistry(queue=queue).get_job_ids()
    return listed if job_ids is None else [j for j in listed if j in set(job_ids)]


def retry_failed(job_ids: list[str] | None = None) -> int | None:
    """Put these failed jobs (None: every failed job) back on their own queue, at the end, as
    RQ's `FailedJobRegistry.requeue` does; an id that is not (or no longer) a failed job is
    skipped, and a failed job whose data expired is dropped from the registry. Answers how many
    were queued again, or None when Redis is unavailable (logged)."""
    try:
        queued = 0
        for queue in _queues():
            registry = FailedJobRegistry(queue=queue)
            for job_id in _failed_ids(queue, job_ids):
                try:
                    registry.requeue(job_id)
                    queued += 1
                except NoSuchJobError:
                    registry.remove(job_id)
                except (InvalidJobOperation, DeserializationError):
                    continue  # retried meanwhile by someone else, or its data is unreadable
        return queued
    except RedisError:
        log.warning("could not retry failed jobs", exc_info=True)
        return None


def delete_failed(job_ids: list[str]) -> int | None:
    """Forget these failed jobs (registry entry and job data); ids that are not failed jobs
    are skipped. Answers how many were deleted, or None when Redis is unavailable (logged)."""
    try:
        deleted = 0
        for queue in _queues():
            registry = FailedJobRegistry(queue=queue)
            for job_id in _failed_ids(queue, job_ids):
                registry.remove(job_id)
                try:
                    Job.fetch(job_id, connection=queue.connection).delete()
                except (NoSuchJobError, DeserializationError):  # expired, or unreadable
                    queue.connection.delete(Job.key_for(job_id))
                deleted += 1
        return deleted
    except RedisError:
        log.warning("could not delete failed jobs", exc_info=True)
        return None


def failed_job_count() -> int | None:
    """How many failed jobs all the queues hold, or None when Redis is unavailable (logged)."""
    try:
        return sum(FailedJobRegistry(queue=queue).count for queue in _queues())
    except RedisError:
        log.warning("could not count the failed jobs", exc_info=True)
        return None
