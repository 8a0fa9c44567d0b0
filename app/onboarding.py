"""The onboarding checklist of a workspace (issue 15, point 3): what a new panel owner does to
get from sign-up to a working command, each item ticked from real state, never by hand.

`checklist(workspace_id)` → the items in the order they are worked through, each with `key`,
`done`, the screen that completes it (`endpoint`, turned into a link by the caller, which knows
who is reading), a title and a hint. The keys are a contract (docs/contracts.md "Operate
contracts", `GET /api/v1/onboarding`):

* `channel`: an enabled channel that works: a connection test passed (status `ok`) or a
  webhook arrived;
* `panel`: a panel that answered: a call to it succeeded (a logged call with outcome `ok`, or
  its status is `ok` from a connection test); the demo panel, which is never called, counts
  once connected;
* `routes`: an enabled provider route (a provider mapped to its group chat);
* `linked_user`: a customer linked to their chat;
* `test_command`: any command ran (a chat's, or one sent "for real" from the Playground; a dry
  run leaves nothing behind, so it does not count);
* `service_rules`: advanced service rules in use: a service rule saved, or the panel's
  services cached.

Each check is one EXISTS query on an indexed workspace column.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select

from app.extensions import db
from app.models import (Channel, CommandLog, ExternalCall, LinkedUser, PanelConnection,
                        ProviderRoute, ServiceRule)

KEYS = ("channel", "panel", "routes", "linked_user", "test_command", "service_rules")


@dataclass(frozen=True)
class Item:
    key: str
    done: bool
    endpoint: str
    title: str
    hint: str


TEXTS = {
    "channel": (_l("Connect a WhatsApp or Telegram channel"),
                _l("Done when its connection test passes or its first webhook arrives.")),
    "panel": (_l("Connect your panel and test it"),
              _l("Done once a call to your panel succeeded.")),
    "routes": (_l("Map providers to their group chats"),
               _l("Add a provider and route it to the group that receives its commands.")),
    "linked_user": (_l("Link a customer to their chat"),
                    _l("Done when one customer's panel username is linked to a chat.")),
    "test_command": (_l("Send a test command"),
                     _l("From a linked chat, or from the Playground with \"Send for real\".")),
    "service_rules": (_l("Enable advanced service rules"),
                      _l("Save a service rule, or fetch your panel's services.")),
}


def _any(model, *conditions) -> object:
    return exists(select(model.id).where(*conditions).limit(1))


def states(workspace_id: int) -> dict[str, bool]:
    """Each key's state, read in one statement."""
    checks = {
        "channel": _any(Channel, Channel.workspace_id == workspace_id, Channel.enabled.is_(True),
                        or_(Channel.status == "ok", Channel.last_webhook_at.isnot(None))),
        "panel": or_(
            _any(PanelConnection, PanelConnection.workspace_id == workspace_id,
                 or_(PanelConnection.status == "ok", PanelConnection.panel_type == "demo")),
            _any(ExternalCall, ExternalCall.workspace_id == workspace_id,
                 ExternalCall.service.like("panel:%"), ExternalCall.outcome == "ok")),
        "routes": _any(ProviderRoute, ProviderRoute.workspace_id == workspace_id,
                       ProviderRoute.enabled.is_(True)),
        "linked_user": _any(LinkedUser, LinkedUser.workspace_id == workspace_id),
        "test_command": _any(CommandLog, CommandLog.workspace_id == workspace_id),
        "service_rules": or_(
            _any(ServiceRule, ServiceRule.workspace_id == workspace_id),
            _any(PanelConnection, PanelConnection.workspace_id == workspace_id,
                 PanelConnection.service_rules_mode == "cached")),
    }
    row = db.session.execute(select(*(check.label(key) for key, check in checks.items()))).one()
    return {key: bool(getattr(row, key)) for key in KEYS}


ENDPOINTS = {"channel": "ChannelView.list", "panel": "PanelConnectionView.list",
             "routes": "ProviderRouteView.list", "linked_user": "LinkedUserView.list",
             "test_command": "PlaygroundView.index", "service_rules": "ServiceRuleView.list"}


def checklist(workspace_id: int) -> list[Item]:
    done = states(workspace_id)
    return [Item(key, done[key], ENDPOINTS[key], str(TEXTS[key][0]), str(TEXTS[key][1]))
            for key in KEYS]
