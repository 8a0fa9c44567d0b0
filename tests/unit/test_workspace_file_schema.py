"""The workspace file without a database: durations, the schemas, file-wide checks, line lookup."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.workspace_file.errors import LocatedProblem, Problem, WorkspaceFileInvalid, format_path
from app.workspace_file.exporter import _Dumper
from app.workspace_file.locate import line_of, parse, place, place_all
from app.workspace_file.schema import (MAX_COOLDOWN, format_duration, parse_duration,
                                       validate_document)

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "acme.yaml"


def problems_of(text: str) -> list[str]:
    """Every problem of a file as `line: path: message`, found without a database."""
    try:
        data, root = parse(text, "f.yaml")
    except WorkspaceFileInvalid as exc:
        return [f"{p.line}: {format_path(p.path)}: {p.message}" for p in exc.problems]
    _, problems = validate_document(data)
    return [f"{p.line}: {format_path(p.path)}: {p.message}"
            for p in place_all(problems, root, "f.yaml")]


def minimal(**sections: str) -> str:
    text = "workspace: {slug: acme, name: Acme}\n"
    return text + "".join(f"{key}:\n{body}" for key, body in sections.items())


# --- durations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("written, seconds", [
    ("24h", 86400), ("12h", 43200), ("30m", 1800), ("90s", 90), ("2d", 172800), (90, 90),
    ("90", 90), (0, 0), ("1h30m", 5400), ("1d12h", 129600), (" 24H ", 86400), ("1h 30m", 5400),
])
def test_parse_duration(written, seconds):
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("written", ["", "24x", "h", "1.5h", "-5", -5, True, None, [1], "30m1h",
                                     "1 day", 1.5])
def test_parse_duration_refuses(written):
    with pytest.raises(ValueError):
        parse_duration(written)


@pytest.mark.parametrize("seconds, written", [
    (86400, "24h"), (43200, "12h"), (1800, "30m"), (90, "90s"), (172800, "2d"), (5400, "90m"),
    (0, "0s"), (3661, "3661s"), (7 * 86400, "7d"), (36 * 3600, "36h"),
])
def test_format_duration(seconds, written):
    assert format_duration(seconds) == written


@given(st.integers(min_value=0, max_value=MAX_COOLDOWN))
def test_format_then_parse_gives_the_same_seconds(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


# --- the sample and valid shapes ----------------------------------------------------------------

def test_sample_file_is_valid_on_its_own():
    data, _ = parse(SAMPLE.read_text(), "acme.yaml")
    loaded, problems = validate_document(data)
    assert problems == []
    assert loaded["settings"]["cooldowns"] == {"refill": 86400, "speed": 43200, "cancel": 43200}
    assert loaded["channels"][0]["id_instance"] == "1101000001"
    assert loaded["aliases"]["speed"] == ["speedup", "speed up", "hizlandir"]


def test_absent_keys_stay_absent_and_empty_sections_vanish():
    data, _ = parse(minimal(channels="", settings="  max_ids_per_message: 5\n"), "f.yaml")
    loaded, problems = validate_document(data)
    assert problems == []
    assert loaded == {"workspace": {"slug": "acme", "name": "Acme"},
                      "settings": {"max_ids_per_message": 5}}


def test_unquoted_numbers_become_ids_and_api_url_loses_its_slash():
    text = minimal(channels="  - {name: W, kind: greenapi, api_url: 'https://x.example/',\n"
                            "     id_instance: 1101000001, api_token: t}\n",
                   admin_identities="  - {channel: W, chat_id: -1001234}\n")
    loaded, problems = validate_document(parse(text, "f.yaml")[0])
    assert problems == []
    assert loaded["channels"][0]["id_instance"] == "1101000001"
    assert loaded["channels"][0]["api_url"] == "https://x.example"
    assert loaded["admin_identities"][0]["chat_id"] == "-1001234"


def test_empty_secret_means_clear_and_null_is_kept_apart_from_absent():
    text = minimal(channels="  - {name: W, kind: meta, phone_number_id: '1', access_token: '',\n"
                            "     app_secret: null}\n")
    loaded, problems = validate_document(parse(text, "f.yaml")[0])
    assert problems == []
    assert loaded["channels"][0]["access_token"] is None
    assert loaded["channels"][0]["app_secret"] is None
    assert "waba_id" not in loaded["channels"][0]


def test_demo_panel_takes_any_url_but_real_panels_need_one():
    assert problems_of(minimal(panel="  type: demo\n  url: not a url\n")) == []
    assert problems_of(minimal(panel="  type: demo\n")) == []
    assert problems_of(minimal(panel="  type: smm_api_v2\n  url: not a url\n")) == [
        "4: panel.url: Enter a full web address, for example https://panel.example.com."]
    assert problems_of(minimal(panel="  type: smm_api_v2\n")) == [
        "2: panel.url: Missing data for required field."]


# --- field problems, on their lines -------------------------------------------------------------

def test_kind_problem_reads_like_the_design_example():
    text = minimal(channels="  - {name: A, kind: telegram, bot_token: '1:a'}\n"
                            "  - name: B\n    kind: whatsapp\n")
    assert problems_of(text) == [
        "5: channels[1].kind: Must be one of: greenapi, meta, telegram, webchat."]


@pytest.mark.parametrize("sections, expected", [
    ({"channels": "  - {kind: webchat}\n"},
     "3: channels[0].name: Missing data for required field."),
    ({"channels": "  - name: A\n    kind: webchat\n    colour: red\n"},
     "5: channels[0].colour: Unknown field."),
    ({"channels": "  - {name: A, kind: greenapi, id_instance: 'x1'}\n"},
     "3: channels[0].id_instance: Use digits only "
     "(the instance id Green API shows, e.g. 1101000001)."),
    ({"channels": "  - {name: A, kind: telegram, bot_token: 'nope'}\n"},
     "3: channels[0].bot_token: Not a Telegram bot token (expected <bot id>:<key>)."),
    ({"channels": "  - {name: A, kind: greenapi, bot_token: '1:a'}\n"},
     "3: channels[0].bot_token: Not a field of greenapi channels (it belongs to telegram)."),
    ({"channels": "  - {name: '  ', kind: webchat}\n"},
     "3: channels[0].name: May not be empty."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, template: '{id} {action}'}\n"},
     "4: providers[0].route.template: Unknown placeholder {id}: use {external_id}, {action}, "
     "{order_id}, {quantity}, {link}, {external_ids}, {order_ids}."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, template: '{action}'}\n"},
     "4: providers[0].route.template: Must contain {external_id} (or {external_ids}): the "
     "provider knows its own order ids only."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c,\n"
                   "             template: '{external_ids} {action}', actions: [refill]}\n"}, None),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, template: '{external_id'}\n"},
     "4: providers[0].route.template: Not a valid template: {external_id is not closed "
     "(double a brace to write it literally)."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, "
                   "template: '{external_id:_>40000}'}\n"},
     "4: providers[0].route.template: Not allowed: {external_id:_>40000}. Formatting after a "
     "colon is not supported."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, "
                   "template: '{external_id} {action} {nonsense'}\n"},
     "4: providers[0].route.template: Not a valid template: {nonsense is not closed (double "
     "a brace to write it literally)."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, "
                   "template: '{external_ids} {quantity}'}\n"},
     "4: providers[0].route.template: Not allowed: {quantity} cannot be used with "
     "{external_ids}, whose line lists several orders."),
    ({"providers": "  - name: p\n    route:\n      channel: W\n      chat_id: c\n"
                   "      actions: [refill, boost]\n"},
     "7: providers[0].route.actions[1]: Must be one of: refill, speed, cancel."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c, actions: []}\n"},
     "4: providers[0].route.actions: Name at least one of refill, speed, cancel."),
    ({"providers": "  - name: p\n    domains: ['a.com, b.com']\n"},
     "4: providers[0].domains[0]: May not contain a comma."),
    ({"providers": "  - name: p\n    route: {channel: W, chat_id: c}\n    routes: []\n"},
     "5: providers[0].routes: Use either route (one) or routes (a list), not both."),
    ({"settings": "  cooldowns:\n    refill: 24x\n"},
     "4: settings.cooldowns.refill: Not a valid duration: use seconds or a number with d, h, m "
     "or s (e.g. 24h, 30m, 90s)."),
    ({"settings": "  cooldowns: {refill: 400d}\n"},
     "3: settings.cooldowns.refill: Longer than 365 days."),
    ({"settings": "  cooldowns: {refil: 1h}\n"}, "3: settings.cooldowns.refil: Unknown field."),
    ({"settings": "  max_ids_per_message: '100'\n"},
     "3: settings.max_ids_per_message: Not a valid integer."),
    ({"aliases": "  refill: [rf, 2274209]\n"},
     "3: aliases.refill[1]: May not be a number: numbers are order ids."),
    ({"aliases": "  speed: [Refill]\n"}, "3: aliases.speed[0]: 'Refill' is the name of an action "
                                         "itself."),
    ({"aliases": "  teleport: [tp]\n"}, "3: aliases.teleport: Unknown field."),
    ({"members": "  - {username: a b, email: x@y.example}\n"},
     "3: members[0].username: May not contain spaces."),
    ({"members": "  - {username: ab, email: nope}\n"}, "3: members[0].email: Not a valid email "
                                                       "address."),
    ({"members": "  - {username: ab, password: Xk3!vB9q}\n"},
     "3: members[0].password: Use at least 10 characters."),
    ({"members": "  - username: carol\n    password: carol-2024-x!\n"},
     "4: members[0].password: The password may not contain the username."),
    ({"members": "  - {username: ab, role: owner}\n"},
     "3: members[0].role: Must be one of: manager, agent."),
    ({"linked_users": "  - {username: u, identities: [{channel: W}]}\n"},
     "3: linked_users[0].identities[0].chat_id: Missing data for required field."),
    ({"colours": "  red: 1\n"}, "2: colours: Unknown field."),
])
def test_field_problem_is_on_its_line(sections, expected):
    assert problems_of(minimal(**sections)) == ([expected] if expected else [])


def test_workspace_section_checks():
    text = "workspace: {slug: Acme!, language: english, timezone: Mars/Base, plan: null}\n"
    assert sorted(problems_of(text)) == [
        "1: workspace.language: Not a language code: use a two-letter ISO 639-1 code such as "
        "en, es or tr, optionally with a region such as pt_BR.",
        "1: workspace.name: Missing data for required field.",
        "1: workspace.slug: Use lowercase letters, digits and hyphens only (e.g. acme-smm), "
        "starting and ending with a letter or digit.",
        "1: workspace.timezone: Not a time zone: use a name from the tz database such as UTC, "
        "Europe/Istanbul or America/Sao_Paulo.",
    ]


@pytest.mark.parametrize("text, expected", [
    ("", "1: : The file must be a mapping that starts with `workspace:`."),
    ("- a\n- b\n", "1: : The file must be a mapping that starts with `workspace:`."),
    ("channels: []\n", "1: workspace: Missing data for required field."),
])
def test_whole_file_problems(text, expected):
    assert problems_of(text) == [expected]


# --- duplicates inside the file -----------------------------------------------------------------

def test_duplicate_channel_name_points_at_both():
    text = minimal(channels="  - {name: W, kind: webchat}\n"
                            "  - {name: X, kind: webchat}\n"
                            "  - {name: W, kind: webchat}\n")
    assert problems_of(text) == ["5: channels[2].name: Duplicate channel name 'W'. (see line 3)"]


@pytest.mark.parametrize("sections, expected", [
    ({"channels": "  - {name: A, kind: greenapi, id_instance: '1', api_token: a}\n"
                  "  - {name: B, kind: greenapi, id_instance: '1', api_token: b}\n"},
     "4: channels[1].id_instance: Another channel in this file has the same id_instance. "
     "(see line 3)"),
    ({"channels": "  - {name: A, kind: meta, phone_number_id: '1', waba_id: '9'}\n"
                  "  - {name: B, kind: meta, phone_number_id: '2', waba_id: '9'}\n"},
     "4: channels[1].waba_id: Another channel in this file has the same waba_id. "
     "(see line 3)"),
    ({"channels": "  - {name: A, kind: telegram, bot_token: '77:aaa'}\n"
                  "  - {name: B, kind: telegram, bot_token: '77:bbb'}\n"},
     "4: channels[1].bot_token: Another channel in this file uses the same bot (bot id 77). "
     "(see line 3)"),
    ({"providers": "  - {name: p, domains: [a.com]}\n  - {name: q, domains: [A.com]}\n"},
     "4: providers[1].domains[0]: Domain 'A.com' is also listed for another provider. "
     "(see line 3)"),
    ({"providers": "  - name: p\n    routes:\n      - {channel: W, chat_id: c}\n"
                   "      - {channel: W, chat_id: c}\n"},
     "6: providers[0].routes[1].chat_id: This provider already has a route to this chat. "
     "(see line 5)"),
    ({"linked_users": "  - {username: a, identities: [{channel: W, chat_id: '1'}]}\n"
                      "  - {username: b, identities: [{channel: W, chat_id: '1'}]}\n"},
     "4: linked_users[1].identities[0].chat_id: This chat is already listed as an identity. "
     "(see line 3)"),
    ({"admin_identities": "  - {channel: W, chat_id: '1'}\n  - {channel: W, chat_id: '1'}\n"},
     "4: admin_identities[1].chat_id: This chat is already listed as an admin identity. "
     "(see line 3)"),
    ({"members": "  - {username: Ann, email: a@x.example}\n"
                 "  - {username: ann, email: b@x.example}\n"},
     "4: members[1].username: Duplicate member 'ann'. (see line 3)"),
    ({"aliases": "  refill: [rf]\n  speed: [rf]\n"},
     "4: aliases.speed[0]: 'rf' is listed twice. (see line 3)"),
])
def test_duplicates_inside_the_file(sections, expected):
    assert problems_of(minimal(**sections)) == [expected]


def test_a_secret_is_never_quoted_in_a_problem():
    text = minimal(channels="  - {name: A, kind: telegram, bot_token: 'super-secret-value'}\n"
                            "  - {name: B, kind: telegram, bot_token: '9:x', api_token: "
                            "'another-secret-value'}\n")
    found = "\n".join(problems_of(text))
    assert "channels[0].bot_token" in found and "channels[1].api_token" in found
    assert "secret-value" not in found


# --- YAML syntax and line lookup ----------------------------------------------------------------

def test_syntax_error_names_its_line_and_never_quotes_the_text():
    text = "workspace: {slug: acme, name: Acme}\npanel:\n  api_key: top-secret: value\n"
    with pytest.raises(WorkspaceFileInvalid) as caught:
        parse(text, "f.yaml")
    (problem,) = caught.value.problems
    assert str(problem) == "f.yaml:3: YAML syntax error: mapping values are not allowed here"
    assert "top-secret" not in str(caught.value)


def test_unclosed_bracket_names_where_it_was_noticed_and_opened():
    with pytest.raises(WorkspaceFileInvalid) as caught:
        parse("a: [1,\n  2\nb: 3\n", "f.yaml")
    assert str(caught.value) == ("f.yaml:3: YAML syntax error: expected ',' or ']', but got ':' "
                                 "(while parsing a flow sequence started on line 1)")


def test_key_given_twice_is_an_error():
    with pytest.raises(WorkspaceFileInvalid) as caught:
        parse("workspace:\n  slug: a\n  name: A\n  slug: b\n", "f.yaml")
    assert str(caught.value) == "f.yaml:4: workspace.slug: Key given twice (first on line 2)."


def test_python_tags_are_refused():
    with pytest.raises(WorkspaceFileInvalid) as caught:
        parse("workspace: !!python/object/apply:os.system ['true']\n", "f.yaml")
    assert "f.yaml:1: YAML syntax error: could not determine a constructor" in str(caught.value)


LOOKUP = """\
workspace: {slug: acme,
  name: Acme}
channels:
  - name: A
    kind: greenapi
  - {name: B,
     kind: telegram}
aliases: {refill: [rf,
                   refil]}
"""


@pytest.mark.parametrize("path, line", [
    ((), 1), (("workspace",), 1), (("workspace", "name"), 2), (("channels",), 3),
    (("channels", 0), 4), (("channels", 0, "kind"), 5), (("channels", 1), 6),
    (("channels", 1, "kind"), 7), (("channels", 1, "missing"), 6), (("channels", 9), 3),
    (("aliases", "refill", 1), 9), (("nowhere", "at", "all"), 1),
])
def test_line_of_a_path(path, line):
    root = parse(LOOKUP, "f.yaml")[1]
    assert line_of(root, path) == line


def test_place_adds_the_line_of_the_first_duplicate():
    root = parse(LOOKUP, "f.yaml")[1]
    placed = place(Problem(("channels", 1, "name"), "Twice.", see=("channels", 0, "name")),
                   root, "f.yaml")
    assert placed == LocatedProblem("f.yaml", 6, ("channels", 1, "name"), "Twice. (see line 4)")
    assert str(placed) == "f.yaml:6: channels[1].name: Twice. (see line 4)"


def test_format_path():
    assert format_path(("channels", 1, "api_token")) == "channels[1].api_token"
    assert format_path(("aliases", "refill", 0)) == "aliases.refill[0]"
    assert format_path(()) == ""


# --- the export's YAML writer -------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "yes", "no", "null", "123", "0123", "-100123", "1:2", "a, b", "x: y", "{external_id}",
    "#hash", "  lead", "trail ", "multi\nline\n", "[x", "café", "@user", "'q'", '"dq"', "",
])
def test_export_writer_gives_back_every_string(value):
    document = {"k": value, "words": [value, "plain"]}
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    assert yaml.safe_load(text) == document
