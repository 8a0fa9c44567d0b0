"""Exporting a workspace as a workspace file.

The output is deterministic, so that export → import → export gives the same bytes and two
exports can be diffed: keys in the order of docs/examples/acme.yaml, rows in the order they were
created (which is the order of the file they were imported from), durations written one way
(`schema.format_duration`), no timestamps. Optional keys outside that example (`enabled`,
`notes`, panel rate limits, the settings switches) are written only when they differ from the
model default. Secrets are left out unless asked for; then they are decrypted only here, and are
never logged.
"""
from __future__ import annotations

import logging

import yaml
from sqlalchemy.orm import defer

from app.extensions import db
from app.models import (AdminIdentity, Channel, CommandAlias, LinkedUser, PanelConnection,
                        Provider, ProviderRoute, Workspace, WorkspaceMember, WorkspaceSettings)
from app.models.base import split_list
from app.models.settings import DEFAULT_INBOX_RESUME_MINUTES, DEFAULT_TICKET_POLL_SECONDS
from app.models.commands import ALIAS_ACTIONS
from app.models.routing import DEFAULT_ROUTE_TEMPLATE
from app.tenancy import scoped_query, workspace_scope
from app.models.sensitive import write_only_columns
from app.workspace_file.schema import CHANNEL_SECRETS, KIND_FIELDS, format_duration

log = logging.getLogger(__name__)

HEADER_WITHOUT_SECRETS = (
    "# Relaydesk workspace file (docs/workspace-file.md).\n"
    "# Secrets are left out: importing this file keeps the secrets already stored.\n")
HEADER_WITH_SECRETS = (
    "# Relaydesk workspace file (docs/workspace-file.md).\n"
    "# CONTAINS SECRETS (exported with --include-secrets): store it like a password.\n")
PANEL_DEFAULTS = {"requests_per_second": 5.0, "timeout_seconds": 15.0}


class WorkspaceNotFound(LookupError):
    pass


class _Dumper(yaml.SafeDumper):
    """Block style; lists indented under their key, as people write them by hand."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _multiline_text(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _short_list(dumper, value: list):
    # Lists of plain words (domains, actions, aliases) on one line, as in docs/examples/acme.yaml.
    flow = all(isinstance(v, str) and "\n" not in v for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _multiline_text)
_Dumper.add_representer(list, _short_list)


def export_workspace(slug: str, *, include_secrets: bool = False) -> str:
    """The workspace file of `slug` as YAML text.

    :raise WorkspaceNotFound: if there is no workspace with that slug.
    """
    with workspace_scope(None):
        workspace = db.session.query(Workspace).filter_by(slug=slug).one_or_none()
        if workspace is None:
            raise WorkspaceNotFound(slug)
        document = WorkspaceDocument(workspace, include_secrets).build()
    log.info("workspace %s exported (%s)", slug,
             "with secrets" if include_secrets else "secrets left out")
    header = HEADER_WITH_SECRETS if include_secrets else HEADER_WITHOUT_SECRETS
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=False, width=100)


def _id_order(query, model):
    return query.order_by(model.id).all()


class WorkspaceDocument:
    """Builds the plain data of one workspace's file."""

    def __init__(self, workspace: Workspace, include_secrets: bool):
        self.workspace = workspace
        self.include_secrets = include_secrets

    def owned(self, model):
        """The workspace's rows of `model`; without --include-secrets, the columns the model
        declares write-only (app/models/sensitive.py) are not even loaded, so not decrypted."""
        query = scoped_query(model, self.workspace.id)
        secret_columns = write_only_columns(model)
        if not self.include_secrets and secret_columns:
            # Not even loaded (so not decrypted) when they are not wanted.
            query = query.options(*(defer(getattr(model, c)) for c in secret_columns))
        return _id_order(query, model)

    def build(self) -> dict:
        sections = {
            "workspace": self.workspace_section(),
            "panel": self.panel(),
            "channels": self.channels(),
            "providers": self.providers(),
            "linked_users": self.linked_users(),
            "admin_identities": self.admin_identities(),
            "members": self.members(),
            "settings": self.settings(),
            "aliases": self.aliases(),
        }
        return {key: value for key, value in sections.items() if value}

    def workspace_section(self) -> dict:
        ws = self.workspace
        section = {"slug": ws.slug, "name": ws.name}
        if ws.plan is not None:
            section["plan"] = ws.plan.code
        section["language"] = ws.language
        section["timezone"] = ws.timezone
        return section

    def panel(self) -> dict | None:
        rows = self.owned(PanelConnection)
        if not rows:
            return None
        row = rows[0]
        section = {"type": row.panel_type, "url": row.url}
        if self.include_secrets and row.api_key:
            section["api_key"] = row.api_key
        section["service_rules"] = row.service_rules_mode
        for key, default in PANEL_DEFAULTS.items():
            if getattr(row, key) != default:
                section[key] = getattr(row, key)
        return section

    def channels(self) -> list[dict]:
        result = []
        for row in self.owned(Channel):
            section = {"name": row.name, "kind": row.kind}
            for column in KIND_FIELDS[row.kind]:
                if column in CHANNEL_SECRETS and not self.include_secrets:
                    continue
                value = getattr(row, column)
                if value:
                    section[column] = value
            if not row.enabled:
                section["enabled"] = False
            if row.notes:
                section["notes"] = row.notes
            result.append(section)
        return result

    def providers(self) -> list[dict]:
        result = []
        for row in self.owned(Provider):
            section: dict = {"name": row.name}
            if split_list(row.domains):
                section["domains"] = split_list(row.domains)
            if split_list(row.aliases):
                section["aliases"] = split_list(row.aliases)
            if row.notes:
                section["notes"] = row.notes
            routes = [self.route(r) for r in sorted(row.routes, key=lambda r: r.id)]
            if len(routes) == 1:
                section["route"] = routes[0]
            elif routes:
                section["routes"] = routes
            result.append(section)
        return result

    @staticmethod
    def route(row: ProviderRoute) -> dict:
        section = {"channel": row.channel.name, "chat_id": row.chat_id,
                   "template": row.template or DEFAULT_ROUTE_TEMPLATE,
                   "actions": split_list(row.actions)}
        if not row.enabled:
            section["enabled"] = False
        return section

    def linked_users(self) -> list[dict]:
        result = []
        for row in self.owned(LinkedUser):
            if row.username is None:
                continue  # a contact, not a linked user: Contacts › Export CSV carries it
            section: dict = {"username": row.username, "language": row.language}
            if row.notes:
                section["notes"] = row.notes
            identities = [{"channel": i.channel.name, "chat_id": i.chat_id}
                          for i in sorted(row.identities, key=lambda i: i.id)]
            if identities:
                section["identities"] = identities
            result.append(section)
        return result

    def admin_identities(self) -> list[dict]:
        result = []
        for row in self.owned(AdminIdentity):
            section = {"channel": row.channel.name, "chat_id": row.chat_id}
            if row.name:
                section["name"] = row.name
            result.append(section)
        return result

    def members(self) -> list[dict]:
        # Passwords are never exported: only their hashes are stored.
        return [{"username": m.user.username, "email": m.user.email, "role": m.role}
                for m in self.owned(WorkspaceMember)]

    def settings(self) -> dict | None:
        rows = self.owned(WorkspaceSettings)
        if not rows:
            return None
        row = rows[0]
        section: dict = {
            "cooldowns": {action: format_duration(row.cooldown_seconds(action))
                          for action in ("refill", "speed", "cancel")},
            "max_ids_per_message": row.max_ids_per_message,
        }
        for switch in ("allow_partial_refill", "fallback_reply_enabled"):
            if getattr(row, switch):
                section[switch] = True
        if not row.paused_reply_enabled:  # on by default
            section["paused_reply_enabled"] = False
        tickets: dict = {}
        if row.tickets_enabled:  # off by default
            tickets["enabled"] = True
        if row.ticket_poll_seconds != DEFAULT_TICKET_POLL_SECONDS:
            tickets["poll_seconds"] = row.ticket_poll_seconds
        if tickets:
            section["tickets"] = tickets
        if row.inbox_resume_minutes != DEFAULT_INBOX_RESUME_MINUTES:
            section["inbox"] = {"resume_minutes": row.inbox_resume_minutes}
        return section

    def aliases(self) -> dict:
        words: dict[str, list[str]] = {}
        for row in self.owned(CommandAlias):
            words.setdefault(row.action, []).append(row.alias)
        return {action: words[action] for action in ALIAS_ACTIONS if action in words}
