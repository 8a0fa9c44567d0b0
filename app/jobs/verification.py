"""Meta channel verification: a Meta channel receives events only once a Graph call with its own
access token confirmed it controls its phone number and its WhatsApp Business account.

* A Meta channel saved new, or with a changed number, account id, access token, app secret or
  kind, has `verified_at` NULL (app/models/channels.py sets it in the same write).
* After such a save the screens, their REST twins and the workspace file queue
  `verify_meta_channel(channel_id)` (`app.jobs.queues.enqueue_verification`); the channel's
  "Test connection" runs the same check at once (`verify_channel`).
* `verify_channel` makes the Graph calls (MetaClient.test_connection) and then records the
  outcome under a row lock, only if the number, account, credentials and kind are still the
  ones it checked: a save made while the calls were under way is never marked verified by a
  check of the values it replaced (that save queued its own verification).
"""
from __future__ import annotations

from types import SimpleNamespace

from app.extensions import db
from app.integrations.channels import ActionResult
from app.integrations.channels.meta import MetaClient
from app.models import Channel
from app.models.channels import META_VERIFIED_COLUMNS
from app.tenancy import workspace_scope


def needs_verification(channel: Channel) -> bool:
    return channel.kind == "meta" and channel.verified_at is None


def verify_meta_channel(channel_id: int) -> dict:
    """The job: verify the channel if it is a Meta channel still awaiting verification.

    Returns {"state": "verified" | "not_verified" | "skipped", "detail"}."""
    channel = db.session.get(Channel, channel_id)
    if channel is None or not needs_verification(channel):
        db.session.rollback()
        return {"state": "skipped", "detail": "not a Meta channel awaiting verification"}
    with workspace_scope(channel.workspace_id):
        result = verify_channel(channel)
    return {"state": "verified" if result.ok else "not_verified", "detail": result.summary}


def _credentials(channel: Channel) -> tuple:
    return tuple(getattr(channel, column) for column in META_VERIFIED_COLUMNS)


def verify_channel(channel: Channel) -> ActionResult:
    """Run the Graph checks with the channel's own credentials, record the outcome and commit.

    The outcome is recorded only if the channel still has the number, account, credentials and
    kind that were checked; otherwise nothing is written and the result says so."""
    # What is checked is a copy: no transaction (and no row lock) is held during the calls.
    checked = SimpleNamespace(id=channel.id, workspace_id=channel.workspace_id,
                              **{column: getattr(channel, column)
                                 for column in META_VERIFIED_COLUMNS})
    db.session.rollback()
    result = MetaClient(checked).test_connection()
    row = (db.session.query(Channel).filter(Channel.id == checked.id)
           .with_for_update().populate_existing().one_or_none())
    if row is None or _credentials(row) != _credentials(checked):
        db.session.rollback()
        return ActionResult(False, "Not recorded: the channel changed while Meta was being "
                                   "asked; its new values are verified separately.")
    for field, value in result.updates.items():
        setattr(row, field, value)
    db.session.commit()
    return result
