"""The order-command pipeline: one message, from "2274209 refill" to the provider's group and the
reply.

    message → parse → identity → panel fetch (one batch) → decide each (order, action)
            (app/domain/decide.py) → cooldown claims → dispatch (one message per route) → reply

Contract
--------
`run_commands(events, driver)` runs the pipeline for message events (in the given order) and
returns (outcome per event id, what the driver's `write` returned). A driver may name the run
class (`driver.run_class`, a `CommandRun` subclass): the panel ticket driver's reads its
command from the ticket and answers in the ticket (app/jobs/tickets.py `TicketRun`); the
decisions stay these. A run (`CommandRun`) holds
no connection and calls no outside service: it is a generator that yields requests and receives
their answers, and the driver answers the requests of all runs at once:

    IDENTITY        → the chat's linked user (LinkedUser or None)
    NeedFetch       → (OrdersResult or None, PanelError or None, milliseconds)
    NeedBalance     → (balance or None, PanelError or None)
    NeedClaims      → {(order id, action): (held, seconds left, simulated)}
    NeedLink        → the reply text of a `link` / `verify` command

Once every run has finished, `driver.write(runs)` writes (or, for a preview, collects) what they
produced: `run.log` changes and `run.trace`, the per-order verdicts (`run.order_rows`), the
messages (`run.messages`). Drivers: app/jobs/drivers.py (`BatchDriver` for workers,
`PreviewDriver` for the Playground).

Every step is written to the trace, so a manager can answer "why did the bot say that?". The
run is idempotent given a driver that keeps its promises (the batch driver's are in
app/store.py): the command log is unique per inbound event (a retry continues it, with a
`resumed` step), cooldown claims remember the command that took them (a retry finds its own),
and dispatches and the reply are written once per idempotency key (`dispatch:<log>:<route>`,
`reply:<event>`).
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from app.domain.decide import Decision, Policy, Who, decide, settle
from app.domain.eligibility import Order
from app.domain.optout import opt_keyword
from app.domain.parser import ACCOUNT_ACTIONS, ORDER_ACTIONS, Command, ParseResult, parse
from app.domain.replies import Outcome, ask_choices, compose, technical_lines
from app.domain.templates import (REPLY_LIMIT, RouteOrder, TemplateError, clip, custom_reply,
                                  render_route, route_template)
from app.integrations.panels.base import PanelError, PanelOrder
from app.jobs.edits import NOT_ACTED as EDIT_NOT_ACTED
from app.jobs.edits import decide as decide_edit
from app.jobs.edits import is_edit
from app.jobs.replies import ReplyBook
from app.jobs.workspace_config import workspace_config
from app.models import AdminIdentity, Channel, LinkedUser
from app.models.base import utcnow
from app.redaction import redact_data
from app.store import order_row

log = logging.getLogger(__name__)

#: how many times app/jobs/events.py runs an inbound event before its command is `failed`
EVENT_MAX_ATTEMPTS = 5

DISPATCH_ACTIONS = ("refill", "speed", "cancel")
NEEDED_CAPABILITIES = {"orders", "ownership"}


# --- what a run asks its driver for ---------------------------------------------------------

@dataclass(frozen=True)
class NeedIdentity:
    """The linked user of the event's chat."""


IDENTITY = NeedIdentity()


def _timed(call) -> tuple:
    started = time.perf_counter()
    try:
        result, error = call(), None
    except PanelError as exc:
        result, error = None, exc
    return result, error, round((time.perf_counter() - started) * 1000, 1)


@dataclass
class NeedFetch:
    """The panel's orders `ids` (as `username` sees them, when the adapter asks). A batch
    driver makes the log and its trace durable first (a worker killed during the fetch leaves
    a visible attempt; no transaction stays open while panels answer)."""
    adapter: object
    ids: list[str]
    username: str | None
    chat: str | None = None  # "<channel id>:<chat id>": the panel budget's fair order
    max_wait: float | None = None  # longer once the customer was told it is queued

    def fetch(self) -> tuple:
        """(OrdersResult or None, PanelError or None, milliseconds)."""
        return _timed(lambda: self.adapter.get_orders(self.ids, username=self.username))


@dataclass
class NeedBalance:
    """A panel user's balance."""
    adapter: object
    username: str

    def fetch(self) -> tuple:
        """(balance or None, PanelError or None)."""
        result, error, _ms = _timed(lambda: self.adapter.user_balance(self.username))
        return result, error


@dataclass
class ClaimRequest:
    order_id: str
    action: str
    seconds: int
    now: object


@dataclass
class NeedClaims:
    """Cooldown claims to take: the answer maps (order id, action) → (held, seconds left,
    simulated: only read, as a preview does)."""
    claims: list[ClaimRequest]


@dataclass
class NeedLink:
    """A `link` or `verify` command: it may open a panel ticket and change who the chat is."""
    command: Command


@dataclass
class PendingMessage:
    """A message the run produced, for the driver's `write`. `refs` are (dict, key) places (a
    trace step, per-order rows) that get the written row's id."""
    channel: Channel
    chat_id: str
    text: str
    key: str
    purpose: str
    event_id: int
    refs: list = field(default_factory=list)
    id: int | None = None
    new: bool = False


@dataclass
class Identity:
    linked_user: LinkedUser | None = None
    admin: AdminIdentity | None = None
    # the admin identity is the chat itself (not a staff member writing in someone's group):
    # only then may the reply carry technical details
    admin_chat: bool = False

    @property
    def known(self) -> bool:
        return self.linked_user is not None or self.admin is not None


class LogRow:
    """A command log as a run sees it: its id, state and trace; attribute writes are
    remembered (`take_changes`) for the driver to write."""

    def __init__(self, id: int | None, state: str, trace) -> None:
        object.__setattr__(self, "_dirty", {})
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "trace", trace)

    def __setattr__(self, key: str, value) -> None:
        object.__setattr__(self, key, value)
        self._dirty[key] = value

    def take_changes(self) -> dict:
        changes = dict(self._dirty)
        self._dirty.clear()
        return changes


class PausedReplies:
    """While a workspace is suspended its customers' messages are not handled; a chat that
    writes is told so (the `service_paused` reply) at most once an hour. The gate of one batch
    wave: the chats told within the hour (`recent`, from the database) and those told by an
    earlier run of the wave. `take(channel id, chat id)` answers whether this run may tell
    its chat, and remembers it did."""

    def __init__(self, recent: set[tuple[int, str]]) -> None:
        self.told = set(recent)

    def take(self, channel_id: int, chat_id: str) -> bool:
        key = (channel_id, chat_id)
        if key in self.told:
            return False
        self.told.add(key)
        return True


PAUSED_KEY_PREFIX = "paused:"
#: the outcome of a command in a conversation a team member has taken over (the inbox)
HANDLED_BY_PERSON = "handled_by_person"


def paused_reply_key(chat_id: str, now) -> str:
    """The paused reply's idempotency key: `paused:<UTC hour>:<chat>`. Two workers telling the
    same chat in the same hour write one message (the UNIQUE key); the rolling hour is checked
    before (app/jobs/events.py `told_recently`)."""
    return f"{PAUSED_KEY_PREFIX}{now:%Y%m%d%H}:{chat_id}"


# --- the run --------------------------------------------------------------------------------

class CommandRun:
    """One message through the pipeline, on its workspace's configuration snapshot (the
    version the event was claimed with)."""

    #: the idempotency key of a dispatch to a provider's group (one per command and route)
    dispatch_key = "dispatch:{log}:{route}"

    def __init__(self, event, log_row: LogRow):
        self.event = event
        self.started = time.perf_counter()
        self.config = workspace_config(event.workspace_id,
                                       getattr(event, "config_version", None))
        self.channel: Channel | None = self.config.channels.get(event.channel_id)
        self.settings = self.config.settings
        self.log = log_row
        self.trace: list[dict] = list(log_row.trace or [])
        self.messages: list[PendingMessage] = []
        self.order_rows: dict[tuple[str, str], dict] = {}
        self.identity = Identity()
        self.book: ReplyBook | None = None
        self.reply_parts: list[str] = []
        self.outcomes: list[Outcome] = []
        self.technical: list[str] = []  # errors only an admin identity is shown
        # the workspace is suspended: app/jobs/events.py sets the wave's gate of paused replies
        self.paused: PausedReplies | None = getattr(event, "paused", None)
        # (linked user id, opted out?) for the driver to write: a `stop` / `start` keyword
        self.opt_change: tuple[int, bool] | None = None

    def step(self, name: str, **data) -> dict:
        """Add a trace step (values None are left out); upstream texts (panel answers, errors)
        may quote a secret: they are redacted here, once."""
        entry = {"step": name, "ms": round((time.perf_counter() - self.started) * 1000, 1)}
        entry.update({k: redact_data(v) for k, v in data.items() if v is not None})
        self.trace.append(entry)
        return entry

    def steps(self):
        """The pipeline for this message, as a generator of requests (see the module
        docstring); returns the outcome."""
        if self.log.state == "done":
            # handled, unless only told it was paused and processed again since the workspace
            # was resumed (the manager's "Process again" on the inbound events screen)
            if self.paused is not None or _outcome_of(self.trace) != "paused":
                return "done"
            self.step("unpaused")
        elif self.trace:
            self.step("resumed", after=len(self.trace))
        if self.paused is not None:
            return (yield from self._while_paused())
        if getattr(self.event, "handled_by_person", False):
            # a team member has taken the chat over in the inbox: stored, nothing is done or
            # sent behind their back (no reply, no panel call, no dispatch)
            self.step("handled_by_person")
            return self._finish(HANDLED_BY_PERSON)
        if is_edit(self.event):  # acted on only if no earlier version was a command
            act, facts = decide_edit(self.event)
            self.step("edit", **facts)
            if not act:
                return self._finish(EDIT_NOT_ACTED)
        text = self.event.text or ""
        if self.event.is_group and self._is_provider_group():
            self.step("ignored", reason="provider group")
            return self._finish("ignored")
        keyword = None if self.event.is_group else opt_keyword(text)
        if keyword is not None:
            opted = yield from self._opt(keyword)
            if opted is not None:
                return opted
        result = self._parse()
        if not (result.is_command or result.invalid_ids or result.too_many_ids
                or result.ambiguous):
            outcome = "ignored"
            if self.settings.fallback_reply_enabled and text.strip():
                yield from self._identify()
                self.reply_parts.append(self.book.render("fallback"))
                outcome = "fallback"
                self._reply()
            return self._finish(outcome)
        yield from self._identify()
        if self.event.is_group and not self.identity.known:
            self.step("ignored", reason="group not linked")  # no "not linked" spam in groups
            return self._finish("ignored")
        # every message that reads as a command gets an answer: the limit, the ids that are
        # not ids (`refill 1 2 3`), then the standalone commands and the orders' outcomes
        if result.too_many_ids:
            limit = self.settings.max_ids_per_message
            self.reply_parts.append(self.book.render("too_many_ids", count=limit,
                                                     max_ids=limit))
        order_commands = [c for c in result.commands if c.action in ORDER_ACTIONS]
        if result.invalid_ids:
            self.reply_parts.append(self.book.render(
                "invalid_ids", count=len(result.invalid_ids),
                order_ids=", ".join(result.invalid_ids)))
            # an action whose only ids were not ids is answered by that line, not with help
            order_commands = [c for c in order_commands if c.order_ids]
        for command in result.commands:
            if command.action not in ORDER_ACTIONS:
                yield from self._standalone(command)
        outcome = "answered"
        # ids clear, action not (`2274209 cancel or refill?`): ask back, dispatch nothing
        for question in result.ambiguous:
            self.reply_parts.append(self.book.render("ask_action", choices=ask_choices(
                question.order_ids, question.actions, self.book.word)))
            outcome = "asked"
        if order_commands:
            outcome = yield from self._orders(order_commands)
        self._reply()
        return self._finish(outcome)

    def _while_paused(self):
        """The workspace is suspended: nothing is done for the message (no panel call, no
        dispatch). A message that would have been answered (it reads as a command, or the
        fallback reply is on; in a private chat or a linked group) gets the `service_paused`
        reply instead, at most once a chat an hour, unless the workspace turned it off
        (`paused_reply_enabled`). Edits are never answered."""
        if is_edit(self.event):
            self.step("paused", reply="edit")
            return self._finish("paused")
        if self.event.is_group and self._is_provider_group():
            self.step("ignored", reason="provider group")
            return self._finish("ignored")
        result = self._parse()
        if not (result.is_command or result.invalid_ids or result.too_many_ids
                or result.ambiguous or (self.settings.fallback_reply_enabled
                                        and (self.event.text or "").strip())):
            self.step("paused", reply="not_a_command")
            return self._finish("paused")
        yield from self._identify()
        if self.event.is_group and not self.identity.known:
            self.step("ignored", reason="group not linked")
            return self._finish("ignored")
        if not self.settings.paused_reply_enabled:
            self.step("paused", reply="off")
        elif not self.event.chat_id or not self.paused.take(self.event.channel_id,
                                                             self.event.chat_id):
            self.step("paused", reply="told_recently")
        else:
            self.step("paused", reply="told")
            self.reply_parts.append(self.book.render("service_paused"))
            self._reply(paused_reply_key(self.event.chat_id, utcnow()))
        return self._finish("paused")

    def _opt(self, keyword: str):
        """A private message that is exactly a `stop` or `start` keyword
        (app/domain/optout.py) from a linked customer: opt them out of (or back in to)
        broadcasts, and confirm in their language. Returns the outcome, or None when the chat
        is not linked (the message is then read as any other)."""
        yield from self._identify()
        user = self.identity.linked_user
        if user is None:
            return None
        stop = keyword == "stop"
        self.opt_change = (user.id, stop)
        self.step("opt_out" if stop else "opt_in", linked_user=user.username)
        self.reply_parts.append(self.book.render("opted_out" if stop else "opted_in"))
        self._reply()
        return self._finish("opted_out" if stop else "opted_in")

    def _is_provider_group(self) -> bool:
        """Providers' groups receive our commands; what is said there is never a command."""
        return (self.event.channel_id, self.event.chat_id) in self.config.provider_chats

    def _finish(self, outcome: str) -> str:
        self.step("done", outcome=outcome)
        self.log.state = "done"
        self.log.outcome = outcome
        self.log.finished_at = utcnow()
        self.log.error = None
        self.log.duration_ms = round((time.perf_counter() - self.started) * 1000, 1)
        return outcome

    def _template_skipped(self, key: str, source: str, error: TemplateError) -> None:
        """A stored text that is not a valid template was not used (ReplyBook, routes, custom
        commands): the trace says which and why; the customer gets the next valid text."""
        self.step("template_fallback", template=key, source=source, error=str(error)[:300])

    # --- parse and identity ---------------------------------------------------------------
    def _parse(self) -> ParseResult:
        result, error = parse_event(self.event, self.config)
        if error:
            self.step("parse_config_error", error=error)
        self.step("parse", commands=result.describe() or None, unknown=result.unknown or None,
                  invalid_ids=result.invalid_ids or None,
                  too_many_ids=result.too_many_ids or None,
                  ambiguous=[f"{','.join(q.order_ids)}: {'/'.join(q.actions)}"
                             for q in result.ambiguous] or None)
        self.log.actions = ", ".join(dict.fromkeys(c.action for c in result.commands))[:200] \
            or None
        self.log.order_ids = ",".join(result.order_ids) or None
        return result

    def _identify(self):
        event = self.event
        candidates = [c for c in dict.fromkeys([event.chat_id, event.sender]) if c]
        admins = self.config.admins_for(event.channel_id, candidates)
        admin = next((a for a in admins if a.chat_id == event.chat_id), None) or \
            next(iter(admins), None)
        # A linked user speaks through a private chat or a linked group (docs/contracts.md
        # "Tenancy"): the chat itself must be linked; a customer's own link does not follow
        # them into other groups.
        linked_user = yield IDENTITY
        self.identity = Identity(linked_user=linked_user, admin=admin,
                                 admin_chat=admin is not None and admin.chat_id == event.chat_id)
        language = linked_user.language if linked_user else self.config.language
        self.book = ReplyBook(event.workspace_id, language, config=self.config,
                              note=self._template_skipped)
        self.log.linked_user_id = linked_user.id if linked_user else None
        self.log.admin_identity_id = admin.id if admin else None
        self.log.language = self.book.language
        self.step("identity",
                  linked_user=linked_user.username if linked_user else None,
                  admin=admin.name or admin.chat_id if admin else None,
                  language=self.book.language)

    # --- standalone commands --------------------------------------------------------------
    def _standalone(self, command: Command):
        action = command.action
        if action in ACCOUNT_ACTIONS:  # link, verify: they write their own steps
            self.reply_parts.append((yield NeedLink(command)))
            return
        if action == "help":
            self.reply_parts.append(self.book.render("help"))
        elif action == "custom":
            stored = self.config.custom_replies.get(command.argument)
            if stored:
                reply, error = custom_reply(stored)
                if error is not None:
                    log.warning("custom command %r of workspace %s is not a valid template, "
                                "shown as written: %s", command.argument,
                                self.event.workspace_id, error)
                    self._template_skipped(f"custom:{command.argument}", "workspace", error)
                self.reply_parts.append(reply)
        elif action == "balance":
            self.reply_parts.append((yield from self._balance()))
        self.step(action, argument=command.argument)

    def _balance(self):
        user = self.identity.linked_user
        if user is None:
            return self.book.render("not_linked")
        adapter = self.panel
        if adapter is None or "user_balance" not in adapter.capabilities():
            return self.book.render("balance_unavailable")
        balance, exc = yield NeedBalance(adapter, user.username)
        if exc is not None:
            self.step("balance_error", kind=exc.kind, detail=exc.detail[:300])
            self.technical.append(f"balance: panel {exc.kind}: {exc.detail[:300]}")
            return self.book.render("panel_unavailable")
        if balance is None:
            return self.book.render("balance_unavailable")
        return self.book.render("balance", balance=balance)

    @cached_property
    def panel(self):
        """The workspace's panel adapter (one lookup per message), or None without a panel."""
        return self.config.adapter()

    # --- order commands -------------------------------------------------------------------
    def _orders(self, commands: list[Command]):
        if not self.identity.known:
            self.reply_parts.append(self.book.render("not_linked"))
            return "not_linked"
        adapter = self.panel
        if adapter is None or not NEEDED_CAPABILITIES <= adapter.capabilities():
            self.step("panel", error="no panel connection with order ownership")
            self.reply_parts.append(self.book.render("unsupported"))
            return "unsupported"
        ids = list(dict.fromkeys(i for c in commands for i in c.order_ids))
        if not ids:
            self.reply_parts.append(self.book.render("help"))
            return "no_ids"
        username = self.identity.linked_user.username if self.identity.linked_user else None
        fetched, exc, fetch_ms = yield NeedFetch(
            adapter, ids, username, chat=f"{self.event.channel_id}:{self.event.chat_id}")
        if exc is not None:
            self.step("panel_fetch", error=exc.kind, detail=exc.detail[:500], fetch_ms=fetch_ms)
            self.technical.append(f"panel {exc.kind}: {exc.detail[:300]}")
            self.reply_parts.append(self.book.render("panel_unavailable"))
            return "panel_unavailable"
        self.step("panel_fetch", engine=adapter.engine, calls=fetched.calls,
                  found=len(fetched.orders), missing=fetched.missing or None, fetch_ms=fetch_ms,
                  coalesced=fetched.coalesced if fetched.coalesced > 1 else None)

        # each (order, action) is decided once, even when the message repeats it
        # ("2274209 refill … 2274209 refill force"); `force` counts if any repeat says it
        wanted: dict[tuple[str, str], bool] = {}
        for command in commands:
            for order_id in command.order_ids:
                key = (order_id, command.action)
                wanted[key] = wanted.get(key, False) or command.force
        who = Who(username=username, is_admin=self.identity.admin is not None)
        policy = Policy(allow_partial_refill=self.settings.allow_partial_refill,
                        cooldowns={a: self.settings.cooldown_seconds(a)
                                   for a in DISPATCH_ACTIONS})
        now = utcnow()
        # Cooldown claims stay locked until the command's final commit, so every command takes
        # them in the same order (by order id): two messages naming the same orders in another
        # order cannot deadlock. Outcomes and dispatch lines keep the message's order.
        pending: dict[tuple[str, str], Decision] = {}
        for (order_id, action) in sorted(wanted, key=lambda k: (len(k[0]), k[0], k[1])):
            order = fetched.orders.get(order_id)
            pending[(order_id, action)] = decide(
                order_id, action, _domain_order(order) if order else None,
                force=wanted[(order_id, action)], who=who, policy=policy,
                rules=self.config.rules, providers=self.config.providers, now=now)
        claims = [ClaimRequest(d.order_id, d.action, d.claim_seconds, now)
                  for d in pending.values() if not d.final and d.claim_seconds is not None]
        held = (yield NeedClaims(claims)) if claims else {}
        accepted: dict[int, list[tuple[PanelOrder, str]]] = defaultdict(list)
        routes = {}
        decided = {}
        for key, decision in pending.items():
            if decision.final:
                pass
            elif decision.claim_seconds is None:  # forced by an admin: no claim
                decision = settle(decision)
            else:
                got, left, simulated = held[key]
                decision = settle(decision, got, left, simulated=simulated)
            decided[key] = decision
            self._take(decision)
        for key in wanted:
            decision = decided[key]
            self.outcomes.append(decision.outcome)
            if decision.dispatch:
                routes[decision.route.id] = decision.route
                accepted[decision.route.id].append((fetched.orders[key[0]], key[1]))
        self._dispatch(accepted, routes)
        ok = sum(1 for o in self.outcomes if o.reason == "ok")
        return "dispatched" if any(accepted.values()) else ("answered" if ok else "refused")

    def _take(self, decision: Decision) -> None:
        """A decision's trace steps and its per-order verdict, into the run."""
        ms = round((time.perf_counter() - self.started) * 1000, 1)
        for entry in decision.steps:
            self.trace.append({"step": entry["step"], "ms": ms,
                               **redact_data({k: v for k, v in entry.items() if k != "step"})})
        record = decision.record
        self.order_rows[(decision.order_id[:20], decision.action)] = order_row(
            self.event.workspace_id, self.log.id, decision.order_id, decision.action,
            record.reason, record.detail, provider_id=record.provider_id,
            route_id=record.route_id, external_id=record.external_id)

    # --- dispatch and reply ---------------------------------------------------------------
    def _dispatch(self, accepted, routes) -> None:
        for route_id, items in accepted.items():
            route = routes[route_id]
            text = self._provider_text(route, items)
            message = self._queue(route.channel, route.chat_id, text,
                                  self.dispatch_key.format(log=self.log.id, route=route_id),
                                  "dispatch")
            for row in self.order_rows.values():
                if row["route_id"] == route_id:
                    message.refs.append((row, "outbound_message_id"))
            entry = self.step("dispatch", route=route_id, chat=route.chat_id,
                              orders=[order.id for order, _ in items])
            message.refs.append((entry, "outbound"))

    def _provider_text(self, route, items: list[tuple[PanelOrder, str]]) -> str:
        """The route's command text; a stored template that is not valid is replaced by the
        default one, and the trace says so."""
        _template, error = route_template(route.template)
        if error is not None:
            log.warning("route %s of workspace %s has an invalid template, the default one is "
                        "used: %s", route.id, self.event.workspace_id, error)
            self._template_skipped(f"route:{route.id}", "workspace", error)
        return render_provider_command(route.template, items)

    def _queue(self, channel: Channel, chat_id: str, text: str, key: str,
               purpose: str) -> PendingMessage:
        message = PendingMessage(channel, chat_id, text, key, purpose, self.event.id)
        self.messages.append(message)
        return message

    def reply_text(self) -> str:
        parts = list(self.reply_parts)
        if self.outcomes:
            parts.append(compose(self.outcomes, self.book.text, self.book.status_name))
        text = "\n\n".join(p for p in parts if p)
        technical = technical_lines(self.outcomes) + self.technical
        if self.identity.admin_chat and technical and text.strip():
            text += "\n\n— " + "\n".join(technical)
        return clip(text, REPLY_LIMIT)

    def queued_notice(self, wait: float) -> PendingMessage | None:
        """The `queued` reply, for a command whose panel fetch will wait about `wait` seconds
        (app/jobs/drivers.py `BatchDriver.tell_queued` writes and sends it at once); None when
        there is nobody to tell."""
        entry = self.step("queued", wait_s=round(wait, 1))
        if not self.event.chat_id or self.channel is None or self.book is None:
            return None
        message = PendingMessage(self.channel, self.event.chat_id, self.book.render("queued"),
                                 f"queued:{self.event.id}", "reply", self.event.id)
        message.refs.append((entry, "outbound"))
        return message

    def _reply(self, key: str | None = None) -> None:
        """Queue the reply (idempotency key `reply:<event>`, or `key`)."""
        text = self.reply_text()
        if not text.strip() or not self.event.chat_id:
            self.step("reply", skipped="nothing to say")
            return
        self.log.reply_text = text
        if self.channel is None:  # deleted after the message arrived: nobody to answer through
            self.step("reply", skipped="channel deleted")
            return
        message = self._queue(self.channel, self.event.chat_id, text,
                              key or f"reply:{self.event.id}", "reply")
        message.refs.append((self.step("reply", language=self.book.language), "outbound"))


# --- many runs, their requests answered together ----------------------------------------------

def run_commands(events: list, driver) -> tuple[dict[int, str], object]:
    """Run the pipeline for message events with `driver` (see the module docstring): each
    run is advanced in turn, in the events' order, and what they ask for is answered by one
    call of the driver for all of them. Anything raised propagates (the driver's `runs`
    attribute, when it has one, keeps the runs, to record a failure in their logs)."""
    from app.tenancy import workspace_scope

    logs = driver.open_logs(events)
    run_class = getattr(driver, "run_class", CommandRun)  # a driver may bring its own edges
    runs = []
    for event in events:
        with workspace_scope(event.workspace_id):
            runs.append(run_class(event, logs[event.id]))
    driver.runs = runs
    steps = {id(run): run.steps() for run in runs}
    answers: dict[int, object] = {id(run): None for run in runs}
    outcomes: dict[int, str] = {}
    active = list(runs)
    while active:
        needs = []
        for run in active:
            with workspace_scope(run.event.workspace_id):
                try:
                    needs.append((run, steps[id(run)].send(answers[id(run)])))
                except StopIteration as stop:
                    outcomes[run.event.id] = stop.value
        active = [run for run, _need in needs]
        for kind, answer in ((NeedIdentity, driver.identities), (NeedFetch, driver.fetch),
                             (NeedBalance, driver.balances), (NeedClaims, driver.claims),
                             (NeedLink, driver.link)):
            asking = [(run, need) for run, need in needs if isinstance(need, kind)]
            if asking:
                for (run, _need), value in zip(asking, answer(asking), strict=True):
                    answers[id(run)] = value
    return outcomes, driver.write(runs)


# --- helpers used by the run ----------------------------------------------------------------

def _outcome_of(trace) -> str | None:
    """The outcome of the last finished attempt written in a trace."""
    for step in reversed(trace or []):
        if isinstance(step, dict) and step.get("step") == "done":
            return step.get("outcome")
    return None


def parse_event(event, config) -> tuple[ParseResult, str | None]:
    """The event's text read with its workspace's aliases and custom keywords: (result, the
    configuration error that made it fall back to the default aliases, or None). Kept on a
    batch's event row (`parsed`), so reading it again costs nothing."""
    parsed = getattr(event, "parsed", None)
    if parsed is not None and parsed[0] is config:
        return parsed[1]
    keywords = list(config.custom_replies)
    max_ids = config.settings.max_ids_per_message
    error = None
    try:
        result = parse(event.text or "", aliases=config.aliases, custom_keywords=keywords,
                       max_ids=max_ids)
    except ValueError as exc:  # a broken alias must not silence the bot
        error = str(exc)
        result = parse(event.text or "", custom_keywords=keywords, max_ids=max_ids)
    if hasattr(event, "parsed"):
        event.parsed = (config, (result, error))
    return result, error


def changes_identity(event) -> bool:
    """Whether the message is a `link` or `verify` command (it may change who the chat is)."""
    config = workspace_config(event.workspace_id, getattr(event, "config_version", None))
    result, _error = parse_event(event, config)
    return any(c.action in ACCOUNT_ACTIONS for c in result.commands)


def _domain_order(order: PanelOrder) -> Order:
    return Order(id=order.id, username=order.username, status=order.status,
                 service_name=order.service_name, service_id=order.service_id,
                 created_at=order.created_at, remains=order.remains,
                 start_count=order.start_count, provider=order.provider,
                 external_id=order.external_id, panel_now=order.panel_now)


def render_provider_command(template: str, items: list[tuple[PanelOrder, str]]) -> str:
    """The provider's message: one line per order, or one line per action listing every
    external id when the template uses {external_ids} (several lines when they do not fit one).
    A stored template that is not valid is replaced by the default one (`route_template`)."""
    compiled, _error = route_template(template)
    return "\n".join(render_route(compiled, [
        RouteOrder(order_id=order.id, external_id=order.external_id or "", action=action,
                   quantity=order.quantity, link=order.link) for order, action in items]))
