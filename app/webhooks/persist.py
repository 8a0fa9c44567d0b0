"""Storing a webhook's rows: committed before the webhook answers, then queued
(docs/contracts.md "Data flow").

`store_events(rows)` commits one row per notification with INSERT … ON CONFLICT (channel_id,
dedupe_key) DO NOTHING and queues a `process_event` job per new row; duplicates change nothing.
When it returns the rows are committed; their jobs may be queued just after (the maintenance
sweep covers a crash in between), and with Redis down the rows stay `pending` for the sweep:
the webhook still answers 200, nothing is lost. It raises StaleChannel (a row's channel no
longer exists: nothing of these rows was stored, the webhook looks the channel up again) or
DatabaseUnavailable (nothing stored: 503 + Retry-After).

The storage path: on PostgreSQL the rows of concurrent requests of a process share one
statement and one commit (app/webhooks/persist_group.py, group commit); on SQLite, and with
WEBHOOK_GROUP_COMMIT off, they go through the request's own session
(app/webhooks/persist_inline.py).
"""
from __future__ import annotations

from app.webhooks.persist_group import ingest_writer
from app.webhooks.persist_inline import store_inline


def store_events(rows: list[dict]) -> None:
    """Commit the rows (duplicates ignored) and queue a job for each new one (see the module)."""
    if not rows:
        return
    writer = ingest_writer()
    if writer is None:
        store_inline(rows)
    else:
        writer.store(rows)  # the batch's leader queues the new rows' jobs
