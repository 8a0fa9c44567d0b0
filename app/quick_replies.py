"""Quick replies (issue 16, point 2): a workspace's canned answers. A team member types
`/shortcut` (e.g. `/delay`) and gets the answer with its placeholders filled for the
conversation: `{name}`, `{username}`, `{agent}`, `{workspace}` (template kind `quick_reply`,
app/domain/templates.py: the same safe renderer as every other template).

`expand(workspace_id, text, values)` answers the rendered text when `text` is exactly one
enabled shortcut of the workspace (`/delay`, surrounding spaces ignored, any case), else None;
`suggestions(workspace_id, prefix)` lists the enabled shortcuts starting with what was typed,
for the composer's menu. A stored body that is no longer valid (written before a check) is
sent as written, never raised.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import select

from app.domain.templates import QUICK_REPLY, TemplateError, clip, compile_template
from app.extensions import db
from app.models import QuickReply

#: what the composer's text must be to expand: a slash and one shortcut
TYPED = re.compile(r"\s*/([A-Za-z0-9][A-Za-z0-9_-]{0,31})\s*\Z")
#: the most suggestions the composer shows at once
SUGGESTIONS = 10


def render(body: str, values: Mapping[str, object]) -> str:
    known = {name: values.get(name) or "" for name in QUICK_REPLY.placeholders}
    try:
        return compile_template(QUICK_REPLY, body).render(known)
    except TemplateError:
        return clip(body or "", QUICK_REPLY.max_output)


def find(workspace_id: int, text: str) -> QuickReply | None:
    typed = TYPED.match(text or "")
    if typed is None:
        return None
    return db.session.execute(select(QuickReply).where(
        QuickReply.workspace_id == workspace_id, QuickReply.enabled.is_(True),
        QuickReply.shortcut == typed.group(1).lower())).scalar_one_or_none()


def expand(workspace_id: int, text: str, values: Mapping[str, object]) -> str | None:
    reply = find(workspace_id, text)
    return None if reply is None else render(reply.body, values)


def suggestions(workspace_id: int, prefix: str) -> list[QuickReply]:
    typed = (prefix or "").strip().lstrip("/").lower()
    if typed and not re.fullmatch(r"[a-z0-9_-]{1,32}", typed):
        return []
    query = select(QuickReply).where(QuickReply.workspace_id == workspace_id,
                                     QuickReply.enabled.is_(True))
    if typed:
        query = query.where(QuickReply.shortcut.startswith(typed, autoescape=True))
    return list(db.session.execute(query.order_by(QuickReply.shortcut).limit(SUGGESTIONS))
                .scalars())
