"""Self-service linking: a chat proves it speaks for a panel username.

`link <username>` makes the panel open a support ticket for that username carrying a one-time
code (only the panel account's owner can read it); `verify <code>` sent back in the same chat
links the chat to the username. A new linked user needs room in the workspace's plan
(`max_linked_users`): without it the customer is told linking is not available now
(`link_unavailable`), the trace tells the manager why, and the code stays usable until it
expires. Codes are stored as HMACs, expire after CODE_TTL, allow MAX_VERIFY_ATTEMPTS tries
each, and a chat may ask for MAX_LINKS_PER_HOUR codes an hour. The answer never says whether a
username exists. Every step goes to the command trace.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app

from app.domain.parser import Command
from app.extensions import db
from app.integrations.panels.base import PanelError
from app.contacts import chat_contact
from app.models import ChatIdentity, LinkCode, LinkedUser
from app.models.base import utcnow
from app.plans import PlanLimitReached, check_room

CODE_TTL = timedelta(minutes=15)
MAX_LINKS_PER_HOUR = 3
MAX_VERIFY_ATTEMPTS = 5
MAX_FAILED_VERIFIES_PER_HOUR = 10
TICKET_SUBJECT = "Chat verification code"


def code_hash(channel_id: int, chat_id: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{channel_id}:{chat_id}:{code.strip()}".encode(),
                    hashlib.sha256).hexdigest()


def handle_link_command(run, command: Command) -> str:
    """A customer's `link` / `verify` command. Its panel call (opening the ticket with the
    code) is a chat call of this chat: the customer waits for the answer (the panel budget's
    fair order, app/integrations/panels `panel_chat`)."""
    from app.integrations.panels import panel_chat

    with panel_chat(f"{run.event.channel_id}:{run.event.chat_id}"):
        if command.action == "link":
            return _link(run, (command.argument or "").strip())
        return _verify(run, (command.argument or "").strip())


def _recent_codes(run, since):
    event = run.event
    return (db.session.query(LinkCode)
            .filter(LinkCode.channel_id == event.channel_id, LinkCode.chat_id == event.chat_id,
                    LinkCode.created_at >= since))


def _link(run, username: str) -> str:
    book = run.book
    if not username or len(username) > 120:
        run.step("link", error="no username")
        return book.render("help")
    if run.identity.linked_user is not None:
        run.step("link", error="already linked", username=run.identity.linked_user.username)
        return book.render("link_already", username=run.identity.linked_user.username)
    adapter = run.panel
    if adapter is None or "tickets" not in adapter.capabilities():
        run.step("link", error="panel has no tickets")
        return book.render("link_unsupported")
    now = utcnow()
    # A retry of this same message must not open a second ticket.
    already = _recent_codes(run, run.event.received_at).filter(
        LinkCode.username == username).first()
    if already is not None:
        run.step("link", username=username, ticket=already.ticket_id, repeated=True)
        return book.render("link_sent", username=username)
    if _recent_codes(run, now - timedelta(hours=1)).count() >= MAX_LINKS_PER_HOUR:
        run.step("link", error="rate limited")
        return book.render("link_rate_limited")
    code = f"{secrets.randbelow(10**6):06d}"
    message = (f"Your verification code is {code}. Send \"verify {code}\" in the chat you want "
               f"to link to this account. It expires in {int(CODE_TTL.total_seconds() // 60)} "
               f"minutes. If you did not ask for it, ignore this ticket.")
    try:
        ticket_id = adapter.create_ticket(username, TICKET_SUBJECT, message)
    except PanelError as exc:
        run.step("link", error=exc.kind, detail=exc.detail[:300])
        # Same answer as success when the panel refuses (unknown username): no user enumeration.
        if exc.kind == "rejected":
            return book.render("link_sent", username=username)
        return book.render("panel_unavailable")
    event = run.event
    db.session.add(LinkCode(workspace_id=event.workspace_id, channel_id=event.channel_id,
                            chat_id=event.chat_id, username=username,
                            code_hash=code_hash(event.channel_id, event.chat_id, code),
                            expires_at=now + CODE_TTL, ticket_id=ticket_id, created_at=now))
    db.session.commit()
    run.step("link", username=username, ticket=ticket_id)
    return book.render("link_sent", username=username)


def _verify(run, code: str) -> str:
    book = run.book
    event = run.event
    now = utcnow()
    given = code_hash(event.channel_id, event.chat_id, code) if code else ""
    # A retry of this same message (the worker died after linking, before replying) finds the
    # code it already used: same answer, not "invalid code".
    used = (_recent_codes(run, now - CODE_TTL)
            .filter(LinkCode.used_at.isnot(None), LinkCode.used_at >= event.received_at)
            .order_by(LinkCode.id.desc()).all())
    for candidate in used:
        if given and hmac.compare_digest(candidate.code_hash, given):
            run.step("verify", ok=True, username=candidate.username, repeated=True)
            return book.render("link_verified", username=candidate.username)
    failed_recently = sum(c.attempts for c in _recent_codes(run, now - timedelta(hours=1)))
    if failed_recently >= MAX_FAILED_VERIFIES_PER_HOUR:
        run.step("verify", error="rate limited")
        return book.render("link_rate_limited")
    candidates = (_recent_codes(run, now - CODE_TTL)
                  .filter(LinkCode.used_at.is_(None), LinkCode.expires_at > now,
                          LinkCode.attempts < MAX_VERIFY_ATTEMPTS)
                  .order_by(LinkCode.id.desc()).all())
    match = None
    for candidate in candidates:
        if given and hmac.compare_digest(candidate.code_hash, given):
            match = candidate
            break
        candidate.attempts += 1
    if match is None:
        db.session.commit()
        run.step("verify", ok=False)
        return book.render("link_failed")
    user = (db.session.query(LinkedUser)
            .filter_by(workspace_id=event.workspace_id, username=match.username).one_or_none())
    if user is None:
        # the contact made from this chat takes the username (app/contacts.py): same row,
        # same count in the plan
        user = chat_contact(event.channel_id, event.chat_id)
        if user is not None:
            user.username = match.username
            user.language = run.book.language
    if user is None:
        try:  # a new linked user needs room in the plan (the workspace stays locked till commit)
            check_room(event.workspace_id, "max_linked_users")
        except PlanLimitReached as refusal:
            # The code stays usable until it expires: once the manager makes room (a larger
            # plan, fewer linked users) the same message links the chat. The manager reads why
            # in the trace; the customer is only told that linking is not available now.
            db.session.commit()  # the other codes' attempts
            run.step("verify", ok=False, error="plan_limit", username=match.username,
                     plan=refusal.plan, limit=refusal.limit, used=refusal.used)
            return book.render("link_unavailable")
    match.used_at = now
    if user is None:
        user = LinkedUser(workspace_id=event.workspace_id, username=match.username,
                          language=run.book.language)
        db.session.add(user)
        db.session.flush()
    identity = (db.session.query(ChatIdentity)
                .filter_by(channel_id=event.channel_id, chat_id=event.chat_id).one_or_none())
    if identity is None:
        db.session.add(ChatIdentity(workspace_id=event.workspace_id, linked_user=user,
                                    channel_id=event.channel_id, chat_id=event.chat_id,
                                    verified_at=now))
    else:  # linked meanwhile (by a manager): the chat proved this username, as the reply says
        identity.linked_user = user
        identity.verified_at = now
    db.session.commit()
    run.step("verify", ok=True, username=match.username)
    return book.render("link_verified", username=match.username)
