"""Broadcast benchmark (issue 14): N recipients through a fake platform that enforces R
messages a second and answers 429 beyond it.

    .venv/bin/python bench/broadcast.py                 # 10,000 recipients, R = 200/s, then
                                                        # again with a worker killed mid-run
    .venv/bin/python bench/broadcast.py --smoke         # 300 recipients, R = 50/s (a test runs it)
    .venv/bin/python bench/broadcast.py --no-kill       # the plain run only

What it sets up, and removes again at the end: a fresh PostgreSQL database
`relaydesk_bench_broadcast` (migrated with `flask db upgrade`), a private `redis-server`, and in
this process `--instances` fake Green API instances (tests/fakes/greenapi.py), each its own
server allowing R / instances requests a second over a sliding one-second window (429 beyond,
as the platform documents). One workspace with one Green API channel per instance and N linked
users, each with one chat identity (round robin over the channels). Two RQ workers
(`flask --app run worker --queues default,low`) send; this process plays the runners' cron
(app/jobs/runners.py): it queues `run_workspace` for the workspace every 5 s while the broadcast
is not done (a job id per tick, so a queued tick is never doubled).

Each run (a new broadcast to the same users): start → every recipient has an outcome. Figures:
achieved rate (messages the fakes accepted ÷ seconds from the first to the last) ÷ R, 429s,
duplicates (messages beyond the first to a chat), losses (recipients the fakes never received;
`losses_unreported`: of those, the ones not recorded `interrupted`), and the recipients'
outcomes. A message whose call was under way when its worker died is never sent again
(app/jobs/broadcasts.py: at most once) and is recorded failed, `interrupted`: the fake may
or may not have received it. The kill run SIGKILLs every worker (and what it forked) once a
third of the messages arrived, starts two new ones, and waits the same way.

Ends with one JSON line per run: {"run", "recipients", "rate_limit", "achieved_per_s",
"ratio", "http_429", "duplicates", "losses", "sent", "failed", "interrupted", "seconds"}.
Exit status: 0 every target met (ratio ≥ 0.95 on the plain run, zero 429s, duplicates and
unreported losses on both), 1 a target missed, 2 the run itself failed.
"""
from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import os  # noqa: E402

import pipeline  # noqa: E402 - bench/ is on sys.path: the stack helpers

VENV_BIN = pipeline.VENV_BIN
# (a test run names its own, so that it never meets a bench run by hand)
pipeline.DB_NAME = os.environ.get("BENCH_BROADCAST_DB", "relaydesk_bench_broadcast")
say = pipeline.say
TICK = 5.0  # the runners' cron


def make_fakes(instances: int, rate: int):
    from tests.fakes.greenapi import FakeGreenAPI

    per = rate // instances
    return [FakeGreenAPI(f"77{n:08d}", f"bench-token-{n}", rate_limit=per).start()
            for n in range(instances)]


def seed(spec_path: str) -> None:
    """In a child process with the app: the workspace, channels, users (`--seed FILE`)."""
    from app import create_app
    from app.extensions import db
    from app.models import ChatIdentity, LinkedUser
    from tests.factories import Factory

    spec = json.loads(Path(spec_path).read_text())
    app = create_app()
    with app.app_context():
        make = Factory(app)
        workspace = make.workspace("bench", name="Bench broadcast")
        channels = [make.channel(workspace, name=f"WhatsApp {n}", api_url=url,
                                 id_instance=instance, api_token=token, status="ok").id
                    for n, (url, instance, token) in enumerate(spec["instances"])]
        users = [{"workspace_id": workspace.id, "username": f"user{n:05d}", "language": "en",
                  "tags": "", "opted_out": False} for n in range(spec["recipients"])]
        db.session.execute(LinkedUser.__table__.insert(), users)
        db.session.commit()
        ids = [i for (i,) in db.session.query(LinkedUser.id).filter_by(
            workspace_id=workspace.id).order_by(LinkedUser.id)]
        db.session.execute(ChatIdentity.__table__.insert(), [
            {"workspace_id": workspace.id, "linked_user_id": user_id,
             "channel_id": channels[n % len(channels)], "chat_id": f"7{n:010d}@c.us"}
            for n, user_id in enumerate(ids)])
        db.session.commit()
        print(workspace.id)


class Ledger:
    def __init__(self, url: str):
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url)

    def one(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(self.sa.text(sql), params).first()

    def run(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.sa.text(sql), params)


def run_once(args, stack, fakes, ledger, queue, workspace_id: int, name: str,
             kill: bool) -> dict:
    for fake in fakes:
        fake.reset()
    with ledger.engine.begin() as conn:
        broadcast_id = conn.execute(ledger.sa.text(
            "INSERT INTO broadcast (workspace_id, name, text, channel_kinds, languages, tags, "
            "status, total, sent, failed, skipped, started_at, created_at, updated_at) VALUES "
            "(:w, :n, 'Hello {username}, news from the bench', '', '', '', 'running', 0, 0, 0,"
            " 0, now() at time zone 'utc', now(), now()) RETURNING id"),
            {"w": workspace_id, "n": name}).scalar()
    # The fakes live in this process: a cyclic collection of their recorded requests (about
    # 50 ms with thousands of them) stalled every fake at once, which then stamped the
    # requests that had queued meanwhile as one burst, a compression no platform's edge sees.
    gc.disable()
    try:
        start = time.monotonic()
        wait_until_done(args, stack, fakes, ledger, queue, workspace_id, broadcast_id, name,
                        kill, start)
    finally:
        gc.enable()
    return figures(args, fakes, ledger, broadcast_id, name, time.monotonic() - start)


def wait_until_done(args, stack, fakes, ledger, queue, workspace_id: int, broadcast_id: int,
                    name: str, kill: bool, start: float) -> None:
    """Play the runners' cron until every recipient has an outcome (or the timeout); with
    `kill`, SIGKILL the workers once a third of the messages arrived."""
    killed = not kill
    tick = 0
    next_tick = 0.0
    deadline = start + args.timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_tick:
            tick += 1
            queue.enqueue("app.jobs.broadcasts.run_workspace", workspace_id,
                          job_id=f"bench-{broadcast_id}-{tick}", job_timeout=900,
                          result_ttl=60)
            next_tick = now + TICK
        arrived = sum(len(fake.sent) for fake in fakes)
        if not killed and arrived >= args.recipients // 3:
            say(f"  {arrived} messages arrived: SIGKILL every worker, start two new ones")
            stack.signal_workers(signal.SIGKILL)
            stack.processes[:] = [p for p in stack.processes if not p[0].startswith("worker")]
            start_workers(stack, 2, tag=f"{name}-after")
            killed = True
            next_tick = 0.0
        status = ledger.one("SELECT status FROM broadcast WHERE id = :b", b=broadcast_id)[0]
        if status == "done":
            return
        time.sleep(0.2)


def figures(args, fakes, ledger, broadcast_id: int, name: str, seconds: float) -> dict:
    sent = [m for fake in fakes for m in fake.sent]
    stamps = sorted(r.timestamp for fake in fakes for r in fake.requests
                    if r.status == 200 and "sendMessage" in r.path)
    too_many = sum(1 for fake in fakes for r in fake.requests if r.status == 429)
    per_chat = Counter(m["chatId"] for m in sent)
    expected = {f"7{n:010d}@c.us" for n in range(args.recipients)}
    span = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    achieved = (len(stamps) - 1) / span if span > 0 else 0.0
    with ledger.engine.connect() as conn:
        outcome = dict(conn.execute(ledger.sa.text(
            "SELECT state, count(*) FROM broadcast_recipient WHERE broadcast_id = :b "
            "GROUP BY state"), {"b": broadcast_id}).all())
        interrupted = {chat for (chat,) in conn.execute(ledger.sa.text(
            "SELECT chat_id FROM broadcast_recipient WHERE broadcast_id = :b "
            "AND reason LIKE 'interrupted%'"), {"b": broadcast_id})}
    lost = expected - set(per_chat)
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    long_gaps = [round(g, 3) for g in gaps if g > 0.1]
    return {"run": name, "recipients": args.recipients, "rate_limit": args.rate,
            "gap_p50_ms": round(gaps[len(gaps) // 2] * 1000, 1) if gaps else None,
            "gaps_over_100ms": long_gaps[-10:],
            "achieved_per_s": round(achieved, 1), "ratio": round(achieved / args.rate, 3),
            "http_429": too_many, "duplicates": sum(c - 1 for c in per_chat.values()),
            "losses": len(lost), "losses_unreported": len(lost - interrupted),
            "sent": outcome.get("sent", 0),
            "failed": outcome.get("failed", 0), "interrupted": len(interrupted),
            "waiting": outcome.get("pending", 0) + outcome.get("sending", 0),
            "seconds": round(seconds, 1)}


def start_workers(stack, count: int, tag: str) -> None:
    for n in range(count):
        stack.spawn(f"worker-{tag}-{n}",
                    [str(VENV_BIN / "flask"), "--app", "run", "worker", "--queues",
                     "default,low"], stack.tmp / f"worker-{tag}-{n}.log", env=stack.env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=200, help="R: messages/s the platform "
                        "allows (over all instances)")
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="300 recipients, R = 50, one "
                        "instance")
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed)
        return 0
    if args.smoke:
        args.recipients, args.rate, args.instances = 300, 50, 1
        args.timeout = min(args.timeout, 180.0)
    stack = pipeline.Stack(keep=args.keep)
    fakes = []
    results = []
    try:
        stack.create_database()
        stack.create_redis(None)
        env = stack.app_env()
        say(f"database: {stack.database_kind}; redis: {stack.redis_kind}")
        stack.run_step("migrate", [str(VENV_BIN / "flask"), "--app", "run", "db", "upgrade"],
                       timeout=300)
        fakes = make_fakes(args.instances, args.rate)
        spec = stack.tmp / "spec.json"
        spec.write_text(json.dumps({
            "recipients": args.recipients,
            "instances": [(f.url, f.id_instance, f.api_token) for f in fakes]}))
        import subprocess

        seeded = subprocess.run([sys.executable, __file__, "--seed", str(spec)], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=600,
                                check=True)
        workspace_id = int(seeded.stdout.strip().splitlines()[-1])
        from redis import Redis
        from rq import Queue

        queue = Queue("low", connection=Redis.from_url(stack.redis_url))
        ledger = Ledger(stack.database_url)
        start_workers(stack, 2, tag="first")
        say(f"{args.recipients} recipients, R = {args.rate}/s over {args.instances} "
            f"instance(s)")
        results.append(run_once(args, stack, fakes, ledger, queue, workspace_id, "plain",
                                kill=False))
        say(json.dumps(results[-1]))
        if not args.no_kill:
            results.append(run_once(args, stack, fakes, ledger, queue, workspace_id,
                                    "worker_killed", kill=True))
            say(json.dumps(results[-1]))
    except Exception as exc:  # noqa: BLE001
        say(f"the run failed: {type(exc).__name__}: {exc}")
        for name, _process, log in stack.processes:
            if name.startswith("worker"):
                say(f"--- {name}\n{pipeline.tail(log)}")
        return 2
    finally:
        for fake in fakes:
            fake.stop()
        stack.close()
    ok = all(r["http_429"] == 0 and r["duplicates"] == 0 and r["losses_unreported"] == 0
             and r["waiting"] == 0 for r in results)
    ok = ok and results[0]["ratio"] >= 0.95
    say("targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
