"""Panel surge benchmark (issue 14, the fair panel budget): many customers, one slow panel.

    .venv/bin/python bench/panel_surge.py                 # 20 customers x 10 commands/s, 30 s
    .venv/bin/python bench/panel_surge.py --seconds 5     # shorter
    .venv/bin/python bench/panel_surge.py --customers 4 --per-customer 2 --seconds 3  # smoke

One workspace whose panel (a fake Rental Panel: `getOrders-by-id` answers many orders in one
call) allows `--panel-rps` calls/s (default 5, the product's default) and answers in 20 ms. Its
customers are linked users, each in a private chat spread over Green API instances of the
workspace (`--instances`, default 5: one instance sends 50 messages/s, and every command is
answered) and each sends `--per-customer` commands/s (default 10) for `--seconds` (default
30): "<order id>" alone, which asks for the order's status (a reply, no dispatch). The app runs
for real: gunicorn and 4 RQ workers, PostgreSQL and a private Redis, as bench/pipeline.py sets
them up (its `Stack`, `Sender` and fakes are reused).

Reported: calls per second seen by the panel (the most within any one-second window, from the
fake's own arrival times), commands answered, webhook-to-answer p50/p99 (from when the schedule
had the webhook sent to when the fake Green API received the reply naming the order), and
webhook-to-told (the answer, or the `queued` notice, whichever came first). Targets: rate never
exceeded, all answered, every customer told within 2 s. Exit 0 when met, 1 when not, 2 when the
run failed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline as base  # noqa: E402 - bench/ is on sys.path

# not the pipeline bench's database, nor another test slot's (the smoke test runs this)
base.DB_NAME = "relaydesk_bench_panel_surge" + os.environ.get("RELAYDESK_TEST_SLOT", "")
PANEL_KEY = "bench-rental-key"
PANEL_LATENCY = 0.020
TOLD_WITHIN = 2.0


@dataclass
class Surge:
    customers: int = 20
    per_customer: float = 10.0
    seconds: float = 30.0
    panel_rps: float = 5.0
    instances: int = 5
    settle: float = 120.0


def seed(spec_path: str) -> None:
    from app import create_app
    from tests.factories import Factory

    spec = json.loads(Path(spec_path).read_text())
    app = create_app()
    with app.app_context():
        make = Factory(app)
        workspace = make.workspace("surge", name="Surge")
        make.panel(workspace, panel_type="rentalpanel_v1", url=spec["panel_url"],
                   api_key=PANEL_KEY, requests_per_second=spec["panel_rps"], status="ok")
        channels = []
        for n, instance in enumerate(spec["instances"]):
            channels.append(make.channel(
                workspace, name=f"surge WhatsApp {n + 1}", api_url=spec["green_url"],
                id_instance=instance["id_instance"], api_token=instance["api_token"],
                webhook_token=instance["webhook_token"], status="ok"))
        for customer in spec["customers"]:
            user = make.linked_user(workspace, username=customer["username"])
            make.identity(user, channels[customer["instance"]], chat_id=customer["chat"])


def run(args, surge: Surge, stack, results) -> None:
    from tests.fakes.rentalpanel import FakeRentalPanel

    tenants = base.make_tenants(surge.instances)  # one "tenant" per Green API instance
    green, _unused = base.make_fakes({t.id_instance: t.api_token for t in tenants})
    panel = FakeRentalPanel(api_key=PANEL_KEY, latency=PANEL_LATENCY)
    green.start()
    stack.cleanups.callback(green.stop)
    panel.start()
    stack.cleanups.callback(panel.stop)
    customers = [{"username": f"surge-{i + 1}", "chat": f"7911{i + 1:07d}@c.us",
                  "instance": i % surge.instances} for i in range(surge.customers)]
    orders_each = 50
    for i, customer in enumerate(customers):
        for k in range(orders_each):
            panel.add_order(6000000 + i * orders_each + k, username=customer["username"])

    env = stack.prepare(args.shared_redis_db)
    spec = stack.tmp / "seed.json"
    spec.write_text(json.dumps({
        "green_url": green.url, "panel_url": panel.url, "panel_rps": surge.panel_rps,
        "instances": [t.__dict__ for t in tenants], "customers": customers}))
    stack.run_step("seed", [base.PYTHON, str(Path(__file__).resolve()), "--seed", str(spec)],
                   300)
    port = base.free_port()
    stack.spawn("gunicorn", [str(base.VENV_BIN / "gunicorn"), *base.GUNICORN_ARGS,
                             "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "run:app"],
                stack.tmp / "gunicorn.log", env)
    for n in range(base.WORKERS):
        argv = [str(base.VENV_BIN / "flask"), "--app", "run", "worker", "--queues",
                base.QUEUES]
        if n:
            argv.append("--no-scheduler")
        stack.spawn(f"worker-{n + 1}", argv, stack.tmp / f"worker-{n + 1}.log", env)
    queues = base.Queues(stack.redis_url, private=stack.redis_kind.startswith("private"))
    base_url = f"http://127.0.0.1:{port}"
    if not base.wait_until(lambda: base._ready(base_url), 180, 0.25):
        raise RuntimeError(f"gunicorn not ready:\n{base.tail(stack.tmp / 'gunicorn.log')}")
    if not base.wait_until(lambda: queues.workers() >= base.WORKERS, 180, 0.25):
        raise RuntimeError(f"workers not ready:\n{base.tail(stack.tmp / 'worker-1.log')}")
    sender = base.Sender(base_url, threads=64)
    stack.cleanups.callback(sender.close)

    # the schedule: every customer in turn, `per_customer` commands a second each
    commands: list[base.Command] = []
    total = int(surge.customers * surge.per_customer * surge.seconds)
    for n in range(total):
        i = n % surge.customers
        order_id = 6000000 + i * orders_each + (n // surge.customers) % orders_each
        tenant = tenants[customers[i]["instance"]]
        commands.append(base.Command(tenant, customers[i]["chat"], str(order_id),
                                     [str(order_id)]))
    rate = surge.customers * surge.per_customer
    base.say(f"sending {total} commands at {rate:.0f}/s for {surge.seconds:.0f} s …")
    started = time.time()
    panel.requests.clear()
    sender.paced(commands, rate)
    base.say("waiting for the answers …")

    def answers():
        found: dict[tuple[str, str], float] = {}
        notices: dict[str, list[float]] = {}
        for request in green.requests.filter("POST", "*sendMessage*"):
            chat, text = request.json.get("chatId", ""), request.json.get("message", "")
            if text.startswith("Your request is queued"):
                notices.setdefault(chat, []).append(request.timestamp)
                continue
            for word in text.replace(":", " ").split():
                if word.isdigit():
                    found.setdefault((chat, word), request.timestamp)
        return found, notices

    wanted = {(c.chat, c.text) for c in commands}
    base.wait_until(lambda: wanted <= set(answers()[0]), surge.settle, 0.5)
    queues.drain(30)
    found, notices = answers()
    # each order id is asked several times by its customer: the n-th ask of (chat, id) is
    # answered by the n-th reply naming it
    replies: dict[tuple[str, str], list[float]] = {}
    for request in green.requests.filter("POST", "*sendMessage*"):
        chat, text = request.json.get("chatId", ""), request.json.get("message", "")
        for word in set(text.replace(":", " ").split()):
            if word.isdigit():
                replies.setdefault((chat, word), []).append(request.timestamp)
    for stamps in replies.values():
        stamps.sort()
    seen: dict[tuple[str, str], int] = {}
    latency, told = [], []
    answered = 0
    for command in sorted(commands, key=lambda c: c.due_at):
        key = (command.chat, command.text)
        index = seen.get(key, 0)
        seen[key] = index + 1
        stamps = replies.get(key, [])
        answer_at = stamps[index] if index < len(stamps) else float("inf")
        answered += answer_at != float("inf")
        latency.append(answer_at - command.due_at)
        notice_at = min((t for t in notices.get(command.chat, []) if t >= command.due_at),
                        default=float("inf"))
        told.append(min(answer_at, notice_at) - command.due_at)
    from tests.fakes.server import max_per_second

    calls = [r.timestamp for r in panel.requests if r.timestamp >= started]
    peak = max_per_second(calls)
    told_late = sum(1 for value in told if value > TOLD_WITHIN)
    results.add("panel calls, most in any 1 s window", str(peak),
                f"<= {surge.panel_rps:g}", peak <= surge.panel_rps)
    results.add("panel calls in all", str(len(calls)), "")
    results.add("commands answered", f"{answered}/{total}", "all", answered == total)
    results.add("webhook-to-answer p50", base.ms(base.percentile(latency, 50)), "")
    results.add("webhook-to-answer p99", base.ms(base.percentile(latency, 99)), "")
    results.add("webhook-to-told p99 (answer or queued)", base.ms(base.percentile(told, 99)),
                f"<= {TOLD_WITHIN * 1000:.0f} ms", told_late == 0)
    results.add("customers told later than 2 s", str(told_late), "0", told_late == 0)
    results.add("queued notices sent", str(sum(len(v) for v in notices.values())), "")
    results.add("webhooks refused", str(sum(1 for c in commands if c.status != 200)), "0",
                all(c.status == 200 for c in commands))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=Surge.seconds)
    parser.add_argument("--customers", type=int, default=Surge.customers)
    parser.add_argument("--per-customer", type=float, default=Surge.per_customer,
                        help="commands per second each customer sends")
    parser.add_argument("--panel-rps", type=float, default=Surge.panel_rps)
    parser.add_argument("--instances", type=int, default=Surge.instances,
                        help="Green API instances the customers are spread over")
    parser.add_argument("--shared-redis-db", type=int, default=None, metavar="N")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--time-limit", type=int, default=900)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed)
        return 0
    surge = Surge(customers=max(1, args.customers), per_customer=max(0.1, args.per_customer),
                  seconds=max(0.5, args.seconds), panel_rps=args.panel_rps,
                  instances=max(1, min(args.instances, args.customers)))

    def on_alarm(_sig, _frame):
        raise base.BenchTimeout(f"time limit of {args.time_limit} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda _s, _f: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.alarm(args.time_limit)
    stack = base.Stack(keep=args.keep)
    results = base.Results()
    status = 0
    try:
        run(args, surge, stack, results)
    except (base.BenchTimeout, RuntimeError, subprocess.TimeoutExpired) as exc:
        base.say(f"\nbenchmark failed: {exc}")
        for name, _process, log in stack.processes:
            if name.startswith(("worker", "gunicorn")):
                base.say(f"--- {name} log (last lines) ---\n{base.tail(log, 15)}")
        status = 2
    except KeyboardInterrupt:
        base.say("\ninterrupted")
        status = 2
    finally:
        signal.alarm(0)
        stack.close()
    if results.lines:
        base.say()
        base.say(f"Relaydesk panel surge: {surge.customers} customers x "
                 f"{surge.per_customer:g} commands/s for {surge.seconds:g} s; panel "
                 f"{surge.panel_rps:g} calls/s, {PANEL_LATENCY * 1000:.0f} ms")
        width = max(len(line[0]) for line in results.lines)
        for name, value, target, verdict in results.lines:
            base.say(f"{name.ljust(width)}  {value:>10}  {target:<12}  {verdict}")
        if status == 0 and results.failed:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
