"""A workspace's health: what is wrong now, in plain words, with the fix and where to make it.

One module serves the Health screens, `GET /api/v1/health` and the `health` runner
(docs/ARCHITECTURE.md "Health"). Everything is read from state already in the database: channel
rows (status, status detail, last webhook), detected chats and inbound events (Telegram privacy
mode), outbound messages and external calls (panel error rate), runner states, the
subscription and the plan. Nothing here calls an outside service, except the runner's reading
of each verified Meta number's quality rating (`refresh_meta_quality`, at most hourly per
channel), which it stores on the channel before the checks read it.

`evaluate(workspace_id)` answers a `Health` (problems, channels, panel, queue); a problem is a
code with its parameters, put into words (`message`, `fix`) in the reader's language when shown.
`refresh(workspace_id)` (the runner) compares the problems found with the open `HealthProblem`
rows: a new one is opened and its managers are told once (the row is the in-app notice, plus the
`health_problem` e-mail); one whose cause is gone is cleared and told once (`health_cleared`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, func, or_, select, update

from app.extensions import db
from app.labels import code_label
from app.models import (Channel, DetectedChat, ExternalCall, HealthProblem, InboundEvent,
                        OutboundMessage, PanelConnection, RunnerState, Subscription, Workspace)
from app.models.base import utcnow
from app.models.channels import PAUSING_STATES
from app.status_words import GREEN_STATE_WORDS, MESSAGES, Said

log = logging.getLogger(__name__)

# --- thresholds (docs/contracts.md "Health") ------------------------------------------------
#: a channel that received nothing for this long is quiet...
QUIET_AFTER = timedelta(hours=24)
#: ...when it had received at least this many notifications in the week before it went quiet
QUIET_MIN_EVENTS = 20
QUIET_HISTORY = timedelta(days=7)
#: a Telegram group the bot is a plain member of, with no group message since it joined
PRIVACY_GRACE = timedelta(hours=1)
#: ...looking back at most this far (a group message within it clears the doubt)
PRIVACY_LOOKBACK = timedelta(days=7)
#: the panel's error rate is counted over this window
PANEL_WINDOW = timedelta(hours=1)
#: ...and each channel's (its messages sent or failed)
CHANNEL_WINDOW = timedelta(hours=1)
#: the panel is unreachable when its last PANEL_FAILS calls (within PANEL_RECENT) all failed to
#: reach it (timeouts, connection errors, 5xx)
PANEL_RECENT = timedelta(minutes=15)
PANEL_FAILS = 3
#: a message or event waiting longer than this is a backlog
BACKLOG_AFTER = timedelta(minutes=5)

PANEL_AUTH_STATUSES = (401, 403)
PANEL_UNREACHABLE_OUTCOMES = ("transient", "timeout", "error")
#: what the panel connection's Test connection says when it could not reach the panel
PANEL_UNREACHABLE_SAID = {"panel_unreachable", "panel_connection", "panel_timeout",
                          "panel_server_error", "panel_cloudflare"}
WAITING_EVENTS = ("pending", "queued")
EXPIRED_SUBSCRIPTIONS = ("expired", "past_due")

#: a Meta number's quality rating is read again once the last reading is this old
QUALITY_EVERY = timedelta(hours=1)
#: ratings that are a problem: Meta may lower the number's messaging limit or flag it
QUALITY_SEVERITY = {"YELLOW": "warning", "RED": "problem"}
#: an access token's recorded expiry is warned about this long before the day
TOKEN_WARNING = timedelta(days=7)

#: severities, the worse last
SEVERITIES = ("warning", "problem")


@dataclass
class Problem:
    code: str
    severity: str
    subject_key: str
    subject: str
    link: str
    since: datetime | None
    params: dict = field(default_factory=dict)
    workspace_id: int | None = None

    def message(self) -> str:
        return problem_message(self.code, self.params)

    def fix(self) -> str:
        return problem_fix(self.code, self.params)


@dataclass
class Health:
    problems: list[Problem]
    channels: list[dict]
    panel: dict
    queue: dict
    #: the workspace's plan: its name and what it includes (None for the master admin's view)
    plan: dict | None = None
    #: the workspace's runners: state, last run, outcome, next run (empty for the overview)
    runners: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(p.severity == "problem" for p in self.problems):
            return "problem"
        return "warning" if self.problems else "ok"


# --- words ------------------------------------------------------------------------------------

FIXES = {
    "channel_not_authorized": _l("Open the channel and use Test connection: it shows the QR "
                                 "code to scan. Held messages go out once it is authorised."),
    "channel_reauth": _l("Open the channel, enter its credentials again, then use Test "
                         "connection."),
    "channel_quiet": _l("Open the channel and use Configure webhook (for Meta, check the "
                        "callback URL in the Meta app), then send it a test message."),
    "telegram_privacy_mode": MESSAGES["telegram_privacy"],
    "webhook_not_registered": _l("Open the channel and use Configure webhook."),
    "meta_token_expiring": _l("Open the channel, enter a new access token (a system user's "
                              "token does not expire), then use Test connection."),
    "meta_quality_low": _l("Send customers only messages they asked for, make replies short "
                           "and useful, and stop messages people block or report; Meta raises "
                           "the rating again after a few days of good messages."),
    "panel_unreachable": _l("Open the panel connection, check the URL, then use Test "
                            "connection."),
    "panel_auth_failed": _l("Open the panel connection, enter the admin API key again, then "
                            "use Test connection."),
    "plan_expired": _l("Renew the subscription on the Billing page."),
    "channel_not_in_plan": _l("Choose a plan that includes it on the Billing page, or disable "
                              "the channel."),
    "runner_failing": _l("Open Runners to read its last error; it tries again by itself."),
    "queue_backlog": _l("Relaydesk's workers may be stopped or overloaded: tell the "
                        "platform's administrator (Support tools › Platform support)."),
    "contacts_limit_reached": _l("Choose a larger plan on the Billing page, or delete "
                                 "contacts you no longer need."),
}


def problem_message(code: str, params: dict) -> str:
    """What is wrong, in the reader's language (reusing the words the screens already say)."""
    channel = params.get("channel", "")
    if code == "channel_not_authorized":
        state = params.get("state")
        words = GREEN_STATE_WORDS.get(state)
        if words is not None:
            return str(words)
        return _("The platform refused the channel's credentials.")
    if code == "channel_quiet":
        return _("%(channel)s has received nothing for %(hours)s hours, although it usually "
                 "receives messages.", channel=channel, hours=params.get("hours", 24))
    if code == "telegram_privacy_mode":
        return _("Group messages never reach %(channel)s: Telegram's privacy mode seems to be "
                 "on, so in groups the bot sees only commands and replies.", channel=channel)
    if code == "webhook_not_registered":
        said = MESSAGES.get(params.get("said") or "")
        return str(said) if said is not None else \
            _("The channel's webhook is not set where Relaydesk expects it.")
    if code == "meta_token_expiring":
        expires = params.get("expires_on")
        if expires and params.get("days", 0) > 0:
            return ngettext("The access token of %(channel)s expires on %(date)s, in %(num)d "
                            "day.", "The access token of %(channel)s expires on %(date)s, in "
                            "%(num)d days.", params["days"], channel=channel, date=expires)
        if expires:
            return _("The access token of %(channel)s expired on %(date)s.", channel=channel,
                     date=expires)
        return str(MESSAGES["token_expired"])
    if code == "meta_quality_low":
        return _("Meta rates the quality of the messages sent by %(channel)s: %(rating)s. "
                 "Customers block or report some of them, and a low rating can lower how many "
                 "people the number may message.", channel=channel,
                 rating=code_label("meta_quality", params.get("rating", "")))
    if code == "panel_unreachable":
        return str(MESSAGES["panel_unreachable"])
    if code == "panel_auth_failed":
        return str(MESSAGES["panel_auth"])
    if code == "plan_expired":
        if params.get("status") == "past_due":
            return _("The last payment failed: pay to keep the workspace working.")
        return _("The subscription ended: renew it to resume the workspace.")
    if code == "channel_not_in_plan":
        return _("The %(plan)s plan does not include %(medium)s channels.",
                 plan=params.get("plan", ""), medium=code_label("channel_kind",
                                                                params.get("kind", "")))
    if code == "runner_failing":
        return _("%(runner)s keeps failing: %(error)s",
                 runner=code_label("runner_name", params.get("runner", "")),
                 error=params.get("error") or "—")
    if code == "contacts_limit_reached":
        return _("The plan's limit of %(limit)s linked users and contacts is reached: new "
                 "chats make no contact and imports stop at the limit.",
                 limit=params.get("limit", 0))
    if code == "queue_backlog":
        return _("%(depth)s messages and events are waiting; the oldest has waited %(minutes)s "
                 "minutes.", depth=params.get("depth", 0), minutes=params.get("minutes", 0))
    return code


def problem_fix(code: str, params: dict) -> str:
    if code == "channel_not_authorized" and params.get("state") not in PAUSING_STATES:
        return str(FIXES["channel_reauth"])
    fix = FIXES.get(code)
    return str(fix) if fix is not None else ""


# --- the checks -------------------------------------------------------------------------------

def _channel_link(channel: Channel) -> str:
    return f"/channelview/show/{channel.id}"


PANEL_LINK = "/panelconnectionview/list/"
BILLING_LINK = "/billing/"
RUNNERS_LINK = "/runnerstateview/list/"
SUPPORT_LINK = "/supportticketview/list/"
CONTACTS_LINK = "/contactview/list/"


def _said_codes(detail: str | None) -> set[str]:
    said = Said.decode(detail)
    if said is None:
        return set()
    codes, todo = set(), [said]
    while todo:
        part = todo.pop()
        codes.add(part.code)
        todo.extend(part.more)
    return codes


def _pausing_state(channel: Channel) -> str | None:
    """The Green API state that paused the channel (its status detail is that state's text)."""
    for state, text in PAUSING_STATES.items():
        if channel.status_detail == text:
            return state
    codes = Said.decode(channel.status_detail)
    if codes is not None and codes.code == "green_state":
        state = codes.params.get("state")
        return state if state in PAUSING_STATES else None
    return "notAuthorized"


def _group_message_since(channel_id: int, workspace_id: int, since: datetime) -> bool:
    """Whether a group message that is not a command reached the channel since `since`."""
    return db.session.execute(select(InboundEvent.id).where(
        InboundEvent.workspace_id == workspace_id, InboundEvent.received_at >= since,
        InboundEvent.channel_id == channel_id, InboundEvent.is_group.is_(True),
        InboundEvent.kind == "message", InboundEvent.from_bot.is_(False),
        or_(InboundEvent.text.is_(None), ~InboundEvent.text.startswith("/"))).limit(1)
    ).first() is not None


def _events_before(channel: Channel, until: datetime) -> int:
    return int(db.session.execute(select(func.count()).select_from(
        select(InboundEvent.id).where(
            InboundEvent.workspace_id == channel.workspace_id,
            InboundEvent.received_at >= until - QUIET_HISTORY,
            InboundEvent.received_at <= until, InboundEvent.channel_id == channel.id)
        .limit(QUIET_MIN_EVENTS).subquery())).scalar() or 0)


def channel_problems(channel: Channel, plan, now: datetime) -> list[Problem]:
    if not channel.enabled:
        return []
    found: list[Problem] = []
    key, name, link = f"channel:{channel.id}", channel.name, _channel_link(channel)

    def add(code: str, severity: str, since=None, **params):
        found.append(Problem(code, severity, key, name, link, since or channel.updated_at,
                             {"channel": name, **params}, channel.workspace_id))

    if plan is not None and channel.kind not in plan.medium_list:
        found.append(Problem("channel_not_in_plan", "problem", key, name, BILLING_LINK,
                             channel.updated_at, {"channel": name, "plan": plan.name,
                                                  "kind": channel.kind},
                             channel.workspace_id))
    codes = _said_codes(channel.status_detail)
    if channel.kind == "greenapi" and channel.status == "paused":
        add("channel_not_authorized", "problem", state=_pausing_state(channel))
    elif channel.status == "needs_reauth":
        if channel.kind == "meta":
            add("meta_token_expiring", "problem")
        else:
            add("channel_not_authorized", "problem", state=None)
    elif channel.kind == "meta" and "token_expired" in codes:
        add("meta_token_expiring", "problem")
    elif channel.kind == "meta" and channel.token_expires_on is not None \
            and now.date() >= channel.token_expires_on - TOKEN_WARNING:
        days = (channel.token_expires_on - now.date()).days
        add("meta_token_expiring", "warning" if days > 0 else "problem",
            since=datetime.combine(channel.token_expires_on - TOKEN_WARNING, datetime.min.time()),
            expires_on=channel.token_expires_on.isoformat(), days=days)
    if channel.kind == "meta" and channel.quality_rating in QUALITY_SEVERITY:
        add("meta_quality_low", QUALITY_SEVERITY[channel.quality_rating],
            since=channel.quality_checked_at, rating=channel.quality_rating)
    webhook = codes & {"telegram_no_webhook", "telegram_webhook_error", "webhook_failed"}
    if webhook:
        add("webhook_not_registered", "problem", said=sorted(webhook)[0])
    if channel.kind == "telegram":
        privacy = _privacy_problem(channel, codes, now)
        if privacy is not None:
            add("telegram_privacy_mode", "warning", since=privacy)
    quiet_since = channel.last_webhook_at
    if (channel.kind != "webchat" and channel.status != "paused" and quiet_since is not None
            and now - quiet_since >= QUIET_AFTER
            and _events_before(channel, quiet_since) >= QUIET_MIN_EVENTS):
        add("channel_quiet", "warning", since=quiet_since,
            hours=int((now - quiet_since).total_seconds() // 3600))
    return found


def _privacy_problem(channel: Channel, codes: set[str], now: datetime) -> datetime | None:
    """When group messages stopped being expected to arrive: the bot is a plain member of a
    group for more than PRIVACY_GRACE and no non-command group message came since it joined;
    or the last Test connection said privacy mode is on."""
    if "telegram_privacy" in codes:
        return channel.updated_at
    joined = db.session.execute(select(func.min(DetectedChat.detected_at)).where(
        DetectedChat.workspace_id == channel.workspace_id,
        DetectedChat.channel_id == channel.id,
        DetectedChat.chat_type.in_(("group", "supergroup")),
        DetectedChat.member_status == "member",
        DetectedChat.detected_at <= now - PRIVACY_GRACE)).scalar()
    if joined is None or _group_message_since(channel.id, channel.workspace_id,
                                              max(joined, now - PRIVACY_LOOKBACK)):
        return None
    return joined


def panel_state(workspace_id: int | None, now: datetime) -> tuple[dict, list[Problem]]:
    """The panel's state, last success and error rate over PANEL_WINDOW, with its problems."""
    connection = None
    if workspace_id is not None:
        connection = db.session.execute(select(PanelConnection).where(
            PanelConnection.workspace_id == workspace_id)).scalar_one_or_none()
    calls = _panel_calls(workspace_id, now)
    total, errors = _panel_counts(workspace_id, now)
    last_ok = _last_ok(workspace_id, now)
    if connection is not None and connection.last_checked_at is not None \
            and connection.status == "ok":
        last_ok = max(filter(None, (last_ok, connection.last_checked_at)))
    report = {"state": "none" if connection is None and workspace_id is not None else
              (connection.status if connection is not None else "unknown"),
              "last_ok_at": last_ok,
              "error_rate": round(errors / total, 3) if total else None}
    problems: list[Problem] = []
    if connection is None or connection.panel_type == "demo":
        return report, problems
    subject = str(_("Panel connection"))
    latest = calls[0] if calls else None
    checked_auth = "panel_auth" in _said_codes(connection.status_detail) and (
        latest is None or connection.last_checked_at is None
        or latest.at <= connection.last_checked_at)
    if checked_auth or (latest is not None and latest.status_code in PANEL_AUTH_STATUSES):
        since = latest.at if latest is not None and not checked_auth else \
            connection.last_checked_at
        problems.append(Problem("panel_auth_failed", "problem", "panel", subject, PANEL_LINK,
                                since or now, {}, workspace_id))
        report["state"] = "auth_failed"
        return report, problems
    recent = [c for c in calls if c.at >= now - PANEL_RECENT]
    checked_unreachable = bool(_said_codes(connection.status_detail) & PANEL_UNREACHABLE_SAID) \
        and connection.status == "error" and (
            latest is None or connection.last_checked_at is None
            or latest.at <= connection.last_checked_at)
    if checked_unreachable or (len(recent) == PANEL_FAILS and all(
            c.outcome in PANEL_UNREACHABLE_OUTCOMES and
            (c.status_code is None or c.status_code >= 500) for c in recent)):
        since = connection.last_checked_at if checked_unreachable else recent[-1].at
        problems.append(Problem("panel_unreachable", "problem", "panel", subject, PANEL_LINK,
                                since or now, {}, workspace_id))
        report["state"] = "unreachable"
    elif total:
        report["state"] = "ok" if errors == 0 else ("error" if errors == total
                                                   else "degraded")
    return report, problems


def _panel_filter(query, workspace_id: int | None, since: datetime):
    query = query.where(ExternalCall.at >= since, ExternalCall.service.like("panel:%"))
    return query if workspace_id is None else query.where(
        ExternalCall.workspace_id == workspace_id)


def _panel_calls(workspace_id: int | None, now: datetime):
    """The last PANEL_FAILS panel calls of the last PANEL_WINDOW, newest first."""
    query = _panel_filter(select(ExternalCall.at, ExternalCall.outcome,
                                 ExternalCall.status_code), workspace_id, now - PANEL_WINDOW)
    return db.session.execute(query.order_by(ExternalCall.at.desc()).limit(PANEL_FAILS)).all()


def _panel_counts(workspace_id: int | None, now: datetime) -> tuple[int, int]:
    """(calls, failed calls) to the panel over PANEL_WINDOW, counted in the database."""
    query = _panel_filter(select(func.count(), func.count().filter(ExternalCall.outcome != "ok")),
                          workspace_id, now - PANEL_WINDOW)
    total, errors = db.session.execute(query).one()
    return int(total or 0), int(errors or 0)


def _last_ok(workspace_id: int | None, now: datetime) -> datetime | None:
    query = select(func.max(ExternalCall.at)).where(
        ExternalCall.at >= now - timedelta(days=7), ExternalCall.outcome == "ok",
        ExternalCall.service.like("panel:%"))
    if workspace_id is not None:
        query = query.where(ExternalCall.workspace_id == workspace_id)
    return db.session.execute(query).scalar()


def queue_state(workspace_id: int | None, now: datetime) -> dict:
    """What waits to be handled: inbound events not yet processed and outbound messages due
    now (a message held by a paused channel or waiting for its retry time is not counted)."""
    def scoped(query, model):
        return query if workspace_id is None else query.where(model.workspace_id == workspace_id)

    events = db.session.execute(scoped(
        select(func.count(), func.min(InboundEvent.received_at)).where(
            InboundEvent.state.in_(WAITING_EVENTS)), InboundEvent)).one()
    messages = db.session.execute(scoped(
        select(func.count(), func.min(OutboundMessage.created_at)).where(
            or_(OutboundMessage.state == "pending",
                and_(OutboundMessage.state == "retrying",
                     OutboundMessage.next_attempt_at <= now))), OutboundMessage)).one()
    oldest = min(filter(None, (events[1], messages[1])), default=None)
    return {"depth": int(events[0] or 0) + int(messages[0] or 0),
            "oldest_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
            "oldest_at": oldest}


def subscription_problems(workspace: Workspace) -> list[Problem]:
    subscription = db.session.execute(select(Subscription).where(
        Subscription.workspace_id == workspace.id)).scalar_one_or_none()
    if subscription is None or subscription.status not in EXPIRED_SUBSCRIPTIONS:
        return []
    return [Problem("plan_expired", "problem" if subscription.status == "expired" else
                    "warning", "subscription", str(_("Subscription")), BILLING_LINK,
                    subscription.current_period_end or subscription.updated_at,
                    {"status": subscription.status}, workspace.id)]


def contact_problems(workspace_id: int, plan, now: datetime) -> list[Problem]:
    """The plan's limit of linked users and contacts reached (app/contacts.py: chats then make
    no contact)."""
    from app.contacts import room_left

    limit = getattr(plan, "max_linked_users", None) if plan is not None else None
    if limit is None or room_left(workspace_id) != 0:
        return []
    return [Problem("contacts_limit_reached", "warning", "contacts", str(_("Contacts")),
                    CONTACTS_LINK, now, {"limit": limit}, workspace_id)]


def runner_problems(workspace_id: int) -> list[Problem]:
    rows = db.session.execute(select(RunnerState).where(
        RunnerState.workspace_id == workspace_id, RunnerState.enabled.is_(True),
        RunnerState.failing_since.isnot(None))).scalars()
    return [Problem("runner_failing", "warning", f"runner:{row.runner}",
                    str(code_label("runner_name", row.runner)), RUNNERS_LINK,
                    row.failing_since, {"runner": row.runner,
                                        "error": (row.last_error or "")[:200]}, workspace_id)
            for row in rows]


def evaluate(workspace_id: int, now: datetime | None = None) -> Health:
    """The workspace's health now, from the database only."""
    from app.plans import plan_of

    now = now or utcnow()
    workspace = db.session.get(Workspace, workspace_id)
    plan = plan_of(workspace)
    channels = db.session.execute(select(Channel).where(Channel.workspace_id == workspace_id)
                                  .order_by(Channel.name)).scalars().all()
    problems: list[Problem] = []
    for channel in channels:
        problems.extend(channel_problems(channel, plan, now))
    panel, panel_problems = panel_state(workspace_id, now)
    problems.extend(panel_problems)
    problems.extend(subscription_problems(workspace))
    problems.extend(runner_problems(workspace_id))
    problems.extend(contact_problems(workspace_id, plan, now))
    queue = queue_state(workspace_id, now)
    if queue["depth"] and queue["oldest_seconds"] >= BACKLOG_AFTER.total_seconds():
        problems.append(Problem("queue_backlog", "problem", "queue", str(_("Queue")),
                                SUPPORT_LINK, queue["oldest_at"],
                                {"depth": queue["depth"],
                                 "minutes": queue["oldest_seconds"] // 60}, workspace_id))
    problems.sort(key=lambda p: (-SEVERITIES.index(p.severity), p.code, p.subject))
    sends = channel_sends(workspace_id, now)
    return Health(problems, [channel_row(c, sends) for c in channels], panel, queue,
                  plan_access(plan), runner_rows(workspace_id))


def channel_sends(workspace_id: int | None, now: datetime) -> dict[int, tuple[int, int]]:
    """Per channel, (messages sent or failed, failed) over CHANNEL_WINDOW: one GROUP BY."""
    query = select(OutboundMessage.channel_id, func.count(),
                   func.count().filter(OutboundMessage.state == "failed")).where(
        OutboundMessage.created_at >= now - CHANNEL_WINDOW,
        OutboundMessage.state.in_(("sent", "failed")))
    if workspace_id is not None:
        query = query.where(OutboundMessage.workspace_id == workspace_id)
    rows = db.session.execute(query.group_by(OutboundMessage.channel_id)).all()
    return {channel_id: (int(total), int(failed)) for channel_id, total, failed in rows}


def channel_row(channel: Channel, sends: dict[int, tuple[int, int]] | None = None) -> dict:
    total, failed = (sends or {}).get(channel.id, (0, 0))
    return {"id": channel.id, "name": channel.name, "kind": channel.kind,
            "state": channel.status if channel.enabled else "disabled",
            "last_webhook_at": channel.last_webhook_at,
            "sent_last_hour": total, "failed_last_hour": failed,
            "error_rate": round(failed / total, 3) if total else None,
            "quality_rating": channel.quality_rating if channel.kind == "meta" else None}


def plan_access(plan) -> dict | None:
    """What the plan includes: each medium and module, included or not."""
    from app.models.billing import PLAN_MEDIUMS, PLAN_MODULES

    if plan is None:
        return None
    mediums, modules = set(plan.medium_list), set(plan.module_list)
    return {"name": plan.name, "mediums": {kind: kind in mediums for kind in PLAN_MEDIUMS},
            "modules": {module: module in modules for module in PLAN_MODULES}}


def runner_rows(workspace_id: int) -> list[dict]:
    rows = db.session.execute(select(RunnerState).where(
        RunnerState.workspace_id == workspace_id).order_by(RunnerState.runner)).scalars()
    return [{"runner": row.runner, "enabled": row.enabled, "last_run_at": row.last_run_at,
             "outcome": row.outcome, "failing_since": row.failing_since,
             "next_run_at": row.next_run_at if row.enabled else None} for row in rows]


def overview(now: datetime | None = None) -> Health:
    """Every workspace at once (the master admin): the open problems the health runner
    recorded (at most one run old), every channel, the panels' calls and the queue."""
    now = now or utcnow()
    rows = db.session.execute(
        select(HealthProblem, Workspace.name).join(Workspace,
                                                   Workspace.id == HealthProblem.workspace_id)
        .where(HealthProblem.cleared_at.is_(None))
        .order_by(Workspace.name, HealthProblem.opened_at)).all()
    problems = [Problem(row.code, row.severity, row.subject_key, f"{name} · {row.subject}",
                        row.link, row.since, dict(row.params or {}), row.workspace_id)
                for row, name in rows]
    problems.sort(key=lambda p: -SEVERITIES.index(p.severity))
    channels = db.session.execute(select(Channel).order_by(Channel.workspace_id, Channel.name)
                                  ).scalars().all()
    panel, _unused = panel_state(None, now)
    queue = queue_state(None, now)
    sends = channel_sends(None, now)
    return Health(problems, [channel_row(c, sends) for c in channels], panel, queue)


def as_json(health: Health) -> dict:
    """The API's answer (docs/contracts.md "Health"): times ISO 8601 UTC."""
    def iso(moment):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    return {
        "status": health.status,
        "problems": [{"code": p.code, "severity": p.severity, "subject": p.subject,
                      "message": p.message(), "fix": p.fix(), "link": p.link,
                      "since": iso(p.since)} for p in health.problems],
        "channels": [{**row, "last_webhook_at": iso(row["last_webhook_at"])}
                     for row in health.channels],
        "panel": {**health.panel, "last_ok_at": iso(health.panel["last_ok_at"])},
        "queue": {"depth": health.queue["depth"],
                  "oldest_seconds": health.queue["oldest_seconds"]},
        "plan": health.plan,
        "runners": [{**row, **{key: iso(row[key]) for key in
                               ("last_run_at", "failing_since", "next_run_at")}}
                    for row in health.runners],
    }


# --- the runner: open, clear and tell -------------------------------------------------------

def refresh(workspace_id: int, now: datetime | None = None) -> dict:
    """Record the workspace's problems: open the new ones, clear the gone ones, and tell its
    managers once each way. Two runs at once open a problem once (partial UNIQUE index)."""
    from app.jobs.bulk import dialect_insert

    now = now or utcnow()
    found = {(p.code, p.subject_key): p for p in evaluate(workspace_id, now).problems}
    open_rows = {(row.code, row.subject_key): row for row in db.session.execute(
        select(HealthProblem).where(HealthProblem.workspace_id == workspace_id,
                                    HealthProblem.cleared_at.is_(None))).scalars()}
    opened, cleared = [], []
    for key, problem in found.items():
        if key in open_rows:
            continue
        insert = dialect_insert(HealthProblem.__table__).values(
            workspace_id=workspace_id, code=problem.code, severity=problem.severity,
            subject_key=problem.subject_key[:80], subject=problem.subject[:200],
            params=problem.params, link=problem.link, since=problem.since or now,
            opened_at=now, opened_mailed=0, cleared_mailed=0)
        result = db.session.execute(insert.on_conflict_do_nothing(
            index_elements=["workspace_id", "code", "subject_key"],
            index_where=HealthProblem.cleared_at.is_(None)).returning(HealthProblem.id))
        row_id = result.scalar()
        if row_id is not None:
            opened.append(row_id)
    for key, row in open_rows.items():
        if key in found:
            continue
        done = db.session.execute(update(HealthProblem).where(
            HealthProblem.id == row.id, HealthProblem.cleared_at.is_(None)
        ).values(cleared_at=now))
        if done.rowcount:
            cleared.append(row.id)
    db.session.commit()
    for row_id in opened:
        _tell(workspace_id, row_id, "health_problem", "opened_mailed")
    for row_id in cleared:
        _tell(workspace_id, row_id, "health_cleared", "cleared_mailed")
    return {"open": len(found), "opened": len(opened), "cleared": len(cleared)}


def _tell(workspace_id: int, row_id: int, key: str, column: str) -> None:
    from app.billing_mail import language_of, mail_managers, public_url

    workspace = db.session.get(Workspace, workspace_id)
    row = db.session.get(HealthProblem, row_id)
    with force_locale(language_of(workspace)):
        values = {"problem": f"{row.subject}: {problem_message(row.code, row.params or {})}",
                  "link": public_url("/health/")}
        if key == "health_problem":
            values["fix"] = problem_fix(row.code, row.params or {})
    sent = mail_managers(workspace, key, **values)
    setattr(row, column, sent)
    db.session.commit()


def notices(workspace_id: int, limit: int = 20) -> list[HealthProblem]:
    """The workspace's recent notices (problems opened or cleared), newest first."""
    return db.session.execute(select(HealthProblem).where(
        HealthProblem.workspace_id == workspace_id)
        .order_by(func.coalesce(HealthProblem.cleared_at, HealthProblem.opened_at).desc(),
                  HealthProblem.id.desc()).limit(limit)).scalars().all()


# --- the runner's hooks (app/jobs/runners.py RUNNERS["health"]) -----------------------------

HEALTH_SECONDS = 300


def run_workspace(workspace_id: int) -> dict:
    refresh_meta_quality(workspace_id)
    return refresh(workspace_id)


def refresh_meta_quality(workspace_id: int, now: datetime | None = None) -> int:
    """Read the quality rating of each enabled, verified Meta number of the workspace whose
    last reading is older than QUALITY_EVERY (never read: now), with the channel's own token
    through the Meta client (`live_state`: the documented number check, logged as an external
    call). A reading stores `quality_rating` (one of META_QUALITY_RATINGS; anything else is
    UNKNOWN) and `quality_checked_at`. When Meta does not answer as documented (an error page,
    a timeout, a refused token) nothing changes: the last rating and the time it was read stay,
    and the next run tries again. A channel whose token Meta already refused
    (`needs_reauth`) is not asked. Returns how many ratings were read."""
    from app.integrations.channels.meta import MetaClient
    from app.models.channels import META_QUALITY_RATINGS

    now = now or utcnow()
    channels = db.session.execute(select(Channel).where(
        Channel.workspace_id == workspace_id, Channel.kind == "meta",
        Channel.enabled.is_(True), Channel.verified_at.isnot(None),
        Channel.status != "needs_reauth",
        or_(Channel.quality_checked_at.is_(None),
            Channel.quality_checked_at <= now - QUALITY_EVERY))).scalars().all()
    read = 0
    for channel in channels:
        answer = MetaClient(channel).live_state()
        if not answer.ok:
            log.info("quality rating of channel %s not read: %s", channel.id, answer.problem)
            continue
        rating = str(answer.facts.get("quality_rating") or "").upper()
        channel.quality_rating = rating if rating in META_QUALITY_RATINGS else "UNKNOWN"
        channel.quality_checked_at = now
        read += 1
    db.session.commit()
    return read


def enabled_reason(_workspace_id: int) -> str | None:
    return None


def interval(_workspace_id: int) -> int:
    return HEALTH_SECONDS
