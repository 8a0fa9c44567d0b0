"""The command trace in plain words: numbered steps saying what was checked, what was found and
what was decided, in the reader's language, each with its technical detail folded away.

The stored trace (CommandLog.trace, app/jobs/pipeline.py `CommandRun.step`) stays what it was:
a list of dicts `{"step": name, "ms": …, facts…}`. This module only reads it, so rows written by
any earlier version render: a step or fact it does not know is shown by its name, with its
facts in the folded detail. A Playground preview (`preview=True`) stores and sends nothing: its
steps say what *would* happen ("would start the cooldown", "would send").
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from flask_babel import get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.domain.replies import COUNTED_REPLIES, format_duration, render_reply
from app.plans import limit_message
from app.views.formatting import language_name

#: A command's outcome (CommandLog.outcome, the "done" step) in words.
OUTCOMES: dict[str, object] = {
    "dispatched": _l("the request was passed on to the provider"),
    "answered": _l("answered"),
    "refused": _l("refused, with the reason"),
    "ignored": _l("ignored (not a command)"),
    "fallback": _l("answered that the message was not understood"),
    "not_linked": _l("answered that the chat is not linked"),
    "unsupported": _l("answered that order requests are not available"),
    "panel_unavailable": _l("answered that the panel is not answering"),
    "no_ids": _l("asked for the order id"),
    "asked": _l("asked which action the customer wants (nothing was done)"),
    "done": _l("already finished"),
    "edit_not_acted": _l("not acted on: an edit of a message already handled"),
    "number_changed": _l("the chat moved to the new number"),
    "paused": _l("not handled: the workspace is suspended"),
    "handled_by_person": _l("handled by a person: a team member has taken the conversation "
                            "over in the inbox (the bot did nothing)"),
    "opted_out": _l("the customer opted out of broadcasts"),
    "opted_in": _l("the customer opted back in to broadcasts"),
}

ACTIONS: dict[str, object] = {
    "refill": _l("refill"), "speed": _l("speed-up"), "cancel": _l("cancel"),
    "details": _l("status"),
}


def outcome_label(outcome: str | None) -> str:
    """The outcome in words (an outcome this version does not know: as stored)."""
    if not outcome:
        return "—"
    label = OUTCOMES.get(outcome)
    return str(label) if label is not None else outcome


def _action(step: Mapping) -> str:
    action = step.get("action")
    return str(ACTIONS.get(action, action or "—"))


def _reason(reason: str, order_id: str) -> str:
    """What the customer was told about one order, in the reader's language: the reply text
    of the reason for one order (every refusal has one), or the reason key itself."""
    if reason == "ok":
        return _("accepted")
    pair = COUNTED_REPLIES.get(reason)
    if pair is None:
        return reason
    text = get_translations().ungettext(pair[0], pair[1], 1)
    return render_reply(reason, text, count=1, order_ids=order_id)


def _parse(step, preview):
    found = step.get("commands")
    sentence = _("Read the message: understood “%(commands)s”.", commands=found) if found \
        else _("Read the message: no command in it.")
    if step.get("invalid_ids"):
        sentence += " " + _("Not order ids (an order id has 4 to 12 digits): %(ids)s.",
                            ids=", ".join(str(i) for i in step["invalid_ids"]))
    if step.get("unknown"):
        sentence += " " + _("Not understood: %(words)s.", words=", ".join(
            str(word) for word in step["unknown"]))
    if step.get("ambiguous"):
        sentence += " " + _("Not clear which action is wanted (%(choices)s): the customer is "
                            "asked, nothing is done.", choices="; ".join(
                                str(q) for q in step["ambiguous"]))
    if step.get("too_many_ids"):
        sentence += " " + _("More order ids than one message may carry: only the first ones "
                            "were read.")
    return sentence


def _identity(step, preview):
    if step.get("admin"):
        who = _("an admin identity (%(name)s), speaking for the panel", name=step["admin"])
    elif step.get("linked_user"):
        who = _("the panel user %(name)s", name=step["linked_user"])
    else:
        who = _("nobody: the chat is not linked to a panel account")
    language = step.get("language")
    return _("Checked who is writing: %(who)s. Replies in %(language)s.", who=who,
             language=language_name(language) if language else "—")


def _ignored(step, preview):
    reason = step.get("reason")
    if reason == "provider group":
        return _("Ignored: this is a provider's group, where messages are never commands.")
    if reason == "group not linked":
        return _("Ignored: this group chat is not linked to a customer.")
    return _("Ignored: %(reason)s.", reason=reason or "—")


def _panel(step, preview):
    return _("No panel connection that can check who placed an order: the bot answered that "
             "order requests are not available.")


def _panel_fetch(step, preview):
    if step.get("error"):
        return _("Asked the panel for the orders: it did not answer properly (%(error)s).",
                 error=step["error"])
    sentence = _("Asked the panel for the orders: %(found)s found.", found=step.get("found", 0))
    if step.get("missing"):
        sentence += " " + _("Not on the panel: %(ids)s.", ids=", ".join(
            str(i) for i in step["missing"]))
    return sentence


def _order(step, preview):
    return _("Order %(order)s (%(action)s): not found on the panel.", order=step.get("order"),
             action=_action(step))


def _rule(step, preview):
    order_id = str(step.get("order", ""))
    checked = _("Order %(order)s (%(action)s): status “%(status)s”, service “%(service)s”.",
                order=order_id, action=_action(step), status=step.get("status") or "—",
                service=step.get("service") or "—")
    verdict = step.get("verdict") or "?"
    if verdict == "ok":
        decided = _("Decision: allowed.")
        if isinstance(step.get("detail"), Mapping) and step["detail"].get("forced"):
            decided = _("Decision: allowed, because an admin forced it.")
    else:
        decided = _("Decision: refused — %(reason)s", reason=_reason(verdict, order_id))
    return f"{checked} {decided}"


def _rule_invalid(step, preview):
    return _("The service rule of %(service)s could not be used; the service name was read "
             "instead.", service=step.get("service") or "—")


def _cooldown(step, preview):
    order_id, action = step.get("order"), _action(step)
    if step.get("forced"):
        return _("Order %(order)s (%(action)s): no waiting time, an admin forced it.",
                 order=order_id, action=action)
    if step.get("claimed") is False:
        return _("Order %(order)s (%(action)s): asked for recently; it can be asked again in "
                 "%(time)s.", order=order_id, action=action,
                 time=format_duration(step.get("seconds_left") or 0))
    wait = format_duration(step.get("seconds") or 0)
    if preview or step.get("would_claim"):
        return _("Order %(order)s (%(action)s): no recent request; a real message would start "
                 "a waiting time of %(time)s (the preview starts nothing).", order=order_id,
                 action=action, time=wait)
    return _("Order %(order)s (%(action)s): no recent request; a waiting time of %(time)s "
             "starts now.", order=order_id, action=action, time=wait)


def _route(step, preview):
    order_id = step.get("order")
    if step.get("error") == "provider_missing":
        return _("Order %(order)s: no provider of yours matches the order's provider; support "
                 "will handle it.", order=order_id)
    if step.get("error"):
        return _("Order %(order)s: the provider %(provider)s has no route for this action (or "
                 "the panel gave no external id); support will handle it.", order=order_id,
                 provider=step.get("provider") or "—")
    return _("Order %(order)s: goes to the provider %(provider)s.", order=order_id,
             provider=step.get("provider") or "—")


def _dispatch(step, preview):
    orders = ", ".join(str(o) for o in step.get("orders") or [])
    if preview or step.get("preview"):
        return _("Would send the request for %(orders)s to the provider group %(chat)s.",
                 orders=orders, chat=step.get("chat") or "—")
    return _("Sent the request for %(orders)s to the provider group %(chat)s.", orders=orders,
             chat=step.get("chat") or "—")


def _reply(step, preview):
    if step.get("skipped") == "channel deleted":
        return _("No reply: the channel was deleted.")
    if step.get("skipped"):
        return _("No reply: there was nothing to say.")
    if preview or step.get("preview"):
        return _("Would reply to the chat (in %(language)s).", language=step.get("language")
                 or "—")
    if step.get("ticket"):  # a panel ticket's run (app/jobs/tickets.py)
        return _("Reply written for the panel ticket %(ticket)s (in %(language)s).",
                 ticket=step.get("ticket"), language=step.get("language") or "—")
    return _("Replied to the chat (in %(language)s).", language=step.get("language") or "—")


def _ticket(step, preview):
    return _("Panel ticket %(ticket)s from %(user)s, subject “%(subject)s”: the rule "
             "“%(rule)s” asks for %(action)s.", ticket=step.get("ticket") or "—",
             user=step.get("user") or "—", subject=step.get("subject") or "—",
             rule=step.get("rule") or "—", action=_action(step))


def _done(step, preview):
    return _("Finished: %(outcome)s.", outcome=outcome_label(step.get("outcome")))


def _error(step, preview):
    return _("This attempt failed (attempt %(attempt)s).",
             attempt=step.get("attempt") or "?")


def _resumed(step, preview):
    return _("Continued an attempt that was interrupted.")


def _template_fallback(step, preview):
    return _("The stored text “%(template)s” is not a valid template: the next text in line "
             "was used.", template=step.get("template") or "—")


def _parse_config_error(step, preview):
    return _("The workspace's command words could not be read: the built-in words were used.")


def _standalone(step, preview):
    name = step.get("step")
    if name == "help":
        return _("Answered with the help text.")
    if name == "balance":
        return _("Answered the balance request.")
    return _("Answered the custom command “%(keyword)s”.", keyword=step.get("argument") or "—")


def _balance_error(step, preview):
    return _("The panel could not give the balance (%(error)s).", error=step.get("kind") or "—")


def _link(step, preview):
    if step.get("simulated") is False:
        return _("Linking is not simulated in the Playground (it opens a panel ticket).")
    if step.get("error"):
        return _("Link request refused: %(reason)s.", reason=step["error"])
    return _("Link request: a code was sent in a ticket on the panel account %(name)s.",
             name=step.get("username") or "—")


def _verify(step, preview):
    if step.get("simulated") is False:
        return _("Linking is not simulated in the Playground (it opens a panel ticket).")
    if step.get("error") == "plan_limit":  # no room for another linked user in the plan
        return _("Code verified, but the chat was not linked to %(name)s: %(refusal)s The "
                 "customer was told that linking is not available right now; the same code "
                 "works until it expires.", name=step.get("username") or "—",
                 refusal=limit_message(step.get("plan") or "—", "max_linked_users",
                                       step.get("limit"), step.get("used")))
    if step.get("error"):
        return _("Verification refused: %(reason)s.", reason=step["error"])
    if step.get("ok"):
        return _("Code verified: the chat is linked to %(name)s.",
                 name=step.get("username") or "—")
    return _("The code was not valid.")


def _edit(step, preview):
    decision = step.get("decision")
    if decision == "original_was_command":
        return _("An edit of a message already handled as a command: not acted on (an edit "
                 "never repeats a command).")
    if decision == "original_pending":
        return _("An edit of a message still being handled: not acted on.")
    if decision == "acted_on":
        return _("An edit of a message that was not a command: read as a new message.")
    return _("An edit of a message Relaydesk did not receive: read as a new message.")


def _number_changed(step, preview):
    return _("The customer changed their WhatsApp number from %(old)s to %(new)s: the chat's "
             "links moved to the new number (linked customer: %(name)s).",
             old=step.get("old") or "—", new=step.get("new") or "—",
             name=step.get("linked_user") or "—")


def _paused(step, preview):
    reply = step.get("reply")
    if reply == "told":
        return _("The workspace is suspended: nothing was done for this message; the customer "
                 "is told that the service is paused.")
    if reply == "told_recently":
        return _("The workspace is suspended: nothing was done for this message; this chat was "
                 "already told within the hour that the service is paused.")
    if reply == "off":
        return _("The workspace is suspended: nothing was done for this message; the paused "
                 "reply is turned off in the settings.")
    if reply == "edit":
        return _("The workspace is suspended: nothing was done for this edited message.")
    return _("The workspace is suspended: nothing was done; the message is not a command, so "
             "there is no reply.")


def _queued(step, preview):
    return _("The panel was busy: this command would wait about %(seconds)s s for it, so the "
             "customer was told at once that it is queued; the answer followed.",
             seconds=step.get("wait_s") if step.get("wait_s") is not None else "—")


def _opt(step, preview):
    if step.get("step") == "opt_out":
        return _("The message is a stop keyword: the linked customer %(name)s receives no "
                 "more broadcasts.", name=step.get("linked_user") or "—")
    return _("The message is a start keyword: the linked customer %(name)s receives "
             "broadcasts again.", name=step.get("linked_user") or "—")


def _handled_by_person(step, preview):
    return _("A team member has taken this conversation over in the inbox: the message is "
             "stored and the bot does nothing (no reply, no order request).")


def _unpaused(step, preview):
    return _("Processed again after the workspace was resumed.")


SENTENCES: dict[str, Callable[[Mapping, bool], str]] = {
    "parse": _parse, "identity": _identity, "ignored": _ignored, "panel": _panel,
    "panel_fetch": _panel_fetch, "order": _order, "rule": _rule, "rule_invalid": _rule_invalid,
    "cooldown": _cooldown, "route": _route, "dispatch": _dispatch, "reply": _reply,
    "done": _done, "error": _error, "resumed": _resumed,
    "template_fallback": _template_fallback, "parse_config_error": _parse_config_error,
    "help": _standalone, "balance": _standalone, "custom": _standalone,
    "balance_error": _balance_error, "link": _link, "verify": _verify,
    "edit": _edit, "number_changed": _number_changed, "paused": _paused,
    "unpaused": _unpaused, "ticket": _ticket, "queued": _queued, "opt_out": _opt,
    "opt_in": _opt, "handled_by_person": _handled_by_person,
}


def sentence(step: Mapping, preview: bool = False) -> str:
    """One step in plain words (a step this version does not know: its name)."""
    describe = SENTENCES.get(str(step.get("step")))
    if describe is None:
        return _("Step “%(name)s”.", name=step.get("step", "?"))
    try:
        return describe(step, preview)
    except (TypeError, ValueError, AttributeError, KeyError):  # an old row of another shape
        return _("Step “%(name)s”.", name=step.get("step", "?"))


def _detail(step: Mapping) -> str:
    facts = {k: v for k, v in step.items() if k != "ms"}
    return json.dumps(facts, ensure_ascii=False, indent=1, default=str, sort_keys=True)


def trace_steps(steps: Iterable[Mapping] | None, preview: bool = False) -> Markup:
    """The trace as an ordered list: each step a sentence, its time, and its stored facts in a
    folded `<details>` element."""
    items = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, Mapping):
            step = {"step": str(step)}
        ms = step.get("ms")
        items.append(Markup(
            "<li class='rd-trace-step'><span class='rd-trace-text'>%s</span>%s"
            "<details class='rd-trace-detail'><summary class='text-muted small'>%s</summary>"
            "<pre>%s</pre></details>"
            "</li>") % (
            sentence(step, preview),
            Markup(" <small class='text-muted'>%s</small>") % _("%(ms)s ms", ms=ms)
            if ms is not None else "",
            _("Technical detail"), _detail(step)))
    if not items:
        return Markup("<p class='text-muted'>—</p>")
    return Markup("<ol class='rd-trace'>%s</ol>") % Markup("").join(items)
