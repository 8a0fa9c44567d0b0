"""The order-command pipeline: from "2274209 refill" to the provider's group and the reply.

    message → parse → identity → panel fetch (one batch) → service terms → eligibility
            → provider route → cooldown claim → dispatch (one message per route) → reply

Every step is written to the command log's trace, so a manager can answer "why did the bot say
that?". The whole run is idempotent, which is what makes it crash safe: the command log is unique
per inbound event (a retry continues it), cooldown claims remember the command that took them
(a retry finds its own claim), and dispatches and the reply are outbound rows with idempotency
keys (`dispatch:<log>:<route>`, `reply:<event>`), so a worker killed at any point leaves the
command to be finished by another worker, with no duplicate dispatch and nothing lost.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from datetime import timedelta

from sqlalchemy import select, tuple_

from app.domain.eligibility import Order, WorkspaceOptions, check
from app.domain.parser import ACCOUNT_ACTIONS, ORDER_ACTIONS, Command, ParseResult, parse
from app.domain.replies import ask_choices
from app.domain.replies import Outcome, compose, technical_lines
from app.domain.templates import (REPLY_LIMIT, RouteOrder, TemplateError, clip, custom_reply,
                                  render_route, route_template)
from app.domain.service_rules import ServiceTerms, parse_service_name, rule_terms
from app.extensions import db
from app.integrations.panels.base import PanelError, PanelOrder
from app.jobs.edits import NOT_ACTED as EDIT_NOT_ACTED
from app.jobs.edits import decide as decide_edit
from app.jobs.edits import is_edit
from app.jobs.replies import ReplyBook
from app.models import (AdminIdentity, Channel, ChatIdentity, CommandLog, CommandOrder,
                        CooldownClaim, LinkedUser, OutboundMessage, Provider)
from app.models.base import utcnow
from app.redaction import redact_data

log = logging.getLogger(__name__)

#: how many times app/jobs/events.py runs an inbound event before its command is `failed`
EVENT_MAX_ATTEMPTS = 5

DISPATCH_ACTIONS = ("refill", "speed", "cancel")
NEEDED_CAPABILITIES = {"orders", "ownership"}


# --- what a run asks its driver for (see `CommandRun.steps` and `run_commands`) ---------------
IDENTITY = "identity"  # the linked user of the event's chat (one query for a whole batch)
@dataclass
class NeedFetch:
    """The panel's orders: the driver first makes the log and its trace durable (a worker killed
    during the fetch leaves a visible attempt; no transaction stays open while panels answer),
    then fetches; the answer is (OrdersResult or None, PanelError or None, milliseconds)."""
    adapter: object
    ids: list[str]
    username: str | None

    def fetch(self) -> tuple:
        started = time.perf_counter()
        try:
            result, error = self.adapter.get_orders(self.ids, username=self.username), None
        except PanelError as exc:
            result, error = None, exc
        return result, error, round((time.perf_counter() - started) * 1000, 1)


@dataclass
class ClaimRequest:
    order_id: str
    action: str
    seconds: int
    now: object


@dataclass
class NeedClaims:
    """Cooldown claims to take: the answer maps (order id, action) → (held, seconds left)."""
    claims: list[ClaimRequest]


@dataclass
class PendingMessage:
    """An outbound row to write with the run's final writes (app/jobs/outbound.py's rows).
    `refs` are (dict, key) places — a trace step, per-order rows — that get the row's id."""
    channel: Channel
    chat_id: str
    text: str
    key: str
    purpose: str
    event_id: int
    refs: list = None
    id: int | None = None
    new: bool = False

    def __post_init__(self) -> None:
        self.refs = []


@dataclass
class Decision:
    """One (order, action) between `_decide_start` and `_decide_end`."""
    command: Command
    order_id: str
    order: PanelOrder | None
    result: tuple | None = None  # a final (Outcome, None) reached before any claim
    provider: Provider | None = None
    route: object = None
    claim: ClaimRequest | None = None  # None with a route: forced by an admin
    steps: list = None

    def __post_init__(self) -> None:
        self.steps = []


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


def handle_command_message(event) -> str:
    run = CommandRun(event)
    try:
        return run.run()
    except Exception as exc:
        run.fail(exc)
        raise  # process_event records the failure and schedules the retry


class LogRow:
    """The command log row as a run sees it. Attribute writes are remembered and go out with
    the next `_save` as one UPDATE (no ORM object, no flush)."""

    def __init__(self, id: int, state: str, trace) -> None:
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


class CommandRun:
    """One message through the pipeline. Persistence (see ARCHITECTURE "The command
    pipeline"): the configuration comes from the worker's snapshot; the log, per-order rows,
    cooldown claims and messages are written with a few cached statements and committed twice:
    before the panel is asked (the attempt is visible) and once at the end, with the event. The
    messages are sent after that last commit, by the same job."""

    def __init__(self, event, log_row: LogRow | None = None):
        from app.jobs.outbound import deferring
        from app.jobs.workspace_config import workspace_config

        self.event = event
        self.started = time.perf_counter()
        # inside process_event: the event's commit ends the run and this job sends the messages
        self.in_job = deferring()
        self.config = workspace_config(event.workspace_id,
                                       getattr(event, "config_version", None))
        self.channel: Channel | None = self.config.channels.get(event.channel_id)
        self.settings = self.config.settings
        self.messages: list[PendingMessage] = []  # written by `write_runs`, sent after commit
        self._order_rows: dict[tuple[str, str], dict] = {}
        self._buffer: list[dict] | None = None  # steps held back (see _decide_start)
        self.log = log_row if log_row is not None else self._command_log()
        self.trace: list[dict] = list(self.log.trace or [])
        self.identity = Identity()
        self.book: ReplyBook | None = None
        self.reply_parts: list[str] = []
        self.outcomes: list[Outcome] = []
        self.technical: list[str] = []  # errors only an admin identity is shown

    # --- bookkeeping ----------------------------------------------------------------------
    def _command_log(self) -> LogRow:
        from app.jobs.statements import command_log_upsert

        row = db.session.connection().execute(command_log_upsert(), {
            "workspace_id": self.event.workspace_id, "inbound_event_id": self.event.id,
            "channel_id": self.event.channel_id, "chat_id": self.event.chat_id or "",
            "text": (self.event.text or "")[:4000], "state": "processing", "trace": [],
            "created_at": utcnow()}).one()
        return LogRow(row.id, row.state, row.trace or [])

    def step(self, name: str, **data) -> dict:
        entry = {"step": name, "ms": round((time.perf_counter() - self.started) * 1000, 1)}
        # upstream texts (panel answers, errors) may quote a secret: redacted here, once
        entry.update({k: redact_data(v) for k, v in data.items() if v is not None})
        (self._buffer if self._buffer is not None else self.trace).append(entry)
        return entry

    def _save(self, commit: bool = True, **fields) -> None:
        from app.integrations.calls import flush_call_log

        for key, value in fields.items():
            setattr(self.log, key, value)
        save_logs([self])
        if commit:
            flush_call_log()
            db.session.commit()

    # --- the run --------------------------------------------------------------------------
    def run(self) -> str:
        """The run on its own: each request of `steps()` answered at once, then the writes
        (outside a job they are committed and the messages handed to send jobs)."""
        steps = self.steps()
        answer = None
        while True:
            try:
                need = steps.send(answer)
            except StopIteration as stop:
                outcome = stop.value
                break
            answer = self.answer(need)
        self.write()
        return outcome

    def answer(self, need):
        if need == IDENTITY:
            return self._linked_user()
        if isinstance(need, NeedFetch):
            self._save()
            return need.fetch()
        return {(c.order_id, c.action): self._claim(c.order_id, c.action, c.seconds, c.now)
                for c in need.claims}

    def write(self) -> None:
        from app.integrations.calls import flush_call_log
        from app.jobs.outbound import defer

        items = write_runs([self])
        if not self.in_job:
            flush_call_log()
            db.session.commit()
        for item in items:
            defer(item)

    def steps(self):
        """The pipeline for this message, as a generator: it yields what it needs from the
        database in bulk (IDENTITY, NeedClaims) and receives the answer, so that a batch of
        runs (`run_commands`) asks once for all of them. Everything else it does itself."""
        if self.log.state == "done":
            return "done"
        if self.trace:
            self.step("resumed", after=len(self.trace))
        if is_edit(self.event):  # acted on only if no earlier version was a command
            act, facts = decide_edit(self.event)
            self.step("edit", **facts)
            if not act:
                return self._finish(EDIT_NOT_ACTED)
        text = self.event.text or ""
        if self.event.is_group and self._is_provider_group():
            self.step("ignored", reason="provider group")
            return self._finish("ignored")
        result = self._parse(text)
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
            self.reply_parts.append(self._render("too_many_ids", count=limit, max_ids=limit))
        order_commands = [c for c in result.commands if c.action in ORDER_ACTIONS]
        if result.invalid_ids:
            self.reply_parts.append(self._render("invalid_ids", count=len(result.invalid_ids),
                                                 order_ids=", ".join(result.invalid_ids)))
            # an action whose only ids were not ids is answered by that line, not with help
            order_commands = [c for c in order_commands if c.order_ids]
        for command in result.commands:
            if command.action not in ORDER_ACTIONS:
                self._standalone(command)
        outcome = "answered"
        # ids clear, action not (`2274209 cancel or refill?`): ask back, dispatch nothing
        for question in result.ambiguous:
            self.reply_parts.append(self._render("ask_action", choices=ask_choices(
                question.order_ids, question.actions, self.book.word)))
            outcome = "asked"
        if order_commands:
            outcome = yield from self._orders(order_commands)
        self._reply()
        return self._finish(outcome)

    def _is_provider_group(self) -> bool:
        """Providers' groups receive our commands; what is said there is never a command."""
        return (self.event.channel_id, self.event.chat_id) in self.config.provider_chats

    def _finish(self, outcome: str) -> str:
        """The log's final values; `write_runs` writes them with the run's rows (in a job, in
        the event's own transaction)."""
        self.step("done", outcome=outcome)
        fields = {"state": "done", "outcome": outcome, "finished_at": utcnow(), "error": None,
                  "duration_ms": round((time.perf_counter() - self.started) * 1000, 1)}
        for key, value in fields.items():
            setattr(self.log, key, value)
        return outcome

    def fail(self, exc: Exception) -> None:
        """Keep the trace and the error of a run that raised (the event will be retried; after
        its last attempt the command is `failed`)."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            db.session.rollback()
            self.log = self._command_log()  # the row may have gone with the rollback
            self._order_rows.clear()
            self.messages.clear()
            self.step("error", error=error[:500], attempt=self.event.attempts)
            final = (self.event.attempts or 0) >= EVENT_MAX_ATTEMPTS
            self._save(state="failed" if final else "processing", error=error)
        except Exception:  # noqa: BLE001 - the database may be what failed; keep the original
            db.session.rollback()
            log.warning("could not record the failure of command %s", self.log.id,
                        exc_info=True)

    def _render(self, key: str, **values) -> str:
        return self.book.render(key, **values)

    def _template_skipped(self, key: str, source: str, error: TemplateError) -> None:
        """A stored text that is not a valid template was not used (ReplyBook, routes, custom
        commands): the trace says which and why; the customer gets the next valid text."""
        self.step("template_fallback", template=key, source=source, error=str(error)[:300])

    # --- parse and identity ---------------------------------------------------------------
    def _parse(self, text: str) -> ParseResult:
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

    def _identify(self) -> None:
        event = self.event
        candidates = [c for c in dict.fromkeys([event.chat_id, event.sender]) if c]
        admins = self.config.admins_for(event.channel_id, candidates)
        admin = next((a for a in admins if a.chat_id == event.chat_id), None) or \
            next(iter(admins), None)
        # A linked user speaks through a private chat or a linked group (DESIGN): the chat
        # itself must be linked. A customer's own link does not follow them into other groups.
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

    def _linked_user(self) -> LinkedUser | None:
        """Who the chat is linked to (a run on its own; batches use `linked_users`)."""
        return linked_users([(self.event.channel_id, self.event.chat_id)]).get(
            (self.event.channel_id, self.event.chat_id))

    # --- standalone commands --------------------------------------------------------------
    def _standalone(self, command: Command) -> None:
        action = command.action
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
            self.reply_parts.append(self._balance())
        elif action in ("link", "verify"):
            from app.jobs.linking import handle_link_command

            # linking writes its own steps (never the code someone typed)
            self.reply_parts.append(handle_link_command(self, command))
            return
        self.step(action, argument=command.argument)

    def _balance(self) -> str:
        user = self.identity.linked_user
        if user is None:
            return self.book.render("not_linked")
        adapter = self._adapter()
        if adapter is None or "user_balance" not in adapter.capabilities():
            return self.book.render("balance_unavailable")
        try:
            balance = adapter.user_balance(user.username)
        except PanelError as exc:
            self.step("balance_error", kind=exc.kind, detail=exc.detail[:300])
            self.technical.append(f"balance: panel {exc.kind}: {exc.detail[:300]}")
            return self.book.render("panel_unavailable")
        if balance is None:
            return self.book.render("balance_unavailable")
        return self._render("balance", balance=balance)

    @cached_property
    def _panel(self):
        """The workspace's panel adapter (one lookup per message), or None without a panel."""
        return self.config.adapter()

    def _adapter(self):
        return self._panel

    # --- order commands -------------------------------------------------------------------
    def _orders(self, commands: list[Command]) -> str:
        if not self.identity.known:
            self.reply_parts.append(self.book.render("not_linked"))
            return "not_linked"
        adapter = self._adapter()
        if adapter is None or not NEEDED_CAPABILITIES <= adapter.capabilities():
            self.step("panel", error="no panel connection with order ownership")
            self.reply_parts.append(self.book.render("unsupported"))
            return "unsupported"
        ids = list(dict.fromkeys(i for c in commands for i in c.order_ids))
        if not ids:
            self.reply_parts.append(self.book.render("help"))
            return "no_ids"
        username = self.identity.linked_user.username if self.identity.linked_user else None
        fetched, exc, fetch_ms = yield NeedFetch(adapter, ids, username)
        if exc is not None:
            self.step("panel_fetch", error=exc.kind, detail=exc.detail[:500], fetch_ms=fetch_ms)
            self.technical.append(f"panel {exc.kind}: {exc.detail[:300]}")
            self.reply_parts.append(self.book.render("panel_unavailable"))
            return "panel_unavailable"
        self.step("panel_fetch", engine=adapter.engine, calls=fetched.calls,
                  found=len(fetched.orders), missing=fetched.missing or None, fetch_ms=fetch_ms)

        providers = self.config.providers
        rules = self.config.rules
        now = utcnow()
        accepted: dict[int, list[tuple[PanelOrder, str]]] = defaultdict(list)
        routes = {}
        # each (order, action) is decided once, even when the message repeats it
        # ("2274209 refill … 2274209 refill force"); `force` counts if any repeat says it
        wanted: dict[tuple[str, str], bool] = {}
        for command in commands:
            for order_id in command.order_ids:
                key = (order_id, command.action)
                wanted[key] = wanted.get(key, False) or command.force
        # Cooldown claims stay locked until the command's final commit, so every command takes
        # them in the same order (by order id): two messages naming the same orders in another
        # order cannot deadlock. Outcomes and dispatch lines keep the message's order.
        pending = {}
        for (order_id, action) in sorted(wanted, key=lambda k: (len(k[0]), k[0], k[1])):
            command = Command(action, (order_id,), wanted[(order_id, action)])
            pending[(order_id, action)] = self._decide_start(
                command, order_id, fetched.orders.get(order_id), providers, rules, now)
        claims = [d.claim for d in pending.values() if d.claim is not None]
        held = (yield NeedClaims(claims)) if claims else {}
        decided = {key: self._decide_end(d, held) for key, d in pending.items()}
        for (order_id, action) in wanted:
            outcome, route = decided[(order_id, action)]
            self.outcomes.append(outcome)
            if route is not None:
                routes[route.id] = route
                accepted[route.id].append((fetched.orders[order_id], action))
        self._dispatch(accepted, routes)
        ok = sum(1 for o in self.outcomes if o.reason == "ok")
        return "dispatched" if any(accepted.values()) else ("answered" if ok else "refused")

    def _terms(self, order: PanelOrder, rules: dict) -> ServiceTerms:
        """A manager's override beats everything; then the cached service (what the panel's
        services list says, e.g. refill: false); then what the service name says."""
        rule = rules.get(order.service_id or "") or rules.get(f"name:{order.service_name}")
        if rule is None:
            return parse_service_name(order.service_name)
        kind, days = rule.refill_kind, rule.refill_days
        if not rule.is_override:
            if rule.panel_refill is False:
                kind, days = "none", None
            elif kind == "unknown":
                return parse_service_name(order.service_name)
        try:
            return rule_terms(kind, days, rule.start_minutes_max,
                              allow_refill=rule.allow_refill, allow_speed=rule.allow_speed,
                              allow_cancel=rule.allow_cancel and (rule.is_override
                                                                  or rule.panel_cancel
                                                                  is not False))
        except ValueError as exc:
            self.step("rule_invalid", service=rule.service_id, error=str(exc))
            return parse_service_name(order.service_name)

    def _decide_start(self, command: Command, order_id: str, order: PanelOrder | None,
                      providers, rules, now) -> Decision:
        """Everything up to the cooldown claim; its steps are held back so that each order's
        steps stay together in the trace once `_decide_end` has the claim's answer."""
        decision = Decision(command, order_id, order)
        self._buffer = decision.steps
        try:
            decision.result = self._decide(decision, providers, rules, now)
        finally:
            self._buffer = None
        return decision

    def _decide_end(self, decision: Decision, held: dict):
        self.trace.extend(redact_data(decision.steps))
        if decision.result is not None:
            return decision.result
        command, order_id, order = decision.command, decision.order_id, decision.order
        action, provider, route = command.action, decision.provider, decision.route
        if decision.claim is None:
            self.step("cooldown", order=order_id, action=action, forced=True)
        else:
            got, seconds_left = held[(order_id, action)]
            if not got:
                self.step("cooldown", order=order_id, action=action, claimed=False,
                          seconds_left=round(seconds_left))
                detail = {"seconds_left": seconds_left}
                self._record(order_id, action, "cooldown", detail, order=order,
                             provider=provider)
                return Outcome(order_id, action, "cooldown", detail), None
            self.step("cooldown", order=order_id, action=action, claimed=True,
                      seconds=decision.claim.seconds)
        self.step("route", order=order_id, provider=provider.name, route=route.id,
                  chat=route.chat_id)
        self._record(order_id, action, "ok", {"provider": provider.name}, order=order,
                     provider=provider, route=route)
        return Outcome(order_id, action, "ok", {"provider": provider.name,
                                                "external_id": order.external_id}), route

    def _decide(self, decision: Decision, providers, rules, now):
        """A final (Outcome, None), or None when the order passed every rule and has a route:
        then `decision` holds the provider, the route and the cooldown claim to take."""
        command, order_id, order = decision.command, decision.order_id, decision.order
        action = command.action
        if order is None:
            self.step("order", order=order_id, action=action, verdict="order_not_found")
            self._record(order_id, action, "order_not_found")
            return Outcome(order_id, action, "order_not_found"), None
        terms = self._terms(order, rules)
        is_admin = self.identity.admin is not None
        username = self.identity.linked_user.username if self.identity.linked_user else None
        verdict = check(action, _domain_order(order), terms, linked_username=username, now=now,
                        options=WorkspaceOptions(
                            allow_partial_refill=self.settings.allow_partial_refill),
                        is_admin=is_admin, force=command.force)
        self.step("rule", order=order_id, action=action, status=order.status,
                  service=order.service_name, terms=terms.refill_kind,
                  refill_days=terms.refill_days, recognised=list(terms.recognised) or None,
                  verdict=verdict.reason, detail=_plain(verdict.detail) or None)
        if not verdict.ok:
            self._record(order_id, action, verdict.reason, verdict.detail, order=order)
            return Outcome(order_id, action, verdict.reason, verdict.detail), None
        if action == "details":
            detail = {"status": order.status, "start_count": order.start_count,
                      "remains": order.remains}
            self._record(order_id, action, "ok", detail, order=order)
            return Outcome(order_id, action, "ok", detail), None
        provider = match_provider(providers, order.provider)
        if provider is None:
            self.step("route", order=order_id, error="provider_missing", provider=order.provider)
            self._record(order_id, action, "provider_missing", {"provider": order.provider},
                         order=order)
            return Outcome(order_id, action, "provider_missing",
                           {"provider": order.provider}), None
        route = next((r for r in provider.routes if r.enabled and action in r.action_list),
                     None)
        if route is None or not order.external_id:
            reason = "route_missing"
            self.step("route", order=order_id, error=reason, provider=provider.name,
                      external_id=order.external_id)
            self._record(order_id, action, reason, {"provider": provider.name}, order=order,
                         provider=provider)
            return Outcome(order_id, action, reason, {"provider": provider.name,
                                                      "external_id": order.external_id}), None
        decision.provider, decision.route = provider, route
        if not (is_admin and command.force):
            decision.claim = ClaimRequest(order_id, action,
                                          self.settings.cooldown_seconds(action), now)
        return None

    def _claim(self, order_id: str, action: str, seconds: int, now) -> tuple[bool, float]:
        return claim_cooldown(self.event.workspace_id, order_id, action, seconds, self.log.id,
                              now, commit=False)

    def _record(self, order_id, action, reason, detail=None, *, order=None, provider=None,
                route=None) -> None:
        """The verdict for one (order, action); written with the run's next save."""
        self._order_rows[(order_id[:20], action)] = {
            "workspace_id": self.event.workspace_id, "command_log_id": self.log.id,
            "order_id": order_id[:20], "action": action, "ok": reason == "ok",
            "reason": reason[:60], "detail": _plain(detail or {}),
            "provider_id": provider.id if provider else None,
            "route_id": route.id if route else None,
            "external_id": (order.external_id or None) if order else None,
            "outbound_message_id": None, "created_at": utcnow()}

    # --- dispatch and reply ---------------------------------------------------------------
    def _dispatch(self, accepted, routes) -> None:
        for route_id, items in accepted.items():
            route = routes[route_id]
            text = self._provider_text(route, items)
            message = self._queue(route.channel, route.chat_id, text,
                                  f"dispatch:{self.log.id}:{route_id}", "dispatch")
            for row in self._order_rows.values():
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
        """An outbound row (once per idempotency key), written with the run's final writes and
        sent after their commit (`write_runs`)."""
        message = PendingMessage(channel, chat_id, text, key, purpose, self.event.id)
        self.messages.append(message)
        return message

    def _reply_text(self) -> str:
        parts = list(self.reply_parts)
        if self.outcomes:
            parts.append(compose(self.outcomes, self.book.text, self.book.status_name))
        text = "\n\n".join(p for p in parts if p)
        technical = technical_lines(self.outcomes) + self.technical
        if self.identity.admin_chat and technical and text.strip():
            text += "\n\n— " + "\n".join(technical)
        return clip(text, REPLY_LIMIT)

    def _reply(self) -> None:
        text = self._reply_text()
        if not text.strip() or not self.event.chat_id:
            self.step("reply", skipped="nothing to say")
            return
        self.log.reply_text = text
        if self.channel is None:  # deleted after the message arrived: nobody to answer through
            self.step("reply", skipped="channel deleted")
            return
        message = self._queue(self.channel, self.event.chat_id, text,
                              f"reply:{self.event.id}", "reply")
        message.refs.append((self.step("reply", language=self.book.language), "outbound"))


# --- helpers used by the run ----------------------------------------------------------------

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
    from app.jobs.workspace_config import workspace_config

    config = workspace_config(event.workspace_id, getattr(event, "config_version", None))
    result, _error = parse_event(event, config)
    return any(c.action in ACCOUNT_ACTIONS for c in result.commands)


def _plain(detail) -> dict:
    """JSON-safe copy of a verdict detail (datetimes and timedeltas as text/seconds)."""
    result = {}
    for key, value in dict(detail or {}).items():
        if isinstance(value, timedelta):
            value = value.total_seconds()
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, (list, tuple, set)):
            value = [str(v) for v in value]
        elif not isinstance(value, (str, int, float, bool)) and value is not None:
            value = str(value)
        result[key] = value
    return result


def _domain_order(order: PanelOrder) -> Order:
    return Order(id=order.id, username=order.username, status=order.status,
                 service_name=order.service_name, service_id=order.service_id,
                 created_at=order.created_at, remains=order.remains,
                 start_count=order.start_count, provider=order.provider,
                 external_id=order.external_id, panel_now=order.panel_now)


def normalise_domain(value: str | None) -> str:
    text = (value or "").strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].split(":", 1)[0]
    return text[4:] if text.startswith("www.") else text


def match_provider(providers, order_provider: str | None) -> Provider | None:
    """The provider whose domain, alias or name is the order's provider field."""
    if not order_provider:
        return None
    domain = normalise_domain(order_provider)
    plain = order_provider.strip().lower()
    for provider in providers:
        if domain and domain in {normalise_domain(d) for d in provider.domain_list}:
            return provider
    for provider in providers:
        names = {a.lower() for a in provider.alias_list} | {provider.name.lower()}
        if plain in names or domain in names:
            return provider
    return None


def render_provider_command(template: str, items: list[tuple[PanelOrder, str]]) -> str:
    """The provider's message: one line per order, or one line per action listing every
    external id when the template uses {external_ids} (several lines when they do not fit one).
    A stored template that is not valid is replaced by the default one (`route_template`)."""
    compiled, _error = route_template(template)
    return "\n".join(render_route(compiled, [
        RouteOrder(order_id=order.id, external_id=order.external_id or "", action=action,
                   quantity=order.quantity, link=order.link) for order, action in items]))


def claim_cooldown(workspace_id: int, order_id: str, action: str, seconds: int,
                   command_log_id: int, now, commit: bool = True) -> tuple[bool, float]:
    """Take the cooldown for (workspace, order, action) atomically.

    Returns (True, 0) when this command holds it (newly, after expiry, or already — a retry of
    the same command), else (False, seconds left). Two identical requests at the same moment:
    the database lets exactly one INSERT … ON CONFLICT DO UPDATE … WHERE expired win (the other
    waits for the winner's transaction, then finds the claim taken). The pipeline claims inside
    its final transaction (`commit=False`).
    """
    from app.jobs.statements import cooldown_claim

    expires = now + timedelta(seconds=max(0, seconds))
    won = db.session.connection().execute(cooldown_claim(), {
        "workspace_id": workspace_id, "order_id": order_id, "action": action, "claimed_at": now,
        "expires_at": expires, "command_log_id": command_log_id}).scalar() is not None
    if commit:
        db.session.commit()
    if won:
        return True, 0.0
    table = CooldownClaim.__table__
    current = db.session.connection().execute(select(table.c.expires_at).where(
        table.c.workspace_id == workspace_id, table.c.order_id == order_id,
        table.c.action == action)).scalar()
    return False, max(0.0, (current - now).total_seconds()) if current else 0.0


# --- batches: many runs, one statement per kind of row ---------------------------------------

def run_commands(events: list, runs_out: list | None = None) -> tuple[dict[int, str], list]:
    """Run the pipeline for several message events at once (in the batch's order; two of one
    chat only when the earlier one changes nothing the later one reads: app/jobs/events.py
    `waves`). Each run's steps are advanced in turn; what they ask for is answered
    with one query for all of them (the linked users, the cooldown claims), and their rows are
    written together (`write_runs`). The caller commits, then sends the messages. Anything
    raised propagates: the caller retries the events one by one.

    Returns (outcome per event id, the messages to send after the commit); `runs_out`, when
    given, receives the runs (to record a failure in their logs)."""
    from app.tenancy import workspace_scope

    runs = []
    logs = command_logs(events)
    for event in events:
        with workspace_scope(event.workspace_id):
            runs.append(CommandRun(event, logs[event.id]))
    if runs_out is not None:
        runs_out.extend(runs)
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
        asking = [run for run, need in needs if need == IDENTITY]
        if asking:
            users = linked_users([(r.event.channel_id, r.event.chat_id) for r in asking])
            for run in asking:
                answers[id(run)] = users.get((run.event.channel_id, run.event.chat_id))
        fetching = [(run, need) for run, need in needs if isinstance(need, NeedFetch)]
        if fetching:
            save_logs([run for run, _need in fetching])
            db.session.commit()
            for (run, _need), answer in zip(fetching, fetch_all([n for _r, n in fetching]),
                                            strict=True):
                answers[id(run)] = answer
        claiming = [(run, need) for run, need in needs if isinstance(need, NeedClaims)]
        if claiming:
            answers.update(claim_many(claiming))
    return outcomes, write_runs(runs)


def fetch_all(needs: list[NeedFetch]) -> list[tuple]:
    """Ask the panels for several runs at once: the fetches of a batch overlap instead of
    adding up (each waits on a panel, often hundreds of milliseconds). They run side by side
    (app/jobs/threads.py: in a copy of this context, so their call log rows join the job's);
    the per-panel rate limit still applies, shared in Redis. One fetch runs here, without a
    thread."""
    from app.jobs.threads import submit

    if len(needs) == 1:
        return [needs[0].fetch()]
    keys = _take_panel_slots(needs)
    futures = [submit("panel-fetch", _fetch, need, key)
               for need, key in zip(needs, keys, strict=True)]
    return [future.result() for future in futures]


def _fetch(need: NeedFetch, prepaid_key: str | None) -> tuple:
    from app.integrations.panels import use_prepaid_slot

    if prepaid_key is not None:
        use_prepaid_slot(prepaid_key)  # in this thread's own copy of the context
    return need.fetch()


def _take_panel_slots(needs: list[NeedFetch]) -> list[str | None]:
    """The panel rate-limit slots of a batch's first call to each panel, in one request to
    Redis (all or nothing, like the sends' `take_slots`): per fetch, the rate key it may call
    once without asking, or None: it asks for itself (a second fetch of one panel: panels are
    paced without burst, two slots at once would be refused; retries always ask)."""
    from flask import current_app

    from app.integrations.panels import slot_rule
    from app.integrations.ratelimit import RateLimiter

    rules: list = []
    seen: set[str] = set()
    for need in needs:  # one slot per panel: a second fetch of the same panel asks itself
        rule = slot_rule(need.adapter)
        if rule is not None and rule[0] not in seen:
            seen.add(rule[0])
            rules.append(rule)
        else:
            rules.append(None)
    wanted = [rule for rule in rules if rule is not None]
    free = len(wanted) > 1 and RateLimiter(current_app.extensions["relaydesk_redis"]) \
        .take_together(wanted, f"{len(wanted)} panel fetches")
    return [rule[0] if free and rule is not None else None for rule in rules]


def command_logs(events: list) -> dict[int, LogRow]:
    """The command log row of each event, created or the existing one (a retried command
    continues its log): one statement."""
    from app.jobs.bulk import insert_rows
    from app.jobs.statements import LOG_COLUMNS

    now = utcnow()
    rows = [{"workspace_id": e.workspace_id, "inbound_event_id": e.id,
             "channel_id": e.channel_id, "chat_id": e.chat_id or "",
             "text": (e.text or "")[:4000], "state": "processing", "trace": [],
             "created_at": now} for e in events]
    found = insert_rows(CommandLog.__table__, LOG_COLUMNS, rows,
                        "ON CONFLICT (inbound_event_id) DO UPDATE SET state = command_log.state",
                        ("inbound_event_id", "id", "state", "trace"))
    return {event_id: LogRow(log_id, state, trace or [])
            for event_id, log_id, state, trace in found}


def linked_users(chats: list[tuple[int, str]]) -> dict[tuple[int, str], LinkedUser]:
    """(channel id, chat id) → the linked user of that chat, for several chats in one query.
    A linked user speaks through a private chat or a linked group (DESIGN): the chat itself
    must be linked; the oldest link wins."""
    pairs = list(dict.fromkeys((channel_id, chat_id) for channel_id, chat_id in chats
                               if chat_id))
    if not pairs:
        return {}
    rows = db.session.execute(
        select(ChatIdentity.channel_id, ChatIdentity.chat_id, LinkedUser)
        .join(LinkedUser, ChatIdentity.linked_user_id == LinkedUser.id)
        .where(tuple_(ChatIdentity.channel_id, ChatIdentity.chat_id).in_(pairs))
        .order_by(ChatIdentity.id)).all()
    found: dict[tuple[int, str], LinkedUser] = {}
    for channel_id, chat_id, user in rows:
        found.setdefault((channel_id, chat_id), user)
    return found


def claim_many(claiming: list) -> dict[int, dict]:
    """Take the cooldown claims of several runs in one statement (see `claim_cooldown` for
    the rule), in (workspace, order, action) order like every other claimer, so concurrent
    batches cannot deadlock. A key asked twice in the batch goes to the first run; the later
    one finds it held. Returns, per run, (order id, action) → (held, seconds left)."""
    from app.jobs.bulk import insert_rows
    from app.jobs.statements import COOLDOWN_COLUMNS, COOLDOWN_CONFLICT

    owner: dict[tuple, tuple] = {}  # (workspace, order, action) → (run, request)
    for run, need in claiming:
        for claim in need.claims:
            owner.setdefault((run.event.workspace_id, claim.order_id, claim.action),
                             (run, claim))
    keys = sorted(owner, key=lambda k: (k[0], len(k[1]), k[1], k[2]))
    rows = []
    for key in keys:
        run, claim = owner[key]
        rows.append({"workspace_id": key[0], "order_id": claim.order_id,
                     "action": claim.action, "claimed_at": claim.now,
                     "expires_at": claim.now + timedelta(seconds=max(0, claim.seconds)),
                     "command_log_id": run.log.id})
    won = {(w, o, a) for w, o, a in insert_rows(
        CooldownClaim.__table__, COOLDOWN_COLUMNS, rows, COOLDOWN_CONFLICT,
        ("workspace_id", "order_id", "action"))}
    lost = [key for key in keys if key not in won] + [
        (run.event.workspace_id, c.order_id, c.action) for run, need in claiming
        for c in need.claims
        if owner[(run.event.workspace_id, c.order_id, c.action)][0] is not run]
    expires = {}
    if lost:
        table = CooldownClaim.__table__
        expires = {(w, o, a): at for w, o, a, at in db.session.execute(
            select(table.c.workspace_id, table.c.order_id, table.c.action, table.c.expires_at)
            .where(tuple_(table.c.workspace_id, table.c.order_id, table.c.action)
                   .in_(list(dict.fromkeys(lost)))))}
    answers: dict[int, dict] = {}
    for run, need in claiming:
        answer = answers.setdefault(id(run), {})
        for claim in need.claims:
            key = (run.event.workspace_id, claim.order_id, claim.action)
            if key in won and owner[key][0] is run:
                answer[(claim.order_id, claim.action)] = (True, 0.0)
            else:
                current = expires.get(key)
                left = max(0.0, (current - claim.now).total_seconds()) if current else 0.0
                answer[(claim.order_id, claim.action)] = (False, left)
    return answers


def write_runs(runs: list[CommandRun]) -> list:
    """Write what the runs produced, a statement per kind of row: their messages (outbound
    rows, once per idempotency key; in a job written already claimed, state `sending` with a
    short lease, for this job to send right after its commit — a crash leaves them to the
    sweep), their per-order rows and their command logs. Does not commit. Returns the
    app.jobs.outbound.Deferred items to send once committed, in the runs' order."""
    from app.jobs.bulk import insert_rows
    from app.jobs.outbound import INLINE_LEASE, Deferred
    from app.jobs.statements import OUTBOUND_COLUMNS

    now = utcnow()
    messages = [m for run in runs for m in run.messages]
    claimed = {id(m): run.in_job for run in runs for m in run.messages}
    if messages:
        table = OutboundMessage.__table__
        rows = [{"workspace_id": m.channel.workspace_id, "channel_id": m.channel.id,
                 "idempotency_key": m.key[:200], "purpose": m.purpose, "chat_id": m.chat_id,
                 "text": m.text, "state": "sending" if claimed[id(m)] else "pending",
                 "attempts": 1 if claimed[id(m)] else 0,
                 "lease_until": now + INLINE_LEASE if claimed[id(m)] else None,
                 "parts_sent": 0, "parts_total": 1, "platform_message_ids": [],
                 "created_at": now, "inbound_event_id": m.event_id} for m in messages]
        new = {(channel_id, key): row_id for row_id, channel_id, key in insert_rows(
            table, OUTBOUND_COLUMNS, rows,
            "ON CONFLICT (channel_id, idempotency_key) DO NOTHING",
            ("id", "channel_id", "idempotency_key"))}
        missing = [(m.channel.id, m.key[:200]) for m in messages
                   if (m.channel.id, m.key[:200]) not in new]
        existing = {}
        if missing:  # retried commands: those messages exist (maybe sent already)
            existing = {(c, k): i for i, c, k in db.session.execute(
                select(table.c.id, table.c.channel_id, table.c.idempotency_key)
                .where(tuple_(table.c.channel_id, table.c.idempotency_key).in_(missing)))}
        for m in messages:
            key = (m.channel.id, m.key[:200])
            m.new = key in new
            m.id = new[key] if m.new else existing.get(key)
            for place, name in m.refs:
                place[name] = m.id
    save_logs(runs)
    items = []
    for m in messages:
        if m.id is None:
            continue
        if m.new:
            items.append(Deferred(m.id, claimed[id(m)], m.channel, m.chat_id, m.text,
                                  m.channel.workspace_id, m.purpose))
        else:
            items.append(Deferred(m.id, workspace_id=m.channel.workspace_id,
                                  purpose=m.purpose))
    return items


def save_logs(runs: list[CommandRun]) -> None:
    """Write the runs' pending per-order rows (one statement) and their command log changes,
    trace included (one UPDATE per set of changed columns, usually one for the whole batch)."""
    from app.jobs.bulk import insert_rows, update_rows
    from app.jobs.statements import ORDER_COLUMNS, ORDER_CONFLICT

    insert_rows(CommandOrder.__table__, ORDER_COLUMNS,
                [row for run in runs for row in run._order_rows.values()], ORDER_CONFLICT)
    for run in runs:
        run._order_rows.clear()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        run.log.trace = list(run.trace)
        changes = run.log.take_changes()
        groups[tuple(sorted(changes))].append({"id": run.log.id, **changes})
    for columns, rows in groups.items():
        update_rows(CommandLog.__table__, columns, rows)
