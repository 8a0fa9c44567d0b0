"""A worker's snapshot of one workspace's configuration, reloaded only when it changed.

Every command needs the same configuration: settings, aliases and custom keywords, providers and
their routes, service rules, the panel connection, channels (with decrypted credentials), admin
identities and reply templates. Each process keeps a `WorkspaceConfig` per workspace instead of
reading it all for every message (docs/ARCHITECTURE.md "Configuration snapshots").

Freshness: `workspace.config_version` is bumped in the same transaction as any change to one of
the CONFIG_MODELS made through the ORM (screens, REST API, workspace import, jobs), by the
`after_flush` hook below; a change of a platform-wide reply template bumps every workspace. The
event claim reads the version with the event (one statement), so a command always runs on the
configuration committed before its event was claimed. Writes that bypass the ORM (raw SQL by an
operator) are caught by MAX_AGE: no snapshot is used for longer than that.

The snapshot holds detached ORM objects, read in a private session (never the caller's),
fully loaded (relationships included) and never attached to a session again; code that must
change one of them (a channel's status after a send error) loads its own attached copy.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import (AdminIdentity, Channel, CommandAlias, CustomCommand,
                        GlobalReplyTemplate, PanelConnection, Provider, ProviderRoute,
                        ReplyTemplate, ServiceRule, Workspace, WorkspaceSettings)

MAX_AGE = 60.0  # seconds; the safety net for writes that bypass the ORM

CONFIG_MODELS = (Workspace, WorkspaceSettings, Channel, CommandAlias, CustomCommand,
                 ReplyTemplate, PanelConnection, Provider, ProviderRoute, ServiceRule,
                 AdminIdentity)
GLOBAL_MODELS = (GlobalReplyTemplate,)


@dataclass
class WorkspaceConfig:
    workspace_id: int
    version: int | None
    loaded_at: float
    language: str
    settings: WorkspaceSettings
    aliases: dict[str, str]
    custom_replies: dict[str, str]  # enabled keyword → reply
    providers: list[Provider]
    provider_chats: frozenset  # (channel id, chat id) of every route: provider groups
    rules: dict  # service id → rule, and "name:<service name>" → rule
    panel: PanelConnection | None
    channels: dict[int, Channel]
    admins: list[AdminIdentity]
    _templates: dict[str, tuple[dict, dict]] = field(default_factory=dict)

    def templates(self, language: str) -> tuple[dict[str, str], dict[str, str]]:
        """(workspace texts, platform defaults) for one language, loaded once per snapshot."""
        found = self._templates.get(language)
        if found is None:
            own = dict(db.session.execute(
                select(ReplyTemplate.key, ReplyTemplate.body).where(
                    ReplyTemplate.workspace_id == self.workspace_id,
                    ReplyTemplate.language == language)).all())
            platform = dict(db.session.execute(
                select(GlobalReplyTemplate.key, GlobalReplyTemplate.body).where(
                    GlobalReplyTemplate.language == language)).all())
            found = self._templates[language] = (own, platform)
        return found

    def adapter(self):
        """A new panel adapter (adapters count their calls, so each run gets its own), or None
        without a panel connection.

        :raise PanelError: when the connection's panel type has no adapter."""
        if self.panel is None:
            return None
        from app.integrations.panels.registry import adapter_for

        return adapter_for(self.panel)

    def admins_for(self, channel_id: int, chat_ids) -> list[AdminIdentity]:
        wanted = set(chat_ids)
        return [a for a in self.admins if a.channel_id == channel_id and a.chat_id in wanted]


_cache: dict[int, WorkspaceConfig] = {}
_lock = threading.Lock()


def current_version(workspace_id: int) -> int | None:
    return db.session.execute(select(Workspace.config_version).where(
        Workspace.id == workspace_id)).scalar()


def workspace_config(workspace_id: int, version: int | None = None) -> WorkspaceConfig:
    """The configuration of a workspace as of `version` (read from the database when not
    given), from this process' cache when it is that version and younger than MAX_AGE."""
    if version is None:
        version = current_version(workspace_id)
    cached = _cache.get(workspace_id)
    if (cached is not None and cached.version == version
            and time.monotonic() - cached.loaded_at < MAX_AGE):
        return cached
    config = _load(workspace_id, version)
    with _lock:
        _cache[workspace_id] = config
    return config


def forget(workspace_id: int | None = None) -> None:
    with _lock:
        if workspace_id is None:
            _cache.clear()
        else:
            _cache.pop(workspace_id, None)


def _load(workspace_id: int, version: int | None) -> WorkspaceConfig:
    """Read the configuration in a private session: its objects never meet the caller's
    session (a job's or a view's own Channel stays theirs), and closing it detaches them all."""
    with Session(bind=db.engine, autoflush=False) as session:
        return _read(session, workspace_id, version)


def _read(session: Session, workspace_id: int, version: int | None) -> WorkspaceConfig:
    workspace = session.get(Workspace, workspace_id)
    settings = session.execute(select(WorkspaceSettings).where(
        WorkspaceSettings.workspace_id == workspace_id)).scalar_one_or_none()
    if settings is None:
        settings = WorkspaceSettings(workspace_id=workspace_id)
        # column defaults apply at INSERT; a detached stand-in needs them set now
        for column in WorkspaceSettings.__table__.columns:
            if getattr(settings, column.key) is None and column.default is not None \
                    and not callable(column.default.arg):
                setattr(settings, column.key, column.default.arg)
    channels = {c.id: c for c in session.execute(select(Channel).where(
        Channel.workspace_id == workspace_id)).scalars()}
    providers = list(session.execute(select(Provider).where(
        Provider.workspace_id == workspace_id).order_by(Provider.id)).scalars())
    routes = list(session.execute(select(ProviderRoute).where(
        ProviderRoute.workspace_id == workspace_id).order_by(ProviderRoute.id)).scalars())
    by_provider: dict[int, list[ProviderRoute]] = {}
    for route in routes:
        by_provider.setdefault(route.provider_id, []).append(route)
    rules: dict = {}
    for rule in session.execute(select(ServiceRule).where(
            ServiceRule.workspace_id == workspace_id)).scalars():
        rules[rule.service_id] = rule
        if rule.service_name:  # Rental Panel orders carry the service name, not its id
            rules.setdefault(f"name:{rule.service_name}", rule)
    panel = session.execute(select(PanelConnection).where(
        PanelConnection.workspace_id == workspace_id)).scalar_one_or_none()
    admins = list(session.execute(select(AdminIdentity).where(
        AdminIdentity.workspace_id == workspace_id).order_by(AdminIdentity.id)).scalars())
    aliases = dict(session.execute(select(CommandAlias.alias, CommandAlias.action).where(
        CommandAlias.workspace_id == workspace_id)).all())
    custom = dict(session.execute(select(CustomCommand.keyword, CustomCommand.reply).where(
        CustomCommand.workspace_id == workspace_id, CustomCommand.enabled.is_(True))).all())
    language = workspace.language if workspace is not None else "en"
    # Fill the relationships the pipeline follows; closing the session detaches everything.
    for provider in providers:
        _set_loaded(provider, "routes", by_provider.get(provider.id, []))
    for route in routes:
        _set_loaded(route, "channel", channels.get(route.channel_id))
        _set_loaded(route, "provider", next((p for p in providers if p.id == route.provider_id),
                                            None))
    return WorkspaceConfig(
        workspace_id=workspace_id, version=version, loaded_at=time.monotonic(),
        language=language, settings=settings, aliases=aliases, custom_replies=custom,
        providers=providers,
        provider_chats=frozenset((r.channel_id, r.chat_id) for r in routes),
        rules=rules, panel=panel, channels=channels, admins=admins)


def _set_loaded(obj, name: str, value) -> None:
    """Give a relationship its value without a query and without marking the object dirty."""
    set_committed_value(obj, name, value)


# --- keeping config_version honest ----------------------------------------------------------

def _changed_workspaces(session) -> tuple[set[int], bool]:
    """Workspaces whose configuration this flush changes (run in after_flush: the ids of new
    rows are known, and new/dirty/deleted still describe what was flushed)."""
    ids: set[int] = set()
    everyone = False
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, GLOBAL_MODELS):
            everyone = True
        elif isinstance(obj, CONFIG_MODELS):
            if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                continue
            owner = obj.id if isinstance(obj, Workspace) else obj.workspace_id
            if owner is None and not isinstance(obj, Workspace) and obj.workspace is not None:
                owner = obj.workspace.id
            if owner is not None:
                ids.add(owner)
    return ids, everyone


def install_version_hook(session_class) -> None:
    """Bump `config_version` in the transaction that changes a workspace's configuration."""

    @event.listens_for(session_class, "after_flush")
    def _bump(session, flush_context):  # noqa: ARG001 - SQLAlchemy signature
        ids, everyone = _changed_workspaces(session)
        if not ids and not everyone:
            return
        table = Workspace.__table__
        stmt = update(table).values(config_version=table.c.config_version + 1,
                                    updated_at=table.c.updated_at)
        if not everyone:
            stmt = stmt.where(table.c.id.in_(sorted(ids)))
        session.connection().execute(stmt)
