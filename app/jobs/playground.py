"""The playground: what would the bot do with this message from this chat? Nothing is sent.

`preview(workspace_id, channel, chat_id, text)` runs the real pipeline on a message that is
never stored, with the Playground's driver (app/jobs/drivers.py `PreviewDriver`): the parser,
identity, the panel fetch (a real read of the panel, logged like any call), terms, eligibility
and routes are the real ones; cooldowns are only read, not claimed; the command log, the
per-order verdicts, the provider messages and the reply are collected instead of written or
sent, and linking is not simulated (it would open a panel ticket).
"""
from __future__ import annotations

from app.extensions import db
from app.jobs.drivers import Preview, PreviewDriver
from app.jobs.pipeline import run_commands
from app.models import Channel, InboundEvent
from app.models.base import utcnow


def preview(workspace_id: int, channel: Channel, chat_id: str, text: str,
            is_group: bool = False, sender: str | None = None) -> Preview:
    event = InboundEvent(workspace_id=workspace_id, channel_id=channel.id,
                         platform=channel.kind, kind="message", type="playground",
                         dedupe_key="playground", chat_id=chat_id, sender=sender or chat_id,
                         is_group=is_group, text=text[:4000], payload={}, received_at=utcnow(),
                         attempts=1)
    try:
        outcomes, (result,) = run_commands([event], PreviewDriver())
    finally:
        db.session.rollback()  # belt and braces: nothing of the preview may persist
    result.outcome = outcomes[event.id]
    return result


def send_for_real(workspace_id: int, channel: Channel, chat_id: str, text: str,
                  is_group: bool = False, user_id: int | None = None) -> tuple[int, bool]:
    """The Playground's "Send for real": the message is stored as if the chat had sent it on
    the channel (type `playground`, a key of its own, so it is never taken for a duplicate)
    and handled by the workers like any webhook: the command runs, cooldowns are claimed, the
    provider groups and the chat receive their messages, and it is logged. Returns (event id,
    queued): not queued when Redis does not answer (the maintenance sweep queues it later).
    Commits."""
    import uuid

    from app.jobs import queues

    event = InboundEvent(workspace_id=workspace_id, channel_id=channel.id,
                         platform=channel.kind, kind="message", type="playground",
                         dedupe_key=f"playground:{uuid.uuid4().hex}", chat_id=chat_id,
                         sender=chat_id, is_group=is_group, text=text[:4000],
                         payload={"source": "playground", "user_id": user_id},
                         received_at=utcnow(), state="pending")
    db.session.add(event)
    db.session.commit()
    return event.id, queues.enqueue_events([event.id]) == 1
