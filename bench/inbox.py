"""The inbox at scale: the conversation list, its filters and search, and a busy conversation.

    .venv/bin/python bench/inbox.py [--rows N] [--requests 30]

What it does, for real (bench/pipeline.py's `Stack`: a fresh PostgreSQL database migrated with
`flask db upgrade`, a private Redis, the app under gunicorn as the Procfile runs it):

* seeds ONE workspace the way bench/logs.py does (its `--seed` step, `--workspaces 1`): N
  inbound messages and N outbound messages (2N messages in the workspace: 1,000,000 by
  default), N command logs, 5,000 chats with their conversations, and a busy chat of 5,000
  messages in and 5,000 replies out with a dispatched order per command; then tags on some
  contacts, assignments, statuses and a takeover, set-based;
* signs in as the workspace's manager and asks, `--requests` times each, the inbox list
  (`/inbox/api/conversations`: all, mine, unassigned, status, channel, tag, a search for a
  rare text and for a word in every message, a deep page), the busy conversation's page
  (`/inbox/<id>`), its newest page of messages, an older page, and what is newer than the
  newest item (`?after=`), timing every answer (status 200).

It ends by printing one JSON line `{"messages", "worst_p95_ms", "requests": {name: {"p50_ms",
"p95_ms"}}}`; the exit status is 1 when a p95 reaches 300 ms, 2 when the run failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import logs  # noqa: E402 - bench/ is on sys.path
import pipeline as base  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
base.DB_NAME = "relaydesk_bench_inbox"  # its own database
TARGET_P95_MS = 300.0
MANAGER = "logs-bench-manager-1"  # bench/logs.py's seed names the first manager so


def shape(out: Path) -> None:
    """The inbox's state on the seeded rows (a child process with the app): a third of the
    contacts tagged, some conversations assigned, pending, resolved, one taken over."""
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db

    app = create_app()
    with app.app_context():
        manager = db.session.execute(sa.text(
            "SELECT id FROM ab_user WHERE username = :u"), {"u": MANAGER}).scalar()
        for statement in (
            "UPDATE linked_user SET tags = CASE WHEN id % 3 = 0 THEN 'vip, reseller' "
            "ELSE 'retail' END, name = 'Customer ' || id",
            "UPDATE conversation SET assignee_id = :m WHERE id % 7 = 0",
            "UPDATE conversation SET status = 'pending' WHERE id % 5 = 1",
            "UPDATE conversation SET status = 'resolved', resolved_at = last_activity_at "
            "WHERE id % 5 = 2",
            "UPDATE conversation SET unread_count = id % 4, opened_at = first_seen_at",
            "UPDATE conversation SET bot_paused_at = now(), bot_paused_by_id = :m "
            "WHERE chat_id = :busy",
        ):
            db.session.execute(sa.text(statement), {"m": manager, "busy": logs.BUSY_CHAT})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("linked_user", "conversation"):
                conn.execute(sa.text(f"VACUUM ANALYZE {table}"))
        out.write_text(json.dumps({"manager": manager}))


def requests_of(seeded: dict, thread: dict) -> dict[str, str]:
    busy = seeded["busy_conversation"]
    api = "/inbox/api/conversations"
    return {
        "list: all": api,
        "list: mine": api + "?view=mine",
        "list: unassigned": api + "?view=unassigned",
        "list: mentions": api + "?view=mentions",
        "list: status pending": api + "?status=pending",
        "list: channel": f"{api}?channel={seeded['channel']}",
        "list: tag": api + "?tag=vip",
        "list: search (rare text)": api + "?q=" + quote("refill 4975"),
        "list: search (every message)": api + "?q=refill",
        "list: search (nothing)": api + "?q=" + quote("no such words"),
        "list: deep page": api + "?before=" + quote(thread["deep"]),
        "conversation page (busy chat)": f"/inbox/{busy}",
        "messages: newest page": f"{api}/{busy}/messages",
        "messages: an older page": f"{api}/{busy}/messages?before=" + quote(thread["older"]),
        "messages: after the newest": f"{api}/{busy}/messages?after=" + quote(thread["newest"]),
        "conversation state": f"{api}/{busy}",
    }


def run(args, stack) -> dict:
    stack.prepare(args.shared_redis_db)
    stack.run_step("permissions", [str(base.VENV_BIN / "flask"), "--app", "run", "fab",
                                   "create-permissions"], 300)
    spec = stack.tmp / "seed.json"
    out = stack.tmp / "seeded.json"
    spec.write_text(json.dumps({"rows": args.rows, "workspaces": 1, "out": str(out)}))
    base.say(f"loading {args.rows} messages in and {args.rows} out in one workspace …")
    stack.run_step("seed", [base.PYTHON, str(ROOT / "bench" / "logs.py"), "--seed", str(spec)],
                   args.time_limit)
    shaped = stack.tmp / "shaped.json"
    stack.run_step("shape", [base.PYTHON, str(Path(__file__).resolve()), "--shape",
                             str(shaped)], args.time_limit)
    seeded = json.loads(out.read_text())
    base.say(f"loaded in {seeded['load_seconds']} s (busy chat: {seeded['busy_messages']} "
             "messages in and as many out)")
    port = base.free_port()
    stack.spawn("gunicorn", [str(base.VENV_BIN / "gunicorn"), *base.GUNICORN_ARGS,
                             "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "run:app"],
                stack.tmp / "gunicorn.log", stack.env)
    base_url = f"http://127.0.0.1:{port}"
    if not base.wait_until(lambda: base._ready(base_url), 180, 0.25):
        raise RuntimeError(f"gunicorn not ready:\n{base.tail(stack.tmp / 'gunicorn.log')}")
    manager = logs.sign_in(base_url, MANAGER)
    busy = seeded["busy_conversation"]
    first = manager.get(f"{base_url}/inbox/api/conversations/{busy}/messages", timeout=60)
    if first.status_code != 200:
        raise RuntimeError(f"messages answered {first.status_code}: {first.text[:300]}")
    page = first.json()
    deep = None
    listed = manager.get(f"{base_url}/inbox/api/conversations?limit=100", timeout=60).json()
    for _ in range(10):  # ten pages of 100 down
        deep = listed["next"] or deep
        if not listed["next"]:
            break
        listed = manager.get(f"{base_url}/inbox/api/conversations?limit=100&before="
                             + quote(listed["next"]), timeout=60).json()
    thread = {"newest": page["items"][-1]["cursor"], "older": page["older"], "deep": deep}
    results = {}
    for name, path in requests_of(seeded, thread).items():
        timings = logs.measure(manager, base_url, path, args.requests)
        results[name] = {"p50_ms": round(base.percentile(timings, 50) * 1000, 1),
                         "p95_ms": round(base.percentile(timings, 95) * 1000, 1)}
        base.say(f"  {name:<34} p50 {results[name]['p50_ms']:>7} ms   "
                 f"p95 {results[name]['p95_ms']:>7} ms")
    return {"messages": 2 * args.rows + 2 * seeded["busy_messages"],
            "busy_conversation_messages": 2 * seeded["busy_messages"],
            "worst_p95_ms": max(v["p95_ms"] for v in results.values()),
            "requests": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000,
                        help="messages in (and as many out) in the workspace")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--time-limit", type=int, default=3600)
    parser.add_argument("--shared-redis-db", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", default=base.DB_NAME,
                        help="the PostgreSQL database to create (and drop) for the run")
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.shape:
        shape(Path(args.shape))
        return 0
    base.DB_NAME = args.database

    result = base.run_guarded(args, run)
    if result is None:
        return 2
    print(json.dumps(result), flush=True)
    return 1 if result["worst_p95_ms"] >= TARGET_P95_MS else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
