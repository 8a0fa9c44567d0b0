"""End to end over real HTTP: a platform's webhook → gunicorn → PostgreSQL + Redis → real RQ
worker processes (`flask --app run worker`) → the panel fake → the provider's group and the
customer's chat on the platform fakes.

One gunicorn and a pool of two long-running workers serve the whole module (starting a process
costs seconds on a busy machine); the fakes are module-wide too, because the workers read
META_GRAPH_URL from their environment. Each test resets the fakes and empties the database.
The crash tests kill the workers (with the RQ scheduler process each may have forked) with SIGKILL
at a chosen moment, age the lease the dead worker held, run the maintenance sweep and start fresh
workers, which finish the command from the database state: one provider message, one reply, one
command log.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from rq import Worker

from app.config import TestConfig
from app.domain.replies import DEFAULT_REPLIES, render_reply
from app.extensions import db
from app.jobs.maintenance import sweep
from app.models import CommandLog, ExternalCall, InboundEvent, OutboundMessage
from app.models.base import utcnow
from tests.conftest import BACKENDS
from tests.fakes import greenapi as green_hooks
from tests.fakes import meta as meta_hooks
from tests.fakes import telegram as tg_hooks
from tests.fakes.greenapi import FakeGreenAPI
from tests.fakes.meta import FakeMetaGraph
from tests.fakes.perfectpanel import FakePerfectPanel
from tests.fakes.telegram import FakeTelegram
from tests.integration.pipeline_support import REFILL_30, days_ago
from tests.integration.webhook_support import delete_all_rows, free_port

ROOT = Path(__file__).resolve().parents[2]
META_SECRET = "e2e-meta-app-secret"
GREEN_HOOK = "e2e-green-webhook-token"
TG_SECRET = "e2e-telegram-secret"
WAIT = 45.0  # seconds: the machine may be busy

CUSTOMER_GREEN = "79001234567@c.us"
CUSTOMER_META = "79001234567"
CUSTOMER_TG = tg_hooks.PRIVATE_CHAT_ID
STRANGER_GREEN = "79005550000@c.us"
GREEN_GROUP = "120363043968066561@g.us"
TG_GROUP = tg_hooks.SUPERGROUP_CHAT_ID

# alice's orders: (id, provider domain, external id, service, status, age in days)
ORDERS = {
    "2274209": ("smmrush.com", "EXT-88231", REFILL_30, "completed", 5),
    "2274210": ("peakerr.com", "PK-5521", REFILL_30, "completed", 2),
    "2274211": ("smmrush.com", "EXT-88300", REFILL_30, "pending", 0.01),
    "2274212": ("smmrush.com", "EXT-88301", REFILL_30, "completed", 45),
    "2274213": ("smmrush.com", "EXT-88302", "TikTok Views [No Refill]", "completed", 2),
}
PROVIDER_NAMES = ("SMMRush Wholesale", "Peakerr", "smmrush", "peakerr")


def reply_line(key: str, **values) -> str:
    return render_reply(key, **values)


# --- processes ----------------------------------------------------------------------------------

class Stack:
    """The gunicorn server and the worker processes this module started."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.server: subprocess.Popen | None = None
        self.base = ""
        self.workers: list[subprocess.Popen] = []
        self._logs = 0

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        self._logs += 1
        log = open(self.folder / f"{self._logs:02d}-{name}.log", "wb")  # noqa: SIM115
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_server(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.server = self._spawn(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8",
             "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}",
             "--graceful-timeout", "5", "run:app"], "gunicorn")

    def wait_for_server(self) -> None:
        def healthy():
            if self.server.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{self.logs('gunicorn')}")
            try:
                return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False
        wait_until(healthy, "the server to answer", timeout=90)

    def start_workers(self, n: int = 2) -> None:
        for _ in range(n):
            self.workers.append(self._spawn(
                [str(ROOT / ".venv/bin/flask"), "--app", "run", "worker"], "worker"))

    def wait_for_workers(self, redis) -> None:
        alive = [w for w in self.workers if w.poll() is None]

        def registered():
            for worker in alive:
                if worker.poll() is not None:
                    pytest.fail(f"a worker exited:\n{self.logs('worker')}")
            pids = {w.pid for w in Worker.all(connection=redis)}
            return all(w.pid in pids for w in alive)
        wait_until(registered, "the workers to start", timeout=90)

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        """Signal the process and what it forked (RQ's scheduler runs in a forked child that
        would outlive a SIGKILL of the worker alone): each was started in its own session."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def kill9_workers(self) -> None:
        for worker in self.workers:
            self._signal_group(worker, signal.SIGKILL)
            worker.wait(timeout=10)
        self.workers = []

    def stop(self) -> None:
        processes = [p for p in (*self.workers, self.server) if p is not None]
        for process in processes:
            self._signal_group(process, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            self._signal_group(process, signal.SIGKILL)  # stragglers of the group
            process.wait(timeout=5)

    def logs(self, name: str = "") -> str:
        text = ""
        for path in sorted(self.folder.glob(f"*{name}*.log")):
            text += f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}\n"
        return text


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT,
               stack: Stack | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = stack.logs("worker") if stack is not None else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{extra}")
        time.sleep(0.1)


class Fakes:
    def __init__(self):
        self.green = FakeGreenAPI()
        self.meta = FakeMetaGraph()
        self.tg = FakeTelegram(require_https=False)
        self.pp = FakePerfectPanel()
        self.all = (self.green, self.meta, self.tg, self.pp)

    def reset(self):
        for fake in self.all:
            fake.reset()
            fake.latency = 0.0
        with self.pp.lock:
            self.pp.orders.clear()
            self.pp.tickets.clear()

    def errors(self) -> list[str]:
        return [e for fake in self.all for e in fake.errors]


@pytest.fixture(scope="module")
def fakes():
    made = Fakes()
    for fake in made.all:
        fake.start()
    yield made
    for fake in made.all:
        fake.stop()


@pytest.fixture(scope="module")
def stack(app, fakes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ, DATABASE_URL=BACKENDS.database_url, REDIS_URL=BACKENDS.redis_url,
               ENCRYPTION_KEY=TestConfig.ENCRYPTION_KEY, SECRET_KEY=TestConfig.SECRET_KEY,
               META_APP_SECRET=META_SECRET, META_GRAPH_URL=fakes.meta.url,
               PUBLIC_BASE_URL="http://127.0.0.1:5000", FAB_UPDATE_PERMS="false",
               LOG_LEVEL="INFO", RELAYDESK_INSTANCE_DIR=str(folder), PYTHONUNBUFFERED="1",
               RELAYDESK_EMBEDDED_QUEUE="0",  # a developer's .env cannot switch to it
               OUTBOUND_ALLOW_PRIVATE=TestConfig.OUTBOUND_ALLOW_PRIVATE)  # the fakes
    redis = app.extensions["relaydesk_redis"]
    redis.flushdb()  # queued jobs of earlier modules name rows that are gone
    running = Stack(folder, env)
    try:
        running.start_server()
        running.start_workers(2)
        running.wait_for_server()
        running.wait_for_workers(redis)
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Always DELETE, never TRUNCATE: the server and the workers keep connections open."""
    yield
    delete_all_rows(app)


@pytest.fixture
def e2e(app, db, factory, fakes, stack):
    """A workspace wired to the fakes; yields an object with helpers to post and to wait."""
    fakes.reset()
    for order_id, (provider, external, service, status, age) in ORDERS.items():
        fakes.pp.add_order(int(order_id), user="alice", provider=provider,
                           external_id=external, service_name=service, status=status,
                           remains=100 if status == "pending" else 0,
                           created=days_ago(age))
    fakes.pp.add_order(2274299, user="bob", provider="smmrush.com", external_id="EXT-BOB",
                       created=days_ago(3))
    ws = factory.workspace("e2e")
    green = factory.channel(ws, name="WhatsApp", kind="greenapi", api_url=fakes.green.url,
                            id_instance=fakes.green.id_instance,
                            api_token=fakes.green.api_token, webhook_token=GREEN_HOOK)
    meta = factory.channel(ws, name="Cloud number", kind="meta",
                           phone_number_id=fakes.meta.phone_number_id,
                           access_token=fakes.meta.access_token,
                           waba_id=meta_hooks.DEFAULT_WABA_ID)
    tg = factory.channel(ws, name="Support bot", kind="telegram", bot_token=fakes.tg.token,
                         secret_token=TG_SECRET, api_base=fakes.tg.url)
    factory.panel(ws, panel_type="perfectpanel_v2", url=fakes.pp.url, api_key=fakes.pp.api_key,
                  api_path="/adminapi/v2", requests_per_second=50.0, timeout_seconds=10.0)
    smmrush = factory.provider(ws, name="SMMRush Wholesale", domains="smmrush.com")
    factory.route(smmrush, green, chat_id=GREEN_GROUP)
    peakerr = factory.provider(ws, name="Peakerr", domains="peakerr.com")
    factory.route(peakerr, tg, chat_id=str(TG_GROUP))
    alice = factory.linked_user(ws, username="alice", language="en")
    factory.identity(alice, green, chat_id=CUSTOMER_GREEN)
    factory.identity(alice, meta, chat_id=CUSTOMER_META)
    factory.identity(alice, tg, chat_id=str(CUSTOMER_TG))
    helper = E2E(stack, fakes, green, meta, tg)
    yield helper
    assert not fakes.errors(), fakes.errors()


class E2E:
    def __init__(self, stack, fakes, green, meta, tg):
        self.stack, self.fakes = stack, fakes
        self.green_channel, self.meta_channel, self.tg_channel = green, meta, tg
        # plain values: the posting helpers also run in threads without an app context
        self.id_instance = green.id_instance
        self.phone_number_id = meta.phone_number_id
        self.bot_id = tg.bot_id

    # --- the platforms call us ---
    def post_green(self, text: str, chat: str = CUSTOMER_GREEN, id_message: str | None = None,
                   payload: dict | None = None) -> requests.Response:
        payload = payload or green_hooks.incoming_message(
            chat, text, id_instance=self.id_instance, id_message=id_message)
        response = requests.post(f"{self.stack.base}/webhooks/greenapi", data=json.dumps(payload),
                                 headers=green_hooks.webhook_headers(GREEN_HOOK), timeout=30)
        assert response.status_code == 200, response.text
        return response

    def post_meta(self, text: str, sender: str = CUSTOMER_META) -> requests.Response:
        payload = meta_hooks.text_notification(sender, text,
                                               phone_number_id=self.phone_number_id)
        raw, headers = meta_hooks.signed_body(payload, META_SECRET)
        response = requests.post(f"{self.stack.base}/webhooks/meta", data=raw, headers=headers,
                                 timeout=30)
        assert response.status_code == 200, response.text
        return response

    def post_telegram(self, text: str, chat_id: int = CUSTOMER_TG) -> requests.Response:
        update = tg_hooks.message_update(text, chat_id=chat_id)
        response = requests.post(f"{self.stack.base}/webhooks/telegram/{self.bot_id}",
                                 data=json.dumps(update),
                                 headers=tg_hooks.webhook_headers(TG_SECRET), timeout=30)
        assert response.status_code == 200, response.text
        return response

    # --- what the fakes received ---
    def green_to(self, chat: str) -> list[str]:
        return self.fakes.green.messages_to(chat)

    def tg_to(self, chat: int) -> list[str]:
        with self.fakes.tg.lock:
            return [m["text"] for m in self.fakes.tg.sent if m["chat_id"] == chat]

    def meta_to(self, to: str) -> list[str]:
        with self.fakes.meta.lock:
            return [m["text"]["body"] for m in self.fakes.meta.sent if m["to"] == to]

    def wait(self, condition, what: str, timeout: float = WAIT):
        return wait_until(condition, what, timeout, self.stack)

    def settle(self, seconds: float = 1.0) -> None:
        """Give a would-be duplicate the time to show up before asserting there is none."""
        time.sleep(seconds)

    # --- the database ---
    @staticmethod
    def rows(model, **filters) -> list:
        db.session.rollback()
        return db.session.query(model).filter_by(**filters).order_by(model.id).all()

    def wait_done(self, count: int = 1) -> list[CommandLog]:
        def finished():
            logs = self.rows(CommandLog)
            return logs if len(logs) >= count and all(log.state == "done" for log in logs) \
                else None
        return self.wait(finished, f"{count} finished command(s)")


def assert_customer_safe(text: str) -> None:
    for secret in (*PROVIDER_NAMES, "EXT-", "PK-", "Traceback", "HTTP", "timeout"):
        assert secret.lower() not in text.lower(), f"{secret!r} leaked into {text!r}"


# --- one command per platform -------------------------------------------------------------------

def test_green_api_refill_reaches_the_whatsapp_group_and_the_customer(e2e):
    e2e.post_green("2274209 refill")

    e2e.wait(lambda: e2e.green_to(GREEN_GROUP) and e2e.green_to(CUSTOMER_GREEN),
             "the provider message and the reply")
    e2e.settle()
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
    assert e2e.green_to(CUSTOMER_GREEN) == [reply_line("refill_ok", order_ids="2274209")]
    assert_customer_safe(e2e.green_to(CUSTOMER_GREEN)[0])
    (log,) = e2e.wait_done()
    assert log.outcome == "dispatched"
    assert {o.purpose: o.state for o in e2e.rows(OutboundMessage)} == \
        {"dispatch": "sent", "reply": "sent"}
    assert e2e.rows(InboundEvent)[0].state == "done"
    assert e2e.tg_to(TG_GROUP) == [] and e2e.fakes.meta.sent == []


def test_meta_refill_reaches_the_telegram_group_and_the_customer(e2e):
    e2e.post_meta("refill 2274210")

    e2e.wait(lambda: e2e.tg_to(TG_GROUP) and e2e.meta_to(CUSTOMER_META),
             "the provider message and the reply")
    e2e.settle()
    assert e2e.tg_to(TG_GROUP) == ["PK-5521 refill"]
    assert e2e.meta_to(CUSTOMER_META) == [reply_line("refill_ok", order_ids="2274210")]
    assert_customer_safe(e2e.meta_to(CUSTOMER_META)[0])
    assert e2e.fakes.green.sent == []
    (log,) = e2e.wait_done()
    assert log.channel_id == e2e.meta_channel.id and log.outcome == "dispatched"


def test_telegram_commands_reach_both_groups_in_one_reply(e2e):
    e2e.post_telegram("2274210 refill\n2274211 cancel")

    e2e.wait(lambda: e2e.green_to(GREEN_GROUP) and e2e.tg_to(TG_GROUP)
             and e2e.tg_to(CUSTOMER_TG), "both provider messages and the reply")
    e2e.settle()
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88300 cancel"]
    assert e2e.tg_to(TG_GROUP) == ["PK-5521 refill"]
    assert e2e.tg_to(CUSTOMER_TG) == [
        reply_line("refill_ok", order_ids="2274210") + "\n"
        + reply_line("cancel_ok", order_ids="2274211")]
    assert_customer_safe(e2e.tg_to(CUSTOMER_TG)[0])
    (log,) = e2e.wait_done()
    assert [s["step"] for s in log.trace].count("dispatch") == 2


def test_refusals_over_http(e2e):
    e2e.post_green("2274209 2274212 2274213 2274299 9999999 refill")
    e2e.post_green("2274209 refill", chat=STRANGER_GREEN)

    e2e.wait(lambda: e2e.green_to(CUSTOMER_GREEN) and e2e.green_to(STRANGER_GREEN),
             "both replies")
    e2e.settle()
    (reply,) = e2e.green_to(CUSTOMER_GREEN)
    assert reply.splitlines() == [
        reply_line("refill_ok", order_ids="2274209"),
        reply_line("not_owner", order_ids="2274299"),
        reply_line("order_not_found", order_ids="9999999"),
        reply_line("refill_not_covered", order_ids="2274213"),
        reply_line("refill_window_ended", order_ids="2274212"),
    ]
    assert_customer_safe(reply)
    assert e2e.green_to(STRANGER_GREEN) == [DEFAULT_REPLIES["not_linked"]]
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]


# --- duplicates and races -----------------------------------------------------------------------

def post_at_once(calls: list[Callable[[], object]]) -> None:
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call):
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures


def test_the_same_message_delivered_five_times_is_handled_once(e2e):
    payload = green_hooks.incoming_message(CUSTOMER_GREEN, "2274209 refill",
                                           id_instance=e2e.id_instance)
    post_at_once([lambda: e2e.post_green("", payload=payload)] * 5)

    e2e.wait(lambda: e2e.green_to(GREEN_GROUP) and e2e.green_to(CUSTOMER_GREEN),
             "the provider message and the reply")
    e2e.settle()
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
    assert e2e.green_to(CUSTOMER_GREEN) == [reply_line("refill_ok", order_ids="2274209")]
    assert len(e2e.rows(InboundEvent)) == 1 and len(e2e.rows(CommandLog)) == 1
    assert len(e2e.rows(OutboundMessage)) == 2


def test_two_identical_commands_at_the_same_moment_dispatch_once(e2e):
    """Whichever way the two events are taken — by two workers at once (the database's atomic
    claim decides: tests/integration/test_cooldown.py races eight of them), or by one job as a
    batch (same chat: handled one after the other) — one dispatch, one refusal."""
    e2e.fakes.pp.latency = 1.0  # two workers would be inside the panel fetch together
    post_at_once([lambda: e2e.post_green("2274209 refill"),
                  lambda: e2e.post_green("2274209 refill")])

    e2e.wait(lambda: len(e2e.green_to(CUSTOMER_GREEN)) >= 2, "two replies")
    e2e.settle()
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
    replies = sorted(e2e.green_to(CUSTOMER_GREEN))
    assert len(replies) == 2
    assert reply_line("refill_ok", order_ids="2274209") in replies
    (refusal,) = [r for r in replies if r != reply_line("refill_ok", order_ids="2274209")]
    assert refusal.startswith("This order was requested recently; you can ask again in 2") \
        and refusal.endswith(": 2274209")
    logs = e2e.wait_done(2)
    assert sorted(log.outcome for log in logs) == ["dispatched", "refused"]
    assert len(e2e.rows(OutboundMessage, purpose="dispatch")) == 1
    # two workers each ask the panel; one batch asks once for both (its fetches are merged:
    # app/jobs/drivers.py `fetch_all`)
    assert len(e2e.fakes.pp.requests.filter("GET", "*/orders/2274209")) in (1, 2)


# --- panel failures -----------------------------------------------------------------------------

def test_panel_failures_answer_panel_unavailable_and_keep_the_detail(e2e, db):
    from app.models import PanelConnection

    panel = db.session.query(PanelConnection).one()
    panel.timeout_seconds = 1.0
    db.session.commit()
    pp = e2e.fakes.pp
    faults = {"2274209": "timeout", "2274210": "502", "2274211": "cloudflare",
              "2274212": "malformed JSON"}
    pp.delay_next(3, seconds=2.5, path="*/orders/2274209")
    pp.fail_next(3, 502, path="*/orders/2274210")
    pp.cloudflare_next(3, path="*/orders/2274211")
    pp.garbage_next(3, "truncated", path="*/orders/2274212")
    # one at a time: commands of one customer in one batch would share one list call
    # (app/jobs/drivers.py `fetch_all`), and these faults are on each order's own fetch
    for count, order_id in enumerate(faults, start=1):
        e2e.post_green(f"{order_id} details")
        e2e.wait(lambda count=count: len(e2e.green_to(CUSTOMER_GREEN)) >= count,
                 f"reply {count}", timeout=60)
    e2e.settle(0.5)
    assert e2e.green_to(CUSTOMER_GREEN) == [DEFAULT_REPLIES["panel_unavailable"]] * 4
    logs = e2e.wait_done(4)
    assert {log.outcome for log in logs} == {"panel_unavailable"}
    details = {log.order_ids: next(s for s in log.trace if s["step"] == "panel_fetch")
               for log in logs}
    assert "timeout" in details["2274209"]["detail"]
    assert "502" in details["2274210"]["detail"]
    assert "Cloudflare" in details["2274211"]["detail"]
    assert "malformed JSON" in details["2274212"]["detail"]
    calls = e2e.rows(ExternalCall)
    by_order = {o: [c for c in calls if c.url.split("?")[0].endswith(f"/orders/{o}")]
                for o in faults}
    assert [c.outcome for c in by_order["2274209"]] == ["timeout"] * 3
    assert [c.status_code for c in by_order["2274210"]] == [502] * 3
    assert [c.status_code for c in by_order["2274211"]] == [403] * 3
    assert by_order["2274212"] and by_order["2274212"][0].status_code == 200
    # the transient failures were retried before the customer was told
    for order_id in ("2274209", "2274210", "2274211"):
        assert pp.count("GET", f"*/orders/{order_id}") == 3
    assert e2e.green_to(GREEN_GROUP) == []


# --- crashes ------------------------------------------------------------------------------------

def age_event_lease(event_id: int) -> None:
    db.session.rollback()
    event = db.session.get(InboundEvent, event_id)
    event.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_worker_killed_during_the_panel_fetch(e2e, app):
    pp = e2e.fakes.pp
    pp.delay_next(1, seconds=8.0, path="*/orders/2274209")
    e2e.post_green("2274209 refill")

    e2e.wait(lambda: pp.count("GET", "*/orders/2274209"), "the panel request")
    (log,) = e2e.wait(lambda: e2e.rows(CommandLog), "the command log")
    assert log.state == "processing"
    (event,) = e2e.rows(InboundEvent)
    assert event.state == "processing"
    e2e.stack.kill9_workers()

    assert [s["step"] for s in log.trace] == ["parse", "identity"]  # saved before the fetch
    age_event_lease(event.id)
    assert sweep()["events"] == 1
    e2e.stack.start_workers(1)

    e2e.wait(lambda: e2e.green_to(GREEN_GROUP) and e2e.green_to(CUSTOMER_GREEN),
             "the command to be finished by the new worker", timeout=90)
    e2e.settle()
    assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
    assert e2e.green_to(CUSTOMER_GREEN) == [reply_line("refill_ok", order_ids="2274209")]
    (log,) = e2e.wait_done()
    assert log.outcome == "dispatched"
    assert "resumed" in [s["step"] for s in log.trace]
    (event,) = e2e.rows(InboundEvent)
    assert event.state == "done" and event.attempts == 2
    assert len(e2e.rows(OutboundMessage, purpose="dispatch")) == 1
    e2e.stack.wait_for_workers(app.extensions["relaydesk_redis"])


def test_worker_killed_after_the_dispatch_before_the_reply(e2e, app, db):
    # The customer writes on Telegram, the provider's group is on WhatsApp; a second Telegram
    # fake that holds the reply in flight lets the workers die between the two sends.
    slow_tg = FakeTelegram(require_https=False).start()
    try:
        e2e.tg_channel.api_base = slow_tg.url
        db.session.commit()
        slow_tg.delay_next(1, seconds=30.0, path="*/sendMessage")
        e2e.post_telegram("2274209 refill")

        e2e.wait(lambda: slow_tg.count("POST", "*/sendMessage"), "the reply in flight")
        (dispatch,) = e2e.wait(lambda: [o for o in e2e.rows(OutboundMessage, purpose="dispatch")
                                        if o.state == "sent"], "the dispatch to be sent")
        e2e.wait_done()
        (reply,) = e2e.rows(OutboundMessage, purpose="reply")
        assert reply.state == "sending"
        e2e.stack.kill9_workers()

        assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
        db.session.rollback()
        row = db.session.get(OutboundMessage, reply.id)
        row.lease_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert sweep() == {"events": 0, "outbound": 1, "media": 0}
        e2e.stack.start_workers(1)

        e2e.wait(lambda: slow_tg.sent, "the reply to be sent by the new worker", timeout=90)
        e2e.settle()
        assert [m["text"] for m in slow_tg.sent] == [reply_line("refill_ok",
                                                                order_ids="2274209")]
        assert e2e.green_to(GREEN_GROUP) == ["EXT-88231 refill"]
        assert len(e2e.rows(OutboundMessage, purpose="dispatch")) == 1
        (reply,) = e2e.rows(OutboundMessage, purpose="reply")
        assert reply.state == "sent" and reply.attempts == 2
        assert len(e2e.rows(CommandLog)) == 1
        e2e.stack.wait_for_workers(app.extensions["relaydesk_redis"])
    finally:
        slow_tg.stop()
