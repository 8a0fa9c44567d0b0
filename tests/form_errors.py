"""Reading a rendered add/edit form: the error beside a field and the value it kept.

The markup (app/templates/appbuilder/general/widgets/form.html): each field sits in a
`.form-group`, which gets `.has-error` when the field was refused; each error is a
`.help-block.field-error` inside it.
"""
from __future__ import annotations

import re
from html import unescape


def _cell(page: str, field: str) -> str:
    """The markup of the field's cell: from its `.form-group` to the end of the cell."""
    found = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{re.escape(field)}"', page)
    assert found, f"no field {field} on the page"
    start = page.rfind('<div class="form-group', 0, found.start())
    assert start >= 0, f"field {field} is not inside a .form-group"
    end = page.find("</td>", found.end())
    return page[start:end if end > 0 else len(page)]


def field_errors(page: str, field: str, *, raw: bool = False) -> list[str]:
    """The errors shown beside `field` as plain text (unescaped once; `raw`: as they are in
    the page's HTML), [] if none. An error only counts inside a `.form-group.has-error`."""
    cell = _cell(page, field)
    if not cell.startswith('<div class="form-group has-error"'):
        return []
    texts = re.findall(r'<span class="help-block field-error">(.*?)</span>', cell, re.S)
    texts = [re.sub(r"<[^>]+>", "", t) for t in texts]
    return [" ".join((t if raw else unescape(t)).split()) for t in texts]


def field_error(page: str, field: str) -> str | None:
    """All errors beside `field` as one text, or None."""
    errors = field_errors(page, field)
    return " ".join(errors) if errors else None


def raw_field_error(page: str, field: str) -> str | None:
    """All errors beside `field` as one text as it is in the HTML (escaped), or None."""
    errors = field_errors(page, field, raw=True)
    return " ".join(errors) if errors else None


def api_message(response) -> str:
    """A 422 answer's message as one text: `{"message": {field: [text]}}` or a plain text."""
    message = response.json["message"]
    if isinstance(message, dict):
        return " ".join(str(m) for ms in message.values() for m in ms)
    return str(message)


def field_value(page: str, field: str) -> str | None:
    """What the field shows: an input's value, a textarea's text, a select's chosen option."""
    tag = re.search(rf'<(input|select|textarea)\b[^>]*\bid="{re.escape(field)}"[^>]*>', page)
    assert tag, f"no field {field} on the page"
    kind, markup = tag.group(1), tag.group(0)
    if kind == "input":
        if 'type="checkbox"' in markup:
            return "y" if re.search(r"\bchecked\b", markup) else ""
        value = re.search(r'\bvalue="([^"]*)"', markup)
        return unescape(value.group(1)) if value else None
    end = page.find(f"</{kind}>", tag.end())
    body = page[tag.end():end]
    if kind == "textarea":
        return unescape(body).removeprefix("\r\n").removeprefix("\n")
    chosen = re.search(r'<option[^>]*\bselected\b[^>]*value="([^"]*)"|'
                       r'<option[^>]*value="([^"]*)"[^>]*\bselected\b', body)
    return unescape(chosen.group(1) or chosen.group(2)) if chosen else None
