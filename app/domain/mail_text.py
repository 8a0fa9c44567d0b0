"""E-mail texts with `{{name}}` placeholders: parsing, checking and filling (pure).

An e-mail template (subject or body) is literal text and `{{name}}` placeholders, where `name`
is one of the variables its mail offers (app/mail_templates.py). Spaces inside the braces are
allowed (`{{ name }}`); nothing else is: no filters, no attribute access, no expressions. A
single `{` or `}` is literal text. Customer reply templates keep their own `{name}` syntax
(app/domain/templates.py): e-mail texts are written by the master admin in a larger editor,
where `{{name}}` reads better and a single brace stays literal.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\Z")
#: how long a filled-in value may be (a name, a link, an amount, a note)
VALUE_LIMIT = 2000


class MailTextError(ValueError):
    """A text names a placeholder its mail does not offer, or writes one badly."""

    def __init__(self, written: str, allowed: Iterable[str]) -> None:
        super().__init__(written)
        self.written = written[:60]
        self.allowed = tuple(allowed)


def placeholders(text: str) -> list[str]:
    """The names of the text's placeholders, in order; raises MailTextError for `{{}}`,
    `{{ a.b }}`, `{{ x | upper }}` and the like."""
    names = []
    for match in _PLACEHOLDER.finditer(text or ""):
        name = _NAME.match(match.group(1))
        if name is None:
            raise MailTextError(match.group(0), ())
        names.append(name.group(1))
    return names


def check(text: str, allowed: Iterable[str]) -> None:
    """Raises MailTextError naming the first placeholder that is not one of `allowed`."""
    allowed = tuple(allowed)
    try:
        names = placeholders(text)
    except MailTextError as error:
        raise MailTextError(error.written, allowed) from None
    for name in names:
        if name not in allowed:
            raise MailTextError("{{" + name + "}}", allowed)


def fill(text: str, values: Mapping[str, object]) -> str:
    """The text with each `{{name}}` replaced by its value (cut at VALUE_LIMIT); a name without
    a value becomes empty (a stored text is checked when saved, so this is the fallback)."""
    def value(match: re.Match) -> str:
        name = _NAME.match(match.group(1))
        if name is None:
            return ""
        found = values.get(name.group(1))
        return "" if found is None else str(found)[:VALUE_LIMIT]

    return _PLACEHOLDER.sub(value, text or "")
