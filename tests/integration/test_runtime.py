"""Master admin › Runtime and `GET /api/v1/runtime` over the real Redis and a real RQ worker.

A job that fails appears among the failed jobs with its function, its workspace and the last
line of its error (redacted); Retry queues it again and a burst worker runs it; Retry all and
Delete do what they say; a worker that is running is listed; a delayed job and the maintenance
sweep appear as scheduled. With Redis not answering, the screen and the API say so (no 500) and
the buttons change nothing. Only the master admin may open either.
"""
from __future__ import annotations

from datetime import datetime, timedelta, UTC

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from app.extensions import db
from app.jobs import queues
from app.jobs.cron import SWEEP, take_turn
from app.jobs.worker import RelaydeskWorker
from app.models import InboundEvent, OutboundMessage
from app.redaction import remember
from app.views.runtime import error_line, job_workspaces
from tests.integration.webhook_support import free_port
from tests.tenancy_helpers import make_row

SECRET = "runtime-secret-token-4242"
FLAKY = "tests.integration.test_runtime.flaky"
_failing = {"on": True}


def flaky(label: str) -> str:
    """A job that fails while `_failing["on"]`, quoting a secret in its error."""
    if _failing["on"]:
        raise ValueError(f"the panel refused {label} with token {SECRET}")
    return f"done {label}"


@pytest.fixture
def admin(factory, auth, redis_conn):
    factory.admin("root")
    auth.login("root")
    _failing["on"] = True
    remember(SECRET)
    return "root"


def default_queue(app):
    return app.extensions["relaydesk_queues"]["default"]


def burst(app) -> None:
    """The app's own worker class, as `flask worker --burst` runs it."""
    with app.app_context():
        queue = default_queue(app)
        RelaydeskWorker([queue], connection=queue.connection).work(burst=True)


def failed_ids(app) -> list[str]:
    return FailedJobRegistry(queue=default_queue(app)).get_job_ids()


def test_a_failed_job_is_listed_retried_and_run(app, admin, client):
    job = default_queue(app).enqueue(FLAKY, "order 2274209", failure_ttl=3600)
    burst(app)
    assert failed_ids(app) == [job.id]
    stored = Job.fetch(job.id, connection=job.connection).latest_result().exc_string
    assert "with token ****" in stored and SECRET not in stored  # redacted by the worker

    page = client.get("/runtime/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-job="{job.id}"' in html
    assert "ValueError: the panel refused order 2274209 with token ****" in html
    assert SECRET not in html
    assert "Traceback" not in html  # the last line only

    report = client.get("/api/v1/runtime").json
    assert report["reachable"] is True
    [failed] = report["failed"]
    assert failed["id"] == job.id and failed["queue"] == "default"
    assert failed["function"] == FLAKY and failed["workspace"] is None
    assert failed["error"] == "ValueError: the panel refused order 2274209 with token ****"
    assert datetime.fromisoformat(failed["failed_at"]) <= datetime.now(UTC)
    assert SECRET not in str(report)
    depth = {q["name"]: q["depth"] for q in report["queues"]}
    assert depth == {"default": 0, "pipeline": 0, "low": 0}

    answer = client.post("/runtime/retry", data={"job_id": job.id}, follow_redirects=True)
    assert "1 job was queued again." in answer.get_data(as_text=True)
    assert failed_ids(app) == []
    report = client.get("/api/v1/runtime").json
    [default] = [q for q in report["queues"] if q["name"] == "default"]
    assert default["depth"] == 1 and default["oldest_seconds"] is not None
    assert report["failed"] == []

    _failing["on"] = False
    burst(app)
    assert FinishedJobRegistry(queue=default_queue(app)).get_job_ids() == [job.id]
    assert default_queue(app).count == 0 and failed_ids(app) == []
    again = client.post("/runtime/retry", data={"job_id": job.id}, follow_redirects=True)
    assert "no longer among the failed jobs" in again.get_data(as_text=True)


def test_retry_all_and_delete(app, admin, client):
    jobs = [default_queue(app).enqueue(FLAKY, f"job {n}", failure_ttl=3600) for n in range(3)]
    burst(app)
    assert sorted(failed_ids(app)) == sorted(j.id for j in jobs)

    answer = client.post("/runtime/delete", data={"job_id": jobs[0].id}, follow_redirects=True)
    assert "1 failed job was deleted." in answer.get_data(as_text=True)
    assert sorted(failed_ids(app)) == sorted(j.id for j in jobs[1:])
    assert not default_queue(app).connection.exists(f"rq:job:{jobs[0].id}")

    answer = client.post("/runtime/retry-all", follow_redirects=True)
    assert "2 jobs were queued again." in answer.get_data(as_text=True)
    assert failed_ids(app) == [] and sorted(default_queue(app).job_ids) == sorted(
        j.id for j in jobs[1:])

    nothing = client.post("/runtime/retry", data={}, follow_redirects=True)
    assert "Choose a failed job first." in nothing.get_data(as_text=True)


def test_a_job_whose_data_cannot_be_read_is_still_listed(app, admin, client):
    jobs = [default_queue(app).enqueue(FLAKY, f"order {n}", failure_ttl=3600) for n in (1, 2)]
    burst(app)
    for job in jobs:
        job.connection.hset(job.key, "data", b"no longer a pickle")
    report = client.get("/api/v1/runtime").json
    assert sorted((f["id"], f["function"]) for f in report["failed"]) == sorted(
        (job.id, None) for job in jobs)
    page = client.get("/runtime/")
    assert page.status_code == 200 and "Unknown job" in page.get_data(as_text=True)
    deleted = client.post("/runtime/delete", data={"job_id": jobs[0].id},
                          follow_redirects=True)
    assert "1 failed job was deleted." in deleted.get_data(as_text=True)
    assert not jobs[0].connection.exists(jobs[0].key)
    retried = client.post("/runtime/retry", data={"job_id": jobs[1].id}, follow_redirects=True)
    assert "1 job was queued again." in retried.get_data(as_text=True)
    assert failed_ids(app) == []


def test_workers_scheduled_jobs_and_the_sweep_are_listed(app, admin, client, factory):
    workspace = factory.workspace("acme")
    outbound_id = make_row(OutboundMessage, workspace.id, "rt")
    assert queues.enqueue_send(outbound_id, delay=600)
    connection = default_queue(app).connection
    worker = Worker([default_queue(app)], connection=connection, name="rt-worker-1")
    worker.register_birth()
    try:
        with app.app_context():
            assert take_turn(connection, SWEEP)
        report = client.get("/api/v1/runtime").json
        [listed] = [w for w in report["workers"] if w["name"] == "rt-worker-1"]
        assert listed["queues"] == ["default"] and listed["current_job"] is None
        assert listed["birth"] and listed["last_heartbeat"]
        [scheduled] = report["scheduled"]
        assert scheduled["function"] == queues.SEND_OUTBOUND
        assert scheduled["workspace"] == {"id": workspace.id, "slug": "acme", "label": "Acme"}
        run_at = datetime.fromisoformat(scheduled["run_at"])
        assert timedelta(minutes=9) < run_at - datetime.now(UTC) <= timedelta(minutes=10)
        [sweep] = [c for c in report["cron"] if c["name"] == "maintenance_sweep"]
        assert {c["name"] for c in report["cron"]} == {"maintenance_sweep", "billing_clock",
                                                     "runners_tick"}
        assert sweep["name"] == "maintenance_sweep" and sweep["every_seconds"] == SWEEP.seconds
        assert datetime.fromisoformat(sweep["next_run_at"]) - datetime.fromisoformat(
            sweep["last_run_at"]) == timedelta(seconds=SWEEP.seconds)
        assert sweep["overdue"] is False

        html = client.get("/runtime/").get_data(as_text=True)
        assert 'data-worker="rt-worker-1"' in html and "Send a message" in html
        assert "Maintenance: queue again what was left waiting" in html
        assert f'href="/workspaceadminview/show/{workspace.id}"' in html
    finally:
        worker.register_death()


def test_the_workspace_of_a_job_is_found_from_its_row(app, admin, factory):
    acme, other = factory.workspace("acme"), factory.workspace("other")
    event_id = make_row(InboundEvent, acme.id, "rt")
    jobs = [queues.JobState("event-1", "pipeline", queues.PROCESS_EVENT, (event_id,)),
            queues.JobState("services-2", "low", queues.REFRESH_SERVICES, (other.id,)),
            queues.JobState("event-gone", "pipeline", queues.PROCESS_EVENT, (999999,)),
            queues.JobState("mail", "default", "app.jobs.mail.send_password_link", (1, "x")),
            queues.JobState("expired", "default", None)]
    with app.test_request_context():
        found = job_workspaces(jobs)
    assert {job_id: ws.slug for job_id, ws in found.items()} == {"event-1": "acme",
                                                                 "services-2": "other"}


def test_error_line_is_the_last_line_redacted_and_short():
    remember(SECRET)
    trace = f"Traceback (most recent call last):\n  File x\nKeyError: '{SECRET}'\n\n"
    assert error_line(trace) == "KeyError: '****'"
    assert error_line(None) is None and error_line("  \n") is None
    assert len(error_line("E: " + "x" * 1000)) == 300


@pytest.fixture
def redis_gone(app):
    """The app's Redis client and queues pointed at a port where nothing listens."""
    saved = {key: app.extensions[key] for key in ("relaydesk_redis", "relaydesk_queues")}
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5,
                          socket_timeout=0.5)
    queues.init_queues(app, dead)
    app.extensions["relaydesk_redis"] = dead
    yield
    app.extensions.update(saved)


def test_redis_not_answering_is_said_in_words(app, admin, client, redis_gone):
    page = client.get("/runtime/")
    assert page.status_code == 200
    assert 'id="runtime-unreachable"' in page.get_data(as_text=True)
    assert "Redis does not answer." in page.get_data(as_text=True)

    report = client.get("/api/v1/runtime")
    assert report.status_code == 200
    assert report.json["reachable"] is False and "Redis" in report.json["message"]

    for url, data in (("/runtime/retry", {"job_id": "x"}), ("/runtime/retry-all", {}),
                      ("/runtime/delete", {"job_id": "x"})):
        answer = client.post(url, data=data, follow_redirects=True)
        assert answer.status_code == 200
        assert "Redis did not answer, so nothing was changed." in answer.get_data(as_text=True)


def test_only_the_master_admin_reads_the_runtime(app, factory, auth, client, redis_conn):
    assert client.get("/api/v1/runtime").status_code == 401
    workspace = factory.workspace("acme")
    manager = factory.member(workspace, "acme-manager")
    key = factory.api_key(manager)
    assert client.get("/api/v1/runtime", headers={"X-API-Key": key}).status_code == 403
    auth.login("acme-manager")
    assert client.get("/runtime/").status_code == 403
    assert client.post("/runtime/retry-all").status_code == 403
    assert client.get("/api/v1/runtime").status_code == 403

    admin = factory.admin("root")
    admin_key = factory.api_key(admin)
    answer = client.get("/api/v1/runtime", headers={"X-API-Key": admin_key})
    assert answer.status_code == 200 and answer.json["reachable"] is True
    db.session.remove()
