"""Drivers: what answers a pipeline run's requests (app/jobs/pipeline.py) and takes its results.

A driver has the methods `run_commands` calls, each for all the runs asking at once, answers
in the same order:

    open_logs(events)        → {event id: LogRow}
    identities([(run, NeedIdentity)])  → [LinkedUser or None]
    fetch([(run, NeedFetch)])          → [(OrdersResult or None, PanelError or None, ms)]
    balances([(run, NeedBalance)])     → [(balance or None, PanelError or None)]
    claims([(run, NeedClaims)])        → [{(order id, action): (held, seconds left, simulated)}]
    link([(run, NeedLink)])            → [reply text]
    write(runs)                        → the driver's result of the whole batch

* `BatchDriver`: the worker's. Reads in the job's transaction, claims cooldowns for real
  (app/store.py), makes the logs durable before panels are asked, writes every row of the
  batch with one statement per kind and returns the messages to send after the caller's
  commit (app/jobs/outbound.py `Deferred`). `fail(exc)` records a failed attempt in the runs'
  logs. `run_event(event)` runs one event outside a job (tools, tests) and commits.
* `PreviewDriver`: the Playground's. Reads like the batch driver (the panel fetch is a real,
  logged read) but writes nothing: cooldowns are only read (the trace says `would_claim`),
  `link`/`verify` are not simulated (they would open a panel ticket), and `write` returns a
  `Preview` of the reply and the dispatches.

A new kind of work (panel tickets, broadcasts) gets its own driver; the run stays the same.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select, tuple_

from app.extensions import db
from app.models import ChatIdentity, LinkedUser
from app.store import (CooldownRequest, claim_cooldowns, insert_outbound, open_command_logs,
                       outbound_row, peek_cooldowns, save_order_rows, update_command_logs)
from app.jobs import shared_fetch
from app.jobs.pipeline import (EVENT_MAX_ATTEMPTS, CommandRun, LogRow, NeedFetch, PendingMessage,
                               run_commands)

log = logging.getLogger(__name__)

NOT_SIMULATED = "(link and verify are not simulated in the playground: they open panel tickets)"


def linked_users(chats: list[tuple[int, str]]) -> dict[tuple[int, str], LinkedUser]:
    """(channel id, chat id) → the linked user of that chat, for several chats in one query.
    A linked user speaks through a private chat or a linked group: the chat itself must be
    linked; the oldest link wins."""
    pairs = list(dict.fromkeys((channel_id, chat_id) for channel_id, chat_id in chats
                               if chat_id))
    if not pairs:
        return {}
    rows = db.session.execute(
        select(ChatIdentity.channel_id, ChatIdentity.chat_id, LinkedUser)
        .join(LinkedUser, ChatIdentity.linked_user_id == LinkedUser.id)
        .where(tuple_(ChatIdentity.channel_id, ChatIdentity.chat_id).in_(pairs),
               LinkedUser.username.is_not(None))  # a contact without one speaks for nobody
        .order_by(ChatIdentity.id)).all()
    found: dict[tuple[int, str], LinkedUser] = {}
    for channel_id, chat_id, user in rows:
        found.setdefault((channel_id, chat_id), user)
    return found


def _cooldown_requests(asking) -> list[CooldownRequest]:
    return [CooldownRequest(run.event.workspace_id, claim.order_id, claim.action, claim.seconds,
                            claim.now, run.log.id, channel_id=run.event.channel_id,
                            chat_id=run.event.chat_id, username=_username(run))
            for run, need in asking for claim in need.claims]


def _username(run) -> str | None:
    """The linked user's username the run speaks for, when known (kept on its claims)."""
    user = run.identity.linked_user
    return user.username[:120] if user is not None and user.username else None


def _per_run(asking, answers: list[tuple[bool, float]], simulated: bool) -> list[dict]:
    answers = iter(answers)
    return [{(claim.order_id, claim.action): (*next(answers), simulated)
             for claim in need.claims} for _run, need in asking]


class _Reads:
    """What both drivers answer alike: reads."""

    runs: list[CommandRun]

    def identities(self, asking) -> list:
        users = linked_users([(run.event.channel_id, run.event.chat_id) for run, _ in asking])
        return [users.get((run.event.channel_id, run.event.chat_id)) for run, _ in asking]

    def balances(self, asking) -> list:
        return [need.fetch() for _run, need in asking]


class BatchDriver(_Reads):
    """The worker's driver (see the module docstring). `in_job`: the caller sends the
    messages itself right after its commit (app/jobs/outbound.py `deferred_sends`), so they
    are written claimed; else they are written pending, for send jobs."""

    def __init__(self, in_job: bool | None = None) -> None:
        from app.jobs.outbound import deferring

        self.in_job = deferring() if in_job is None else in_job
        self.runs: list[CommandRun] = []

    def open_logs(self, events) -> dict[int, LogRow]:
        return {event_id: LogRow(found.id, found.state, found.trace)
                for event_id, found in open_command_logs(events).items()}

    def fetch(self, asking) -> list:
        self.save([run for run, _need in asking])
        db.session.commit()  # the attempt is visible, no transaction open while panels answer
        self.tell_queued(asking)
        return fetch_all([need for _run, need in asking])

    def tell_queued(self, asking) -> None:
        """Customers whose fetch will wait more than QUEUED_AFTER seconds for its panel slot
        (app/integrations/panels `estimated_wait`: the chats waiting for that panel, and the
        merged fetches of this batch before theirs) are told at once that their command is
        queued (the `queued` reply, sent now, once per event: `queued:<event>`); their fetch
        may then wait up to QUEUED_MAX_WAIT, and the answer follows as usual."""
        from app.integrations.panels import (QUEUED_AFTER, QUEUED_MAX_WAIT, PanelTransport,
                                             estimated_wait, rate_key)
        from app.jobs.outbound import Deferred, send_deferred

        groups: dict[object, list] = {}
        for index, (run, need) in enumerate(asking):
            groups.setdefault(coalesce_key(need, index), []).append((run, need))
        before: dict[str, int] = {}
        notices: list[PendingMessage] = []
        for members in groups.values():
            transport = getattr(members[0][1].adapter, "http", None)
            if not isinstance(transport, PanelTransport):
                continue
            key = rate_key(transport.settings)
            try:
                wait = estimated_wait(transport.settings, before.get(key, 0))
            except Exception:  # noqa: BLE001 - Redis trouble: the fetch finds out for itself
                log.warning("could not estimate the wait for panel %s", key, exc_info=True)
                continue
            before[key] = before.get(key, 0) + 1
            if wait <= QUEUED_AFTER:
                continue
            for run, need in members:
                need.max_wait = QUEUED_MAX_WAIT
                notice = run.queued_notice(wait)
                if notice is not None:
                    notices.append(notice)
        if not notices:
            return
        rows = [outbound_row(m.channel, m.chat_id, m.text, m.key, m.purpose, m.event_id,
                             claimed=True) for m in notices]
        items = []
        for m, (row_id, new) in zip(notices, insert_outbound(rows), strict=True):
            for place, name in m.refs:
                place[name] = row_id
            if row_id is not None and new:  # told once, however often the event is run
                items.append(Deferred(row_id, True, m.channel, m.chat_id, m.text,
                                      m.channel.workspace_id, m.purpose))
        self.save([run for run, _need in asking])
        db.session.commit()
        send_deferred(items)

    def claims(self, asking) -> list[dict]:
        return _per_run(asking, claim_cooldowns(_cooldown_requests(asking)), simulated=False)

    def link(self, asking) -> list[str]:
        from app.jobs.linking import handle_link_command

        return [handle_link_command(run, need.command) for run, need in asking]

    def write(self, runs: list[CommandRun]) -> list:
        """Write what the runs produced, a statement per kind of row: their messages (once
        per idempotency key), their per-order verdicts and their logs. Does not commit.
        Returns the app.jobs.outbound.Deferred items to send once committed, in the runs'
        order (a message written before, by an earlier attempt, is handed on unclaimed: its
        sender finds out whether it was sent)."""
        from app.jobs.outbound import Deferred

        messages = [m for run in runs for m in run.messages]
        rows = [outbound_row(m.channel, m.chat_id, m.text, m.key, m.purpose, m.event_id,
                             claimed=self.in_job) for m in messages]
        for m, (row_id, new) in zip(messages, insert_outbound(rows), strict=True):
            m.id, m.new = row_id, new
            for place, name in m.refs:
                place[name] = m.id
        self.save(runs)
        save_opt_changes([run.opt_change for run in runs if run.opt_change])
        items = []
        for m in messages:
            if m.id is None:
                continue
            if m.new:
                items.append(Deferred(m.id, self.in_job, m.channel, m.chat_id, m.text,
                                      m.channel.workspace_id, m.purpose))
            else:
                items.append(Deferred(m.id, workspace_id=m.channel.workspace_id,
                                      purpose=m.purpose))
        return items

    def save(self, runs: list[CommandRun]) -> None:
        """Write the runs' pending per-order verdicts and their log changes, trace included."""
        save_order_rows([row for run in runs for row in run.order_rows.values()])
        for run in runs:
            run.order_rows.clear()
            run.log.trace = list(run.trace)
        update_command_logs([(run.log.id, run.log.take_changes()) for run in runs])

    def fail(self, exc: Exception) -> None:
        """Keep the trace and the error of runs that raised (after a rollback): their events
        will be retried; after an event's last attempt its command is `failed`. Commits."""
        from app.integrations.calls import flush_call_log

        error = f"{type(exc).__name__}: {exc}"[:2000]
        runs = list(self.runs)
        if not runs:
            return
        reopened = self.open_logs([run.event for run in runs])  # rows may have gone with it
        for run in runs:
            run.log = LogRow(reopened[run.event.id].id, reopened[run.event.id].state, [])
            run.order_rows.clear()
            run.messages.clear()
            run.step("error", error=error[:500], attempt=run.event.attempts)
            final = (run.event.attempts or 0) >= EVENT_MAX_ATTEMPTS
            run.log.state = "failed" if final else "processing"
            run.log.error = error
        self.save(runs)
        flush_call_log()
        db.session.commit()


def save_opt_changes(changes: list[tuple[int, bool]]) -> None:
    """Opt linked users out of broadcasts (or back in): `stop` / `start` keywords. The time
    is kept from the first `stop` (a repeated `stop` does not move it)."""
    from sqlalchemy import update

    from app.models.base import utcnow

    table = LinkedUser.__table__
    for user_id, stop in dict(changes).items():
        values = ({"opted_out": True, "opted_out_at": utcnow()} if stop
                  else {"opted_out": False, "opted_out_at": None})
        statement = update(table).where(table.c.id == user_id)
        if stop:
            statement = statement.where(table.c.opted_out.is_(False))
        db.session.execute(statement.values(**values))


def run_event(event) -> str:
    """Run one message event with a `BatchDriver` outside a worker job (tools, tests): its
    rows are committed here and its messages handed to send jobs."""
    from app.integrations.calls import flush_call_log
    from app.jobs.outbound import defer

    driver = BatchDriver(in_job=False)
    outcomes, items = run_commands([event], driver)
    flush_call_log()
    db.session.commit()
    for item in items:
        defer(item)
    return outcomes[event.id]


def fetch_all(needs: list[NeedFetch]) -> list[tuple]:
    """Ask the panels for several runs at once, with as few calls as the panels' APIs allow:
    fetches one call can serve are merged (`coalesce_key`: every fetch of a Rental Panel, the
    fetches of one customer on a Perfect Panel) and their answer is shared out; the merged
    fetches of different panels (or customers) overlap instead of adding up. They run side by
    side (app/jobs/threads.py: in a copy of this context, so their call log rows join the
    job's), each as all the chats it serves (the fair order of the panel budget,
    app/integrations/panels `panel_chat`). One merged fetch runs here, without a thread."""
    from app.jobs.threads import submit

    groups: dict[object, list[int]] = {}
    for index, need in enumerate(needs):
        groups.setdefault(coalesce_key(need, index), []).append(index)
    merged = [_merge([needs[i] for i in indexes]) for indexes in groups.values()]
    if len(merged) == 1:
        answers = [_fetch(merged[0])]
    else:
        futures = [submit("panel-fetch", _fetch, need) for need in merged]
        answers = [future.result() for future in futures]
    results: list[tuple | None] = [None] * len(needs)
    for indexes, (result, error, ms) in zip(groups.values(), answers, strict=True):
        for index in indexes:
            share = result if len(indexes) == 1 else shared_fetch.share(result, needs[index].ids,
                                                                         len(indexes))
            results[index] = (share, error, ms)
    return results


def coalesce_key(need: NeedFetch, index: int) -> object:
    """Fetches with equal keys are served by one merged fetch: the same panel (its rate key and
    engine) and, where the engine answers only a customer's own orders in one call (Perfect
    Panel's `GET /orders?user=`), the same customer. An adapter that makes no HTTP calls (the
    demo panel) merges nothing."""
    from app.integrations.panels import PanelTransport, rate_key

    transport = getattr(need.adapter, "http", None)
    if not isinstance(transport, PanelTransport):
        return ("alone", index)
    scope = getattr(need.adapter, "coalesce_scope", "user")
    user = (need.username or "").strip().lower() if scope == "user" else ""
    return (rate_key(transport.settings), need.adapter.engine, id(type(need.adapter)), user,
            need.username if scope == "user" else None)


def _merge(needs: list[NeedFetch]) -> NeedFetch:
    if len(needs) == 1:
        return needs[0]
    first = needs[0]
    from app.integrations.ratelimit import CHATS_SEPARATOR

    ids = list(dict.fromkeys(i for need in needs for i in need.ids))
    max_wait = max((n.max_wait for n in needs if n.max_wait is not None), default=None)
    # the merged call serves every chat of it: it waits its turn as all of them together
    chats = CHATS_SEPARATOR.join(dict.fromkeys(n.chat for n in needs if n.chat)) or None
    return NeedFetch(first.adapter, ids, first.username, chat=chats, max_wait=max_wait)


def _fetch(need: NeedFetch) -> tuple:
    """One merged fetch, for its chats; shared with other jobs' fetches of the same panel
    where the panel's API allows (app/jobs/shared_fetch.py)."""
    from app.integrations.panels import current_priority, panel_chat

    with panel_chat(need.chat, need.max_wait):
        if current_priority() == "chat" and shared_fetch.shareable(need):
            return shared_fetch.fetch_shared(need)
        return need.fetch()


# --- the Playground's -------------------------------------------------------------------------

@dataclass
class Preview:
    outcome: str
    reply: str | None
    dispatches: list[dict] = field(default_factory=list)  # {"chat", "channel", "text"}
    trace: list[dict] = field(default_factory=list)
    language: str | None = None


class PreviewDriver(_Reads):
    """The Playground's driver (see the module docstring): reads, never writes."""

    def __init__(self) -> None:
        self.runs: list[CommandRun] = []

    def open_logs(self, events) -> dict[int | None, LogRow]:
        return {event.id: LogRow(None, "processing", []) for event in events}

    def fetch(self, asking) -> list:
        return [need.fetch() for _run, need in asking]

    def claims(self, asking) -> list[dict]:
        return _per_run(asking, peek_cooldowns(_cooldown_requests(asking)), simulated=True)

    def link(self, asking) -> list[str]:
        for run, need in asking:
            run.step(need.command.action, simulated=False)
        return [NOT_SIMULATED for _ in asking]

    def write(self, runs: list[CommandRun]) -> list[Preview]:
        previews = []
        for run in runs:
            dispatches = []
            for message in run.messages:
                for place, name in message.refs:
                    if name == "outbound":
                        place["preview"] = True
                if message.purpose == "dispatch":
                    dispatches.append({"chat": message.chat_id, "channel": message.channel.name,
                                       "text": message.text})
            reply = run.reply_text()
            previews.append(Preview(outcome=getattr(run.log, "outcome", ""),
                                    reply=reply if reply.strip() else None,
                                    dispatches=dispatches, trace=run.trace,
                                    language=run.book.language if run.book else None))
        return previews
