"""Log screens at scale: a manager's log lists, their filters and the CSV export.

    .venv/bin/python bench/logs.py [--rows N] [--workspaces 50] [--requests 50]

What it does, for real (bench/pipeline.py's `Stack`: a fresh PostgreSQL database migrated with
`flask db upgrade`, a private Redis, the app under gunicorn as the Procfile runs it):

* runs the release step `flask fab create-permissions` (FAB_UPDATE_PERMS off, as deployed);
* seeds `--workspaces` workspaces, each with a manager and a channel, then bulk-loads with
  `INSERT … SELECT generate_series` N command log rows (and the N inbound events they answer),
  N outbound messages and N/10 linked users, spread evenly over the workspaces, newest last;
  the chats' identities (5,000 chats), a busy chat in the first workspace (min(N/20, 5,000)
  messages in, as many replies out, a dispatched order per command) and, set-based like
  migration 0020, every chat's conversation row;
* signs in as the first workspace's manager and asks each list screen (commands, outbound
  messages, inbound events, linked users) and each filter they offer (time range, channel,
  outcome, order id, username, chat, text search, a deep page; the linked users' username
  search, language, opt-out and tags) `--requests` times in turn, timing every answer (HTML,
  status 200);
* signs in as the master admin and downloads the command log's CSV export of every workspace
  (N rows), counting rows per second and sampling the gunicorn workers' resident memory while
  it streams.

It ends by printing one JSON line:
`{"rows", "worst_p95_ms", "lists": {name: {"p50_ms", "p95_ms"}}, "export_rows_per_s",
"export_rss_growth_mb"}`; the exit status is 1 when a p95 reaches 300 ms or the export's
memory grew by more than 100 MB (not streamed), 2 when the run failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline as base  # noqa: E402 - bench/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
base.DB_NAME = "relaydesk_bench_logs"  # its own database, not the pipeline bench's
TARGET_P95_MS = 300.0
MEMORY_LIMIT_MB = 100.0
MANAGER = "logs-bench-manager-1"
BUSY_CHAT = "79009999999@c.us"


def conversations_backfill():
    """Migration 0020's `backfill(bind)` (the statements the upgrade runs)."""
    import importlib.util

    path = ROOT / "migrations" / "versions" / "0020_conversations.py"
    spec = importlib.util.spec_from_file_location("migration_0020", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.backfill
ADMIN = "logs-bench-root"


# ---- seeding (a child process, with the app) ---------------------------------------------------
def seed(spec_path: str) -> None:
    """Workspaces, managers and channels through the factory; the rows in bulk, in SQL."""
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from tests.factories import Factory

    spec = json.loads(Path(spec_path).read_text())
    rows, workspaces = spec["rows"], spec["workspaces"]
    users = max(workspaces, rows // 10)
    app = create_app()
    with app.app_context():
        make = Factory(app)
        make.admin(ADMIN)
        ws_ids, ch_ids, provider = [], [], None
        for n in range(1, workspaces + 1):
            workspace = make.workspace(f"logs-{n}", name=f"Logs {n}")
            make.member(workspace, f"logs-bench-manager-{n}", "manager")
            channel = make.channel(workspace, name=f"logs {n} WhatsApp")
            ws_ids.append(workspace.id)
            ch_ids.append(channel.id)
            if provider is None:
                provider = make.provider(workspace, name="Bench provider")
        db.session.commit()
        busy = min(max(rows // 20, 10), 5000)
        params = {"ws": ws_ids, "ch": ch_ids, "k": len(ws_ids), "rows": rows, "users": users,
                  "busy": busy, "busy_chat": BUSY_CHAT, "provider": provider.id}
        started = time.monotonic()
        statements = [
            """INSERT INTO linked_user (workspace_id, username, language, opted_out, created_at,
                    updated_at)
                SELECT (CAST(:ws AS integer[]))[1 + g % :k], 'customer-' || g, 'en', false, now(),
                    now()
                FROM generate_series(1, :users) g""",
            """INSERT INTO inbound_event (workspace_id, channel_id, platform, kind, type,
                    dedupe_key, chat_id, sender, sender_name, is_group, from_me, from_bot, text,
                    received_at, payload, state, attempts)
                SELECT (CAST(:ws AS integer[]))[1 + g % :k],
                    (CAST(:ch AS integer[]))[1 + g % :k], 'greenapi', 'message',
                    'incomingMessageReceived', 'bench-' || g, '7900' || (g % 5000) || '@c.us',
                    '7900' || (g % 5000) || '@c.us', 'Customer ' || (g % 5000), false, false,
                    false, 'refill ' || (4000000 + g), now() - (:rows - g) * interval '2 s',
                    '{}', 'done', 1
                FROM generate_series(1, :rows) g""",
            # the busy chat of the first workspace: a message every 2 s, interleaved with the rest
            """INSERT INTO inbound_event (workspace_id, channel_id, platform, kind, type,
                    dedupe_key, chat_id, sender, sender_name, is_group, from_me, from_bot, text,
                    received_at, payload, state, attempts)
                SELECT (CAST(:ws AS integer[]))[1], (CAST(:ch AS integer[]))[1], 'greenapi',
                    'message', 'incomingMessageReceived', 'bench-busy-' || g, :busy_chat,
                    :busy_chat, 'Busy customer', false, false, false,
                    'refill ' || (5000000 + g), now() - (:busy - g) * interval '2 s' - interval
                    '1 s', '{}', 'done', 1
                FROM generate_series(1, :busy) g""",
            """INSERT INTO command_log (workspace_id, inbound_event_id, channel_id, chat_id,
                    linked_user_id, text, language, actions, order_ids, state, outcome,
                    reply_text, trace, created_at, finished_at, duration_ms)
                SELECT e.workspace_id, e.id, e.channel_id, e.chat_id,
                    (SELECT min(id) FROM linked_user) + ((e.id - 1) % :users), e.text, 'en',
                    'refill', (4000000 + e.id)::text, 'done',
                    (ARRAY['dispatched','refused','not_linked','ignored'])[1 + e.id % 4],
                    'Your refill of ' || (4000000 + e.id) || ' is on its way.',
                    '[{"step": "done", "outcome": "dispatched"}]', e.received_at,
                    e.received_at, 40 + e.id % 200
                FROM inbound_event e""",
            """INSERT INTO outbound_message (workspace_id, channel_id, idempotency_key, purpose,
                    chat_id, text, parts_total, parts_sent, platform_message_ids, state,
                    attempts, created_at, sent_at, delivery_status)
                SELECT (CAST(:ws AS integer[]))[1 + g % :k],
                    (CAST(:ch AS integer[]))[1 + g % :k], 'bench-' || g,
                    (ARRAY['reply','dispatch','broadcast'])[1 + g % 3],
                    '7900' || (g % 5000) || '@c.us', 'Your refill of ' || (4000000 + g)
                    || ' is on its way.', 1, 1, '[]',
                    (ARRAY['sent','sent','sent','failed'])[1 + g % 4], 1,
                    now() - (:rows - g) * interval '2 s', now() - (:rows - g) * interval '2 s',
                    'delivered'
                FROM generate_series(1, :rows) g""",
            """INSERT INTO outbound_message (workspace_id, channel_id, idempotency_key, purpose,
                    chat_id, text, parts_total, parts_sent, platform_message_ids, state,
                    attempts, created_at, sent_at, delivery_status, inbound_event_id)
                SELECT e.workspace_id, e.channel_id, 'bench-busy-reply-' || e.id, 'reply',
                    e.chat_id, 'Your refill is on its way.', 1, 1, '[]', 'sent', 1,
                    e.received_at + interval '1 s', e.received_at + interval '1 s',
                    'delivered', e.id
                FROM inbound_event e WHERE e.chat_id = :busy_chat""",
            """INSERT INTO command_order (workspace_id, command_log_id, order_id, action, ok,
                    reason, provider_id, external_id, created_at)
                SELECT c.workspace_id, c.id, c.order_ids, 'refill', true, 'ok', :provider,
                    'EXT-' || c.id, c.created_at + interval '500 milliseconds'
                FROM command_log c WHERE c.chat_id = :busy_chat""",
            """INSERT INTO chat_identity (workspace_id, linked_user_id, channel_id, chat_id,
                    created_at, updated_at)
                SELECT u.workspace_id, u.id, (CAST(:ch AS integer[]))[1 + g % :k],
                    '7900' || g || '@c.us', now(), now()
                FROM generate_series(1, LEAST(4999, :users)) g
                JOIN linked_user u ON u.username = 'customer-' || g""",
        ]
        for statement in statements:
            db.session.execute(sa.text(statement), params)
            db.session.commit()
        # every chat's conversation, as migration 0020 fills them (set-based)
        conversations_backfill()(db.session.connection())
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("linked_user", "inbound_event", "command_log", "outbound_message",
                          "command_order", "chat_identity", "conversation"):
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        first = ws_ids[0]
        user, username = db.session.execute(sa.text(
            "SELECT id, username FROM linked_user WHERE workspace_id = :w ORDER BY id LIMIT 1"),
            {"w": first}).one()
        order = db.session.execute(sa.text(
            "SELECT order_ids FROM command_log WHERE workspace_id = :w ORDER BY id DESC "
            "LIMIT 1 OFFSET 500"), {"w": first}).scalar()
        busy_id = db.session.execute(sa.text(
            "SELECT id FROM conversation WHERE workspace_id = :w AND chat_id = :c"),
            {"w": first, "c": BUSY_CHAT}).scalar()
        busy_order = db.session.execute(sa.text(
            "SELECT order_id FROM command_order WHERE workspace_id = :w ORDER BY id DESC "
            "LIMIT 1 OFFSET :n"), {"w": first, "n": busy // 2}).scalar()
        Path(spec["out"]).write_text(json.dumps({
            "channel": ch_ids[0], "linked_user": user, "username": username, "order": order,
            "busy_conversation": busy_id, "busy_order": busy_order, "busy_messages": busy,
            "load_seconds": round(time.monotonic() - started, 1)}))


# ---- measuring ---------------------------------------------------------------------------------
def sign_in(base_url: str, username: str):
    import requests

    from tests.factories import password_for

    session = requests.Session()
    page = session.get(base_url + "/login/", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"username": username, "password": password_for(username)}
    if token:
        data["csrf_token"] = token.group(1)
    answer = session.post(base_url + "/login/", data=data, timeout=30, allow_redirects=False)
    if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
        raise RuntimeError(f"sign-in of {username} failed: {answer.status_code}")
    return session


def screens(seeded: dict) -> dict[str, str]:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 6 * 3600))
    since = quote(since)
    return {
        "commands": "/commandlogview/list/",
        "commands: time range": f"/commandlogview/list/?_flt_1_created_at={since}",
        "commands: channel": f"/commandlogview/list/?_flt_0_channel={seeded['channel']}",
        "commands: outcome": "/commandlogview/list/?_flt_3_outcome=refused",
        "commands: order id": f"/commandlogview/list/?_flt_2_order_ids={seeded['order']}",
        # the linked user is searched by username (equal to; starts with: many users)
        "commands: username": f"/commandlogview/list/?_flt_0_linked_user="
                              f"{quote(seeded['username'])}",
        "commands: username starts": "/commandlogview/list/?_flt_1_linked_user=customer-1",
        "commands: chat": "/commandlogview/list/?_flt_2_chat_id=79004242",
        "commands: chat (every row)": "/commandlogview/list/?_flt_2_chat_id=7900",
        "commands: search text": "/commandlogview/list/?_flt_2_text=refill%20497",
        "commands: page 40": "/commandlogview/list/?page_CommandLogView=40",
        "outbound": "/outboundmessageview/list/",
        "outbound: time range": f"/outboundmessageview/list/?_flt_1_created_at={since}",
        "outbound: channel": f"/outboundmessageview/list/?_flt_0_channel={seeded['channel']}",
        "outbound: outcome": "/outboundmessageview/list/?_flt_0_state=failed",
        "outbound: chat": "/outboundmessageview/list/?_flt_2_chat_id=79004242",
        "outbound: search text": "/outboundmessageview/list/?_flt_2_text=4975",
        "outbound: page 40": "/outboundmessageview/list/?page_OutboundMessageView=40",
        "inbound": "/inboundeventview/list/",
        "conversations": "/conversationview/list/?_flt_0_kind=customer",
        "conversations: time range": "/conversationview/list/?_flt_0_kind=customer"
                                     f"&_flt_1_last_activity_at={since}",
        "conversations: channel": f"/conversationview/list/?_flt_0_channel={seeded['channel']}",
        "conversations: username": f"/conversationview/list/?_flt_0_linked_user="
                                   f"{quote(seeded['username'])}",
        "conversations: chat": "/conversationview/list/?_flt_2_chat_id=79004242",
        "conversations: text": "/conversationview/list/?_flt_2_preview=refill%20of%20400",
        "thread of the busy chat": f"/conversationview/show/{seeded['busy_conversation']}",
        "thread: order id": f"/conversationview/show/{seeded['busy_conversation']}"
                            f"?order_id={seeded['busy_order']}",
        "thread JSON (REST)": f"/api/v1/conversation/{seeded['busy_conversation']}/thread",
        "inbound: chat": "/inboundeventview/list/?_flt_2_chat_id=79004242",
        "linked users": "/linkeduserview/list/",
        "linked users: search username": "/linkeduserview/list/?_flt_2_username=ustomer-4242",
        "linked users: username is": f"/linkeduserview/list/?_flt_3_username="
                                     f"{quote(seeded['username'])}",
        "linked users: language": "/linkeduserview/list/?_flt_3_language=en",
        "linked users: opted out": "/linkeduserview/list/?_flt_0_opted_out=y",
        "linked users: tags": "/linkeduserview/list/?_flt_2_tags=vip",
        "linked users: page 40": "/linkeduserview/list/?page_LinkedUserView=40",
        "command export (REST list twin)": "/api/v1/command_log/?q=(page_size:25)",
    }


def measure(session, base_url: str, path: str, requests_each: int) -> list[float]:
    session.get(base_url + path, timeout=60)  # warm: the first answer of a worker compiles
    timings = []
    for _ in range(requests_each):
        started = time.perf_counter()
        answer = session.get(base_url + path, timeout=60)
        timings.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return timings


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def gunicorn_workers(master: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    except OSError:
        return []
    return [int(pid) for pid in out.stdout.split()]


def export(session, base_url: str, workers: list[int]) -> tuple[int, float, float]:
    """(rows, rows per second, the workers' peak resident memory growth in MB)."""
    before = rss_mb(workers)
    peak = [before]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(workers))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    lines = 0
    with session.get(base_url + "/api/v1/command_log/export.csv", stream=True,
                     timeout=600) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"export answered {answer.status_code}: {answer.text[:300]}")
        for chunk in answer.iter_content(chunk_size=1 << 16):
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    rows = lines - 1  # the header
    return rows, rows / elapsed if elapsed else 0.0, peak[0] - before


def run(args, stack) -> dict:
    env = stack.prepare(args.shared_redis_db)
    # the release step of a deployment (Procfile): the roles' permissions, the Admin role's
    # (every screen and REST twin: the export) included
    stack.run_step("permissions", [str(base.VENV_BIN / "flask"), "--app", "run", "fab",
                                   "create-permissions"], 300)
    spec = stack.tmp / "seed.json"
    out = stack.tmp / "seeded.json"
    spec.write_text(json.dumps({"rows": args.rows, "workspaces": args.workspaces,
                                "out": str(out)}))
    base.say(f"loading {args.rows} command log rows, {args.rows} outbound messages, "
             f"{max(args.workspaces, args.rows // 10)} linked users over {args.workspaces} "
             f"workspaces …")
    stack.run_step("seed", [base.PYTHON, str(Path(__file__).resolve()), "--seed", str(spec)],
                   args.time_limit)
    seeded = json.loads(out.read_text())
    base.say(f"loaded in {seeded['load_seconds']} s (and a busy chat of "
             f"{seeded['busy_messages']} commands)")
    port = base.free_port()
    master = stack.spawn("gunicorn", [str(base.VENV_BIN / "gunicorn"), *base.GUNICORN_ARGS,
                                      "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5",
                                      "run:app"], stack.tmp / "gunicorn.log", env)
    base_url = f"http://127.0.0.1:{port}"
    if not base.wait_until(lambda: base._ready(base_url), 180, 0.25):
        raise RuntimeError(f"gunicorn not ready:\n{base.tail(stack.tmp / 'gunicorn.log')}")
    manager = sign_in(base_url, MANAGER)
    lists = {}
    for name, path in screens(seeded).items():
        timings = measure(manager, base_url, path, args.requests)
        lists[name] = {"p50_ms": round(base.percentile(timings, 50) * 1000, 1),
                       "p95_ms": round(base.percentile(timings, 95) * 1000, 1)}
        base.say(f"  {name:<34} p50 {lists[name]['p50_ms']:>7} ms   "
                 f"p95 {lists[name]['p95_ms']:>7} ms")
    admin = sign_in(base_url, ADMIN)
    rows, per_second, growth = export(admin, base_url, gunicorn_workers(master.pid))
    base.say(f"  export of every command log row: {rows} rows, {per_second:.0f} rows/s, "
             f"workers' memory grew {growth:.1f} MB")
    expected = args.rows + seeded["busy_messages"]  # the busy chat's commands too
    if rows != expected:
        raise RuntimeError(f"the export gave {rows} rows, not {expected}")
    return {"rows": args.rows,
            "worst_p95_ms": max(v["p95_ms"] for v in lists.values()),
            "lists": lists, "export_rows_per_s": round(per_second),
            "export_rss_growth_mb": round(growth, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--time-limit", type=int, default=3600)
    parser.add_argument("--shared-redis-db", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", default=base.DB_NAME,
                        help="the PostgreSQL database to create (and drop) for the run")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        seed(args.seed)
        return 0
    base.DB_NAME = args.database

    result = base.run_guarded(args, run)
    if result is None:
        return 2
    print(json.dumps(result), flush=True)
    slow = result["worst_p95_ms"] >= TARGET_P95_MS
    return 1 if slow or result["export_rss_growth_mb"] > MEMORY_LIMIT_MB else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
