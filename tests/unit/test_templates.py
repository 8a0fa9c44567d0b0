"""The safe template renderer and validator (app/domain/templates.py): no database, no Flask.

Issue 10 ("Templates can exhaust memory"): `{order_ids:>20000000}` rendered a 20 MB page, an
18-character route template produced a 40,000-character message, any format spec was honoured.
Issue 11: `{external} {action} {nonsense` and unknown reply keys were saved without complaint.
"""
from __future__ import annotations

import pytest

from app.domain.replies import DEFAULT_REPLIES, Outcome, compose, render_reply, reply_template
from app.domain.templates import (CUSTOM_COMMAND, KINDS, MESSAGE_LIMIT, PLACEHOLDERS,
                                  REPLY_KINDS, REPLY_PLACEHOLDERS, REPLY_VALUE_LIMIT, ROUTE,
                                  ROUTE_JOINED_PLACEHOLDERS, ROUTE_LINE_LIMIT,
                                  ROUTE_LINE_PLACEHOLDERS, ROUTE_SOURCE_LIMIT, ROUTE_VALUE_LIMIT,
                                  Kind, RouteOrder, TemplateError, compile_template,
                                  custom_reply, register, render_route, reply_problem,
                                  route_template, validate)

HUGE_SPEC = "{order_ids:>20000000}"
EIGHTEEN = "{order_id:_>40000}"
REFILL_OK = REPLY_KINDS["refill_ok"]


def refused(kind: Kind, text: str) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        validate(kind, text)
    return caught.value


# --- what is refused, and the error names it ----------------------------------------------------

@pytest.mark.parametrize("text, code, placeholder", [
    (HUGE_SPEC, "format_spec", HUGE_SPEC),
    ("Done: {order_ids:,}", "format_spec", "{order_ids:,}"),
    ("Done: {order_ids!r}", "conversion", "{order_ids!r}"),
    ("Done: {order_ids!s:>9}", "conversion", "{order_ids!s:>9}"),
    ("Done: {order_ids.__class__}", "attribute", "{order_ids.__class__}"),
    ("Done: {order_ids.__class__.__mro__[1]}", "attribute",
     "{order_ids.__class__.__mro__[1]}"),
    ("Done: {order_ids[0]}", "attribute", "{order_ids[0]}"),
    ("Done: {}", "positional", "{}"),
    ("Done: {0}", "positional", "{0}"),
    ("Done: {0:>9}", "positional", "{0:>9}"),
    ("Done: {username}", "unknown", "{username}"),  # a placeholder of another reply
    ("Done: {order ids}", "unknown", "{order ids}"),
    ("Done: {order_ids", "unclosed", "{order_ids"),
    ("Done: {order_ids {x}}", "unclosed", "{order_ids "),
    ("Done: order_ids}", "lone_close", "}"),
])
def test_refused_forms_name_the_offending_placeholder(text, code, placeholder):
    error = refused(REFILL_OK, text)
    assert (error.code, error.placeholder) == (code, placeholder)
    assert placeholder in str(error)
    assert error.position == text.index(placeholder) + 1


def test_unknown_placeholder_lists_what_the_kind_takes():
    assert str(refused(REPLY_KINDS["cooldown"], "{balance}")) == \
        "Unknown placeholder {balance}: use {order_ids}, {time_left}, {count}."
    assert str(refused(CUSTOM_COMMAND, "Hi {name}")) == \
        "Unknown placeholder {name}: this text takes no placeholders (double a brace to write " \
        "it literally)."


def test_a_long_offending_text_is_quoted_shortened():
    error = refused(REFILL_OK, "{order_ids:" + "9" * 500 + "}")
    assert len(error.placeholder) == 40 and error.placeholder.endswith("…")


def test_the_issue_11_route_template_is_refused():
    error = refused(ROUTE, "{external} {action} {nonsense")
    assert error.placeholder == "{external}"
    assert refused(ROUTE, "{external_id} {action} {nonsense").placeholder == "{nonsense"


@pytest.mark.parametrize("text, code, placeholder", [
    ("{action}", "route_required", None),
    ("{order_id} {action}", "route_required", None),
    ("{external_ids} {quantity}", "route_joined", "{quantity}"),
    ("{external_ids} {external_id}", "route_joined", "{external_id}"),
    ("{external_id} {order_ids}", "route_order_ids", "{order_ids}"),
])
def test_route_templates_keep_to_one_mode_and_name_the_provider_id(text, code, placeholder):
    error = refused(ROUTE, text)
    assert (error.code, error.placeholder) == (code, placeholder)


def test_too_long_sources_are_refused():
    assert refused(ROUTE, "{external_id}" + "x" * ROUTE_SOURCE_LIMIT).code == "too_long"
    assert refused(REFILL_OK, "x" * (MESSAGE_LIMIT + 1)).code == "too_long"
    validate(REFILL_OK, "x" * MESSAGE_LIMIT)


def test_not_a_string_is_refused():
    assert refused(REFILL_OK, None).code == "not_text"
    assert refused(REFILL_OK, 42).code == "not_text"


def test_unknown_reply_keys_are_refused():
    error = reply_problem("nonsense", "Hi")
    assert error.code == "unknown_reply" and error.placeholder == "nonsense"
    assert str(error).startswith("Unknown reply nonsense: use one of refill_ok, speed_ok")
    assert reply_problem("refill_ok", "Done {order_ids}") is None
    assert reply_problem("refill_ok", HUGE_SPEC).code == "format_spec"


def test_errors_translate_through_the_given_gettext():
    error = refused(REFILL_OK, HUGE_SPEC)
    catalogue = {error.msgid: "Nicht erlaubt: %(placeholder)s."}
    assert error.message(catalogue.get) == f"Nicht erlaubt: {HUGE_SPEC}."


# --- what is accepted ---------------------------------------------------------------------------

def test_escapes_are_literal_braces():
    template = compile_template(REFILL_OK, "{{order_ids}} {{{order_ids}}} }}{{ done")
    assert template.render({"order_ids": "1, 2"}) == "{order_ids} {1, 2} }{ done"
    assert compile_template(CUSTOM_COMMAND, '{{"json": true}}').render() == '{"json": true}'


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_accepts_its_documented_placeholders(name):
    kind = KINDS[name]
    if kind is ROUTE:
        modes = [ROUTE_LINE_PLACEHOLDERS, ROUTE_JOINED_PLACEHOLDERS]
    else:
        modes = [kind.placeholders]
    for names in modes:
        text = "Start " + " ".join("{" + n + "}" for n in names) + " end"
        template = compile_template(kind, text)
        values = {n: f"<{n}>" for n in names}
        assert template.render(values) == \
            "Start " + " ".join(f"<{n}>" for n in names) + " end"
    for placeholder in kind.placeholders:
        assert PLACEHOLDERS[placeholder]  # every one is described for managers


def test_the_registry_documents_every_kind_of_relaydesk():
    assert set(KINDS) == {f"reply:{key}" for key in DEFAULT_REPLIES} | {
        "custom_command", "route", "broadcast", "quick_reply"}
    assert set(REPLY_PLACEHOLDERS) == set(DEFAULT_REPLIES)
    assert ROUTE.describe()["external_id"] == "the provider's id of the order"


def test_a_later_kind_registers_its_own_set():
    campaign = register(Kind("test:campaign", ("username", "balance"), max_source=100,
                             max_value=10, max_output=50))
    assert KINDS["test:campaign"] is campaign
    assert compile_template(campaign, "Hi {username}").render({"username": "ann"}) == "Hi ann"
    assert refused(campaign, "{order_ids}").code == "unknown"
    with pytest.raises(ValueError, match="describe placeholders"):
        register(Kind("test:bad", ("secret_token",), 10, 10, 10))
    with pytest.raises(ValueError, match="already registered"):
        register(Kind("test:campaign", ("username",), 10, 10, 10))
    del KINDS["test:campaign"]


def test_a_placeholder_without_a_value_stays_visible():
    assert compile_template(REPLY_KINDS["cooldown"], "in {time_left}: {order_ids}").render(
        {"order_ids": "1"}) == "in {time_left}: 1"


# --- bounded output -----------------------------------------------------------------------------

def test_str_format_would_have_made_these_huge():
    """The findings, as str.format renders them (what the app used to call)."""
    assert len(HUGE_SPEC.format(order_ids="1")) == 20_000_000
    assert len(EIGHTEEN) == 18 and len(EIGHTEEN.format(order_id="1")) == 40_000


def test_a_megabyte_value_is_cut():
    template = compile_template(REPLY_KINDS["balance"], "Your balance: {balance}")
    text = template.render({"balance": "9" * 1_000_000})
    assert len(text) == len("Your balance: ") + REPLY_VALUE_LIMIT and text.endswith("…")
    route = compile_template(ROUTE, "{external_id} {action} {link}")
    line = route.render({"external_id": "E" * 1_000_000, "action": "refill",
                         "link": "L" * 1_000_000})
    assert len(line) == 2 * ROUTE_VALUE_LIMIT + len("  refill")


def test_the_output_is_cut_even_when_every_value_is_short():
    template = compile_template(REFILL_OK, "{order_ids}" * 300)
    assert len(template.render({"order_ids": "x" * 900})) == MESSAGE_LIMIT


def test_ten_thousand_ids_render_bounded():
    ids = [str(1_000_000 + k) for k in range(10_000)]
    single = reply_template("refill_ok", count=1).render({"order_ids": ids})
    assert len(single) <= MESSAGE_LIMIT
    kept = single.removeprefix("Refill requested: ").split(", ")
    assert kept[-1].startswith("… +") and int(kept[-1][3:]) == 10_000 - len(kept) + 1
    lines = reply_template("refill_ok", count=1).render_lines({}, {"order_ids": ids})
    assert all(len(line) <= MESSAGE_LIMIT for line in lines)
    assert [i for line in lines for i in line.removeprefix("Refill requested: ").split(", ")] \
        == ids


def test_a_hundred_ids_render_on_one_line():
    ids = [str(2_274_000 + k) for k in range(100)]
    assert reply_template("refill_ok", count=1).render_lines({}, {"order_ids": ids}) == \
        ["Refill requested: " + ", ".join(ids)]


def test_a_template_without_the_list_renders_once():
    template = compile_template(REFILL_OK, "Done.")
    assert template.render_lines({}, {"order_ids": [str(k) for k in range(10_000)]}) == \
        ["Done."]


def test_the_issue_10_reply_template_is_harmless_if_already_stored():
    assert render_reply("refill_ok", HUGE_SPEC, order_ids="2274209") == \
        "Refill requested: 2274209"
    text = compose([Outcome("2274209", "refill", "ok")], lambda key, count: HUGE_SPEC)
    assert text == "Refill requested: 2274209"


def test_the_eighteen_character_route_template_is_refused_and_harmless_if_stored():
    assert refused(ROUTE, EIGHTEEN).code == "format_spec"
    template, error = route_template(EIGHTEEN)
    assert error is not None and error.placeholder == EIGHTEEN
    lines = render_route(template, [RouteOrder("2274209", "EXT-88231", "refill")])
    assert lines == ["EXT-88231 refill"]


def test_joined_route_lines_are_split_and_lose_no_id():
    template = compile_template(ROUTE, "{action}: {external_ids} ({order_ids})")
    orders = [RouteOrder(str(k), f"EXT-{k:05d}", "refill" if k % 3 else "cancel")
              for k in range(10_000)]
    lines = render_route(template, orders)
    assert all(len(line) <= ROUTE_LINE_LIMIT for line in lines)
    refills = [line for line in lines if line.startswith("refill: ")]
    listed = [i for line in refills for i in line.split(" (")[0][len("refill: "):].split(", ")]
    assert listed == [o.external_id for o in orders if o.action == "refill"]


def test_per_order_route_lines():
    template = compile_template(ROUTE, "{external_id} {action} x{quantity} {link}")
    lines = render_route(template, [RouteOrder("1", "EXT-1", "refill", 1000, "https://i.g/p"),
                                    RouteOrder("2", "EXT-2", "cancel")])
    assert lines == ["EXT-1 refill x1000 https://i.g/p", "EXT-2 cancel x "]


def test_custom_replies_render_or_show_a_legacy_text_as_written():
    assert custom_reply("Prices: {{see the panel}}") == ("Prices: {see the panel}", None)
    text, error = custom_reply("Prices: {see the panel}")
    assert text == "Prices: {see the panel}" and error.code == "no_placeholders"
    text, error = custom_reply("{x}" + "y" * 100_000)
    assert len(text) == MESSAGE_LIMIT and error.code == "too_long"


def test_every_built_in_reply_is_a_valid_template_of_its_key():
    for key, text in DEFAULT_REPLIES.items():
        validate(REPLY_KINDS[key], text)
