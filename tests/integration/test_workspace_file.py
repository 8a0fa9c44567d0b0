"""`flask --app run workspace import FILE` / `workspace export SLUG` against the real database.

docs/contracts.md "Workspace file": idempotent upsert keyed by slug and names, invalid files
rejected whole with line-precise errors and nothing written, secrets left out of exports unless
asked for.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from app.models import (AdminIdentity, Channel, ChatIdentity, CommandAlias, LinkedUser,
                        PanelConnection, Plan, Provider, ProviderRoute, Workspace,
                        WorkspaceMember, WorkspaceSettings)
from app.plans import DEFAULT_PLANS

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "acme.yaml"
SAMPLE_TEXT = SAMPLE.read_text()
FAKE_SECRETS = {
    "panel api_key": "FAKE-panel-admin-key-0000",
    "api_token": "FAKE-greenapi-api-token-0000",
    "webhook_token": "FAKE-greenapi-webhook-token-0000",
    "bot_token": "123456:FAKE-telegram-bot-token",
    "secret_token": "FAKE-telegram-secret-token",
    "access_token": "FAKE-meta-access-token-0000",
    "app_secret": "FAKE-meta-app-secret",
    "password": "FAKE-password-change-me",
}
OWNED_MODELS = (Workspace, WorkspaceSettings, PanelConnection, Channel, Provider, ProviderRoute,
                LinkedUser, ChatIdentity, AdminIdentity, WorkspaceMember, CommandAlias)


# --- helpers ------------------------------------------------------------------------------------

@pytest.fixture
def cli(app, db):
    """Runs `flask workspace …` in the test's app context (same session as `db`)."""
    runner = app.test_cli_runner()

    def invoke(*args):
        result = runner.invoke(args=["workspace", *map(str, args)])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        db.session.expire_all()
        return result

    return invoke


def new_pro_plan() -> Plan:
    """The default `pro` plan (app/plans.py: room for the sample's three channels)."""
    (pro,) = [p for p in DEFAULT_PLANS if p.code == "pro"]
    return Plan(code="pro", name="Pro", modules=",".join(pro.modules), **pro.limits)


@pytest.fixture
def pro_plan(db):
    plan = new_pro_plan()
    db.session.add(plan)
    db.session.commit()
    return plan


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in text")


def row_counts(db) -> dict[str, int]:
    counts = {m.__tablename__: db.session.query(m).count() for m in OWNED_MODELS}
    counts["ab_user"] = db.session.execute(sa.text("SELECT count(*) FROM ab_user")).scalar()
    return counts


def stamps(db) -> dict:
    """Every updated_at (and the logins' changed_on): proof that nothing was written."""
    result = {}
    for model in OWNED_MODELS:
        if hasattr(model, "updated_at"):
            for row in db.session.query(model):
                result[(model.__tablename__, row.id)] = row.updated_at
    for row_id, changed in db.session.execute(sa.text("SELECT id, changed_on FROM ab_user")):
        result[("ab_user", row_id)] = changed
    return result


def stderr(result) -> str:
    return result.stderr


def wipe(db) -> None:
    """Empty every table but FAB's permission catalogue: a fresh database to import into."""
    from flask_appbuilder import Model

    from tests.conftest import KEEP_TABLES

    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(Model.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                conn.execute(table.delete())


def acme(db) -> Workspace:
    return db.session.query(Workspace).filter_by(slug="acme").one()


def channel(db, name: str) -> Channel:
    return db.session.query(Channel).filter_by(name=name).one()


# --- importing a valid file ---------------------------------------------------------------------

def test_sample_file_imports_every_section(cli, db, pro_plan, tmp_path):
    result = cli("import", SAMPLE)
    assert result.exit_code == 0, stderr(result)
    assert "Imported" in result.stdout and "workspace 'acme'" in result.stdout
    assert "channels          3 created, 0 updated, 0 unchanged" in result.stdout

    ws = acme(db)
    assert (ws.name, ws.plan.code, ws.language, ws.timezone) == ("Acme SMM", "pro", "en", "UTC")
    panel = db.session.query(PanelConnection).filter_by(workspace_id=ws.id).one()
    assert (panel.panel_type, panel.url, panel.service_rules_mode) == (
        "perfectpanel_v2", "https://panel.example", "names")
    assert panel.api_key == FAKE_SECRETS["panel api_key"]

    green = channel(db, "Main WhatsApp")
    assert (green.kind, green.api_url, green.id_instance) == (
        "greenapi", "https://7103.api.greenapi.com", "1101000001")
    assert green.api_token == FAKE_SECRETS["api_token"]
    assert green.webhook_token == FAKE_SECRETS["webhook_token"]
    bot = channel(db, "Support bot")
    assert (bot.bot_token, bot.bot_id, bot.secret_token) == (
        FAKE_SECRETS["bot_token"], "123456", FAKE_SECRETS["secret_token"])
    meta = channel(db, "Cloud number")
    assert (meta.phone_number_id, meta.waba_id, meta.access_token, meta.app_secret) == (
        "106540352242922", "102290129340398", FAKE_SECRETS["access_token"],
        FAKE_SECRETS["app_secret"])
    # Secrets are stored encrypted, never as the plaintext.
    raw = db.session.execute(sa.text("SELECT api_token FROM channel WHERE name = 'Main WhatsApp'"))
    assert FAKE_SECRETS["api_token"] not in raw.scalar()

    provider = db.session.query(Provider).filter_by(name="smmrush").one()
    assert (provider.domain_list, provider.alias_list) == (["smmrush.com"], ["rush"])
    (route,) = provider.routes
    assert (route.channel.name, route.chat_id, route.template, route.action_list) == (
        "Main WhatsApp", "120363043968066561@g.us", "{external_id} {action}",
        ["refill", "speed", "cancel"])

    alice = db.session.query(LinkedUser).filter_by(username="alice").one()
    assert sorted((i.channel.name, i.chat_id) for i in alice.identities) == [
        ("Main WhatsApp", "79001234567@c.us"), ("Support bot", "123456789")]
    admin = db.session.query(AdminIdentity).one()
    assert (admin.channel.name, admin.chat_id, admin.name) == (
        "Main WhatsApp", "79000000000@c.us", "Owner")

    member = db.session.query(WorkspaceMember).one()
    assert (member.workspace_id, member.role, member.user.username, member.user.email) == (
        ws.id, "manager", "acme-manager", "manager@acme.example")
    assert [r.name for r in member.user.roles] == ["WorkspaceManager"]
    assert check_password_hash(member.user.password, FAKE_SECRETS["password"])

    settings = db.session.query(WorkspaceSettings).filter_by(workspace_id=ws.id).one()
    assert (settings.cooldown_refill_seconds, settings.cooldown_speed_seconds,
            settings.cooldown_cancel_seconds, settings.max_ids_per_message) == (
        86400, 43200, 43200, 100)
    aliases = {(a.alias, a.action) for a in db.session.query(CommandAlias)}
    assert aliases == {("rf", "refill"), ("refil", "refill"), ("dolum", "refill"),
                       ("speedup", "speed"), ("speed up", "speed"), ("hizlandir", "speed"),
                       ("iptal", "cancel")}


def test_new_member_logs_in_with_the_file_password(cli, db, pro_plan, auth):
    assert cli("import", SAMPLE).exit_code == 0
    auth.login("acme-manager", FAKE_SECRETS["password"])


def test_second_import_changes_nothing(cli, db, pro_plan):
    assert cli("import", SAMPLE).exit_code == 0
    counts, before = row_counts(db), stamps(db)

    result = cli("import", SAMPLE)

    assert result.exit_code == 0, stderr(result)
    assert "Nothing to change" in result.stdout
    assert " 0 created, 0 updated" in result.stdout
    assert " created, 0 updated" in result.stdout and "1 created" not in result.stdout
    assert row_counts(db) == counts
    assert stamps(db) == before


def test_dry_run_counts_but_writes_nothing(cli, db, pro_plan):
    empty = row_counts(db)
    result = cli("import", SAMPLE, "--dry-run")
    assert result.exit_code == 0, stderr(result)
    assert "Dry run" in result.stdout and "nothing was written" in result.stdout
    assert "channels          3 created" in result.stdout
    assert row_counts(db) == empty


def test_update_changes_only_what_differs(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    bot_stamp = channel(db, "Support bot").updated_at
    text = (SAMPLE_TEXT.replace("name: Acme SMM", "name: Acme Followers")
            .replace("id_instance: \"1101000001\"", "id_instance: \"1101000002\"")
            .replace("refill: 24h", "refill: 2d"))

    result = cli("import", write(tmp_path, text))

    assert result.exit_code == 0, stderr(result)
    assert "workspace         0 created, 1 updated, 0 unchanged" in result.stdout
    assert "channels          0 created, 1 updated, 2 unchanged" in result.stdout
    assert acme(db).name == "Acme Followers"
    assert channel(db, "Main WhatsApp").id_instance == "1101000002"
    assert channel(db, "Support bot").updated_at == bot_stamp
    assert db.session.query(WorkspaceSettings).one().cooldown_refill_seconds == 2 * 86400


def test_missing_secret_keeps_the_stored_value(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = (SAMPLE_TEXT.replace(' api_token: "FAKE-greenapi-api-token-0000",', "")
            .replace('  api_key: "FAKE-panel-admin-key-0000"', "  # api_key left out"))
    assert "FAKE-greenapi-api-token" not in text and "FAKE-panel-admin-key" not in text

    result = cli("import", write(tmp_path, text))

    assert result.exit_code == 0, stderr(result)
    assert "Nothing to change" in result.stdout
    assert channel(db, "Main WhatsApp").api_token == FAKE_SECRETS["api_token"]
    assert db.session.query(PanelConnection).one().api_key == FAKE_SECRETS["panel api_key"]


def test_a_new_secret_replaces_the_stored_one(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = SAMPLE_TEXT.replace("FAKE-greenapi-api-token-0000", "FAKE-rotated-token-1111")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    assert channel(db, "Main WhatsApp").api_token == "FAKE-rotated-token-1111"
    assert "FAKE-rotated-token-1111" not in result.stdout + stderr(result)


def test_demo_panel_takes_any_url(cli, db, tmp_path):
    text = ("workspace: {slug: demo-co, name: Demo Co}\n"
            "panel: {type: demo, url: 'anything at all'}\n")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    panel = db.session.query(PanelConnection).one()
    assert (panel.panel_type, panel.url, panel.api_key) == ("demo", "anything at all", None)
    # Every workspace gets its settings row, with the defaults.
    assert db.session.query(WorkspaceSettings).one().cooldown_refill_seconds == 86400


def test_single_route_follows_the_file(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = SAMPLE_TEXT.replace("120363043968066561@g.us", "120363999999999999@g.us")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    assert "routes            0 created, 1 updated" in result.stdout
    (route,) = db.session.query(ProviderRoute).all()
    assert route.chat_id == "120363999999999999@g.us"


def test_identity_moves_to_the_user_the_file_names(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = _bad(',\n                  {channel: Support bot, chat_id: "123456789"}]}', "]}")
    text = text.replace(
        "admin_identities:",
        "  - {username: bob, identities: [{channel: Support bot, chat_id: \"123456789\"}]}\n"
        "admin_identities:")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    assert "identities        0 created, 1 updated, 1 unchanged" in result.stdout
    identity = db.session.query(ChatIdentity).filter_by(chat_id="123456789").one()
    assert identity.linked_user.username == "bob"


def test_member_role_changes_but_password_is_used_only_on_creation(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = (SAMPLE_TEXT.replace("role: manager", "role: agent")
            .replace("FAKE-password-change-me", "FAKE-other-password"))
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    assert "members           0 created, 1 updated" in result.stdout
    member = db.session.query(WorkspaceMember).one()
    assert member.role == "agent"
    assert [r.name for r in member.user.roles] == ["WorkspaceAgent"]
    assert check_password_hash(member.user.password, FAKE_SECRETS["password"])


def test_existing_login_without_workspace_becomes_member(cli, db, pro_plan, factory):
    factory.user("acme-manager", "WorkspaceAgent", email="manager@acme.example")
    result = cli("import", SAMPLE)
    assert result.exit_code == 0, stderr(result)
    member = db.session.query(WorkspaceMember).one()
    assert (member.user.username, member.role) == ("acme-manager", "manager")
    assert [r.name for r in member.user.roles] == ["WorkspaceManager"]


def test_new_member_without_password_gets_one_generated(cli, db, tmp_path):
    text = ("workspace: {slug: solo, name: Solo}\n"
            "members:\n  - {username: solo-agent, email: agent@solo.example}\n")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    member = db.session.query(WorkspaceMember).one()
    assert member.role == "agent"
    shown = result.stdout.split("solo-agent: ", 1)[1].split()[0]
    assert check_password_hash(member.user.password, shown)


# --- exporting ----------------------------------------------------------------------------------

def test_default_export_leaves_secrets_out(cli, db, pro_plan):
    assert cli("import", SAMPLE).exit_code == 0
    result = cli("export", "acme")
    assert result.exit_code == 0, stderr(result)
    for secret in FAKE_SECRETS.values():
        assert secret not in result.stdout
    for key in ("api_key:", "api_token:", "webhook_token:", "bot_token:", "secret_token:",
                "access_token:", "app_secret:", "password:"):
        assert key not in result.stdout
    assert "name: Main WhatsApp" in result.stdout and "id_instance: '1101000001'" in result.stdout


def test_export_with_secrets_includes_them(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    result = cli("export", "acme", "--include-secrets")
    assert result.exit_code == 0, stderr(result)
    for name, secret in FAKE_SECRETS.items():
        if name != "password":  # only the hash is stored
            assert secret in result.stdout, name
    assert FAKE_SECRETS["password"] not in result.stdout

    out = tmp_path / "secret.yaml"
    result = cli("export", "acme", "--include-secrets", "-o", out)
    assert result.exit_code == 0
    assert FAKE_SECRETS["api_token"] in out.read_text()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_export_of_unknown_workspace_fails(cli, db):
    result = cli("export", "nobody")
    assert result.exit_code == 1
    assert "No workspace with slug 'nobody'" in stderr(result)


def test_round_trip_without_secrets_is_identical(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    first = cli("export", "acme", "-o", tmp_path / "first.yaml")
    assert first.exit_code == 0
    exported = (tmp_path / "first.yaml").read_text()
    before = stamps(db)

    again = cli("import", tmp_path / "first.yaml")
    assert again.exit_code == 0, stderr(again)
    assert "Nothing to change" in again.stdout
    assert stamps(db) == before
    assert channel(db, "Main WhatsApp").api_token == FAKE_SECRETS["api_token"]
    assert cli("export", "acme").stdout == exported


def test_round_trip_with_secrets_into_an_empty_database(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    # Rows a screen would add too: a second route, a disabled channel, notes, a webchat.
    ws = acme(db)
    provider = db.session.query(Provider).one()
    web = Channel(workspace_id=ws.id, name="Site chat", kind="webchat", notes="Line one\nTwo")
    db.session.add_all([web, ProviderRoute(workspace_id=ws.id, provider=provider,
                                           channel=channel(db, "Support bot"),
                                           chat_id="-1001234567890", actions="refill",
                                           template="{external_id} {action} x{quantity}")])
    channel(db, "Cloud number").enabled = False
    db.session.commit()
    first = cli("export", "acme", "--include-secrets")
    assert first.exit_code == 0
    assert "routes:" in first.stdout and "enabled: false" in first.stdout

    wipe(db)
    db.session.add(new_pro_plan())
    db.session.commit()
    path = write(tmp_path, first.stdout, "backup.yaml")
    imported = cli("import", path)
    assert imported.exit_code == 0, stderr(imported)
    assert "acme-manager: " in imported.stdout  # no password in an export: one is generated

    assert cli("export", "acme", "--include-secrets").stdout == first.stdout
    assert cli("import", path).stdout.count(" 0 created, 0 updated") == len(
        [line for line in imported.stdout.splitlines() if " created, " in line])


def test_export_is_stable_and_in_file_order(cli, db, pro_plan):
    assert cli("import", SAMPLE).exit_code == 0
    text = cli("export", "acme").stdout
    assert text == cli("export", "acme").stdout
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys == ["workspace", "panel", "channels", "providers", "linked_users",
                    "admin_identities", "members", "settings", "aliases"]
    assert text.index("Main WhatsApp") < text.index("Support bot") < text.index("Cloud number")
    assert "refill: 24h" in text and "speed: 12h" in text
    assert "speed: [speedup, speed up, hizlandir]" in text


# --- invalid files: rejected whole, line-precise, nothing written ---------------------------

def _bad(old: str, new: str) -> str:
    assert old in SAMPLE_TEXT, old
    return SAMPLE_TEXT.replace(old, new, 1)


INVALID = {
    "yaml syntax": (
        _bad("  service_rules: names ", "  service_rules: names: cached "),
        "service_rules: names: cached", "",
        "YAML syntax error: mapping values are not allowed here"),
    "unknown kind": (
        _bad("kind: telegram,", "kind: telegramm,"),
        "kind: telegramm", "channels[1].kind",
        "Must be one of: greenapi, meta, telegram, webchat."),
    "missing required field": (
        _bad("{name: Cloud number, kind: meta,", "{kind: meta,"),
        "{kind: meta,", "channels[2].name", "Missing data for required field."),
    "duplicate channel name": (
        _bad("name: Cloud number", "name: Support bot"),
        "kind: meta", "channels[2].name", "Duplicate channel name 'Support bot'."),
    "route to unknown channel": (
        _bad("route: {channel: Main WhatsApp", "route: {channel: Main Whatsapp"),
        "route: {channel", "providers[0].route.channel",
        "No channel named 'Main Whatsapp' in this file or in the workspace. "
        "Did you mean 'Main WhatsApp'?"),
    "identity on unknown channel": (
        _bad("{channel: Support bot, chat_id: \"123456789\"}",
             "{channel: Support robot, chat_id: \"123456789\"}"),
        "Support robot", "linked_users[0].identities[1].channel", "No channel named"),
    "bad duration": (
        _bad("refill: 24h", "refill: 24x"),
        "refill: 24x", "settings.cooldowns.refill", "Not a valid duration"),
    "key given twice": (
        _bad("  max_ids_per_message: 100", "  max_ids_per_message: 100\n  max_ids_per_message: 5"),
        "max_ids_per_message: 5", "settings.max_ids_per_message", "Key given twice"),
    "new channel without its secret": (
        _bad(' access_token: "FAKE-meta-access-token-0000",', ""),
        "kind: meta", "channels[2].access_token",
        "Missing data for required field (a new meta channel needs it"),
    "weak member password": (
        _bad('password: "FAKE-password-change-me"', 'password: "password123"'),
        'password: "password123"', "members[0].password",
        "This password is too common: choose one that others are unlikely to use."),
    "member password with the username": (
        _bad('password: "FAKE-password-change-me"', 'password: "Acme-Manager-2024"'),
        'password: "Acme-Manager-2024"', "members[0].password",
        "The password may not contain the username."),
    "format spec in a route template": (
        _bad('template: "{external_id} {action}"', 'template: "{external_id:_>40000} {action}"'),
        "template:", "providers[0].route.template",
        "Not allowed: {external_id:_>40000}. Formatting after a colon is not supported."),
    "unknown placeholder in a route template": (
        _bad('template: "{external_id} {action}"', 'template: "{external} {action} {nonsense"'),
        "template:", "providers[0].route.template",
        "Unknown placeholder {external}: use {external_id}, {action}"),
    "field of another kind": (
        _bad('secret_token: "FAKE-telegram-secret-token"',
             'secret_token: "FAKE-telegram-secret-token", waba_id: "1"'),
        'waba_id: "1"', "channels[1].waba_id", "Not a field of telegram channels"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_file_is_rejected_whole_with_its_line(cli, db, pro_plan, tmp_path, case):
    text, marker, path, message = INVALID[case]
    empty = row_counts(db)

    result = cli("import", write(tmp_path, text))

    assert result.exit_code == 1
    errors = stderr(result)
    prefix = f"{tmp_path / 'acme.yaml'}:{line_of(text, marker)}: "
    expected = prefix + (f"{path}: " if path else "")
    assert any(line.startswith(expected) and message in line for line in errors.splitlines()), \
        f"expected {expected!r}…{message!r} in:\n{errors}"
    assert "nothing was written" in errors
    assert row_counts(db) == empty
    for secret in FAKE_SECRETS.values():
        assert secret not in errors + result.stdout


def test_unknown_plan_is_an_error_on_its_line(cli, db, tmp_path):
    result = cli("import", SAMPLE)
    assert result.exit_code == 1
    assert f"{SAMPLE}:5: workspace.plan: No plan with code 'pro'." in stderr(result)
    assert row_counts(db)["workspace"] == 0


def test_every_problem_is_reported_at_once(cli, db, pro_plan, tmp_path):
    text = _bad("kind: telegram,", "kind: telegramm,").replace("refill: 24h", "refill: soon")
    result = cli("import", write(tmp_path, text))
    errors = stderr(result)
    assert "channels[1].kind" in errors and "settings.cooldowns.refill" in errors
    assert "2 problems found; nothing was written." in errors


def test_invalid_update_leaves_the_existing_workspace_untouched(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    counts, before = row_counts(db), stamps(db)
    text = (SAMPLE_TEXT.replace("name: Acme SMM", "name: Renamed")
            .replace("{username: alice", "{username: carol")
            .replace("route: {channel: Main WhatsApp", "route: {channel: Nowhere"))

    result = cli("import", write(tmp_path, text))

    assert result.exit_code == 1
    assert "providers[0].route.channel: No channel named 'Nowhere'" in stderr(result)
    assert acme(db).name == "Acme SMM"
    assert row_counts(db) == counts and stamps(db) == before


def test_failure_while_writing_rolls_everything_back(cli, db, pro_plan, monkeypatch):
    from app.workspace_file import importer

    def refuse(self):
        raise sa.exc.IntegrityError("INSERT …", {}, Exception("duplicate key value"))

    monkeypatch.setattr(importer.Upsert, "_aliases", refuse)
    empty = row_counts(db)
    result = cli("import", SAMPLE)
    assert result.exit_code == 1
    assert "The database refused the import (duplicate key value)" in stderr(result)
    assert row_counts(db) == empty


def test_login_of_another_workspace_is_refused(cli, db, pro_plan, factory, tmp_path):
    other = factory.workspace("other")
    factory.member(other, "acme-manager", "manager")
    result = cli("import", SAMPLE)
    assert result.exit_code == 1
    line = line_of(SAMPLE_TEXT, "username: acme-manager")
    assert (f"{SAMPLE}:{line}: members[0].username: The login 'acme-manager' already belongs "
            "to another workspace.") in stderr(result)
    assert db.session.query(Workspace).filter_by(slug="acme").count() == 0


def test_channel_id_of_another_workspace_is_refused(cli, db, pro_plan, factory):
    other = factory.workspace("other")
    factory.channel(other, name="Theirs", kind="greenapi", id_instance="1101000001")
    result = cli("import", SAMPLE)
    assert result.exit_code == 1
    assert ("channels[0].id_instance: This instance id is already used by another "
            "channel.") in stderr(result)


def test_kind_of_existing_channel_cannot_change(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = ("workspace: {slug: acme, name: Acme SMM}\n"
            "channels:\n  - {name: Support bot, kind: webchat}\n")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 1
    assert ":3: channels[0].kind: Channel 'Support bot' exists as a telegram channel" \
        in stderr(result)


def test_route_may_name_a_channel_already_in_the_workspace(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    text = ("workspace: {slug: acme, name: Acme SMM}\n"
            "providers:\n"
            "  - name: fastsmm\n"
            "    route: {channel: Support bot, chat_id: '-1009999', actions: [refill]}\n")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 0, stderr(result)
    route = db.session.query(ProviderRoute).join(Provider).filter(Provider.name == "fastsmm").one()
    assert (route.channel.name, route.chat_id, route.action_list) == (
        "Support bot", "-1009999", ["refill"])


def test_new_real_panel_needs_its_key(cli, db, tmp_path):
    text = ("workspace: {slug: keyless, name: Keyless}\n"
            "panel:\n  type: rentalpanel_v1\n  url: https://panel.example\n")
    result = cli("import", write(tmp_path, text))
    assert result.exit_code == 1
    assert (":2: panel.api_key: Missing data for required field (a rentalpanel_v1 panel needs "
            "its admin API key; exports leave secrets out unless --include-secrets).") \
        in stderr(result)
    assert row_counts(db)["workspace"] == 0


def test_email_of_another_login_is_refused(cli, db, pro_plan, factory):
    factory.user("someone-else", "WorkspaceAgent", email="manager@acme.example")
    result = cli("import", SAMPLE)
    assert result.exit_code == 1
    assert "members[0].email: This email is already used by another login." in stderr(result)
    assert row_counts(db)["workspace"] == 0


def test_dry_run_of_an_invalid_file_fails_the_same_way(cli, db, pro_plan, tmp_path):
    result = cli("import", write(tmp_path, _bad("refill: 24h", "refill: 24x")), "--dry-run")
    assert result.exit_code == 1
    assert "settings.cooldowns.refill: Not a valid duration" in stderr(result)


def test_paused_reply_switch_is_written_only_when_off_and_read_back(cli, db, pro_plan, tmp_path):
    assert cli("import", SAMPLE).exit_code == 0
    assert "paused_reply_enabled" not in cli("export", "acme").stdout  # on: the default
    text = SAMPLE.read_text().replace("settings:\n", "settings:\n  paused_reply_enabled: false\n",
                                      1)
    assert cli("import", write(tmp_path, text)).exit_code == 0
    settings = db.session.query(WorkspaceSettings).filter_by(workspace_id=acme(db).id).one()
    assert settings.paused_reply_enabled is False
    exported = cli("export", "acme").stdout
    assert "paused_reply_enabled: false" in exported
    assert cli("import", write(tmp_path, exported, "again.yaml")).stdout.count("Nothing to change")
