"""Command pipeline benchmark (issue 4): webhook → event job → panel → dispatch, all on loopback.

    .venv/bin/python bench/pipeline.py            # full run, about 2 minutes on a quiet machine
    .venv/bin/python bench/pipeline.py --quick    # shorter phases (figures noisier)
    .venv/bin/python bench/pipeline.py --profile /tmp/prof   # + py-spy during the flood

What it sets up, and removes again at the end (Ctrl-C and a global time limit included):
* a fresh PostgreSQL database `relaydesk_bench_pipeline` (SQLite file when PostgreSQL does not
  answer: said so in the output, figures then mean little), migrated with `flask db upgrade`;
* its own Redis: a private `redis-server` on a free port, or with `--shared-redis-db N` the local
  server's db N (refused unless empty or left by an earlier run of this bench);
* in this process: a fake Green API serving one instance per workspace, and a fake Perfect Panel
  (tests/fakes), both recording when each request arrived; in a process of its own, the
  webhook sender (`Sender`: it must not hold the fakes' interpreter lock);
* `--workspaces` workspaces (default 10), each with a Green API channel on its own instance, a
  Perfect Panel connection, a provider routed to a group chat on that channel, and a linked
  customer whose private chat is on that channel. One workspace per instance keeps the load
  within the per-tenant limits the code enforces (Green API 50 sends/s per instance; every command
  sends a dispatch and a reply; the panel connections allow 100 requests/s instead of the default
  5), so the figures are the pipeline's, not the politeness limits';
* the app under gunicorn (-w 2 --threads 8 -k gthread, as the Procfile) and 4 RQ workers
  (`flask --app run worker --queues default,pipeline`, the product's order, one of them with
  the scheduler).

Phases, in this order (queues drained between phases):
0. warm-up (not measured): a few commands per workspace.
1. latency: webhooks "<order id> refill" paced at 50/s (`--rate` for another rate, reported
   without a verdict); latency = when the fake Green API received the provider's dispatch (group
   chat) minus when the schedule had the webhook sent; p50/p99, and where the time went (from
   the app's rows).
2. baseline: the no-op job `app.jobs.maintenance.ping` enqueued N times, same 4 workers → jobs/s.
3. throughput: a fixed number of commands sent as fast as possible → dispatches completed/s
   (the ratio's verdict; with how busy the machine's cores were meanwhile, from /proc/stat,
   and the longest pauses between two dispatches), and, for comparison on the baseline's own
   terms, the workers alone: the same number of commands accepted while the workers are
   stopped (SIGSTOP), then drained (SIGCONT → last dispatch), so webhook intake no longer
   shares the CPUs with them.
4. baseline again; the ratio uses the mean of both baselines (the machine drifts).
5. one message with 100 order ids, panel latency 20 ms: time to the dispatch, panel HTTP calls.

Every command uses a different order id (cooldowns never refuse) and a different idMessage.
Exit status: 0 every target met, 1 a target missed, 2 the run itself failed.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from procstat import machine_busy, process_cpu  # noqa: E402 - bench/ is on sys.path
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() \
    else Path(sys.executable).parent
PYTHON = sys.executable
DB_NAME = "relaydesk_bench_pipeline"
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_MARKER = "relaydesk:bench:pipeline"
PANEL_KEY = "bench-panel-key"
GUNICORN_ARGS = ["-w", "2", "--threads", "8", "-k", "gthread"]  # as the Procfile
WORKERS = 4
QUEUES = "default,pipeline"  # the worker's own order: sends first, then new events
BULK_IDS = 100
BULK_PANEL_LATENCY = 0.020

TARGETS = {"rate": 50.0, "p50": 0.150, "p99": 0.500, "ratio": 0.3, "bulk": 3.0}


@dataclass
class Plan:
    workspaces: int
    warmup: int
    rate: float            # latency phase: webhooks per second
    seconds: float         # latency phase duration
    flood: int             # throughput phase: commands
    flood_senders: int
    pings: int             # no-op jobs per baseline
    panel_rps: float
    settle: float          # seconds to wait for stragglers after sending


FULL = Plan(workspaces=10, warmup=40, rate=50.0, seconds=10.0, flood=600, flood_senders=16,
            pings=2000, panel_rps=100.0, settle=60.0)
# The flood measures a sustained rate: it needs enough commands that its start (the first
# batch is done after about 0.1 s) and its tail (the last batch) weigh little. With 200, the
# same code and machine measured 0.29 where 600 measured 0.35; 400 keeps --quick close.
QUICK = Plan(workspaces=10, warmup=20, rate=50.0, seconds=4.0, flood=400, flood_senders=16,
             pings=600, panel_rps=100.0, settle=30.0)


class BenchTimeout(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


# ---- small helpers ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; `inf` entries (never completed) count as the slowest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "never"
    return f"{seconds * 1000:.0f} ms"


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (RQ's scheduler child, gunicorn's workers)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(p) for p in children.read().split())
        except OSError:
            continue
    return found


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (backends, WAL writer, checkpointer)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip().startswith("postgres"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---- fakes -----------------------------------------------------------------------------------
def make_fakes(tokens: dict[str, str]):
    from tests.fakes.greenapi import FakeGreenAPI
    from tests.fakes.perfectpanel import FakePerfectPanel
    from tests.fakes.server import Reply

    class FleetGreenAPI(FakeGreenAPI):
        """One fake server for several Green API instances. Remembers when each provider
        dispatch (a group chat message, one line per order: "<external id> <action>") and each
        customer reply arrived."""

        def __init__(self, instance_tokens: dict[str, str], **kwargs):
            first = next(iter(instance_tokens))
            super().__init__(first, instance_tokens[first], **kwargs)
            self.instance_tokens = dict(instance_tokens)
            self.dispatched: dict[str, float] = {}  # external id → arrival (time.time())
            self.dispatch_messages = 0
            self.replies = 0

        def _call(self, req, instance, method, token):  # runs under self.lock
            if self.instance_tokens.get(instance) != token:
                return Reply(401, "Unauthorized")
            reply = super()._call(req, self.id_instance, method, self.api_token)
            if method == "sendMessage" and reply.status == 200:
                chat, text = req.json.get("chatId", ""), req.json.get("message", "")
                if chat.endswith("@g.us"):
                    self.dispatch_messages += 1
                    for line in text.splitlines():
                        if line.split():
                            self.dispatched.setdefault(line.split()[0], req.timestamp)
                else:
                    self.replies += 1
            return reply

        def arrived(self, external_ids) -> dict[str, float]:
            with self.lock:
                return {e: self.dispatched[e] for e in external_ids if e in self.dispatched}

        def reply_count(self) -> int:
            with self.lock:
                return self.replies

    return FleetGreenAPI(tokens), FakePerfectPanel(api_key=PANEL_KEY)


# ---- workload --------------------------------------------------------------------------------
@dataclass
class Tenant:
    index: int
    slug: str
    id_instance: str
    api_token: str
    webhook_token: str
    username: str
    customer_chat: str
    group_chat: str


@dataclass
class Command:
    tenant: Tenant
    chat: str
    text: str
    external_ids: list[str]
    due_at: float = math.nan  # when the paced schedule wanted it sent (time.time())
    sent_at: float = math.nan
    acked_at: float = math.nan
    status: int | None = None
    body: bytes = b""


def make_tenants(count: int) -> list[Tenant]:
    return [Tenant(index=i, slug=f"bench-{i + 1}", id_instance=f"77{i + 1:08d}",
                   api_token=f"bench-green-token-{i + 1}",
                   webhook_token=f"bench-hook-{i + 1}-{os.urandom(4).hex()}",
                   username=f"bench-user-{i + 1}", customer_chat=f"7900{i + 1:07d}@c.us",
                   group_chat=f"1203630{i + 1:05d}@g.us")
            for i in range(count)]


BULK_USER = "bench-bulk"
BULK_CHAT = "79990000001@c.us"


class Orders:
    """Hands out fresh order ids (seeded in the fake panel for the right customer)."""

    def __init__(self, panel, tenants: list[Tenant], start: int = 2300000):
        self.panel, self.tenants, self.next_id = panel, tenants, start
        self.rotation = 0

    def single(self) -> Command:
        tenant = self.tenants[self.rotation % len(self.tenants)]
        self.rotation += 1
        order = self.panel.add_order(self.next_id, user=tenant.username)
        self.next_id += 1
        return Command(tenant, tenant.customer_chat, f"{order['id']} refill",
                       [order["external_id"]])

    def bulk(self, count: int) -> Command:
        tenant = self.tenants[0]
        ids = self.panel.seed_orders(count, start_id=5100000, user=BULK_USER)
        externals = [self.panel.orders[i]["external_id"] for i in ids]
        return Command(tenant, BULK_CHAT, ", ".join(map(str, ids)) + " refill", externals)


class Sender:
    """Posts Green API webhooks to the app from a process of its own (`_sender_main`): a
    thread pool, each thread on its own keep-alive connection, http.client rather than
    requests (the load generator shares this machine's two cores with what it measures, and a
    lighter client disturbs it less).

    Its own process, not this one's threads: this process serves the fake Green API and panel,
    and sixteen sender threads holding its interpreter lock during a flood made those fakes
    answer the workers 3–5 times slower (p90 75 ms instead of 13–18) than any platform would,
    stalling the pipeline for as long as webhooks came in. Its CPU still counts as the
    bench's own (`pid`)."""

    def __init__(self, base_url: str, threads: int):
        import multiprocessing

        from tests.fakes.greenapi import incoming_message, webhook_headers

        self._incoming, self._headers = incoming_message, webhook_headers
        context = multiprocessing.get_context("spawn")  # no fork of this threaded process
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_sender_main, args=(child, base_url, threads),
                                        name="bench-sender", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the webhook sender process did not start")

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _jobs(self, commands: list[Command]) -> list[tuple[bytes, dict]]:
        jobs = []
        for command in commands:
            payload = self._incoming(command.chat, command.text,
                                     id_instance=command.tenant.id_instance)
            command.body = json.dumps(payload).encode()
            jobs.append((command.body, {**self._headers(command.tenant.webhook_token),
                                        "Content-Type": "application/json"}))
        return jobs

    def _run(self, commands: list[Command], request: tuple) -> None:
        self._conn.send(request)
        for command, (due_at, sent_at, acked_at, status) in zip(commands, self._conn.recv(),
                                                                  strict=True):
            command.due_at, command.sent_at = due_at, sent_at
            command.acked_at, command.status = acked_at, status

    def paced(self, commands: list[Command], rate: float) -> None:
        self._run(commands, ("paced", self._jobs(commands), rate))

    def flood(self, commands: list[Command], senders: int) -> None:
        self._run(commands, ("flood", self._jobs(commands), senders))

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("stop",))
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


def _sender_main(conn, base_url: str, threads: int) -> None:
    """The sender process: runs ("paced", jobs, rate) and ("flood", jobs, senders) requests,
    answering each with (due_at, sent_at, acked_at, status) per job, until ("stop",)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    local = threading.local()
    path = "/webhooks/greenapi"

    def connection():
        found = getattr(local, "connection", None)
        if found is None:
            found = local.connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                                  timeout=30)
        return found

    def post(job, stamps, index):
        body, headers = job
        sent_at, status = time.time(), None
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            current = connection()
            try:
                current.request("POST", path, body=body, headers=headers)
                response = current.getresponse()
                response.read()
                status = response.status
                break
            except (OSError, http.client.HTTPException):
                current.close()
                local.connection = None
                if attempt:
                    break
        stamps[index] = (stamps[index][0], sent_at, time.time(), status)

    paced_pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request[0] == "stop":
            return
        kind, jobs, arg = request
        stamps = [(math.nan, math.nan, math.nan, None)] * len(jobs)
        if kind == "paced":
            start, wall = time.monotonic() + 0.05, time.time() + 0.05
            futures = []
            for i, job in enumerate(jobs):
                stamps[i] = (wall + i / arg, math.nan, math.nan, None)
                delay = start + i / arg - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(paced_pool.submit(post, job, stamps, i))
            wait(futures)
        else:
            with ThreadPoolExecutor(max_workers=arg, thread_name_prefix="flood") as pool:
                wait([pool.submit(post, job, stamps, i) for i, job in enumerate(jobs)])
        conn.send(stamps)


# ---- infrastructure --------------------------------------------------------------------------
class Stack:
    """Everything the run starts; `close()` stops and removes it all, whatever happened."""

    def __init__(self, keep: bool):
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="relaydesk-bench-pipeline-"))
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.sender_pid: int | None = None  # the webhook sender's own process (Sender)
        self.cleanups = contextlib.ExitStack()
        self.database_url = ""
        self.database_kind = ""
        self.redis_url = ""
        self.redis_kind = ""
        self.env: dict[str, str] = {}

    # -- database --
    def create_database(self) -> None:
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT",
                                      connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                _drop_database(conn)
                conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure here means "no PostgreSQL"
            path = self.tmp / "bench.db"
            self.database_url = f"sqlite:///{path}"
            self.database_kind = (f"SQLite file {path} (PostgreSQL unreachable: "
                                  f"{type(exc).__name__}) — figures are NOT representative")
            return
        url = sa.engine.make_url(POSTGRES_SERVER).set(database=DB_NAME)
        self.database_url = url.render_as_string(hide_password=False)
        self.database_kind = f"PostgreSQL database {DB_NAME} (fresh)"
        if not self.keep:
            self.cleanups.callback(drop_postgres_database)

    # -- redis --
    def create_redis(self, shared_db: int | None) -> None:
        from redis import Redis

        server = shutil.which("redis-server")
        if shared_db is None and server:
            port = free_port()
            log = self.tmp / "redis.log"
            self.spawn("redis", [server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(self.tmp)],
                       log)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            self.redis_kind = f"private redis-server on 127.0.0.1:{port}"
            if not wait_until(lambda: _redis_answers(self.redis_url), 15, 0.1):
                raise RuntimeError(f"redis-server did not start:\n{tail(log)}")
            return
        index = 12 if shared_db is None else shared_db
        url = f"redis://127.0.0.1:6379/{index}"
        connection = Redis.from_url(url, socket_connect_timeout=2)
        if connection.dbsize() and not connection.exists(REDIS_MARKER):
            raise RuntimeError(f"Redis db {index} is not empty and was not left by this bench: "
                               f"choose another with --shared-redis-db")
        connection.flushdb()
        connection.set(REDIS_MARKER, "1")
        self.redis_url, self.redis_kind = url, f"local Redis db {index} (flushed)"
        self.cleanups.callback(connection.flushdb)

    # -- processes --
    def spawn(self, name: str, argv: list[str], log: Path, env: dict | None = None):
        handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        self.processes.append((name, process, log))
        return process

    def signal_workers(self, sig: int) -> None:
        for name, process, _log in self.processes:
            if name.startswith("worker"):
                _signal_group(process, sig)

    @contextlib.contextmanager
    def profiled(self, directory: str | None, label: str):
        """With --profile DIR: py-spy samples every app process and this one (the sender and
        the fakes; GIL holders only, so the samples approximate CPU) while the block runs;
        collapsed stacks land in DIR/<label>-<process>.txt (flamegraph.pl or speedscope read
        them)."""
        if not directory:
            yield
            return
        spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
        if not Path(spy).exists():
            raise RuntimeError("--profile needs py-spy (.venv/bin/pip install py-spy)")
        Path(directory).mkdir(parents=True, exist_ok=True)
        spies = []
        targets = [(name, process.pid) for name, process, _log in self.processes
                   if name.startswith(("worker", "gunicorn"))]
        for name, pid in [*targets, ("bench", os.getpid())]:
            out = Path(directory) / f"{label}-{name}.txt"
            spies.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--subprocesses", "--gil",
                 "--format", "raw", "--rate", "200", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)  # py-spy attaches
        try:
            yield
        finally:
            for spy_process in spies:
                spy_process.send_signal(signal.SIGINT)
            for spy_process in spies:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    spy_process.wait(30)

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds used so far, by part: the app's processes, PostgreSQL, Redis, and this
        process (load generator + fakes). Differences between two snapshots cost a phase."""
        parts = {"gunicorn": 0.0, "workers": 0.0, "redis": 0.0}
        for name, process, _log in self.processes:
            key = "workers" if name.startswith("worker") else name
            if key in parts:
                parts[key] += sum(process_cpu(p) for p in process_tree(process.pid))
        parts["postgres"] = sum(process_cpu(p) for p in postgres_pids())
        parts["bench (sender + fakes)"] = process_cpu(os.getpid()) + (
            process_cpu(self.sender_pid) if self.sender_pid else 0.0)
        return parts

    def prepare(self, shared_redis_db: int | None) -> dict[str, str]:
        """A fresh database (migrated) and Redis, said on the console; returns the app's
        environment."""
        self.create_database()
        self.create_redis(shared_redis_db)
        env = self.app_env()
        say(f"database: {self.database_kind}")
        say(f"redis:    {self.redis_kind}")
        self.run_step("migrate", [str(VENV_BIN / "flask"), "--app", "run", "db", "upgrade"], 300)
        return env

    def app_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = dict(os.environ)
        env.update({
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "SECRET_KEY": os.urandom(24).hex(), "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "FAB_UPDATE_PERMS": "false", "RELAYDESK_INSTANCE_DIR": str(self.tmp / "instance"),
            "LOG_LEVEL": "WARNING", "RATELIMIT_STORAGE_URI": "memory://",
            "PYTHONUNBUFFERED": "1",
            "OUTBOUND_ALLOW_PRIVATE": "127.0.0.0/8",  # the fake panel and platforms
        })
        self.env = env
        return env

    def run_step(self, name: str, argv: list[str], timeout: float) -> None:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as handle:
            result = subprocess.run(argv, cwd=ROOT, env=self.env, stdout=handle,
                                    stderr=subprocess.STDOUT, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{name} failed (exit {result.returncode}):\n{tail(log)}")

    def stop_processes(self) -> None:
        for _name, process, _log in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process, _log in reversed(self.processes):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"  {name} (pid {process.pid}) did not stop: killing it")
            _signal_group(process, signal.SIGKILL)  # the group: RQ's scheduler child too
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        self.processes.clear()

    def close(self) -> None:
        try:
            self.stop_processes()
        finally:
            try:
                self.cleanups.close()
            finally:
                if self.keep:
                    say(f"kept: {self.tmp} (logs) and database {self.database_url}")
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    # Each child leads its own session (start_new_session), so its group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _redis_answers(url: str) -> bool:
    from redis import Redis

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001
        return False


def _drop_database(conn) -> None:
    import sqlalchemy as sa

    conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": DB_NAME})
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}"'))


def drop_postgres_database() -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
    with engine.connect() as conn:
        _drop_database(conn)
    engine.dispose()


# ---- seeding (runs in a child process, with the app) -----------------------------------------
def seed(spec_path: str) -> None:
    """Create the workspaces described in the spec file (called as `pipeline.py --seed FILE`)."""
    from app import create_app
    from tests.factories import Factory

    spec = json.loads(Path(spec_path).read_text())
    app = create_app()
    with app.app_context():
        make = Factory(app)
        for tenant in spec["tenants"]:
            workspace = make.workspace(tenant["slug"], name=f"Bench {tenant['slug']}")
            channel = make.channel(workspace, name=f"{tenant['slug']} WhatsApp",
                                   api_url=spec["green_url"], id_instance=tenant["id_instance"],
                                   api_token=tenant["api_token"],
                                   webhook_token=tenant["webhook_token"], status="ok")
            make.panel(workspace, panel_type="perfectpanel_v2", url=spec["panel_url"],
                       api_path="/adminapi/v2", api_key=spec["panel_key"],
                       requests_per_second=spec["panel_rps"], status="ok")
            provider = make.provider(workspace, name="smmrush", domains="smmrush.com")
            make.route(provider, channel, chat_id=tenant["group_chat"])
            customer = make.linked_user(workspace, username=tenant["username"])
            make.identity(customer, channel, chat_id=tenant["customer_chat"])
            if tenant["index"] == 0:
                bulk = make.linked_user(workspace, username=BULK_USER)
                make.identity(bulk, channel, chat_id=BULK_CHAT)


# ---- RQ side ---------------------------------------------------------------------------------
class Queues:
    def __init__(self, redis_url: str, private: bool):
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.private = private
        self.queues = [Queue(name, connection=self.redis) for name in QUEUES.split(",")]

    def commands_processed(self) -> int | None:
        """Redis commands served so far (only meaningful on the private server)."""
        return int(self.redis.info("stats")["total_commands_processed"]) if self.private \
            else None

    def workers(self) -> int:
        from rq import Worker

        return len(Worker.all(connection=self.redis))

    def busy(self) -> int:
        from rq.registry import ScheduledJobRegistry, StartedJobRegistry

        return sum(len(q) + StartedJobRegistry(queue=q).count + ScheduledJobRegistry(queue=q).count
                   for q in self.queues)

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is queued, running or scheduled (three checks in a row)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self.busy() == 0 else 0
            if quiet >= 3:
                return True
            time.sleep(0.1)
        return False

    def noop_rate(self, count: int, timeout: float) -> tuple[float, int]:
        """Enqueue `count` ping jobs (in chunks, so workers start at once) → (jobs/s, failed).
        The span runs from the first job's start to the last one's end (RQ's own stamps)."""
        from rq import Queue
        from rq.job import Job

        queue = self.queues[0]
        run = os.urandom(3).hex()
        ids = [f"bench-ping-{run}-{i}" for i in range(count)]
        for chunk in range(0, count, 100):
            queue.enqueue_many([Queue.prepare_data("app.jobs.maintenance.ping", job_id=job_id,
                                                   result_ttl=600)
                                for job_id in ids[chunk:chunk + 100]])
        if not self.drain(timeout):
            raise BenchTimeout("no-op jobs did not finish in time")
        starts, ends, failed = [], [], 0
        for chunk in range(0, count, 500):
            for job in Job.fetch_many(ids[chunk:chunk + 500], connection=self.redis):
                if job is None or job.ended_at is None or job.started_at is None:
                    failed += 1
                    continue
                if job.get_status(refresh=False) != "finished":
                    failed += 1
                starts.append(job.started_at.timestamp())
                ends.append(job.ended_at.timestamp())
        span = max(ends) - min(starts) if starts else math.nan
        return (len(ends) / span if span > 0 else math.nan), failed


# ---- results from the database ---------------------------------------------------------------
class Ledger:
    """Read-only look at what the app recorded (command logs, events, outbound rows)."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(self.sa.text(sql), params))

    def outcomes(self) -> str:
        rows = self.rows("SELECT outcome, count(*) FROM command_log "
                         "GROUP BY outcome ORDER BY 2 DESC")
        return ", ".join(f"{o or 'unfinished'} {n}" for o, n in rows) or "none"

    def outbound(self) -> str:
        rows = self.rows("SELECT purpose, state, count(*) FROM outbound_message "
                         "GROUP BY purpose, state ORDER BY 1, 2")
        return ", ".join(f"{p}/{s} {n}" for p, s, n in rows) or "none"

    def events(self) -> str:
        rows = self.rows("SELECT state, count(*) FROM inbound_event GROUP BY state ORDER BY 2 DESC")
        return ", ".join(f"{s} {n}" for s, n in rows) or "none"

    def breakdown(self, texts: list[str]) -> dict[str, list[float]]:
        """Per command (by its text): event received → job started, job run time, dispatch row
        created → marked sent (send job queueing + HTTP + commit); seconds."""
        wanted = set(texts)
        rows = self.rows(
            "SELECT c.text, e.received_at, c.created_at, c.duration_ms, o.created_at, o.sent_at "
            "FROM command_log c JOIN inbound_event e ON e.id = c.inbound_event_id "
            "LEFT JOIN outbound_message o ON o.inbound_event_id = e.id AND o.purpose = 'dispatch'")
        parts: dict[str, list[float]] = {"queue": [], "job": [], "send": []}
        for text, received, started, duration, created, sent in rows:
            if text not in wanted:
                continue
            parts["queue"].append(_seconds(started, received))
            if duration is not None:
                parts["job"].append(duration / 1000)
            if created is not None and sent is not None:
                parts["send"].append(_seconds(sent, created))
        return parts

    def bulk_trace(self, text: str) -> dict:
        rows = self.rows("SELECT trace, duration_ms FROM command_log WHERE text = :t", t=text)
        if not rows:
            return {}
        trace, duration = rows[0]
        if isinstance(trace, str):
            trace = json.loads(trace)
        fetch = next((s for s in trace or [] if s.get("step") == "panel_fetch"), {})
        return {"calls": fetch.get("calls"), "fetch_ms": fetch.get("fetch_ms"),
                "found": fetch.get("found"), "job_ms": duration}


def _seconds(later, earlier) -> float:
    if isinstance(later, str):  # SQLite returns text
        later, earlier = dt.datetime.fromisoformat(later), dt.datetime.fromisoformat(earlier)
    return (later - earlier).total_seconds()


# ---- the run ---------------------------------------------------------------------------------
@dataclass
class Results:
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: bool = False

    def add(self, name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        self.failed |= ok is False
        self.lines.append((name, value, target, verdict))


def latencies(green, commands: list[Command]) -> tuple[list[float], int]:
    """Webhook due → dispatch received, per command (inf when it never arrived). Counted from
    the scheduled send time, so a sender held up by a slow app adds to the latency instead of
    hiding it (no coordinated omission)."""
    arrived = green.arrived([e for c in commands for e in c.external_ids])
    values, missing = [], 0
    for command in commands:
        stamps = [arrived.get(e) for e in command.external_ids]
        if any(s is None for s in stamps) or math.isnan(command.sent_at):
            values.append(math.inf)
            missing += 1
        else:
            start = command.sent_at if math.isnan(command.due_at) else command.due_at
            values.append(max(stamps) - start)
    return values, missing


def wait_dispatched(green, commands: list[Command], timeout: float) -> bool:
    wanted = [e for c in commands for e in c.external_ids]
    return wait_until(lambda: len(green.arrived(wanted)) == len(wanted), timeout)


def run(args, plan: Plan, stack: Stack, results: Results) -> None:
    tenants = make_tenants(plan.workspaces)
    green, panel = make_fakes({t.id_instance: t.api_token for t in tenants})
    green.start()
    stack.cleanups.callback(green.stop)
    panel.start()
    stack.cleanups.callback(panel.stop)

    stack.create_database()
    stack.create_redis(args.shared_redis_db)
    env = stack.app_env()
    say(f"database: {stack.database_kind}")
    say(f"redis:    {stack.redis_kind}")

    say("migrating …")
    stack.run_step("migrate", [str(VENV_BIN / "flask"), "--app", "run", "db", "upgrade"], 300)
    spec = stack.tmp / "seed.json"
    spec.write_text(json.dumps({
        "green_url": green.url, "panel_url": panel.url, "panel_key": PANEL_KEY,
        "panel_rps": plan.panel_rps, "tenants": [t.__dict__ for t in tenants]}))
    say(f"seeding {plan.workspaces} workspaces …")
    stack.run_step("seed", [PYTHON, str(Path(__file__).resolve()), "--seed", str(spec)], 300)

    port = free_port()
    say("starting gunicorn and workers …")
    stack.spawn("gunicorn", [str(VENV_BIN / "gunicorn"), *GUNICORN_ARGS,
                             "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "run:app"],
                stack.tmp / "gunicorn.log", env)
    for n in range(WORKERS):
        argv = [str(VENV_BIN / "flask"), "--app", "run", "worker", "--queues", QUEUES]
        if n:
            argv.append("--no-scheduler")
        stack.spawn(f"worker-{n + 1}", argv, stack.tmp / f"worker-{n + 1}.log", env)
    queues = Queues(stack.redis_url, private=stack.redis_kind.startswith("private"))
    base_url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: _ready(base_url), 180, 0.25):
        raise RuntimeError(f"gunicorn not ready:\n{tail(stack.tmp / 'gunicorn.log')}")
    if not wait_until(lambda: queues.workers() >= WORKERS, 180, 0.25):
        raise RuntimeError(f"workers not ready:\n{tail(stack.tmp / 'worker-1.log')}")

    orders = Orders(panel, tenants)
    sender = Sender(base_url, threads=64)
    stack.cleanups.callback(sender.close)
    stack.sender_pid = sender.pid
    ledger = Ledger(stack.database_url)
    stack.cleanups.callback(ledger.close)
    replies_expected = 0

    def settle(commands: list[Command], label: str) -> None:
        nonlocal replies_expected
        replies_expected += len(commands)
        if not wait_dispatched(green, commands, plan.settle):
            say(f"  {label}: not every dispatch arrived within {plan.settle:.0f} s")
        wait_until(lambda: green.reply_count() >= replies_expected, plan.settle)
        if not queues.drain(plan.settle):
            say(f"  {label}: queues still busy after {plan.settle:.0f} s")
        bad = sum(1 for c in commands if c.status != 200)
        if bad:
            say(f"  {label}: {bad} webhook(s) not answered 200")

    # 0. warm-up
    say(f"warm-up: {plan.warmup} commands …")
    warm = [orders.single() for _ in range(plan.warmup)]
    sender.paced(warm, 20.0)
    settle(warm, "warm-up")

    # 1. latency at a paced rate
    count = int(plan.rate * plan.seconds)
    say(f"phase 1: {count} commands at {plan.rate:.0f}/s …")
    paced = [orders.single() for _ in range(count)]
    sender.paced(paced, plan.rate)
    achieved = (count - 1) / (paced[-1].sent_at - paced[0].sent_at) if count > 1 else math.nan
    settle(paced, "phase 1")
    lat, missing = latencies(green, paced)
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    acks = [c.acked_at - c.sent_at for c in paced if c.status == 200]
    judged = plan.rate >= TARGETS["rate"]  # the targets are set at 50 commands/s
    suffix = "" if judged else f" (target at {TARGETS['rate']:.0f}/s)"
    results.add(f"webhook→dispatch p50 at {plan.rate:.0f} commands/s", ms(p50),
                f"< {ms(TARGETS['p50'])}{suffix}", p50 < TARGETS["p50"] if judged else None)
    results.add(f"webhook→dispatch p99 at {plan.rate:.0f} commands/s", ms(p99),
                f"< {ms(TARGETS['p99'])}{suffix}", p99 < TARGETS["p99"] if judged else None)
    parts = ledger.breakdown([c.text for c in paced])
    results.notes.append(
        f"phase 1: {count} commands sent at {achieved:.1f}/s, {missing} never dispatched; "
        f"max {ms(max(lat))}; webhook answered in p50 {ms(percentile(acks, 50))} / "
        f"p99 {ms(percentile(acks, 99))}")
    results.notes.append(
        "phase 1 split (p50 / p99): event stored → job started "
        f"{ms(percentile(parts['queue'], 50))} / {ms(percentile(parts['queue'], 99))}; "
        f"job run {ms(percentile(parts['job'], 50))} / {ms(percentile(parts['job'], 99))}; "
        f"dispatch queued → sent {ms(percentile(parts['send'], 50))} / "
        f"{ms(percentile(parts['send'], 99))}")
    if achieved < 0.9 * plan.rate:
        results.notes.append(f"phase 1 offered only {achieved:.1f} of {plan.rate:.0f} "
                             f"commands/s: the app answered webhooks too slowly for the "
                             f"senders (or this process was starved of CPU)")

    # 2–4. throughput, between two baselines
    say(f"phase 2: baseline, {plan.pings} no-op jobs …")
    redis_before = queues.commands_processed()
    before, failed_before = queues.noop_rate(plan.pings, plan.settle)
    redis_noop = queues.commands_processed()
    say(f"phase 3: {plan.flood} commands as fast as possible …")
    flood = [orders.single() for _ in range(plan.flood)]
    with stack.profiled(args.profile, "flood"):
        cpu_before = stack.cpu_snapshot()
        busy_before = machine_busy()
        sender.flood(flood, plan.flood_senders)
        ingest_span = max(c.acked_at for c in flood) - min(c.sent_at for c in flood)
        wait_dispatched(green, flood, plan.settle)
        busy_after = machine_busy()
        settle(flood, "phase 3")
        cpu_after = stack.cpu_snapshot()
    redis_flood = queues.commands_processed()
    arrived = green.arrived([e for c in flood for e in c.external_ids])
    first_sent = min(c.sent_at for c in flood)
    done = len(arrived)
    span = (max(arrived.values()) - first_sent) if arrived else math.nan
    throughput = done / span if span and span > 0 else math.nan
    say(f"phase 3b: {plan.flood} commands accepted with the workers stopped, then drained …")
    queued = [orders.single() for _ in range(plan.flood)]
    stack.signal_workers(signal.SIGSTOP)
    try:
        sender.flood(queued, plan.flood_senders)
    finally:
        resumed = time.time()
        stack.signal_workers(signal.SIGCONT)
    drain_cpu_before = stack.cpu_snapshot()
    settle(queued, "phase 3b")
    drain_cpu_after = stack.cpu_snapshot()
    drained = green.arrived([e for c in queued for e in c.external_ids])
    drain_rate = (len(drained) / (max(drained.values()) - resumed)) if drained else math.nan
    say(f"phase 4: baseline again, {plan.pings} no-op jobs …")
    after, failed_after = queues.noop_rate(plan.pings, plan.settle)
    noop = (before + after) / 2
    ratio = throughput / noop if noop else math.nan
    results.add(f"commands/s, {WORKERS} workers ({plan.flood} commands)", f"{throughput:.1f}/s")
    results.add(f"no-op RQ jobs/s, same {WORKERS} workers", f"{noop:.0f}/s",
                f"(before {before:.0f}, after {after:.0f})")
    results.add("ratio commands/s ÷ no-op jobs/s", f"{ratio:.3f}",
                f"≥ {TARGETS['ratio']}", ratio >= TARGETS["ratio"])
    results.add(f"commands/s, workers draining a filled queue ({plan.flood})",
                f"{drain_rate:.1f}/s", f"ratio {drain_rate / noop:.3f} (no verdict)")
    stamps = sorted(arrived.values())
    gaps = sorted((b - a, a - first_sent)
                  for a, b in zip(stamps, stamps[1:], strict=False))[-3:]
    if gaps:
        results.notes.append(
            "phase 3 longest pauses between two dispatches: " + ", ".join(
                f"{ms(gap)} at +{at:.2f} s" for gap, at in reversed(gaps))
            + f" (ingest ended at +{ingest_span:.2f} s, last dispatch at +{span:.2f} s)")
    results.notes.append(
        f"phase 3: {done}/{plan.flood} dispatched; webhooks accepted at "
        f"{plan.flood / ingest_span:.0f}/s ({plan.flood_senders} senders); a job takes up to "
        f"PIPELINE_BATCH_SIZE waiting events and sends their dispatches and replies itself")
    cpu = {k: 1000 * (cpu_after[k] - cpu_before[k]) / plan.flood for k in cpu_after}
    busy, total = (after - before for after, before in zip(busy_after, busy_before,
                                                           strict=True))
    if total > 0:
        results.notes.append(
            f"phase 3 machine: cores {100 * busy / total:.0f}% busy from the first webhook to "
            f"the last dispatch (/proc/stat, every process on the machine)")
    results.notes.append(
        "phase 3 CPU per command (ms, includes the settle wait's polling): "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        + f"; total {sum(cpu.values()):.2f} (2 cores at full use allow "
        f"{2000 / (TARGETS['ratio'] * noop):.2f} ms for the ratio target)")
    drain_cpu = {k: 1000 * (drain_cpu_after[k] - drain_cpu_before[k]) / plan.flood
                 for k in drain_cpu_after}
    results.notes.append(
        "phase 3b CPU per command while draining (ms): "
        + ", ".join(f"{k} {v:.2f}" for k, v in drain_cpu.items())
        + f"; total {sum(drain_cpu.values()):.2f}")
    if redis_before is not None:
        results.notes.append(
            f"Redis commands (private server, everything included): "
            f"{(redis_noop - redis_before) / plan.pings:.1f} per no-op job, "
            f"{(redis_flood - redis_noop) / plan.flood:.1f} per command")
    if failed_before or failed_after:
        results.notes.append(f"no-op jobs not finished: {failed_before} + {failed_after}")

    # 5. one message with 100 ids, panel answering in 20 ms
    say(f"phase 5: one message with {BULK_IDS} ids, panel latency "
        f"{BULK_PANEL_LATENCY * 1000:.0f} ms …")
    panel.latency = BULK_PANEL_LATENCY
    calls_before = panel.request_count
    bulk = orders.bulk(BULK_IDS)
    sender.paced([bulk], 1.0)
    settle([bulk], "phase 5")
    stamps = green.arrived(bulk.external_ids)
    took = (max(stamps.values()) - bulk.due_at) if len(stamps) == BULK_IDS else math.inf
    calls = panel.request_count - calls_before
    panel.latency = 0.0
    results.add(f"{BULK_IDS}-id message, webhook→dispatch", ms(took) if math.isinf(took)
                else f"{took:.2f} s", f"< {TARGETS['bulk']:.0f} s", took < TARGETS["bulk"])
    results.add(f"{BULK_IDS}-id message, panel HTTP calls", str(calls))
    trace = ledger.bulk_trace(bulk.text)
    if trace:
        results.notes.append(
            f"phase 5: the command log says {trace['calls']} panel call(s), fetch "
            f"{trace['fetch_ms']} ms, {trace['found']} orders found, job {trace['job_ms']:.0f} ms")

    results.notes.append(f"command outcomes: {ledger.outcomes()}")
    results.notes.append(f"outbound messages: {ledger.outbound()}")
    results.notes.append(f"inbound events: {ledger.events()}")
    if green.errors or panel.errors:
        results.notes.append(f"fake servers crashed {len(green.errors) + len(panel.errors)} "
                             f"time(s): {(green.errors + panel.errors)[0][-300:]}")


def _ready(base_url: str) -> bool:
    import requests

    try:
        return requests.get(base_url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def report(results: Results, plan: Plan, quick: bool, load_start, stack: Stack) -> None:
    load_end = os.getloadavg()
    say()
    say("Relaydesk command pipeline benchmark" + (" (--quick)" if quick else ""))
    say(f"machine: {os.cpu_count()} CPUs; load average at start "
        f"{load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, at end "
        f"{load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (1/5/15 min)")
    say(f"setup: {stack.database_kind}; {stack.redis_kind}; gunicorn {' '.join(GUNICORN_ARGS)}; "
        f"{WORKERS} RQ SimpleWorkers on {QUEUES} (1 with scheduler); {plan.workspaces} "
        f"workspaces, each its own Green API instance and panel connection "
        f"({plan.panel_rps:.0f} req/s); fakes on loopback in the bench process, the webhook "
        f"sender in a process of its own; panel "
        f"latency 0 ms except the {BULK_IDS}-id message")
    width = max(len(line[0]) for line in results.lines)
    say()
    say(f"{'measure'.ljust(width)}  {'value':>10}  {'target':<28}  result")
    say(f"{'-' * width}  {'-' * 10}  {'-' * 28}  ------")
    for name, value, target, verdict in results.lines:
        say(f"{name.ljust(width)}  {value:>10}  {target:<28}  {verdict}")
    say()
    for note in results.notes:
        say(f"- {note}")


def run_guarded(args, run) -> dict | None:
    """`run(args, stack)` under `args.time_limit` seconds with a fresh `Stack` (closed after,
    kept when `args.keep`): its result, or None when it failed, timed out or was interrupted
    (said, with the end of each gunicorn log). Shared by the benchmarks built on this one."""
    def on_alarm(_sig, _frame):
        raise BenchTimeout(f"time limit of {args.time_limit} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda _s, _f: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.alarm(args.time_limit)
    stack = Stack(keep=args.keep)
    try:
        return run(args, stack)
    except (BenchTimeout, RuntimeError, subprocess.TimeoutExpired) as exc:
        say(f"\nbenchmark failed: {exc}")
        for name, _process, log in stack.processes:
            if name.startswith("gunicorn"):
                say(f"--- {name} log (last lines) ---\n{tail(log, 20)}")
        return None
    except KeyboardInterrupt:
        say("\ninterrupted")
        return None
    finally:
        signal.alarm(0)
        stack.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases")
    parser.add_argument("--workspaces", type=int, default=None,
                        help="tenants sharing the load (default 10; 1 = everything on one "
                             "Green API instance, capped by its 50 sends/s)")
    parser.add_argument("--rate", type=float, default=None,
                        help="commands/s of the latency phase (default 50, the target's rate)")
    parser.add_argument("--shared-redis-db", type=int, default=None, metavar="N",
                        help="use db N of the local Redis instead of a private redis-server")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and the temp dir (logs) for inspection")
    parser.add_argument("--time-limit", type=int, default=None,
                        help="stop (and clean up) after this many seconds (default 900, "
                             "quick 420)")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="sample the app's processes with py-spy during the flood phase "
                             "(figures then suffer); collapsed stacks go to DIR")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed)
        return 0

    plan = QUICK if args.quick else FULL
    if args.workspaces:
        plan = Plan(**{**plan.__dict__, "workspaces": max(1, args.workspaces)})
    if args.rate:
        plan = Plan(**{**plan.__dict__, "rate": max(1.0, args.rate)})
    load_start = os.getloadavg()
    limit = args.time_limit or (420 if args.quick else 900)

    def on_alarm(_sig, _frame):
        raise BenchTimeout(f"time limit of {limit} s reached")

    def on_term(_sig, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(limit)
    stack = Stack(keep=args.keep)
    results = Results()
    status = 0
    try:
        run(args, plan, stack, results)
    except (BenchTimeout, RuntimeError, subprocess.TimeoutExpired) as exc:
        say(f"\nbenchmark failed: {exc}")
        for name, _process, log in stack.processes:
            if name.startswith(("worker", "gunicorn")):
                say(f"--- {name} log (last lines) ---\n{tail(log, 15)}")
        status = 2
    except KeyboardInterrupt:
        say("\ninterrupted")
        status = 2
    finally:
        signal.alarm(0)
        say("cleaning up …")
        stack.close()
    if results.lines:
        report(results, plan, args.quick, load_start, stack)
        if status == 0 and results.failed:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
