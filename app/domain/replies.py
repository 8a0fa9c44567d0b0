"""Customer replies: the default texts (English msgids, translated through the catalogues) and
the composition of one reply per message from per-order outcomes.

Pure: no Flask, no database. `N_` only marks texts for `pybabel extract` (keyword N_); the
application looks each key up as: workspace override → platform default (master admin) →
catalogue translation of the msgid → the English msgid itself.

Texts are safe templates (app/domain/templates.py): each key may use only the placeholders the
pipeline fills for it (`REPLY_PLACEHOLDERS`: `{order_ids}`, `{time_left}`, …), never a format
spec. A translation must keep exactly the placeholders of its msgid (a test checks every
catalogue).

Singular and plural: a reply that lists orders (`COUNTED_REPLIES`, and `too_many_ids`, which
counts the limit) is one plural entry of the catalogues, asked with the number of orders the line
lists, so every language gets its own forms (ngettext: Russian three, Arabic six). Such a text
may say `{count}`. For overrides each counted key K also exists as `K_one`: a stored `K_one`
answers for exactly one order, a stored `K` for any other number (and for one when there is no
`K_one`), so a workspace that overrides only `K` writes a text that fits every count.

A reply never names a provider, an external id or a technical error: those go to the trace and,
for admin identities only, to an appended technical section (`technical_lines`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.domain.templates import (ELLIPSIS, MESSAGE_LIMIT, N_, ONE_SUFFIX, REPLY_LIMIT,
                                  REPLY_VALUE_LIMIT, Kind, Nn_, Template, TemplateError,
                                  compile_template, reply_kind)


#: Replies about a number of orders: key → (English singular, English plural). The count is
#: the number of orders the line lists (`too_many_ids`: the limit). Each pair is one plural entry
#: of the catalogues (ngettext), with as many forms as the language has (Russian 3, Arabic 6).
#: Where English needs no change the two texts are the same; other languages still get forms.
COUNTED_REPLIES: dict[str, tuple[str, str]] = {
    # accepted requests
    "refill_ok": Nn_("Refill requested: {order_ids}",
                     "Refill requested for {count} orders: {order_ids}"),
    "speed_ok": Nn_("Speed-up requested: {order_ids}",
                    "Speed-up requested for {count} orders: {order_ids}"),
    "cancel_ok": Nn_("Cancellation requested: {order_ids}",
                     "Cancellation requested for {count} orders: {order_ids}"),
    # refusals (keys are eligibility reasons plus the pipeline's own)
    "not_owner": Nn_("This order is not on your account: {order_ids}",
                     "These {count} orders are not on your account: {order_ids}"),
    "owner_unknown": Nn_("We could not confirm who placed this order: {order_ids}",
                         "We could not confirm who placed these {count} orders: {order_ids}"),
    "order_not_found": Nn_("Order not found: {order_ids}",
                           "{count} orders not found: {order_ids}"),
    "invalid_ids": Nn_("This is not an order id (order ids have 4 to 12 digits): {order_ids}",
                       "These {count} numbers are not order ids (order ids have 4 to 12 "
                       "digits): {order_ids}"),
    "status_unknown": Nn_("We could not read the status of this order; support will check: "
                          "{order_ids}",
                          "We could not read the status of these {count} orders; support will "
                          "check: {order_ids}"),
    "refill_not_completed": Nn_("Refill is possible once the order is completed: {order_ids}",
                                "Refill is possible once these {count} orders are completed: "
                                "{order_ids}"),
    "refill_partial_not_allowed": Nn_("This order was only partially completed, so it cannot "
                                      "be refilled: {order_ids}",
                                      "These {count} orders were only partially completed, so "
                                      "they cannot be refilled: {order_ids}"),
    "refill_order_canceled": Nn_("This order was canceled, so it cannot be refilled: "
                                 "{order_ids}",
                                 "These {count} orders were canceled, so they cannot be "
                                 "refilled: {order_ids}"),
    "refill_disabled": Nn_("Refill is not available for the service of this order: "
                           "{order_ids}",
                           "Refill is not available for the service of these {count} orders: "
                           "{order_ids}"),
    "refill_not_covered": Nn_("The service of this order has no refill: {order_ids}",
                              "The service of these {count} orders has no refill: "
                              "{order_ids}"),
    "refill_unknown_terms": Nn_("We could not confirm a refill guarantee for this order; "
                                "support will check: {order_ids}",
                                "We could not confirm a refill guarantee for these {count} "
                                "orders; support will check: {order_ids}"),
    "refill_date_unknown": Nn_("We could not confirm the date of this order; support will "
                               "check: {order_ids}",
                               "We could not confirm the dates of these {count} orders; "
                               "support will check: {order_ids}"),
    "refill_window_ended": Nn_("The refill period of this order has ended: {order_ids}",
                               "The refill period of these {count} orders has ended: "
                               "{order_ids}"),
    "speed_not_running": Nn_("This order is not running, so it cannot be sped up: "
                             "{order_ids}",
                             "These {count} orders are not running, so they cannot be sped "
                             "up: {order_ids}"),
    "speed_disabled": Nn_("Speed-up is not available for the service of this order: "
                          "{order_ids}",
                          "Speed-up is not available for the service of these {count} "
                          "orders: {order_ids}"),
    "speed_nothing_remaining": Nn_("Nothing is left to deliver for this order: {order_ids}",
                                   "Nothing is left to deliver for these {count} orders: "
                                   "{order_ids}"),
    "speed_date_unknown": Nn_("We could not confirm the start time of this order; support "
                              "will check: {order_ids}",
                              "We could not confirm the start time of these {count} orders; "
                              "support will check: {order_ids}"),
    "speed_start_time_not_passed": Nn_("This order is still within its expected start time, "
                                       "please wait: {order_ids}",
                                       "These {count} orders are still within their expected "
                                       "start time, please wait: {order_ids}"),
    "cancel_already_finished": Nn_("This order is already finished, so it cannot be canceled: "
                                   "{order_ids}",
                                   "These {count} orders are already finished, so they cannot "
                                   "be canceled: {order_ids}"),
    "cancel_disabled": Nn_("Cancellation is not available for the service of this order: "
                           "{order_ids}",
                           "Cancellation is not available for the service of these {count} "
                           "orders: {order_ids}"),
    "cooldown": Nn_("This order was requested recently; you can ask again in {time_left}: "
                    "{order_ids}",
                    "These {count} orders were requested recently; you can ask again in "
                    "{time_left}: {order_ids}"),
    "route_missing": Nn_("We could not forward this request automatically; support will "
                         "handle it: {order_ids}",
                         "We could not forward these {count} requests automatically; support "
                         "will handle them: {order_ids}"),
    "provider_missing": Nn_("We could not pass this order to its supplier automatically; "
                            "support will handle it: {order_ids}",
                            "We could not pass these {count} orders to their supplier "
                            "automatically; support will handle them: {order_ids}"),
    "too_many_ids": Nn_("Please send at most {max_ids} order id in one message.",
                        "Please send at most {max_ids} order ids in one message."),
}

#: Replies that count nothing: key → English text.
PLAIN_REPLIES: dict[str, str] = {
    "details_line": N_("{order_id}: {status} · start count {start_count} · remains {remains}"),
    "panel_unavailable": N_("Our panel is not answering right now. Please try again in a few "
                            "minutes."),
    "unsupported": N_("Order requests are not available for this panel yet. Please contact "
                      "support."),
    "not_linked": N_("This chat is not linked to a panel account yet. Send \"link\" followed by "
                     "your panel username to link it, or contact support."),
    "help": N_("Send an order id and what you need, for example \"2274209 refill\", "
               "\"2274209 speed\" or \"2274209 cancel\". Send the id alone to see its status. "
               "Several ids: \"2274209, 2274210 refill\". Your balance: \"balance\"."),
    "balance": N_("Your balance: {balance}"),
    "balance_unavailable": N_("Your balance is not available right now."),
    "fallback": N_("Sorry, I did not understand that. Send \"help\" to see what I can do."),
    # the ids are clear, the action is not (`2274209 cancel or refill?`): nothing is done
    "ask_action": N_("Which one do you want? Nothing has been done yet. Send one of these "
                     "messages: {choices}"),
    # self-service linking
    "link_sent": N_("We opened a support ticket on the panel account {username} with a code. "
                    "Send \"verify\" followed by the code here."),
    "link_unsupported": N_("Linking a chat yourself is not available here. Please contact "
                           "support."),
    "link_rate_limited": N_("Too many attempts. Please try again later."),
    "link_verified": N_("Done: this chat is now linked to the panel account {username}."),
    "link_failed": N_("That code is not valid or has expired."),
    "link_already": N_("This chat is already linked to the panel account {username}."),
    # the workspace's plan has no room for another linked user (the trace says so to the
    # manager; the customer is not told about plans)
    "link_unavailable": N_("Linking this chat is not available right now. Please try again "
                           "later or contact support."),
    # the panel is busy: the command waits its turn (more than about 10 seconds); the answer
    # follows
    "queued": N_("Your request is queued: our panel is busy right now. You will get the "
                 "answer here shortly."),
    # the workspace is suspended: nothing is done (at most one a chat an hour; off in the
    # workspace's settings: silence)
    "service_paused": N_("This service is paused right now, so your message was not handled. "
                         "Please contact us later."),
    # a message that is exactly a `stop` / `start` keyword (app/domain/optout.py)
    "opted_out": N_("You will not receive our announcements any more. Send START to receive "
                    "them again."),
    "opted_in": N_("You will receive our announcements again. Send STOP to stop them."),
}

#: Every reply key a workspace (ReplyTemplate) or the master admin (GlobalReplyTemplate) may
#: override → its English text. A counted key K appears twice: K (the plural, and the text a
#: stored override of K gives for every count) and K_one (the singular; a stored override of
#: K_one answers when exactly one order is listed, before an override of K). See `text_keys`.
DEFAULT_REPLIES: dict[str, str] = {}
for _key, (_one, _other) in COUNTED_REPLIES.items():
    DEFAULT_REPLIES[_key] = _other
    DEFAULT_REPLIES[_key + ONE_SUFFIX] = _one
DEFAULT_REPLIES.update(PLAIN_REPLIES)
del _key, _one, _other


#: The number whose catalogue form is a language's text of a counted key K for any number of
#: orders: what the built-in replies screen shows for K, what "Override" starts a platform text
#: of K from, what a line asked without a count says. Most languages: their plural (2). Arabic:
#: its form for zero, written as the general plural without a number ("الطلبات"), since its
#: form for 2 is the dual ("هذين الطلبين"), right for two orders only (zero orders are never
#: listed, so that form serves no other count).
GENERAL_COUNTS = {"ar": 0}


def general_count(language) -> int:
    """The count asked for a counted key's text for any number of orders in `language`."""
    return GENERAL_COUNTS.get(str(language or "en").replace("-", "_").split("_")[0], 2)


def base_key(key: str) -> str:
    """The counted key a `<key>_one` override belongs to, else `key` itself."""
    if key.endswith(ONE_SUFFIX) and key[:-len(ONE_SUFFIX)] in COUNTED_REPLIES:
        return key[:-len(ONE_SUFFIX)]
    return key


def text_keys(key: str, count: int | None) -> tuple[str, ...]:
    """The stored override keys that may answer `key` for `count`, most specific first:
    (`key_one`, `key`) for a counted key and a count of one, else (`key`,)."""
    if count == 1 and key in COUNTED_REPLIES:
        return (key + ONE_SUFFIX, key)
    return (key,)


def english(key: str, count: int | None = None) -> str:
    """The built-in English text of `key` for `count` (no count: the plural)."""
    if key in COUNTED_REPLIES and count is not None:
        one, other = COUNTED_REPLIES[key]
        return one if count == 1 else other
    return DEFAULT_REPLIES.get(key, escape(key))


STATUS_NAMES: dict[str, str] = {
    "pending": N_("Pending"),
    "in_progress": N_("In progress"),
    "processing": N_("Processing"),
    "completed": N_("Completed"),
    "partial": N_("Partial"),
    "canceled": N_("Canceled"),
    "unknown": N_("Unknown"),
}

#: The action words of the `ask_action` choices (each translation is a word the parser reads
#: as that action, so that a customer can send a choice back as it is).
ACTION_WORDS: dict[str, str] = {
    "refill": N_("refill"),
    "speed": N_("speed-up"),
    "cancel": N_("cancel"),
}


def ask_choices(order_ids: Iterable[str], actions: Iterable[str], word_for=None) -> str:
    """The `{choices}` of `ask_action`: one message per candidate action, `"2274209 refill"`;
    `word_for(msgid)` translates an action word (English when None)."""
    word_for = word_for or (lambda msgid: msgid)
    ids = ", ".join(order_ids)
    return " · ".join(f"\"{ids} {word_for(ACTION_WORDS.get(action, action))}\""
                      for action in actions)


# The order groups appear in: accepted first, then refusals in a stable order.
GROUP_ORDER = ("refill_ok", "speed_ok", "cancel_ok")


@dataclass(frozen=True)
class Outcome:
    """What happened to one (order, action) of a message."""

    order_id: str
    action: str
    reason: str  # "ok" or a refusal key of DEFAULT_REPLIES
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        if self.reason == "ok":
            return "details_line" if self.action == "details" else f"{self.action}_ok"
        return self.reason


def format_duration(seconds: float) -> str:
    """A short, language-neutral duration: 45s, 12m, 3h 20m, 2d 4h."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


# A key the code asks for but nobody documented (a bug): answered with no placeholders.
_UNKNOWN_KEY = Kind("reply:?", (), max_source=MESSAGE_LIMIT, max_value=REPLY_VALUE_LIMIT,
                    max_output=MESSAGE_LIMIT)


def reply_template(key: str, text: str | None = None, count: int | None = None) -> Template:
    """The template of a reply key: `text` (the built-in English text for `count` when None)
    or, when `text` is not a valid template of the key, the built-in English text."""
    kind = reply_kind(key) or _UNKNOWN_KEY
    if text is not None:
        try:
            return compile_template(kind, text)
        except TemplateError:
            pass
    return compile_template(kind, english(key, count))


def escape(text: str) -> str:
    """`text` as a template that renders to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def render_reply(key: str, text: str | None = None, count: int | None = None,
                 **values: Any) -> str:
    """One reply text, filled and bounded (see `reply_template` for `text`). A counted key
    given no `count` counts its `order_ids` (a list, or a comma-separated text)."""
    if count is None and key in COUNTED_REPLIES and "order_ids" in values:
        ids = values["order_ids"]
        count = len(ids) if isinstance(ids, (list, tuple)) else \
            len([part for part in str(ids).split(",") if part.strip()])
    if count is not None:
        values.setdefault("count", count)
    return reply_template(key, text, count).render(values)


def compose(outcomes: Iterable[Outcome], text_for, status_name=None) -> str:
    """One reply for a whole message: one line per outcome group, details one line per order.

    `text_for(key, count)` returns the (translated) template of a key for a line listing
    `count` orders (`english` gives the built-in texts); `status_name(status)` the
    translated status word for details lines. A group with more order ids than fit one line
    (templates.MESSAGE_LIMIT) takes several lines; the whole text keeps the lines that fit
    REPLY_LIMIT, then "…".
    """
    status_name = status_name or (lambda status: status)
    groups: dict[tuple[str, str], list[str]] = {}
    details: list[str] = []
    extra_of: dict[tuple[str, str], dict] = {}
    for outcome in outcomes:
        if outcome.key == "details_line":
            if sum(len(line) + 1 for line in details) > REPLY_LIMIT:
                continue  # cut below anyway: do not build what nobody will read
            detail = dict(outcome.detail)
            details.append(reply_template("details_line",
                                          text_for("details_line", None)).render({
                "order_id": outcome.order_id,
                "status": status_name(detail.get("status", "unknown")),
                "start_count": _or_dash(detail.get("start_count")),
                "remains": _or_dash(detail.get("remains"))}))
            continue
        group_extra = ""
        if outcome.key == "cooldown":
            group_extra = format_duration(outcome.detail.get("seconds_left", 0))
        group = (outcome.key, group_extra)
        ids = groups.setdefault(group, [])
        if outcome.order_id not in ids:
            ids.append(outcome.order_id)
        extra_of[group] = {"time_left": group_extra} if group_extra else {}
    ordered = sorted(groups, key=lambda g: (GROUP_ORDER.index(g[0]) if g[0] in GROUP_ORDER
                                            else len(GROUP_ORDER), g[0], g[1]))
    lines = list(details)
    for key, extra in ordered:
        ids = groups[(key, extra)]
        template = reply_template(key, text_for(key, len(ids)), len(ids))
        lines += template.render_lines({**extra_of[(key, extra)], "count": len(ids)},
                                       {"order_ids": ids})
        if sum(len(line) + 1 for line in lines) > REPLY_LIMIT:
            break
    return bounded_lines(lines, REPLY_LIMIT)


def bounded_lines(lines: list[str], limit: int) -> str:
    """The lines joined, as many whole lines as fit `limit` characters, then "…"."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + (1 if kept else 0) > limit - 2:
            kept.append(ELLIPSIS)
            break
        kept.append(line)
        size += len(line) + (1 if len(kept) > 1 else 0)
    return "\n".join(kept)


def _or_dash(value) -> str:
    return "—" if value is None or value == "" else str(value)


def technical_lines(outcomes: Iterable[Outcome]) -> list[str]:
    """What an admin identity sees beneath the reply: the reason keys and their details."""
    lines = []
    for outcome in outcomes:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(outcome.detail.items())
                           if v not in (None, ""))
        lines.append(f"{outcome.order_id} {outcome.action}: {outcome.reason}"
                     + (f" ({detail})" if detail else ""))
    return lines
