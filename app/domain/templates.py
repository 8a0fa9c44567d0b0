"""Safe templates: every text a manager, a translator or the master admin writes with
placeholders (customer replies, platform default replies, custom command replies, provider route
templates; broadcasts and campaigns register their own kind later).

Contract:

* A template is literal text, `{{` and `}}` (a literal brace) and `{name}`, where `name` is one
  of the documented placeholders of the template's *kind* (`KINDS`). Nothing else is read inside
  braces: no format specification (`{x:>9}`), no conversion (`{x!r}`), no attribute or index
  access (`{x.y}`, `{x[0]}`), no positional field (`{}`, `{0}`). It is not `str.format`; this
  module has its own parser, so a stored text can never ask Python for anything.
* `compile_template(kind, text)` returns a `Template` or raises `TemplateError` naming the
  offending placeholder as written (`{order_ids:>20000000}`). Screens, the REST API and the
  workspace file call it when a text is saved; the pipeline calls it again when the text is used,
  and an invalid stored text (saved before this check existed) is replaced by the built-in
  default of its kind, never shown or raised to a customer.
* Rendering is bounded by the kind: each substituted value is cut at `max_value` characters,
  each rendered text at `max_output`; a list (`{order_ids}`) is spread over as many lines as it
  needs (`render_lines`), so no id is lost and no line grows past the bound.

Pure: no Flask, no database. Texts marked `N_` are extracted for the catalogues; callers
translate them (`TemplateError.message(gettext)`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache


def N_(text: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    return text


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - ngettext's marker
    """Marks a (singular, plural) pair for extraction as one plural entry (`-k Nn_:1,2`)."""
    return singular, plural


ELLIPSIS = "…"
#: how much of an offending placeholder an error message quotes
QUOTE_LIMIT = 40
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# --- bounds (characters) -------------------------------------------------------------------------
#: One chat message: Telegram and the WhatsApp Cloud API accept 4096 characters (Green API 4000;
#: the outbound sender splits longer texts). A reply template, a custom reply and each text they
#: render stay within one message.
MESSAGE_LIMIT = 4096
#: A whole customer reply (several reply lines, technical lines for admin chats): four messages.
REPLY_LIMIT = 4 * MESSAGE_LIMIT
#: A value in a customer reply (a username, a balance, a status, a duration); id lists are
#: spread over lines instead.
REPLY_VALUE_LIMIT = 1000
#: A provider route template fits its column; a provider command is one short line
#: ("EXT-88231 refill"): an id, a quantity or a link longer than 200 characters is not a real
#: one, and 1000 characters leave room for dozens of ids on a joined line before it is split.
ROUTE_SOURCE_LIMIT = 500
ROUTE_VALUE_LIMIT = 200
ROUTE_LINE_LIMIT = 1000


# --- errors --------------------------------------------------------------------------------------

MESSAGES: dict[str, str] = {
    "not_text": N_("Not a valid template: expected text."),
    "too_long": N_("Too long: at most %(limit)s characters."),
    "unclosed": N_("Not a valid template: %(placeholder)s is not closed (double a brace to "
                   "write it literally)."),
    "lone_close": N_("Not a valid template: a lone %(placeholder)s at character %(position)s "
                     "(double a brace to write it literally)."),
    "format_spec": N_("Not allowed: %(placeholder)s. Formatting after a colon is not "
                      "supported."),
    "conversion": N_("Not allowed: %(placeholder)s. Conversions after an exclamation mark are "
                     "not supported."),
    "attribute": N_("Not allowed: %(placeholder)s. Attribute and index access (a dot or "
                    "brackets) are not supported."),
    "positional": N_("Not allowed: %(placeholder)s. A placeholder needs a name."),
    "unknown": N_("Unknown placeholder %(placeholder)s: use %(allowed)s."),
    "no_placeholders": N_("Unknown placeholder %(placeholder)s: this text takes no "
                          "placeholders (double a brace to write it literally)."),
    "unknown_reply": N_("Unknown reply %(placeholder)s: use one of %(allowed)s."),
    "route_required": N_("Must contain {external_id} (or {external_ids}): the provider knows "
                         "its own order ids only."),
    "route_joined": N_("Not allowed: %(placeholder)s cannot be used with {external_ids}, whose "
                       "line lists several orders."),
    "route_order_ids": N_("Not allowed: %(placeholder)s works only together with "
                          "{external_ids}."),
}


class TemplateError(ValueError):
    """A template that may not be saved (or used).

    `code` is a key of MESSAGES, `placeholder` the offending text as written (shortened), or
    None when the whole text is at fault (too long, a required placeholder missing); `position`
    is its 1-based character position. `str(error)` is the English message;
    `error.message(gettext)` the message in the caller's language.
    """

    def __init__(self, code: str, placeholder: str | None = None, position: int | None = None,
                 **params) -> None:
        self.code = code
        self.placeholder = placeholder
        self.position = position
        self.params = {"placeholder": placeholder, "position": position, **params}
        super().__init__(self.message())

    @property
    def msgid(self) -> str:
        return MESSAGES[self.code]

    def message(self, gettext: Callable[[str], str] | None = None) -> str:
        text = gettext(self.msgid) if gettext is not None else self.msgid
        return text % self.params


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT - 1] + ELLIPSIS


# --- kinds ---------------------------------------------------------------------------------------

#: What each placeholder means (shown to managers next to template fields, translated).
PLACEHOLDERS: dict[str, str] = {
    "order_ids": N_("the order ids this line is about, comma separated"),
    "count": N_("how many orders this line is about"),
    "order_id": N_("the order id"),
    "status": N_("the order status"),
    "start_count": N_("the start count"),
    "remains": N_("what remains to be delivered"),
    "time_left": N_("how long until it can be asked again"),
    "max_ids": N_("the most order ids one message may carry"),
    "balance": N_("the customer's balance"),
    "username": N_("the panel username"),
    "choices": N_("the messages the customer may send back to choose an action"),
    "external_id": N_("the provider's id of the order"),
    "external_ids": N_("the provider's ids of the orders, comma separated (one line per "
                       "action)"),
    "action": N_("refill, speed or cancel"),
    "quantity": N_("the ordered quantity"),
    "link": N_("the order link"),
    "name": N_("the customer's name"),
    "agent": N_("the name of the team member who replies"),
    "workspace": N_("your workspace's name"),
}


@dataclass(frozen=True)
class Kind:
    """One kind of template: which placeholders it may use and how large it may get."""

    name: str
    placeholders: tuple[str, ...]  # documented order
    max_source: int
    max_value: int
    max_output: int
    #: a further rule on a syntactically valid template (raises TemplateError)
    check: Callable[[Template], None] | None = field(default=None, compare=False)

    def describe(self) -> dict[str, str]:
        """placeholder → its description (English msgid)."""
        return {name: PLACEHOLDERS[name] for name in self.placeholders}


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind to the registry (broadcasts and campaigns register theirs when they come).

    :raise ValueError: for a name taken by another kind or an undocumented placeholder."""
    unknown = [p for p in kind.placeholders if p not in PLACEHOLDERS]
    if unknown:
        raise ValueError(f"describe placeholders {unknown} in PLACEHOLDERS first")
    if KINDS.get(kind.name, kind) != kind:
        raise ValueError(f"template kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


# --- parsing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    text: str  # as written, for messages
    position: int  # 1-based


@dataclass(frozen=True)
class Template:
    """A parsed template of one kind: literal strings and `Field`s, in order."""

    kind: Kind
    parts: tuple[str | Field, ...]

    @property
    def fields(self) -> list[Field]:
        return [p for p in self.parts if isinstance(p, Field)]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def render(self, values: Mapping[str, object] | None = None) -> str:
        """The text with each placeholder filled: values are turned into text (None → "",
        a sequence → its items comma separated) and cut at the kind's `max_value`, the result at
        its `max_output`. A placeholder of the kind that got no value stays visible as written."""
        return clip(self._fill(_texts(values or {}, self.kind.max_value)), self.kind.max_output)

    def render_lines(self, values: Mapping[str, object] | None = None,
                     lists: Mapping[str, Sequence[object]] | None = None) -> list[str]:
        """Like `render`, but the parallel `lists` (same length: `{external_ids}` and
        `{order_ids}` of the same orders) are spread over as many lines as needed for each line
        to stay within `max_output`; every item appears on exactly one line. A template that uses
        none of the lists renders once."""
        lists = {name: [clip(_text(v), self.kind.max_value) for v in items]
                 for name, items in (lists or {}).items()}
        plain = _texts(values or {}, self.kind.max_value)
        uses = {name: sum(1 for f in self.fields if f.name == name) for name in lists}
        count = max((len(items) for items in lists.values()), default=0)
        if not any(uses.values()) or count == 0:
            return [self.render({**plain, **{n: ", ".join(i) for n, i in lists.items()}})]
        base = len(self._fill({**plain, **{name: "" for name in lists}}))
        lines: list[str] = []
        start, length = 0, {name: 0 for name in lists}
        for index in range(count):
            grown = {name: length[name] + (2 if index > start else 0) + len(items[index])
                     for name, items in lists.items()}
            size = base + sum(uses[name] * grown[name] for name in lists)
            if size > self.kind.max_output and index > start:
                lines.append(self._line(plain, lists, start, index))
                start = index
                grown = {name: len(items[index]) for name, items in lists.items()}
            length = grown
        lines.append(self._line(plain, lists, start, count))
        return lines

    def _line(self, plain, lists, start: int, stop: int) -> str:
        chunk = {name: ", ".join(items[start:stop]) for name, items in lists.items()}
        return clip(self._fill({**plain, **chunk}), self.kind.max_output)

    def _fill(self, texts: Mapping[str, str]) -> str:
        out: list[str] = []
        size, limit = 0, self.kind.max_output + 1
        for part in self.parts:
            piece = part if isinstance(part, str) else texts.get(part.name, part.text)
            out.append(piece)
            size += len(piece)
            if size > limit and limit > 0:  # the rest would be cut anyway
                break
        return "".join(out)


def compile_template(kind: Kind, text: object) -> Template:
    """The parsed template.

    :raise TemplateError: when the text is not a string, longer than the kind allows, has an
        unbalanced brace, a format spec, a conversion, attribute/index access, a positional or
        unknown placeholder, or breaks the kind's own rule."""
    if not isinstance(text, str):
        raise TemplateError("not_text")
    if len(text) > kind.max_source:
        raise TemplateError("too_long", limit=kind.max_source)
    return _compile(kind, text)


@lru_cache(maxsize=1024)
def _compile(kind: Kind, text: str) -> Template:
    parts: list[str | Field] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
        elif char == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
        elif char == "}":
            raise TemplateError("lone_close", "}", i + 1)
        elif char == "{":
            end = _closing(text, i)
            if end < 0:
                stop = text.find("{", i + 1)
                raise TemplateError("unclosed", _quote(text[i:stop if stop > 0 else n]), i + 1)
            written = text[i:end + 1]
            parts.extend(["".join(literal)] if literal else [])
            literal = []
            parts.append(Field(_field_name(kind, written, i + 1), written, i + 1))
            i = end + 1
        else:
            stop = min((p for p in (text.find("{", i), text.find("}", i)) if p >= 0),
                       default=n)
            literal.append(text[i:stop])
            i = stop
    if literal:
        parts.append("".join(literal))
    template = Template(kind, tuple(parts))
    if kind.check is not None:
        kind.check(template)
    return template


def _closing(text: str, start: int) -> int:
    """Index of the `}` closing the field opened at `start`, or -1 (end of text, or another `{`
    comes first)."""
    for j in range(start + 1, len(text)):
        if text[j] == "}":
            return j
        if text[j] == "{":
            return -1
    return -1


def _field_name(kind: Kind, written: str, position: int) -> str:
    inner = written[1:-1]
    quoted = _quote(written)
    head = re.split(r"[:!]", inner, maxsplit=1)[0]
    if "." in head or "[" in head:
        raise TemplateError("attribute", quoted, position)
    if not head.strip() or head.strip().isdigit():
        raise TemplateError("positional", quoted, position)
    if ":" in inner[len(head):len(head) + 1]:
        raise TemplateError("format_spec", quoted, position)
    if "!" in inner[len(head):len(head) + 1]:
        raise TemplateError("conversion", quoted, position)
    if not _NAME.match(head) or head not in kind.placeholders:
        if not kind.placeholders:
            raise TemplateError("no_placeholders", quoted, position)
        raise TemplateError("unknown", quoted, position, allowed=allowed_list(kind))
    return head


def allowed_list(kind: Kind) -> str:
    return ", ".join("{" + name + "}" for name in kind.placeholders)


def validate(kind: Kind, text: object) -> None:
    """:raise TemplateError: when `text` may not be saved as a template of `kind`."""
    compile_template(kind, text)


def problem(kind: Kind, text: object) -> TemplateError | None:
    """Why `text` is not a valid template of `kind`, or None."""
    try:
        compile_template(kind, text)
    except TemplateError as exc:
        return exc
    return None


# --- values and bounds ---------------------------------------------------------------------------

def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[:max(0, limit - 1)] + ELLIPSIS if limit > 0 else ""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _texts(values: Mapping[str, object], limit: int) -> dict[str, str]:
    result = {}
    for name, value in values.items():
        if isinstance(value, (list, tuple)):
            result[name] = _joined((_text(v) for v in value), len(value), limit)
        else:
            result[name] = clip(_text(value), limit)
    return result


def _joined(items: Iterable[str], count: int, limit: int) -> str:
    """Items comma separated; when they do not fit `limit`, cut at an item boundary and marked
    "… +N" (N items left out)."""
    items = [clip(item, limit) for item in items]
    if sum(len(item) for item in items) + 2 * max(0, count - 1) <= limit:
        return ", ".join(items)
    reserve = len(f", {ELLIPSIS} +{count}")
    kept: list[str] = []
    size = 0
    for item in items:
        extra = len(item) + (2 if kept else 0)
        if size + extra + reserve > limit:
            break
        kept.append(item)
        size += extra
    if not kept:
        return clip(", ".join(items[:2]), limit)
    return ", ".join(kept) + f", {ELLIPSIS} +{count - len(kept)}"


# --- the kinds of Relaydesk ----------------------------------------------------------------------

#: Every reply key and the placeholders the pipeline fills for it (app/domain/replies.py holds
#: the default texts; a test keeps both in step).
_ORDER_LINE = ("order_ids",)
REPLY_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    **{key: _ORDER_LINE for key in (
        "refill_ok", "speed_ok", "cancel_ok", "not_owner", "owner_unknown", "order_not_found",
        "status_unknown", "refill_not_completed", "refill_partial_not_allowed",
        "refill_order_canceled", "refill_disabled", "refill_not_covered",
        "refill_unknown_terms", "refill_date_unknown", "refill_window_ended",
        "speed_not_running", "speed_disabled", "speed_nothing_remaining", "speed_date_unknown",
        "speed_start_time_not_passed", "cancel_already_finished", "cancel_disabled",
        "route_missing", "provider_missing")},
    "cooldown": ("order_ids", "time_left"),
    "details_line": ("order_id", "status", "start_count", "remains"),
    "too_many_ids": ("max_ids",),
    "balance": ("balance",),
    "link_sent": ("username",),
    "link_verified": ("username",),
    "link_already": ("username",),
    "invalid_ids": _ORDER_LINE,
    "ask_action": ("choices",),
    **{key: () for key in (
        "panel_unavailable", "unsupported", "not_linked", "help", "balance_unavailable",
        "fallback", "link_unsupported", "link_rate_limited", "link_failed",
        "link_unavailable", "service_paused", "queued", "opted_out", "opted_in")},
}
#: Keys whose text depends on a count (the orders a line lists; `too_many_ids`: the limit).
#: Each also exists as `<key>_one`, the text for exactly one (app/domain/replies.py).
COUNTED_REPLY_KEYS: tuple[str, ...] = tuple(
    key for key, names in REPLY_PLACEHOLDERS.items()
    if "order_ids" in names or key == "too_many_ids")
ONE_SUFFIX = "_one"
# `{count}`: how many orders the line lists (a plural text may say it; the limit has its own)
REPLY_PLACEHOLDERS.update({key: REPLY_PLACEHOLDERS[key] + ("count",)
                           for key in COUNTED_REPLY_KEYS if key != "too_many_ids"})
REPLY_PLACEHOLDERS.update({key + ONE_SUFFIX: REPLY_PLACEHOLDERS[key]
                           for key in COUNTED_REPLY_KEYS})


def _reply(key: str, placeholders: tuple[str, ...]) -> Kind:
    return register(Kind(f"reply:{key}", placeholders, max_source=MESSAGE_LIMIT,
                         max_value=REPLY_VALUE_LIMIT, max_output=MESSAGE_LIMIT))


#: The kind of each reply key: workspace reply templates and the platform's default replies.
REPLY_KINDS: dict[str, Kind] = {key: _reply(key, names)
                                for key, names in REPLY_PLACEHOLDERS.items()}

#: A custom command's reply: plain text (braces written `{{` `}}`), so that placeholders added
#: later cannot change the meaning of a text saved today.
CUSTOM_COMMAND = register(Kind("custom_command", (), max_source=MESSAGE_LIMIT, max_value=0,
                               max_output=MESSAGE_LIMIT))

ROUTE_LINE_PLACEHOLDERS = ("external_id", "action", "order_id", "quantity", "link")
ROUTE_JOINED_PLACEHOLDERS = ("external_ids", "action", "order_ids")
DEFAULT_ROUTE_TEMPLATE = "{external_id} {action}"


#: A broadcast's text (app/jobs/broadcasts.py): one message to each recipient.
BROADCAST = register(Kind("broadcast", ("username",), max_source=MESSAGE_LIMIT,
                          max_value=REPLY_VALUE_LIMIT, max_output=MESSAGE_LIMIT))


#: A quick reply (app/quick_replies.py): a canned answer a team member inserts with `/shortcut`.
QUICK_REPLY = register(Kind("quick_reply", ("name", "username", "agent", "workspace"),
                            max_source=MESSAGE_LIMIT, max_value=REPLY_VALUE_LIMIT,
                            max_output=MESSAGE_LIMIT))


def _route_modes(template: Template) -> None:
    """One line per order ({external_id} …), or with {external_ids} one line per action listing
    its orders ({external_ids}, {order_ids}, {action} only); the provider needs its ids."""
    names = template.names
    if "external_ids" in names:
        for item in template.fields:
            if item.name not in ROUTE_JOINED_PLACEHOLDERS:
                raise TemplateError("route_joined", _quote(item.text), item.position)
    else:
        for item in template.fields:
            if item.name == "order_ids":
                raise TemplateError("route_order_ids", _quote(item.text), item.position)
        if "external_id" not in names:
            raise TemplateError("route_required")


#: A provider route's command line.
ROUTE = register(Kind("route", ("external_id", "action", "order_id", "quantity", "link",
                                "external_ids", "order_ids"),
                      max_source=ROUTE_SOURCE_LIMIT, max_value=ROUTE_VALUE_LIMIT,
                      max_output=ROUTE_LINE_LIMIT, check=_route_modes))


def reply_kind(key: str) -> Kind | None:
    """The kind of a reply key, or None for a key that does not exist."""
    return REPLY_KINDS.get(key) if isinstance(key, str) else None


def reply_problem(key: object, text: object) -> TemplateError | None:
    """Why (`key`, `text`) may not be saved as a reply text (an unknown key, an invalid
    template of that key), or None."""
    kind = reply_kind(key)  # type: ignore[arg-type]
    if kind is None:
        return TemplateError("unknown_reply", _quote(str(key)), allowed=", ".join(REPLY_KINDS))
    return problem(kind, text)


@dataclass(frozen=True)
class RouteOrder:
    """What a route template may say about one order."""

    order_id: str
    external_id: str
    action: str
    quantity: object = None
    link: object = None


def render_route(template: Template, orders: Sequence[RouteOrder]) -> list[str]:
    """The provider's lines: one per order, or with {external_ids} one (or more, when the ids
    do not fit one line) per action, listing its orders in the given order."""
    if "external_ids" not in template.names:
        return [template.render({"external_id": o.external_id, "action": o.action,
                                 "order_id": o.order_id, "quantity": o.quantity,
                                 "link": o.link}) for o in orders]
    by_action: dict[str, list[RouteOrder]] = {}
    for order in orders:
        by_action.setdefault(order.action, []).append(order)
    lines: list[str] = []
    for action, group in by_action.items():
        lines += template.render_lines({"action": action}, {
            "external_ids": [o.external_id for o in group],
            "order_ids": [o.order_id for o in group]})
    return lines


def route_template(text: object) -> tuple[Template, TemplateError | None]:
    """The route's template, or the default one (and why) when the stored text is invalid."""
    try:
        return compile_template(ROUTE, text), None
    except TemplateError as exc:
        return compile_template(ROUTE, DEFAULT_ROUTE_TEMPLATE), exc


def custom_reply(text: object) -> tuple[str, TemplateError | None]:
    """A custom command's reply, rendered; a stored text that is not a valid template (saved
    before templates were checked, when these replies were shown as written) is shown as
    written, cut to one message, with the reason."""
    try:
        return compile_template(CUSTOM_COMMAND, text).render(), None
    except TemplateError as exc:
        return clip(_text(text), MESSAGE_LIMIT), exc
