"""Importing a workspace file: validate everything, then upsert in one transaction.

The order is fixed and nothing is written before the last check passed:

1. parse the YAML (syntax errors, keys given twice) — `locate.parse`;
2. the schemas and the file-wide duplicate checks — `schema.validate_document`;
3. the checks that need the database (`database_problems`): the plan code, channels named by
   routes and identities (in the file or already in the workspace), a channel's kind, platform
   identifiers another channel owns (app/ownership.py: the same check and the same message as
   the screens, whichever workspace the other channel is in), required secrets, logins of
   other workspaces, the outbound URL policy for every URL the file sets (`_url_problems`: a
   URL that changes needs its secret in the same file), and what the workspace's plan allows
   (`_plan_problems`: the plan the file names, else the stored one; new channels of a medium
   it excludes, channels, linked users and members beyond its limits, cached service rules
   without its `service_cache` module, each at its line with the screens' sentence; the
   workspace's row stays locked from this count to the commit, app/plans.py `check_room`);
4. the upsert (`Upsert`), keyed by the workspace slug and by names, in one transaction that is
   committed at the end, or rolled back for a dry run or on any error. An identifier taken by
   a concurrent save between 3 and 4 (the UNIQUE constraint refuses the write) is reported like
   step 3 found it, on its line.

Meta channels: a new one, or one whose number, account id or credentials the file changes, is
stored unverified (`verified_at` NULL: it receives nothing) and its verification is queued once
the import is committed (`ImportResult.verification_queued`); "Test connection" verifies it too.

Rules of the upsert: a key that is absent leaves the stored value alone (a new row gets the
model default); a key that is present sets it. Nothing is ever deleted. A value equal to the
stored one is not assigned, so importing the same file twice writes nothing (`updated_at` stays).
Secrets follow the same rule, which is what "a missing secret keeps the stored value" means.
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path as FilePath

from flask import current_app
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError

from app import audit
from app.auth.passwords import generate_password
from app.crypto import SecretDecryptError
from app.extensions import db
from app.integrations.urlpolicy import REENTER_SECRET, UrlRefused, check_for_saving
from app.models import (AdminIdentity, Channel, ChatIdentity, CommandAlias, LinkedUser,
                        PanelConnection, Plan, Provider, ProviderRoute, Workspace,
                        WorkspaceMember, WorkspaceSettings)
from app.models.base import join_list, split_list
from app.models.channels import REQUIRED_FIELDS, telegram_bot_id
from app.ownership import INPUT_FIELD, identifier_in_violation, taken, taken_message
from app.plans import count_of, lock_workspace, medium_refusal, module_refusal, room_refusal
from app.security import MEMBER_ROLE_TO_FAB, ROLE_ADMIN
from app.tenancy import TenancyError, scoped_query, workspace_scope
from app.workspace_file.errors import LocatedProblem, Problem, WorkspaceFileInvalid
from app.workspace_file.locate import parse, place_all
from app.validation import chat_id_problem
from app.workspace_file.schema import (CHANNEL_SECRETS, KIND_FIELDS, routes_of,
                                       validate_document)

log = logging.getLogger(__name__)

#: the order of the summary lines
CATEGORIES = ("workspace", "settings", "panel", "channels", "providers", "routes",
              "linked_users", "identities", "admin_identities", "members", "aliases")
SECRETS_HINT = "exports leave secrets out unless --include-secrets"


class WorkspaceImportFailed(Exception):
    """The database refused the import (e.g. a concurrent change); nothing was written."""


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class ImportResult:
    slug: str
    dry_run: bool
    counts: dict[str, Tally] = field(default_factory=dict)
    #: logins created without a password in the file: {username: generated password}
    generated_passwords: dict[str, str] = field(default_factory=dict)
    #: Meta channels stored unverified: {name: True when their verification was queued}
    verification_queued: dict[str, bool] = field(default_factory=dict)

    def tally(self, category: str) -> Tally:
        return self.counts.setdefault(category, Tally())

    @property
    def changed(self) -> bool:
        return any(t.created or t.updated for t in self.counts.values())

    def summary_lines(self) -> list[str]:
        return [f"  {name.replace('_', ' '):<17} {self.counts[name]}"
                for name in CATEGORIES if name in self.counts]


def import_path(path: str | FilePath, *, dry_run: bool = False,
                filename: str | None = None) -> ImportResult:
    """Import the file at `path`; errors name it as `filename` (default: the path as given)."""
    name = filename or str(path)
    try:
        text = FilePath(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise WorkspaceFileInvalid([LocatedProblem(name, 1, (), "Not UTF-8 text.")]) from None
    return import_text(text, name, dry_run=dry_run)


def import_text(text: str, filename: str = "<workspace file>", *,
                dry_run: bool = False) -> ImportResult:
    """Validate and import one workspace file.

    :raise WorkspaceFileInvalid: with every problem found, each on its line; nothing written.
    :raise WorkspaceImportFailed: when the database refused the write; nothing written.
    """
    data, root = parse(text, filename)
    loaded, problems = validate_document(data)
    # the audit trail records every change as this import's (app/audit.py)
    with workspace_scope(None), audit.acting(via="import", label=f"workspace file {filename}"):
        try:
            if loaded is not None:
                found = Found.load(loaded)
                problems = problems + database_problems(loaded, found)
            if problems or loaded is None:
                raise WorkspaceFileInvalid(place_all(problems, root, filename))
            upsert = Upsert(loaded, found, dry_run=dry_run)
            result = upsert.run()
            db.session.flush()
        except (SQLAlchemyError, TenancyError, SecretDecryptError) as exc:
            db.session.rollback()
            _raise_taken_identifier(exc, loaded, root, filename)
            raise WorkspaceImportFailed(_refusal(exc)) from exc
        except BaseException:
            db.session.rollback()
            raise
        if dry_run:
            db.session.rollback()
            result.generated_passwords.clear()
        else:
            unverified = upsert.unverified_meta_channels()
            try:
                db.session.commit()
            except SQLAlchemyError as exc:
                db.session.rollback()
                _raise_taken_identifier(exc, loaded, root, filename)
                raise WorkspaceImportFailed(_refusal(exc)) from exc
            result.verification_queued = _queue_verifications(unverified)
    log.info("workspace file %s %s workspace %s: %s", filename,
             "checked (dry run) for" if dry_run else "imported into", result.slug,
             "; ".join(f"{k} {v}" for k, v in result.counts.items()))
    return result


def _raise_taken_identifier(exc: Exception, loaded: dict, root, filename: str) -> None:
    """A write refused by an identifier's UNIQUE constraint (a concurrent save took it after
    the checks ran): raise WorkspaceFileInvalid with the problem on its line, as the check
    reports it. Does nothing for any other refusal."""
    column = identifier_in_violation(exc)
    if column is None:
        return
    found = Found.load(loaded)  # the session was rolled back: read again
    problems = _identifier_problems(loaded, found)
    if not problems:  # the other save is gone again: still, this import wrote nothing
        at = next((("channels", i, INPUT_FIELD[column])
                   for i, c in enumerate(loaded.get("channels", ()))
                   if c.get(INPUT_FIELD[column])), ("channels",))
        problems = [Problem(at, taken_message(column))]
    db.session.rollback()
    raise WorkspaceFileInvalid(place_all(problems, root, filename)) from exc


def _queue_verifications(channels: list[tuple[int, str]]) -> dict[str, bool]:
    from app.jobs import queues

    return {name: queues.enqueue_verification(channel_id) for channel_id, name in channels}


def _refusal(exc: Exception) -> str:
    # The driver's first line only: SQLAlchemy's full text lists the bound parameters.
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else exc.__class__.__name__


# --- what the database already holds ------------------------------------------------------------

@dataclass
class Found:
    """The rows the file is compared with, loaded once before checking and writing."""

    workspace: Workspace | None
    plan: Plan | None
    channels: dict[str, Channel]

    @classmethod
    def load(cls, data: dict) -> Found:
        slug = data["workspace"]["slug"]
        workspace = db.session.query(Workspace).filter_by(slug=slug).one_or_none()
        code = data["workspace"].get("plan")
        plan = db.session.query(Plan).filter_by(code=code).one_or_none() if code else None
        channels = {}
        if workspace is not None:
            channels = {c.name: c for c in scoped_query(Channel, workspace.id)}
        return cls(workspace=workspace, plan=plan, channels=channels)


def database_problems(data: dict, found: Found) -> list[Problem]:
    """What is wrong with the file given what the database holds (read only)."""
    problems: list[Problem] = []
    code = data["workspace"].get("plan")
    if code and found.plan is None:
        known = sorted(c for (c,) in db.session.query(Plan.code))
        hint = f" Known plans: {', '.join(known)}." if known else " No plans exist yet."
        problems.append(Problem(("workspace", "plan"), f"No plan with code '{code}'.{hint}"))
    problems += _channel_problems(data, found)
    problems += _reference_problems(data, found)
    problems += _panel_problems(data, found)
    problems += _url_problems(data, found)
    problems += _member_problems(data, found)
    problems += _plan_problems(data, found)
    return problems


def _file_plan(data: dict, found: Found) -> Plan | None:
    """The plan the import would leave the workspace on: the file's (`plan:`), else the
    stored one. None: no plan, nothing is limited (an unknown code is reported apart)."""
    if "plan" in data["workspace"]:
        return found.plan
    return found.workspace.plan if found.workspace is not None else None


def _plan_problems(data: dict, found: Found) -> list[Problem]:
    """What the file adds beyond the plan: each new channel of a medium the plan excludes
    (at its `kind`), the first new channel, linked user and member beyond a limit (at its name:
    nothing is half-imported, the whole file is refused), and cached service rules without the
    `service_cache` module. A row the workspace already has never counts again."""
    plan = _file_plan(data, found)
    if plan is None:
        return []
    workspace = found.workspace
    if workspace is not None:
        lock_workspace(workspace)  # held until the import commits or rolls back
    problems: list[Problem] = []

    def count(name: str) -> int:
        return count_of(workspace, name) if workspace is not None else 0

    def room(name: str, new_items: list[tuple]) -> None:
        used = count(name)
        for path in new_items:
            refusal = room_refusal(plan, name, used)
            if refusal is not None:
                problems.append(Problem(path, refusal.message))
                return
            used += 1

    new_channels = [(i, c) for i, c in enumerate(data.get("channels", ()))
                    if c["name"] not in found.channels]
    for i, channel in new_channels:
        refusal = medium_refusal(plan, channel["kind"])
        if refusal is not None:
            problems.append(Problem(("channels", i, "kind"), refusal.message))
    room("max_channels", [("channels", i, "name") for i, _channel in new_channels])

    known_users: set[str] = set()
    if workspace is not None:
        known_users = {name for (name,) in db.session.query(LinkedUser.username)
                       .filter_by(workspace_id=workspace.id)}
    room("max_linked_users", [("linked_users", i, "username")
                              for i, user in enumerate(data.get("linked_users", ()))
                              if user["username"] not in known_users])

    sm = current_app.appbuilder.sm
    joining = []
    for i, member in enumerate(data.get("members", ())):
        user = sm.find_user(username=member["username"])
        if user is None or workspace is None or db.session.query(WorkspaceMember.id).filter_by(
                workspace_id=workspace.id, user_id=user.id).first() is None:
            joining.append(("members", i, "username"))
    room("max_team_members", joining)

    panel = data.get("panel") or {}
    stored = _stored_panel(found)
    if panel.get("service_rules") == "cached" and (
            stored is None or stored.service_rules_mode != "cached"):
        refusal = module_refusal(plan, "service_cache")
        if refusal is not None:
            problems.append(Problem(("panel", "service_rules"), refusal.message))
    return problems


#: the panel section's keys that are named differently from their columns
PANEL_KEYS = {"panel_type": "type"}


def _stored_panel(found: Found) -> PanelConnection | None:
    if found.workspace is None:
        return None
    return scoped_query(PanelConnection, found.workspace.id).one_or_none()


def _url_problems(data: dict, found: Found) -> list[Problem]:
    """The outbound URL policy for the URLs the file sets (the model's `tenant_urls`), and the
    secrets a changed URL needs again: a stored key is never sent to a new address."""
    problems = []
    for i, section in enumerate(data.get("channels", ())):
        existing = found.channels.get(section["name"])
        if existing is not None and existing.kind != section["kind"]:
            continue  # already refused: a channel's kind cannot change
        problems += _tenant_url_problems(Channel, section, existing, ("channels", i), {})
    if data.get("panel"):
        problems += _tenant_url_problems(PanelConnection, data["panel"], _stored_panel(found),
                                         ("panel",), PANEL_KEYS)
    return problems


def _tenant_url_problems(model, section: dict, stored, at: tuple, keys: dict) -> list[Problem]:
    def key(column: str) -> str:
        return keys.get(column, column)

    def new(column: str):
        return section[key(column)] if key(column) in section else getattr(stored, column, None)

    problems = []
    for tenant_url in model.tenant_urls:
        url = tenant_url.called(new)
        if url is None:
            continue
        try:
            check_for_saving(url)
        except UrlRefused as exc:
            problems.append(Problem(at + (key(tenant_url.column),), str(exc)))
            continue
        if stored is None or url == tenant_url.called(lambda column: getattr(stored, column)):
            continue
        for secret in tenant_url.secrets:
            if not section.get(key(secret)):
                problems.append(Problem(at + (key(secret),), str(REENTER_SECRET)))
    return problems


def _dropped_secrets(model, section: dict, stored, keys: dict) -> dict:
    """{column: None} for the optional secrets of a URL the file changes (`TenantUrl.dropped`)
    that the file does not give again."""
    if stored is None:
        return {}

    def new(column: str):
        name = keys.get(column, column)
        return section[name] if name in section else getattr(stored, column)

    cleared = {}
    for tenant_url in model.tenant_urls:
        url = tenant_url.called(new)
        if url is not None and url != tenant_url.called(lambda column: getattr(stored, column)):
            cleared.update({d: None for d in tenant_url.dropped
                            if not section.get(keys.get(d, d)) and getattr(stored, d)})
    return cleared


def _channel_problems(data: dict, found: Found) -> list[Problem]:
    problems = []
    for i, channel in enumerate(data.get("channels", ())):
        at = ("channels", i)
        kind, name = channel["kind"], channel["name"]
        existing = found.channels.get(name)
        if existing is not None and existing.kind != kind:
            problems.append(Problem(at + ("kind",), f"Channel '{name}' exists as a "
                                    f"{existing.kind} channel; a channel's kind cannot change."))
            continue
        for column in REQUIRED_FIELDS[kind]:
            if column == "api_url":  # Channel fills in the Green API default
                continue
            if column in channel:
                value = channel[column]
            else:
                value = getattr(existing, column) if existing is not None else None
            if value:
                continue
            if column in channel:
                message = f"Required for {kind} channels; it cannot be cleared."
            elif existing is None:
                message = f"Missing data for required field (a new {kind} channel needs it"
                message += f"; {SECRETS_HINT})." if column in CHANNEL_SECRETS else ")."
            else:
                message = "Missing data for required field."
            problems.append(Problem(at + (column,), message))
        widget_key = channel.get("widget_key")
        if widget_key:
            other = db.session.query(Channel.id).filter(Channel.widget_key == widget_key)
            if existing is not None:
                other = other.filter(Channel.id != existing.id)
            if other.first() is not None:
                problems.append(Problem(at + ("widget_key",),
                                        "This widget_key is already used by another channel."))
    return problems + _identifier_problems(data, found)


def _identifier_problems(data: dict, found: Found) -> list[Problem]:
    """Platform identifiers of the file's channels that another channel owns (any workspace;
    the channel the file updates excluded), with the message the screens show."""
    problems = []
    for i, channel in enumerate(data.get("channels", ())):
        values = {}
        for column, key in INPUT_FIELD.items():
            value = channel.get(key)
            if key == "bot_token":
                value = telegram_bot_id(value) if channel["kind"] == "telegram" else None
            if value:
                values[column] = value
        existing = found.channels.get(channel["name"])
        for column in taken(values, exclude_id=existing.id if existing is not None else None):
            problems.append(Problem(("channels", i, INPUT_FIELD[column]),
                                    taken_message(column)))
    return problems


def _reference_problems(data: dict, found: Found) -> list[Problem]:
    kinds = {name: c.kind for name, c in found.channels.items()}
    kinds.update({c["name"]: c["kind"] for c in data.get("channels", ())})
    problems = []

    def check(path, name: str, carries_commands: bool = False) -> None:
        if name not in kinds:
            close = difflib.get_close_matches(name, list(kinds), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(Problem(path, f"No channel named '{name}' in this file or in the "
                                          f"workspace.{hint}"))
        elif carries_commands and kinds[name] == "webchat":
            problems.append(Problem(path, "A webchat channel cannot send commands to a "
                                          "provider's group."))

    def chat(path, section: dict) -> None:
        # the chat id's shape on its channel's platform (app/validation.py), as on the screens
        message = chat_id_problem(section["chat_id"], kinds.get(section["channel"]))
        if message is not None:
            problems.append(Problem(path + ("chat_id",), str(message)))

    for i, provider in enumerate(data.get("providers", ())):
        for route_path, route in routes_of(provider):
            check(("providers", i) + route_path + ("channel",), route["channel"], True)
            chat(("providers", i) + route_path, route)
    for i, user in enumerate(data.get("linked_users", ())):
        for k, identity in enumerate(user.get("identities") or []):
            check(("linked_users", i, "identities", k, "channel"), identity["channel"])
            chat(("linked_users", i, "identities", k), identity)
    for i, admin in enumerate(data.get("admin_identities", ())):
        check(("admin_identities", i, "channel"), admin["channel"])
        chat(("admin_identities", i), admin)
    return problems


def _panel_problems(data: dict, found: Found) -> list[Problem]:
    panel = data.get("panel")
    if not panel or panel["type"] == "demo":
        return []
    if "api_key" in panel:
        if panel["api_key"]:
            return []
        return [Problem(("panel", "api_key"),
                        f"Required for {panel['type']} panels; it cannot be cleared.")]
    stored = None
    if found.workspace is not None:
        row = scoped_query(PanelConnection, found.workspace.id).one_or_none()
        stored = row.api_key if row is not None else None
    if stored:
        return []
    return [Problem(("panel", "api_key"), f"Missing data for required field (a {panel['type']} "
                                          f"panel needs its admin API key; {SECRETS_HINT}).")]


def _member_problems(data: dict, found: Found) -> list[Problem]:
    sm = current_app.appbuilder.sm
    problems = []
    for role in {m.get("role", "agent") for m in data.get("members", ())}:
        if sm.find_role(MEMBER_ROLE_TO_FAB[role]) is None:
            problems.append(Problem(("members",), f"The role {MEMBER_ROLE_TO_FAB[role]} does "
                                    "not exist yet: run `flask --app run init` first."))
    for i, member in enumerate(data.get("members", ())):
        at = ("members", i)
        username = member["username"]
        user = sm.find_user(username=username)
        if user is not None:
            membership = db.session.query(WorkspaceMember).filter_by(user_id=user.id).first()
            if membership is not None and (found.workspace is None
                                           or membership.workspace_id != found.workspace.id):
                problems.append(Problem(at + ("username",), f"The login '{username}' already "
                                        "belongs to another workspace."))
            elif membership is None and any(r.name == ROLE_ADMIN for r in user.roles):
                problems.append(Problem(at + ("username",), f"The login '{username}' is a "
                                        "master admin and cannot be a workspace member."))
        elif not member.get("email"):
            problems.append(Problem(at + ("email",), "Missing data for required field (needed "
                                                     "to create the login)."))
        email = member.get("email")
        if email:
            other = db.session.query(sm.user_model).filter(
                func.lower(sm.user_model.email) == email.lower()).first()
            if other is not None and (user is None or other.id != user.id):
                problems.append(Problem(at + ("email",), "This email is already used by "
                                                         "another login."))
    return problems


# --- writing ------------------------------------------------------------------------------------

def assign(row, values: dict) -> bool:
    """Set the values that differ from the stored ones; True when anything changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def present(section: dict, mapping: dict[str, str]) -> dict:
    """{column: value} for the file keys present in `section` ({file key: column})."""
    return {column: section[key] for key, column in mapping.items() if key in section}


class Upsert:
    """Writes a validated file. Call `run()` inside a transaction; it never commits."""

    def __init__(self, data: dict, found: Found, *, dry_run: bool):
        self.data = data
        self.found = found
        self.result = ImportResult(slug=data["workspace"]["slug"], dry_run=dry_run)
        self.workspace: Workspace | None = found.workspace
        self.channels: dict[str, Channel] = dict(found.channels)

    def run(self) -> ImportResult:
        self._workspace()
        self._settings()
        self._panel()
        self._channels()
        db.session.flush()  # channel ids for the rows that point at channels
        self._providers()
        self._linked_users()
        self._admin_identities()
        self._members()
        self._aliases()
        return self.result

    def _save(self, category: str, row, values: dict, model=None, **keys):
        """Update `row` with `values`, or create `model(**keys, **values)` when row is None."""
        tally = self.result.tally(category)
        if row is None:
            row = model(**keys, **values)
            db.session.add(row)
            tally.count("created")
        else:
            tally.count("updated" if assign(row, values) else "unchanged")
        return row

    def _workspace(self) -> None:
        section = self.data["workspace"]
        values = present(section, {"name": "name", "language": "language",
                                   "timezone": "timezone"})
        if "plan" in section:
            values["plan_id"] = self.found.plan.id if self.found.plan else None
        self.workspace = self._save("workspace", self.workspace, values, Workspace,
                                    slug=section["slug"])
        db.session.flush()  # the id every other row needs

    def _owned(self, model):
        return scoped_query(model, self.workspace.id)

    def _settings(self) -> None:
        section = self.data.get("settings", {})
        values = present(section, {"max_ids_per_message": "max_ids_per_message",
                                   "allow_partial_refill": "allow_partial_refill",
                                   "fallback_reply_enabled": "fallback_reply_enabled",
                                   "paused_reply_enabled": "paused_reply_enabled"})
        for action, seconds in section.get("cooldowns", {}).items():
            values[f"cooldown_{action}_seconds"] = seconds
        tickets = section.get("tickets", {})
        values.update(present(tickets, {"enabled": "tickets_enabled",
                                        "poll_seconds": "ticket_poll_seconds"}))
        values.update(present(section.get("inbox", {}),
                              {"resume_minutes": "inbox_resume_minutes"}))
        row = self._owned(WorkspaceSettings).one_or_none()
        if row is None or "settings" in self.data:  # every workspace gets its settings row
            self._save("settings", row, values, WorkspaceSettings,
                       workspace_id=self.workspace.id)

    def _panel(self) -> None:
        section = self.data.get("panel")
        if section is None:
            return
        values = present(section, {"type": "panel_type", "url": "url", "api_key": "api_key",
                                   "service_rules": "service_rules_mode",
                                   "requests_per_second": "requests_per_second",
                                   "timeout_seconds": "timeout_seconds"})
        row = self._owned(PanelConnection).one_or_none()
        values.update(_dropped_secrets(PanelConnection, section, row, PANEL_KEYS))
        self._save("panel", row, values, PanelConnection, workspace_id=self.workspace.id)

    def _channels(self) -> None:
        for section in self.data.get("channels", ()):
            columns = ("enabled", "notes") + KIND_FIELDS[section["kind"]]
            values = {c: section[c] for c in columns if c in section}
            name = section["name"]
            self.channels[name] = self._save(
                "channels", self.channels.get(name), values, Channel,
                workspace_id=self.workspace.id, name=name, kind=section["kind"])

    def unverified_meta_channels(self) -> list[tuple[int, str]]:
        """(id, name) of the file's Meta channels that await verification (flushed rows)."""
        return [(row.id, name) for name, row in self.channels.items()
                if row.kind == "meta" and row.verified_at is None
                and any(c["name"] == name for c in self.data.get("channels", ()))]

    def _providers(self) -> None:
        existing = {p.name: p for p in self._owned(Provider)}
        for section in self.data.get("providers", ()):
            values = present(section, {"notes": "notes"})
            row = existing.get(section["name"])
            for key in ("domains", "aliases"):
                if key in section and (row is None
                                       or split_list(getattr(row, key)) != section[key]):
                    values[key] = join_list(section[key])
            provider = self._save("providers", row, values, Provider,
                                  workspace_id=self.workspace.id, name=section["name"])
            self._routes(provider, section, is_new=row is None)

    def _routes(self, provider: Provider, section: dict, is_new: bool) -> None:
        stored = [] if is_new else sorted(provider.routes, key=lambda r: r.id)
        for _, route in routes_of(section):
            channel = self.channels[route["channel"]]
            match = next((r for r in stored
                          if r.channel_id == channel.id and r.chat_id == route["chat_id"]), None)
            if match is None and "route" in section and len(stored) == 1:
                match = stored[0]  # `route:` is the provider's one route: it follows the file
            values = {"channel_id": channel.id, "chat_id": route["chat_id"]}
            values.update(present(route, {"template": "template", "enabled": "enabled"}))
            if "actions" in route and (match is None
                                       or split_list(match.actions) != route["actions"]):
                values["actions"] = join_list(route["actions"])
            row = self._save("routes", match, values, ProviderRoute,
                             workspace_id=self.workspace.id, provider=provider)
            if match is None:
                stored.append(row)

    def _linked_users(self) -> None:
        existing = {u.username: u for u in self._owned(LinkedUser) if u.username is not None}
        identities = {(i.channel_id, i.chat_id): i for i in self._owned(ChatIdentity)}
        for section in self.data.get("linked_users", ()):
            values = present(section, {"language": "language", "notes": "notes"})
            user = self._save("linked_users", existing.get(section["username"]), values,
                              LinkedUser, workspace_id=self.workspace.id,
                              username=section["username"])
            for identity in section.get("identities") or []:
                channel = self.channels[identity["channel"]]
                key = (channel.id, identity["chat_id"])
                row = identities.get(key)
                if row is not None and row.linked_user is not user:
                    row.linked_user = user  # the chat now speaks for this user
                    self.result.tally("identities").count("updated")
                elif row is not None:
                    self.result.tally("identities").count("unchanged")
                else:
                    identities[key] = self._save(
                        "identities", None, {}, ChatIdentity, workspace_id=self.workspace.id,
                        linked_user=user, channel_id=channel.id, chat_id=identity["chat_id"])

    def _admin_identities(self) -> None:
        existing = {(a.channel_id, a.chat_id): a for a in self._owned(AdminIdentity)}
        for section in self.data.get("admin_identities", ()):
            channel = self.channels[section["channel"]]
            key = (channel.id, section["chat_id"])
            existing[key] = self._save(
                "admin_identities", existing.get(key), present(section, {"name": "name"}),
                AdminIdentity, workspace_id=self.workspace.id, channel_id=channel.id,
                chat_id=section["chat_id"])

    def _members(self) -> None:
        sm = current_app.appbuilder.sm
        for section in self.data.get("members", ()):
            tally = self.result.tally("members")
            user = sm.find_user(username=section["username"])
            membership = None
            if user is not None:
                membership = self._owned(WorkspaceMember).filter_by(user_id=user.id).first()
            role = section.get("role") or (membership.role if membership else "agent")
            fab_role = sm.find_role(MEMBER_ROLE_TO_FAB[role])
            if user is None:
                user = self._create_login(section, fab_role)
                changed = created = True
            else:
                created = membership is None
                changed = assign(user, present(section, {"email": "email"}))
                others = [r for r in user.roles if r.name not in MEMBER_ROLE_TO_FAB.values()]
                if set(user.roles) != {*others, fab_role}:
                    user.roles = [*others, fab_role]
                    changed = True
            if membership is None:
                db.session.add(WorkspaceMember(workspace_id=self.workspace.id, user_id=user.id,
                                               role=role))
            elif assign(membership, {"role": role}):
                changed = True
            tally.count("created" if created else "updated" if changed else "unchanged")

    def _create_login(self, section: dict, fab_role):
        sm = current_app.appbuilder.sm
        password = section.get("password")
        if not password:
            password = generate_password(section["username"])
            self.result.generated_passwords[section["username"]] = password
        user = sm.add_user(section["username"], section["username"][:64], "", section["email"],
                           fab_role, password=password, commit=False)
        if not user:  # FAB logs the reason and has rolled the session back
            raise WorkspaceImportFailed(f"could not create the login '{section['username']}'")
        return user

    def _aliases(self) -> None:
        existing = {a.alias: a for a in self._owned(CommandAlias)}
        for action, words in self.data.get("aliases", {}).items():
            for word in words:
                existing[word] = self._save("aliases", existing.get(word), {"action": action},
                                            CommandAlias, workspace_id=self.workspace.id,
                                            alias=word)
