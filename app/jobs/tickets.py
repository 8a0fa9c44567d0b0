"""The panel ticket workflow: customers' tickets on the workspace's Perfect Panel, answered by
the same decisions as chat (docs/contracts.md "Panel tickets", docs/ARCHITECTURE.md).

The runner (app/jobs/runners.py, `tickets`) calls, per workspace:

* `enabled_reason(workspace_id)`: None when the workflow may run, else why not in words (off in
  the settings, the plan lacks the `tickets` module, no panel, a panel engine without tickets).
* `poll_interval(workspace_id)`: the settings' `ticket_poll_seconds` (at least 5, default 60).
* `poll_workspace(workspace_id) -> dict`: one poll (its summary; {"state": "skipped"|"failed",
  ...} says so).

A poll
------
1. Lists the panel's pending tickets (`GET /tickets?status=pending`, paged: at most
   LIST_PAGES pages of LIST_PAGE_SIZE). A ticket whose subject no rule could match is not read
   (`might_match`); of the others at most READS_PER_POLL are read (`GET /tickets/{id}`), those
   never read first, then those read longest ago, so no ticket waits behind the others.
2. Takes the ticket's *new* customer messages: those after the last staff message (sender
   `support`, docs/external-apis.md 1.2). None: nothing to do.
3. Claims the newest of them: INSERT of a `TicketActivity` with UNIQUE (workspace, ticket,
   message key), committed before anything else. A message claimed by another poll or worker
   is left alone; a claim whose run failed, or whose worker died (CLAIM_LEASE), is taken again
   (at most MAX_ATTEMPTS times).
4. Chooses the action by the subject rules (app/domain/ticket_rules.py). No rule, the rule
   says `ignore`, no username on the ticket or no order id in the new messages: the message is
   recorded `skipped` and the ticket is left to the staff (no reply, so it stays pending).
5. Runs the pipeline (app/jobs/pipeline.py) with `TicketDriver`: the order ids the parser reads
   in the new messages (ids only from them), the rule's action, the ticket's user as the owner
   (an order is the customer's when its user is the ticket's user), cooldown claims, provider
   dispatches (outbound messages keyed `ticket:<activity>:<route>`, sent like chat's) and the
   customer-safe reply, in the customer's language when a linked user of that username has
   one, else the workspace's.
6. Posts the reply (`POST /tickets/{id}/reply`) after committing state `replying`: a reply is
   posted once. The transport never repeats the POST after a timeout or a 5xx; such a reply is
   `reply_unknown` and never posted again. A panel that did not answer the order fetch gets no
   reply: the claim is `failed` and a later poll tries again.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update

from app.domain.parser import ORDER_ACTIONS, Command, ParseResult, parse
from app.domain.ticket_rules import Rule, choose, might_match
from app.extensions import db
from app.integrations.panels.base import PanelError, PanelTicket
from app.jobs.drivers import BatchDriver, _per_run
from app.jobs.pipeline import CommandRun, LogRow, run_commands
from app.jobs.workspace_config import workspace_config
from app.models import LinkedUser, TicketActivity, TicketRule, WorkspaceSettings
from app.models.base import utcnow
from app.models.settings import DEFAULT_TICKET_POLL_SECONDS, MIN_TICKET_POLL_SECONDS
from app.redaction import redact
from app.store import CooldownRequest, claim_cooldowns
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)

RUNNER = "tickets"
LIST_PAGE_SIZE = 100
LIST_PAGES = 5
READS_PER_POLL = 40
CLAIM_LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5
STAFF_SENDERS = frozenset({"support"})
TEXT_MAX = 4000
ERROR_MAX = 2000


# --- may it run, how often ---------------------------------------------------------------------

def _settings(workspace_id: int) -> WorkspaceSettings | None:
    return db.session.execute(select(WorkspaceSettings).where(
        WorkspaceSettings.workspace_id == workspace_id)).scalar_one_or_none()


def enabled_reason(workspace_id: int) -> str | None:
    """None when the ticket workflow may run for the workspace, else why not (in words)."""
    from app.plans import module_refusal, plan_of

    settings = _settings(workspace_id)
    if settings is None or not settings.tickets_enabled:
        return _("The ticket workflow is off in the workspace settings.")
    refusal = module_refusal(plan_of(workspace_id), "tickets")
    if refusal is not None:
        return refusal.message
    config = workspace_config(workspace_id)
    if config.panel is None:
        return _("The workspace has no panel connection.")
    try:
        adapter = config.adapter()
    except PanelError:
        adapter = None
    if adapter is None or "tickets" not in adapter.capabilities():
        return _("The panel's API has no tickets (only Perfect Panel's admin API v2 has).")
    return None


def poll_interval(workspace_id: int) -> int:
    """Seconds between two polls: the workspace's setting, never under the minimum."""
    settings = _settings(workspace_id)
    seconds = settings.ticket_poll_seconds if settings is not None else None
    return max(MIN_TICKET_POLL_SECONDS, int(seconds or DEFAULT_TICKET_POLL_SECONDS))


# --- the rules ---------------------------------------------------------------------------------

def workspace_rules(workspace_id: int) -> list[Rule]:
    rows = db.session.execute(
        select(TicketRule).where(TicketRule.workspace_id == workspace_id,
                                 TicketRule.enabled.is_(True))
        .order_by(TicketRule.position, TicketRule.id)).scalars()
    return [Rule.of(row.name, row.action, row.subject_words, row.message_words)
            for row in rows]


# --- the ticket's messages ---------------------------------------------------------------------

def is_staff(message: dict) -> bool:
    return str(message.get("sender_name") or "").strip().casefold() in STAFF_SENDERS


def new_messages(ticket: PanelTicket) -> tuple[list[dict], int | None]:
    """The customer's messages after the last staff message, and the position (in the whole
    ticket) of the newest of them (None when there are none)."""
    last_staff = max((i for i, m in enumerate(ticket.messages) if is_staff(m)), default=-1)
    fresh = [(i, m) for i, m in enumerate(ticket.messages) if i > last_staff and
             not is_staff(m) and (m.get("message") or "").strip()]
    if not fresh:
        return [], None
    return [m for _i, m in fresh], fresh[-1][0]


def message_key(position: int, message: dict) -> str:
    """Which customer message: its position in the ticket and a hash of its text."""
    digest = hashlib.sha256((message.get("message") or "").encode()).hexdigest()[:24]
    return f"{position}:{digest}"


# --- the run's edges ---------------------------------------------------------------------------

@dataclass
class TicketCustomer:
    """The ticket's user as the run's identity: ownership compares the order's user with
    `username`; `id` is the linked user of that username, when there is one."""
    username: str
    language: str | None
    id: int | None = None


@dataclass
class TicketEvent:
    """What the run reads of a ticket (in place of an inbound chat message). `id` stays None:
    no inbound event stands behind it (the outbound rows it writes name none)."""
    workspace_id: int
    ticket_id: str
    subject: str | None
    text: str
    customer: TicketCustomer
    rule: Rule
    result: ParseResult
    id: None = None
    channel_id: None = None
    chat_id: None = None
    sender: None = None
    is_group: bool = False
    type: str = "ticket"
    payload: dict = field(default_factory=dict)
    attempts: int = 1


class TicketRun(CommandRun):
    """The pipeline run of a ticket: the command comes from the subject rule and the ids the
    customer wrote; the reply is kept for the ticket instead of queued to a chat."""

    dispatch_key = "ticket:{log}:{route}"

    def _parse(self) -> ParseResult:
        event = self.event
        result = event.result
        self.step("ticket", ticket=event.ticket_id, subject=(event.subject or "")[:200],
                  user=event.customer.username, rule=event.rule.name, action=event.rule.action)
        self.step("parse", commands=result.describe() or None,
                  invalid_ids=result.invalid_ids or None,
                  too_many_ids=result.too_many_ids or None,
                  ambiguous=[f"{','.join(q.order_ids)}: {'/'.join(q.actions)}"
                             for q in result.ambiguous] or None)
        self.log.actions = ", ".join(dict.fromkeys(c.action for c in result.commands))
        self.log.order_ids = ",".join(result.order_ids) or None
        return result

    def _reply(self, key: str | None = None) -> None:
        text = self.reply_text()
        if not text.strip():
            self.step("reply", skipped="nothing to say")
            return
        self.log.reply_text = text
        self.step("reply", ticket=self.event.ticket_id, language=self.book.language)


class TicketDriver(BatchDriver):
    """The batch driver with a ticket's edges: the log is the message's `TicketActivity`
    (already claimed), the identity is the ticket's user, cooldown claims are held in the
    activity's name (a negative id: command logs hold positive ones), per-order verdicts go to
    the activity's `orders`. Provider dispatches are written like chat's, for send jobs."""

    run_class = TicketRun

    def __init__(self, activity: TicketActivity) -> None:
        super().__init__(in_job=False)
        self.activity_id = activity.id
        self.trace = list(activity.trace or [])
        self.orders: dict[tuple[str, str], dict] = {
            (o.get("order_id"), o.get("action")): o for o in (activity.orders or [])
            if isinstance(o, dict)}

    def open_logs(self, events) -> dict:
        return {event.id: LogRow(self.activity_id, "processing", self.trace) for event in events}

    def identities(self, asking) -> list:
        return [run.event.customer for run, _need in asking]

    def claims(self, asking) -> list[dict]:
        requests = [CooldownRequest(run.event.workspace_id, claim.order_id, claim.action,
                                    claim.seconds, claim.now, -run.log.id,
                                    username=(run.event.customer.username or "")[:120] or None)
                    for run, need in asking for claim in need.claims]
        return _per_run(asking, claim_cooldowns(requests), simulated=False)

    def link(self, asking) -> list[str]:  # tickets carry no link/verify command
        return ["" for _ in asking]

    def save(self, runs) -> None:
        for run in runs:
            for row in run.order_rows.values():
                self.orders[(row["order_id"], row["action"])] = {
                    "order_id": row["order_id"], "action": row["action"], "ok": row["ok"],
                    "reason": row["reason"], "route_id": row.get("route_id"),
                    "provider_id": row.get("provider_id"),
                    "external_id": row.get("external_id"),
                    "outbound_message_id": row.get("outbound_message_id")}
            run.order_rows.clear()
            changes = run.log.take_changes()
            values = {"trace": list(run.trace), "orders": list(self.orders.values())}
            for name in ("outcome", "reply_text", "duration_ms", "language", "order_ids"):
                if name in changes:
                    values[name] = changes[name]
            if values.get("order_ids"):
                values["order_ids"] = values["order_ids"][:2000]
            db.session.execute(update(TicketActivity)
                               .where(TicketActivity.id == run.log.id).values(**values)
                               .execution_options(synchronize_session=False))


# --- the poll ----------------------------------------------------------------------------------

@dataclass
class PollSummary:
    pending: int = 0
    read: int = 0
    answered: int = 0
    skipped: int = 0
    failed: int = 0
    already: int = 0
    not_matched: int = 0
    left: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        summary = {k: v for k, v in self.__dict__.items() if k != "errors"}
        if self.errors:
            summary["errors"] = self.errors[:5]
        return summary


def poll_workspace(workspace_id: int) -> dict:
    """One poll of the workspace's panel tickets (see the module docstring). Safe to run twice
    at once and after a crash: the message claims decide who answers what."""
    with workspace_scope(workspace_id):
        reason = enabled_reason(workspace_id)
        if reason is not None:
            return {"state": "skipped", "reason": reason}
        config = workspace_config(workspace_id)
        adapter = config.adapter()
        rules = workspace_rules(workspace_id)
        expire_replying(workspace_id)
        summary = PollSummary()
        try:
            pending = adapter.pending_tickets(LIST_PAGE_SIZE, LIST_PAGES)
        except PanelError as exc:
            return {"state": "failed", "error": exc.kind,
                    "detail": f"panel {exc.kind}: {exc.detail}"[:500]}
        summary.pending = len(pending)
        candidates = [t for t in pending if might_match(rules, t.subject)]
        summary.not_matched = len(pending) - len(candidates)
        candidates = _least_recently_read(workspace_id, candidates)
        summary.left = max(0, len(candidates) - READS_PER_POLL)
        for listed in candidates[:READS_PER_POLL]:
            try:
                outcome = handle_ticket(workspace_id, adapter, rules, listed)
            except PanelError as exc:
                db.session.rollback()
                summary.failed += 1
                summary.errors.append(f"#{listed.id}: {exc.kind}: {exc.detail}"[:200])
                if exc.kind in ("unreachable", "auth", "refused"):
                    break  # the panel as a whole: the next poll tries again
                continue
            summary.read += 1
            if outcome in ("answered", "skipped", "failed", "already"):
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            elif outcome in ("reply_failed", "reply_unknown"):
                summary.failed += 1
        result = summary.as_dict()
        if summary.failed and not (summary.answered or summary.skipped or summary.already):
            result["state"] = "failed"
            result["detail"] = "; ".join(summary.errors[:3]) or "ticket handling failed"
        return result


def _least_recently_read(workspace_id: int, tickets: list[PanelTicket]) -> list[PanelTicket]:
    """Tickets never read first (oldest id first), then those read longest ago."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    last = dict(db.session.execute(
        select(TicketActivity.ticket_id, func.max(TicketActivity.checked_at))
        .where(TicketActivity.workspace_id == workspace_id,
               TicketActivity.ticket_id.in_(ids))
        .group_by(TicketActivity.ticket_id)).all())

    def order(ticket: PanelTicket):
        seen = last.get(ticket.id)
        number = int(ticket.id) if ticket.id.isdigit() and len(ticket.id) < 19 else 0
        return (seen is not None, seen or datetime.min, number)

    return sorted(tickets, key=order)


def expire_replying(workspace_id: int) -> int:
    """Replies left `replying` by a worker that died while posting: they may have reached the
    panel, so they are never posted again (`reply_unknown`)."""
    result = db.session.execute(
        update(TicketActivity)
        .where(TicketActivity.workspace_id == workspace_id,
               TicketActivity.state == "replying",
               TicketActivity.claimed_at < utcnow() - CLAIM_LEASE)
        .values(state="reply_unknown",
                error="the worker stopped while posting the reply; it is not posted again")
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def claim_message(workspace_id: int, ticket_id: str, key: str, values: dict) -> int | None:
    """Take the message (ticket, key) for this poll: the activity's id, or None when another
    poll has it (handled, being handled, or given up after MAX_ATTEMPTS). Committed."""
    from app.jobs.bulk import dialect_insert

    table = TicketActivity.__table__
    now = utcnow()
    insert = dialect_insert(table)
    statement = insert.values(
        workspace_id=workspace_id, ticket_id=ticket_id, message_key=key, state="claimed",
        attempts=1, claimed_at=now, checked_at=now, created_at=now, orders=[], trace=[],
        **values,
    ).on_conflict_do_update(
        index_elements=["workspace_id", "ticket_id", "message_key"],
        set_={"state": "claimed", "claimed_at": now, "checked_at": now, "error": None,
              "attempts": table.c.attempts + 1},
        where=or_(and_(table.c.state == "failed", table.c.attempts < MAX_ATTEMPTS),
                  and_(table.c.state == "claimed", table.c.claimed_at < now - CLAIM_LEASE)),
    ).returning(table.c.id)
    claimed = db.session.execute(statement).scalar()
    db.session.commit()
    return claimed


def _touch(workspace_id: int, ticket_id: str, key: str) -> None:
    db.session.execute(update(TicketActivity)
                       .where(TicketActivity.workspace_id == workspace_id,
                              TicketActivity.ticket_id == ticket_id,
                              TicketActivity.message_key == key)
                       .values(checked_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _finish(activity_id: int, state: str, **values) -> None:
    if values.get("error"):
        values["error"] = redact(str(values["error"]))[:ERROR_MAX]
    db.session.execute(update(TicketActivity).where(TicketActivity.id == activity_id)
                       .values(state=state, **values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _customer(workspace_id: int, username: str, default_language: str) -> TicketCustomer:
    linked = db.session.execute(
        select(LinkedUser).where(LinkedUser.workspace_id == workspace_id,
                                 func.lower(LinkedUser.username) == username.strip().lower())
        .order_by(LinkedUser.id).limit(1)).scalar_one_or_none()
    if linked is not None:
        return TicketCustomer(username=username, language=linked.language or default_language,
                              id=linked.id)
    return TicketCustomer(username=username, language=default_language)


def order_ids(text: str, config) -> ParseResult:
    """The order ids the customer wrote (the chat parser's reading: ids it sees negated, in a
    question of which action, or as counts and years are left out)."""
    keywords = list(config.custom_replies)
    max_ids = config.settings.max_ids_per_message
    try:
        return parse(text, aliases=config.aliases, custom_keywords=keywords, max_ids=max_ids)
    except ValueError:  # a broken alias must not stop the tickets
        return parse(text, custom_keywords=keywords, max_ids=max_ids)


DISPATCH_ACTIONS = ("refill", "speed", "cancel")
_LOOSE_ID = re.compile(r"(?<![\w#])#?(\d{6,12})(?![\w])")


def _negated_action(parsed: ParseResult) -> bool:
    """Whether the parser set aside an action word (a negated or refused one: `don't refill`,
    `не отменяйте`): its ids then mean details, never the rule's action."""
    for word in parsed.unknown[:20]:
        if any(c.action in DISPATCH_ACTIONS for c in parse(word).commands):
            return True
    return False


def ticket_command(text: str, action: str, config) -> ParseResult:
    """What the ticket asks for, the chat parser's reading combined with the rule's action:

    * the customer named a refill, speed or cancel with ids: the parser's commands as they
      are (the customer's own words win; ids they did not name an action for mean details);
    * else the ids the parser read (details) get the rule's action, unless the customer's text
      holds a negated action word (`don't refill 2274209`: details);
    * no id at all: standalone numbers of six to twelve digits in what the parser took for
      conversation (`now 2274210 too, thanks`) get the rule's action, except cancel (a cancel
      cannot be undone: those ids mean details);
    * ids with an unclear action (`2274209 cancel or refill?`) are asked about, as in chat.
    """
    parsed = order_ids(text, config)
    explicit = [c for c in parsed.commands if c.action in DISPATCH_ACTIONS and c.order_ids]
    if explicit:
        commands = [c for c in parsed.commands if c.action in ORDER_ACTIONS and c.order_ids]
    else:
        ids = tuple(parsed.order_ids)
        chosen = "details" if _negated_action(parsed) else action
        if not ids and not parsed.ambiguous:
            loose = [str(int(m)) for line in parsed.ignored for m in _LOOSE_ID.findall(line)]
            ids = tuple(dict.fromkeys(loose))[:config.settings.max_ids_per_message]
            chosen = "details" if action == "cancel" else action
        commands = [Command(chosen, ids)] if ids else []
    return ParseResult(commands=commands, invalid_ids=list(parsed.invalid_ids),
                       too_many_ids=parsed.too_many_ids, ambiguous=list(parsed.ambiguous))


def handle_ticket(workspace_id: int, adapter, rules: list[Rule], listed: PanelTicket) -> str:
    """Read one pending ticket and handle its new customer message (at most once). Answers
    what happened: nothing | already | skipped | answered | failed | reply_failed |
    reply_unknown.

    :raise PanelError: the ticket could not be read (nothing was claimed).
    """
    started = time.perf_counter()
    ticket = adapter.get_ticket(listed.id)
    subject = ticket.subject or listed.subject
    username = (ticket.username or listed.username or "").strip()
    fresh, position = new_messages(ticket)
    if position is None:
        return "nothing"
    key = message_key(position, ticket.messages[position])
    text = "\n".join(m["message"] for m in fresh)[:TEXT_MAX]
    activity_id = claim_message(workspace_id, ticket.id, key, {
        "username": username[:120] or None, "subject": (subject or "")[:300] or None,
        "customer_text": text})
    if activity_id is None:
        _touch(workspace_id, ticket.id, key)
        return "already"
    try:
        return _handle_claimed(workspace_id, adapter, rules, ticket, activity_id, subject,
                               username, text, started)
    except PanelError as exc:
        db.session.rollback()
        _finish(activity_id, "failed", error=f"{exc.kind}: {exc.detail}", outcome="error")
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the ticket's row, retried later
        db.session.rollback()
        log.exception("ticket %s of workspace %s failed", ticket.id, workspace_id)
        _finish(activity_id, "failed", error=f"{type(exc).__name__}: {exc}",
                outcome="error")
        return "failed"


def _handle_claimed(workspace_id, adapter, rules, ticket, activity_id, subject, username,
                    text, started) -> str:
    from app.integrations.calls import flush_call_log
    from app.jobs.outbound import defer

    def skip(outcome: str, **values) -> str:
        _finish(activity_id, "skipped", outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 1), **values)
        return "skipped"

    rule = choose(rules, subject, text)
    if rule is None:
        return skip("no_rule")
    if rule.action == "ignore":
        return skip("ignored_by_rule", rule=rule.name[:120], action=rule.action)
    if not username:
        return skip("no_user", rule=rule.name[:120], action=rule.action)
    config = workspace_config(workspace_id)
    result = ticket_command(text, rule.action, config)
    if not result.commands and not result.ambiguous:
        return skip("no_ids", rule=rule.name[:120], action=rule.action)
    action = ", ".join(dict.fromkeys(c.action for c in result.commands)) or "details"
    activity = db.session.get(TicketActivity, activity_id)
    db.session.execute(update(TicketActivity).where(TicketActivity.id == activity_id)
                       .values(rule=rule.name[:120], action=action[:20])
                       .execution_options(synchronize_session=False))
    customer = _customer(workspace_id, username, config.language)
    event = TicketEvent(workspace_id=workspace_id, ticket_id=ticket.id, subject=subject,
                        text=text, customer=customer, rule=rule, result=result)
    driver = TicketDriver(activity)
    outcomes, items = run_commands([event], driver)
    outcome = outcomes[event.id]
    flush_call_log()
    db.session.commit()
    for item in items:  # provider dispatches: send jobs, exactly as chat's
        defer(item)
    db.session.expire_all()
    activity = db.session.get(TicketActivity, activity_id)
    if outcome in ("panel_unavailable", "unsupported"):
        # the customer would only be told the panel is not answering: tried again later
        _finish(activity_id, "failed", error=_panel_error(driver) or outcome)
        return "failed"
    reply = (activity.reply_text or "").strip()
    if not reply:
        _finish(activity_id, "skipped")
        return "skipped"
    # claimed → replying, only from `claimed`: a second poll that took the message over after
    # this one's lease passed (a very slow panel) finds it `replying` and never posts it too
    moved = db.session.execute(
        update(TicketActivity)
        .where(TicketActivity.id == activity_id, TicketActivity.state == "claimed")
        .values(state="replying", claimed_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not moved:
        return "already"
    try:
        adapter.reply_ticket(ticket.id, reply)
    except PanelError as exc:
        # unreachable after a POST (timeout, 5xx: never repeated) or an answer that is not the
        # API's: it may have been posted. A refusal (rejected, auth, refused) was not.
        state = "reply_unknown" if exc.kind in ("unreachable", "bad_response") \
            else "reply_failed"
        _finish(activity_id, state, error=f"{exc.kind}: {exc.detail}")
        return state
    _finish(activity_id, "answered", replied_at=utcnow(),
            duration_ms=round((time.perf_counter() - started) * 1000, 1))
    return "answered"


def _panel_error(driver: TicketDriver) -> str | None:
    for run in driver.runs:
        for step in run.trace:
            if step.get("step") == "panel_fetch" and step.get("error"):
                return f"panel {step['error']}: {step.get('detail', '')}"
    return None
