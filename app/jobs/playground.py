"""The playground: what would the bot do with this message from this chat? Nothing is sent.

`preview(workspace_id, channel, chat_id, text)` runs the real pipeline (`CommandRun`) on a message
that is never stored: the parser, identity, the panel fetch (a real read of the panel, logged like
any call), terms, eligibility and routes are the real ones; cooldowns are only read, not claimed;
the command log, the per-order rows, the provider messages and the reply are collected instead
of written or sent, and linking is not simulated (it would open a panel ticket).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.jobs.pipeline import CommandRun
from app.models import Channel, CommandLog, CooldownClaim, InboundEvent
from app.models.base import utcnow

NOT_SIMULATED = "(link and verify are not simulated in the playground: they open panel tickets)"


@dataclass
class Preview:
    outcome: str
    reply: str | None
    dispatches: list[dict] = field(default_factory=list)  # {"chat", "channel", "text"}
    trace: list[dict] = field(default_factory=list)
    language: str | None = None


class PlaygroundRun(CommandRun):
    """A CommandRun that reads everything and writes nothing."""

    def __init__(self, event: InboundEvent):
        self.preview_dispatches: list[dict] = []
        self.preview_reply: str | None = None
        super().__init__(event)

    def step(self, name: str, **data) -> dict:
        """The real run's steps, except that nothing is claimed: a cooldown the real run would
        take is recorded as `would_claim`."""
        if name == "cooldown" and data.get("claimed") is True:
            del data["claimed"]
            data["would_claim"] = True
        return super().step(name, **data)

    def _command_log(self) -> CommandLog:
        return CommandLog(workspace_id=self.event.workspace_id, channel_id=self.event.channel_id,
                          chat_id=self.event.chat_id or "", text=self.event.text, trace=[],
                          state="processing")

    def _save(self, **fields) -> None:
        for key, value in fields.items():
            setattr(self.log, key, value)

    def _record(self, *args, **kwargs) -> None:
        return None

    def write(self) -> None:
        return None

    def _claim(self, order_id: str, action: str, seconds: int, now) -> tuple[bool, float]:
        expires = db.session.execute(select(CooldownClaim.expires_at).where(
            CooldownClaim.workspace_id == self.event.workspace_id,
            CooldownClaim.order_id == order_id, CooldownClaim.action == action)).scalar()
        if expires is not None and expires > now:
            return False, (expires - now).total_seconds()
        return True, 0.0

    def _standalone(self, command) -> None:
        if command.action in ("link", "verify"):
            self.reply_parts.append(NOT_SIMULATED)
            self.step(command.action, simulated=False)
            return
        super()._standalone(command)

    def _dispatch(self, accepted, routes) -> None:
        for route_id, items in accepted.items():
            route = routes[route_id]
            text = self._provider_text(route, items)
            self.preview_dispatches.append({"chat": route.chat_id, "channel": route.channel.name,
                                            "text": text})
            self.step("dispatch", route=route_id, chat=route.chat_id, preview=True,
                      orders=[order.id for order, _ in items])

    def _reply(self) -> None:
        text = self._reply_text()
        self.preview_reply = text if text.strip() else None
        self.step("reply", preview=True, language=self.book.language if self.book else None)


def preview(workspace_id: int, channel: Channel, chat_id: str, text: str,
            is_group: bool = False, sender: str | None = None) -> Preview:
    event = InboundEvent(workspace_id=workspace_id, channel_id=channel.id,
                         platform=channel.kind, kind="message", type="playground",
                         dedupe_key="playground", chat_id=chat_id, sender=sender or chat_id,
                         is_group=is_group, text=text[:4000], payload={}, received_at=utcnow(),
                         attempts=1)
    run = PlaygroundRun(event)
    try:
        outcome = run.run()
    finally:
        db.session.rollback()  # belt and braces: nothing of the preview may persist
    return Preview(outcome=outcome, reply=run.preview_reply, dispatches=run.preview_dispatches,
                   trace=run.trace, language=run.book.language if run.book else None)
