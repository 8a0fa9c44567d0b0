#!/usr/bin/env python
"""Real-time benchmark: from a webhook's 200 to the message shown in 10 open pages.

    .venv/bin/python bench/realtime.py                      # 20 messages/s for 10 s
    .venv/bin/python bench/realtime.py --rate 20 --duration 10 --pages 10 --conversations 200

What it does, and undoes when it ends (the environment of bench/webhook_ingest.py: its own
database, its own redis-server, gunicorn as in the Procfile; also on Ctrl-C or an error):
1. creates a workspace with a Green API channel and an agent, migrates, syncs the roles;
2. starts gunicorn (--workers 2 --threads 32, gthread, as the Procfile's `web`) and one RQ
   worker (`flask --app run worker`, as the Procfile's `worker`);
3. baseline, in the same run: a bare Redis XADD → XREAD BLOCK, one writer and --pages readers
   (what the channel itself costs, without the app);
4. signs the agent in --pages times and opens --pages Server-Sent Events streams
   (`GET /inbox/stream`, each a thread of its own reading line by line);
5. posts --rate Green API messages/s for --duration seconds (open loop), spread over
   --conversations chats, each with a unique text; for each, the time from its 200 to the
   `message.new` event carrying that text in *every* page (the slowest page counts);
6. while the streams are open, times a normal page (`GET /login/`) to show the streams leave
   the web threads free for pages;
7. prints p50/p99/max for the baseline and the webhook → page path, the messages a page never
   got, and checks the target (p99 < 1 s).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook_ingest import ROOT, Bench, Deadline, load_average, percentile  # noqa: E402

TARGET_P99 = 1.0
USERNAME = "bench-agent"
PASSWORD = "Qz" + secrets.token_hex(8) + "-Vk!"  # a fresh password per run

SEED = r"""
import os
from app import create_app
from app.extensions import db
from app.models import Channel, Workspace, WorkspaceMember
from app.security import ROLE_AGENT

app = create_app()
with app.app_context():
    ws = Workspace(slug="bench", name="Bench")
    db.session.add(ws)
    db.session.flush()
    db.session.add(Channel(workspace_id=ws.id, name="Bench WhatsApp", kind="greenapi",
                           api_url="http://127.0.0.1:9",
                           id_instance=os.environ["BENCH_ID_INSTANCE"],
                           api_token="bench-green-api-token",
                           webhook_token=os.environ["BENCH_GREEN_TOKEN"]))
    sm = app.appbuilder.sm
    user = sm.add_user(os.environ["BENCH_USER"], "Bench", "Agent", "agent@bench.example",
                       sm.find_role(ROLE_AGENT), password=os.environ["BENCH_PASSWORD"])
    db.session.add(WorkspaceMember(workspace_id=ws.id, user_id=user.id, role="agent"))
    db.session.commit()
print("seeded")
"""


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    return (f"n={len(ordered)} p50={percentile(ordered, 0.5) * 1000:.0f} ms "
            f"p99={percentile(ordered, 0.99) * 1000:.0f} ms max={ordered[-1] * 1000:.0f} ms")


class RealtimeBench(Bench):
    def env(self) -> dict:
        return dict(super().env(), BENCH_USER=USERNAME, BENCH_PASSWORD=PASSWORD)

    def migrate_and_seed(self) -> None:
        env = dict(self.env(), FAB_UPDATE_PERMS="1")  # the roles get LiveView's permissions
        for command in ([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"],
                        [sys.executable, "-c", SEED]):
            done = subprocess.run(command, cwd=ROOT, env=env, timeout=300,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command[:5])} failed:\n{done.stderr[-3000:]}")

    def start_worker(self) -> None:
        log = open(self.folder / "worker.log", "wb")  # noqa: SIM115 - closed with the folder
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "run", "worker"], cwd=ROOT, env=self.env(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    # --- the measurement
    def run(self) -> int:
        args = self.args
        print(f"load average before: {load_average()}")
        self.setup_database()
        self.setup_redis()
        self.migrate_and_seed()
        self.start_server()
        self.start_worker()
        print(f"gunicorn: {args.workers} workers x {args.threads} threads on port {self.port};"
              f" 1 RQ worker; {args.pages} pages; {args.rate:g} messages/s for "
              f"{args.duration:g} s over {args.conversations} conversations")
        baseline = self.baseline()
        print(f"baseline  Redis XADD -> XREAD BLOCK ({args.pages} readers): {summary(baseline)}")
        pages = [Page(self.port, n) for n in range(args.pages)]
        for page in pages:
            page.open()
        deadline = time.monotonic() + 15
        while not all(p.ready.is_set() for p in pages) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not all(p.ready.is_set() for p in pages):
            raise SystemExit("the pages' streams did not open:\n"
                             + "\n".join(p.error or "" for p in pages)
                             + "\n" + self.server_log()[-3000:])
        page_times = []
        stop_pages = threading.Event()

        def time_pages():
            while not stop_pages.is_set():
                started = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", "/login/")
                conn.getresponse().read()
                conn.close()
                page_times.append(time.perf_counter() - started)
                time.sleep(0.2)

        timer = threading.Thread(target=time_pages, daemon=True)
        timer.start()
        acks = self.send(args)
        time.sleep(args.drain)
        stop_pages.set()
        timer.join(5)
        for page in pages:
            page.close()
        latencies, missing = [], 0
        for text, acked in acks.items():
            seen = [p.seen.get(text) for p in pages]
            if None in seen:
                missing += 1
                continue
            latencies.append(max(seen) - acked)
        print(f"webhook 200 -> message in all {args.pages} pages: {summary(latencies)}; "
              f"missing {missing} of {len(acks)}")
        print(f"a normal page (GET /login/) while {args.pages} streams are open: "
              f"{summary(page_times)}")
        print(f"load average after: {load_average()}")
        ordered = sorted(latencies)
        ok = bool(ordered) and percentile(ordered, 0.99) < TARGET_P99 and missing == 0
        print(f"target p99 < {TARGET_P99:g} s and nothing missing: {'met' if ok else 'MISSED'}")
        return 0 if ok or not args.strict else 1

    def baseline(self) -> list[float]:
        from redis import Redis

        key = "bench:baseline"
        writer = Redis.from_url(self.redis_url)
        results: list[dict] = []
        stop = threading.Event()
        start_id = writer.xadd(key, {"t": "0"}).decode()

        def reader(found: dict):
            client = Redis.from_url(self.redis_url, decode_responses=True)
            after = start_id
            while not stop.is_set():
                for _key, rows in client.xread({key: after}, block=500, count=100) or []:
                    for entry_id, fields in rows:
                        after = entry_id
                        found[fields["t"]] = time.perf_counter()

        threads = []
        for _ in range(self.args.pages):
            found: dict = {}
            results.append(found)
            threads.append(threading.Thread(target=reader, args=(found,), daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        sent = {}
        total = int(self.args.rate * min(self.args.duration, 5))
        for n in range(total):
            sent[str(n + 1)] = time.perf_counter()
            writer.xadd(key, {"t": str(n + 1)}, maxlen=5000, approximate=True)
            time.sleep(1 / self.args.rate)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(2)
        writer.delete(key)
        return [max(found.get(t, float("inf")) for found in results) - at
                for t, at in sent.items()]

    def send(self, args) -> dict[str, float]:
        """Open loop: message n is due at start + n/rate; its ack time is when its 200 came."""
        import queue

        acks: dict[str, float] = {}
        lock = threading.Lock()
        due: queue.Queue = queue.Queue()
        run = str(int(time.time()))[-6:]

        def poster():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            while True:
                item = due.get()
                if item is None:
                    conn.close()
                    return
                n = item
                text = f"live bench {run} message {n}"
                chat = f"7955{n % args.conversations:07d}@c.us"
                payload = {
                    "typeWebhook": "incomingMessageReceived",
                    "instanceData": {"idInstance": int(self.creds["id_instance"]),
                                     "wid": "11001234567@c.us", "typeInstance": "whatsapp"},
                    "timestamp": int(time.time()), "idMessage": f"LIVE{run}{n:08d}",
                    "senderData": {"chatId": chat, "sender": chat, "chatName": "Customer",
                                   "senderName": "Customer", "senderContactName": ""},
                    "messageData": {"typeMessage": "textMessage",
                                    "textMessageData": {"textMessage": text}}}
                try:
                    conn.request("POST", "/webhooks/greenapi", body=json.dumps(payload),
                                 headers={"Authorization": self.creds["green_token"],
                                          "Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        with lock:
                            acks[text] = time.perf_counter()
                except OSError:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

        threads = [threading.Thread(target=poster, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        total = int(args.rate * args.duration)
        start = time.perf_counter()
        for n in range(total):
            pause = start + n / args.rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            due.put(n)
        for _ in threads:
            due.put(None)
        for thread in threads:
            thread.join(15)
        return acks


class Page:
    """One open page: signed in, reading `/inbox/stream` line by line in a thread."""

    def __init__(self, port: int, number: int):
        self.port, self.number = port, number
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.error: str | None = None
        self.conn = None

    def _cookie(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/login/")
        response = conn.getresponse()
        html = response.read().decode()
        cookie = response.getheader("Set-Cookie", "").split(";")[0]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
            r'value="([^"]+)"[^>]*name="csrf_token"', html)
        body = (f"username={USERNAME}&password={PASSWORD.replace('!', '%21')}"
                f"&csrf_token={token.group(1) if token else ''}")
        conn.request("POST", "/login/", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        response = conn.getresponse()
        response.read()
        conn.close()
        signed_in = response.getheader("Set-Cookie", "").split(";")[0]
        if response.status != 302 or "/login" in (response.getheader("Location") or ""):
            raise RuntimeError(f"sign-in failed: {response.status}")
        return signed_in or cookie

    def open(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            cookie = self._cookie()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", "/inbox/stream", headers={
                "Cookie": cookie, "Accept": "text/event-stream"})
            response = self.conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"stream answered {response.status}: {response.read()[:200]}")
            event = None
            while not self.stop.is_set():
                line = response.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith(": open"):
                    self.ready.set()
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "message.new":
                    data = json.loads(line[6:])
                    if data.get("direction") == "in" and data.get("preview"):
                        self.seen.setdefault(data["preview"], time.perf_counter())
        except Exception as exc:  # noqa: BLE001 - reported by the run
            self.error = f"page {self.number}: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.stop.set()
        if self.conn is not None:
            try:
                self.conn.sock.shutdown(2)
            except OSError:
                pass
            self.conn.close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="webhook messages per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of messages")
    parser.add_argument("--pages", type=int, default=10, help="open pages (SSE streams)")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--drain", type=float, default=3.0,
                        help="seconds to wait for the last events")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--postgres", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="",
                        help="use this Redis db index (flushed!) instead of a private server")
    parser.add_argument("--max-seconds", type=int, default=300)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = RealtimeBench(args)

    def on_alarm(_signum, _frame):
        raise Deadline(f"stopped after --max-seconds={args.max_seconds}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)
    try:
        return bench.run()
    except (Deadline, KeyboardInterrupt) as exc:
        print(f"interrupted: {exc or type(exc).__name__}")
        return 2
    finally:
        signal.alarm(0)
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
