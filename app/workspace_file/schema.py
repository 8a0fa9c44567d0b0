"""The shape of a workspace file (docs/contracts.md "Workspace file") as marshmallow schemas.

Everything here is pure: it checks one file on its own, without the database. `validate_document`
runs the schemas and then the file-wide checks (duplicates); the importer adds the checks that
need the database (plan codes, channels already in the workspace, logins of other workspaces).

Loading keeps the difference between a key that is absent and a key that is present: absent
means "leave what is stored" (or the default, for a new row), present means "set it". No field
has a load default for that reason.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from marshmallow import (RAISE, Schema, ValidationError, fields, validate, validates_schema)

from app.auth.passwords import password_problems
from app.domain.templates import ROUTE, ROUTE_SOURCE_LIMIT
from app.domain.templates import problem as template_problem
from app.models.channels import CHANNEL_KINDS, SECRET_FIELDS, telegram_bot_id
from app.models.commands import ALIAS_ACTIONS
from app.models.panel import PANEL_TYPES, SERVICE_RULE_MODES
from app.models.routing import ROUTE_ACTIONS
from app.models.tenancy import MEMBER_ROLES
from app.validation import (INBOX_RESUME, INSTANCE_ID, LANGUAGE, MAX_IDS, REQUESTS_PER_SECOND,
                            SLUG, TICKET_POLL, TIMEOUT, TIMEZONE)
from app.validation import MAX_COOLDOWN as MAX_COOLDOWN
from app.validation import URL as URL_RULE
from app.validation import marshmallow_validator as checked
from app.workspace_file.errors import Path, Problem

#: the columns of each channel kind, in the order an export writes them
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "greenapi": ("api_url", "id_instance", "api_token", "webhook_token"),
    "telegram": ("bot_token", "secret_token", "api_base"),
    "meta": ("phone_number_id", "waba_id", "access_token", "app_secret"),
    "webchat": ("widget_key",),
}
CHANNEL_SECRETS: tuple[str, ...] = SECRET_FIELDS
PANEL_SECRETS = ("api_key",)
URL = checked(URL_RULE)

# --- durations ----------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> int:
    """Seconds from `90`, `"90"`, `"90s"`, `"30m"`, `"12h"`, `"2d"` or `"1h30m"`.

    :raise ValueError: for anything else, negative numbers included.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a duration")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative duration")
        return value
    if not isinstance(value, str):
        raise ValueError("not a duration")
    text = value.strip().lower().replace(" ", "")
    if text.isdigit():
        return int(text)
    match = _DURATION_RE.match(text)
    if not text or match is None:
        raise ValueError("not a duration")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_duration(seconds: int) -> str:
    """The one way an export writes a duration: `24h`, `2d`, `30m`, `90s` (parse gives it back)."""
    if seconds > 0 and seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds > 0 and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds > 0 and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


# --- fields -------------------------------------------------------------------------------------

class Text(fields.String):
    """A non-blank string. `numbers=True` also takes YAML integers (ids written unquoted).

    Values are kept exactly as written (YAML already trims plain scalars): stripping or folding
    case here would make a row entered on a screen look different from its own export.
    """

    default_error_messages = {
        "empty": "May not be empty.",
        "too_long": "Longer than maximum length {max}.",
    }

    def __init__(self, *, max_length: int | None = None, numbers: bool = False,
                 allow_empty: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.numbers = numbers
        self.allow_empty = allow_empty

    def _deserialize(self, value, attr, data, **kwargs):
        if self.numbers and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip() and not self.allow_empty:
            raise self.make_error("empty")
        if self.max_length is not None and len(text) > self.max_length:
            raise self.make_error("too_long", max=self.max_length)
        return text


class Secret(Text):
    """A secret value. Empty or null clears it; absent keeps the stored one (importer)."""

    default_error_messages = {"pattern": "Not in the expected form."}

    def __init__(self, *, pattern: str | None = None, pattern_error: str | None = None, **kwargs):
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("max_length", 1000)
        super().__init__(allow_empty=True, **kwargs)
        self.pattern = re.compile(pattern) if pattern else None
        if pattern_error:
            self.error_messages["pattern"] = pattern_error

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None
        # The message never repeats the value: it is a secret.
        if self.pattern is not None and not self.pattern.match(text):
            raise self.make_error("pattern")
        return text


class ListItem(Text):
    """One entry of a list stored as comma separated text (domains, aliases)."""

    default_error_messages = {"comma": "May not contain a comma."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "," in text or "\n" in text:
            raise self.make_error("comma")
        return text


class AliasWord(Text):
    """A word customers use for an action (`dolum`, `speed up`)."""

    default_error_messages = {
        "number": "May not be a number: numbers are order ids.",
        "action": "'{word}' is the name of an action itself.",
    }

    def __init__(self, **kwargs):
        super().__init__(max_length=60, numbers=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        word = super()._deserialize(value, attr, data, **kwargs)
        if word.replace(" ", "").isdigit():
            raise self.make_error("number")
        if word.strip().lower() in ALIAS_ACTIONS:
            raise self.make_error("action", word=word)
        return word


class Duration(fields.Field):
    """A cooldown: plain seconds or `24h`, `12h`, `30m`, `90s`, `2d`, `1h30m`."""

    default_error_messages = {
        "invalid": "Not a valid duration: use seconds or a number with d, h, m or s "
                   "(e.g. 24h, 30m, 90s).",
        "too_long": "Longer than 365 days.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if seconds > MAX_COOLDOWN:
            raise self.make_error("too_long")
        return seconds

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_duration(value)


def Url(**kwargs) -> Text:  # noqa: N802 - reads like the other field classes
    return Text(max_length=255, validate=URL, **kwargs)


def Digits(**kwargs) -> Text:  # noqa: N802
    return Text(numbers=True, validate=validate.Regexp(r"^\d+$", error="Use digits only."),
                **kwargs)


def ChatId(**kwargs) -> Text:  # noqa: N802
    return Text(numbers=True, max_length=120, **kwargs)


def check_route_template(text: str) -> None:
    """A provider route template, checked like every template (app/domain/templates.py)."""
    error = template_problem(ROUTE, text)
    if error is not None:
        raise ValidationError(str(error))


# --- schemas ------------------------------------------------------------------------------------

class Strict(Schema):
    class Meta:
        unknown = RAISE


class WorkspaceSection(Strict):
    slug = Text(required=True, max_length=64, validate=checked(SLUG))
    name = Text(required=True, max_length=120)
    plan = Text(allow_none=True, max_length=40)
    language = Text(max_length=10, validate=checked(LANGUAGE))
    timezone = Text(max_length=64, validate=checked(TIMEZONE))


class PanelSection(Strict):
    type = Text(required=True, validate=validate.OneOf(PANEL_TYPES))
    url = Text(max_length=255, allow_empty=True)
    api_key = Secret()
    service_rules = Text(validate=validate.OneOf(SERVICE_RULE_MODES))
    requests_per_second = fields.Float(allow_nan=False, validate=checked(REQUESTS_PER_SECOND))
    timeout_seconds = fields.Float(allow_nan=False, validate=checked(TIMEOUT))

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _url_for_real_panels(self, data, original, **kwargs):
        # A demo panel answers from memory, so its url is free text; the others are called.
        if data.get("type") in (None, "demo"):
            return
        url = data.get("url")
        if "url" in original and "url" not in data:  # already reported
            return
        if not url:
            raise ValidationError("Missing data for required field.", field_name="url")
        try:
            URL(url)
        except ValidationError as exc:
            raise ValidationError(exc.messages, field_name="url") from None


class ChannelSection(Strict):
    name = Text(required=True, max_length=120)
    kind = Text(required=True, validate=validate.OneOf(CHANNEL_KINDS))
    # Green API
    api_url = Url()
    id_instance = Text(numbers=True, max_length=32, validate=checked(INSTANCE_ID))
    api_token = Secret()
    webhook_token = Secret()
    # Telegram
    bot_token = Secret(pattern=r"^\d+:[A-Za-z0-9_-]+$",
                       pattern_error="Not a Telegram bot token (expected <bot id>:<key>).")
    secret_token = Secret()
    api_base = Url()
    # Meta Cloud API
    phone_number_id = Digits(max_length=40)
    waba_id = Digits(max_length=40, allow_none=True)
    access_token = Secret()
    app_secret = Secret()
    # Web chat
    widget_key = Text(max_length=64)
    # any kind
    enabled = fields.Boolean()
    notes = Text(allow_none=True, allow_empty=True)

    @validates_schema(skip_on_field_errors=False)
    def _fields_of_kind(self, data, **kwargs):
        kind = data.get("kind")
        if kind not in KIND_FIELDS:
            return
        errors = {}
        for other, names in KIND_FIELDS.items():
            if other == kind:
                continue
            for name in names:
                if name in data and name not in KIND_FIELDS[kind]:
                    errors[name] = [f"Not a field of {kind} channels (it belongs to {other})."]
        if errors:
            raise ValidationError(errors)


class RouteSection(Strict):
    channel = Text(required=True, max_length=120)
    chat_id = ChatId(required=True)
    template = Text(max_length=ROUTE_SOURCE_LIMIT, validate=check_route_template)
    actions = fields.List(Text(validate=validate.OneOf(ROUTE_ACTIONS)))
    enabled = fields.Boolean()

    @validates_schema(skip_on_field_errors=False)
    def _actions(self, data, **kwargs):
        actions = data.get("actions")
        if actions is None:
            return
        if not actions:
            raise ValidationError("Name at least one of refill, speed, cancel.",
                                  field_name="actions")
        errors = {i: ["Listed twice."] for i, a in enumerate(actions) if a in actions[:i]}
        if errors:
            raise ValidationError({"actions": errors})


class ProviderSection(Strict):
    name = Text(required=True, max_length=120)
    domains = fields.List(ListItem(max_length=255))
    aliases = fields.List(ListItem(max_length=120))
    notes = Text(allow_none=True, allow_empty=True)
    route = fields.Nested(RouteSection)
    routes = fields.List(fields.Nested(RouteSection))

    @validates_schema(skip_on_field_errors=False)
    def _lists(self, data, **kwargs):
        errors: dict = {}
        if "route" in data and "routes" in data:
            errors["routes"] = ["Use either route (one) or routes (a list), not both."]
        for name in ("domains", "aliases"):
            items = [i.lower() for i in data.get(name) or []]
            dups = {i: ["Listed twice."] for i, item in enumerate(items) if item in items[:i]}
            if dups:
                errors[name] = dups
        if errors:
            raise ValidationError(errors)


class IdentitySection(Strict):
    channel = Text(required=True, max_length=120)
    chat_id = ChatId(required=True)


class LinkedUserSection(Strict):
    username = Text(required=True, max_length=120, numbers=True)
    language = Text(max_length=10, validate=checked(LANGUAGE))
    notes = Text(allow_none=True, allow_empty=True)
    identities = fields.List(fields.Nested(IdentitySection))


class AdminIdentitySection(Strict):
    channel = Text(required=True, max_length=120)
    chat_id = ChatId(required=True)
    name = Text(max_length=120, allow_empty=True)


class MemberSection(Strict):
    username = Text(required=True, max_length=64, numbers=True, validate=validate.Regexp(
        r"^\S+$", error="May not contain spaces."))
    email = fields.Email(validate=validate.Length(max=320))
    role = Text(validate=validate.OneOf(MEMBER_ROLES))
    password = Text()

    @validates_schema(skip_on_field_errors=False)
    def _password_policy(self, data, **kwargs):
        # The policy of every password (app/auth/passwords.py), also for a member that exists
        # already (whose password the import does not use): a file never carries a weak one.
        if "password" in data:
            problems = password_problems(data["password"], data.get("username"))
            if problems:
                raise ValidationError([str(problem) for problem in problems],
                                      field_name="password")


class CooldownsSection(Strict):
    refill = Duration()
    speed = Duration()
    cancel = Duration()


class TicketsSection(Strict):
    enabled = fields.Boolean()
    poll_seconds = fields.Integer(strict=True, validate=checked(TICKET_POLL))


class InboxSection(Strict):
    resume_minutes = fields.Integer(strict=True, validate=checked(INBOX_RESUME))


class SettingsSection(Strict):
    cooldowns = fields.Nested(CooldownsSection)
    max_ids_per_message = fields.Integer(strict=True, validate=checked(MAX_IDS))
    allow_partial_refill = fields.Boolean()
    fallback_reply_enabled = fields.Boolean()
    paused_reply_enabled = fields.Boolean()
    tickets = fields.Nested(TicketsSection)
    inbox = fields.Nested(InboxSection)


AliasesSection = Strict.from_dict(
    {action: fields.List(AliasWord(), allow_none=True) for action in ALIAS_ACTIONS},
    name="AliasesSection",
)


def _sections(schema, **kwargs):
    return fields.List(fields.Nested(schema), allow_none=True, **kwargs)


class WorkspaceFileSchema(Strict):
    workspace = fields.Nested(WorkspaceSection, required=True)
    panel = fields.Nested(PanelSection, allow_none=True)
    channels = _sections(ChannelSection)
    providers = _sections(ProviderSection)
    linked_users = _sections(LinkedUserSection)
    admin_identities = _sections(AdminIdentitySection)
    members = _sections(MemberSection)
    settings = fields.Nested(SettingsSection, allow_none=True)
    aliases = fields.Nested(AliasesSection, allow_none=True)


# --- the whole file -----------------------------------------------------------------------------

def validate_document(data: object) -> tuple[dict | None, list[Problem]]:
    """The loaded file and what is wrong with it on its own (no database).

    File-wide checks (duplicates) run only once every field is valid, so their paths are sure.
    """
    if not isinstance(data, dict):
        return None, [Problem((), "The file must be a mapping that starts with `workspace:`.")]
    try:
        loaded = WorkspaceFileSchema().load(data)
    except ValidationError as exc:
        return None, list(flatten_messages(exc.messages))
    # A section written with nothing under it (`channels:`) means the same as no section.
    loaded = {key: value for key, value in loaded.items() if value is not None}
    if "aliases" in loaded:
        loaded["aliases"] = {a: words for a, words in loaded["aliases"].items() if words}
    for channel in loaded.get("channels", ()):
        if channel.get("api_url"):
            channel["api_url"] = channel["api_url"].rstrip("/")  # as Channel stores it
    return loaded, consistency_problems(loaded)


def flatten_messages(messages, path: Path = ()) -> Iterator[Problem]:
    """marshmallow's nested error dict → one Problem per message, with its field path."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from flatten_messages(value, path if key == "_schema" else path + (key,))
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            if isinstance(message, (dict, list, tuple)):
                yield from flatten_messages(message, path)
            else:
                yield Problem(path, str(message))
    else:
        yield Problem(path, str(messages))


def routes_of(provider: dict) -> list[tuple[Path, dict]]:
    """A provider's routes with their paths inside the provider (`route` or `routes[i]`)."""
    if "route" in provider:
        return [(("route",), provider["route"])]
    return [(("routes", i), route) for i, route in enumerate(provider.get("routes") or [])]


class _FirstSeen:
    """Remembers where a value first appeared, to report the second place as a duplicate."""

    def __init__(self) -> None:
        self.places: dict[object, Path] = {}

    def check(self, key, path: Path, message: str, problems: list[Problem]) -> None:
        if key in self.places:
            problems.append(Problem(path, message, see=self.places[key]))
        else:
            self.places[key] = path


def consistency_problems(data: dict) -> list[Problem]:
    """Duplicates inside the file: names, chats, unique channel ids, aliases."""
    problems: list[Problem] = []

    names = _FirstSeen()
    unique_ids = {field: _FirstSeen() for field in ("id_instance", "phone_number_id",
                                                     "waba_id", "widget_key", "bot_token")}
    for i, channel in enumerate(data.get("channels", ())):
        at = ("channels", i)
        names.check(channel["name"], at + ("name",),
                    f"Duplicate channel name '{channel['name']}'.", problems)
        for field, seen in unique_ids.items():
            value = channel.get(field)
            if not value:
                continue
            if field == "bot_token":
                bot_id = telegram_bot_id(value)
                seen.check(bot_id, at + (field,),
                           f"Another channel in this file uses the same bot (bot id {bot_id}).",
                           problems)
            else:
                seen.check(value, at + (field,),
                           f"Another channel in this file has the same {field}.", problems)

    names = _FirstSeen()
    domains = _FirstSeen()
    for i, provider in enumerate(data.get("providers", ())):
        at = ("providers", i)
        names.check(provider["name"], at + ("name",),
                    f"Duplicate provider name '{provider['name']}'.", problems)
        for k, domain in enumerate(provider.get("domains") or []):
            domains.check(domain.lower(), at + ("domains", k),
                          f"Domain '{domain}' is also listed for another provider.", problems)
        targets = _FirstSeen()
        for route_path, route in routes_of(provider):
            targets.check((route["channel"], route["chat_id"]), at + route_path + ("chat_id",),
                          "This provider already has a route to this chat.", problems)

    names = _FirstSeen()
    chats = _FirstSeen()
    for i, user in enumerate(data.get("linked_users", ())):
        at = ("linked_users", i)
        names.check(user["username"], at + ("username",),
                    f"Duplicate linked user '{user['username']}'.", problems)
        for k, identity in enumerate(user.get("identities") or []):
            chats.check((identity["channel"], identity["chat_id"]),
                        at + ("identities", k, "chat_id"),
                        "This chat is already listed as an identity.", problems)

    chats = _FirstSeen()
    for i, admin in enumerate(data.get("admin_identities", ())):
        chats.check((admin["channel"], admin["chat_id"]), ("admin_identities", i, "chat_id"),
                    "This chat is already listed as an admin identity.", problems)

    names, emails = _FirstSeen(), _FirstSeen()
    for i, member in enumerate(data.get("members", ())):
        at = ("members", i)
        names.check(member["username"].casefold(), at + ("username",),
                    f"Duplicate member '{member['username']}'.", problems)
        if member.get("email"):
            emails.check(member["email"].casefold(), at + ("email",),
                         "Another member in this file has the same email.", problems)

    words = _FirstSeen()
    for action in ALIAS_ACTIONS:
        for k, word in enumerate((data.get("aliases") or {}).get(action) or []):
            words.check(word, ("aliases", action, k), f"'{word}' is listed twice.", problems)
    return problems
