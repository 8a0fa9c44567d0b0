"""Shared by the translators' workspace tests (integration and browser): a private copy of the
catalogues (tests never change the repository's translations/), a worker process started on it,
and the job that worker runs to tell which customer reply it would send."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from app.catalogues import ensure_compiled
from app.config import TestConfig
from tests.conftest import BACKENDS
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
REPLY_KEY = "panel_unavailable"
REPLY_MSGID = "Our panel is not answering right now. Please try again in a few minutes."


def copy_catalogues(target: Path) -> Path:
    """translations/ (the .po and .pot files) copied to `target`, compiled there."""
    shutil.copytree(ROOT / "translations", target,
                    ignore=shutil.ignore_patterns("*.mo", "*.bak", ".*.lock"))
    ensure_compiled(target)
    return target


def process_env(catalogues: Path, instance_dir: Path) -> dict[str, str]:
    """The environment of a server or worker process of the test session, on `catalogues`."""
    env = {
        **os.environ,
        "DATABASE_URL": BACKENDS.database_url,
        "REDIS_URL": BACKENDS.redis_url,
        "SECRET_KEY": TestConfig.SECRET_KEY,
        "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY,
        "RELAYDESK_INSTANCE_DIR": str(instance_dir),
        "RELAYDESK_TRANSLATIONS_DIR": str(catalogues),
        "FAB_UPDATE_PERMS": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("RELAYDESK_EMBEDDED_QUEUE", None)
    return env


@contextlib.contextmanager
def worker_process(catalogues: Path, instance_dir: Path, log_path: Path, queue: str = "low"):
    """A long-running `flask --app run worker` on `catalogues` (no scheduler), stopped after."""
    log_file = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "run", "worker", "--no-scheduler",
         "--queues", queue],
        cwd=ROOT, env=process_env(catalogues, instance_dir), stdout=log_file,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield worker
    finally:
        stop(worker)
        log_file.close()


def reply_in(language: str, key: str = REPLY_KEY) -> str:
    """The job: the customer reply `key` as the worker would send it in `language`."""
    from app.jobs.replies import ReplyBook

    return ReplyBook(0, language).render(key)


def run_reply_job(redis, language: str, worker, log_path: Path, timeout: float = 90) -> str:
    """Queue `reply_in(language)` for the worker and wait for its answer."""
    from rq import Queue

    job = Queue("low", connection=redis).enqueue(
        "tests.integration.catalogue_support.reply_in", language, result_ttl=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status == "finished":
            return job.return_value()
        if status == "failed" or worker.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"the worker did not answer (job {job.get_status()}):\n"
                         f"{log_path.read_text()[-4000:]}")
