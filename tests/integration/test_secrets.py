"""Secrets at rest (issue item 7): Fernet/MultiFernet keyed by ENCRYPTION_KEY, never rendered back.

Known secret values are planted through the screens and the REST API (and through the error paths
that log), then looked for everywhere a person or a log could see them: every page and API answer,
every log line (SQL statements and parameters included), the workspace export, and the raw
database. `flask --app run secrets rotate` is tested against apps configured with each keyring.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask_appbuilder import Model
from sqlalchemy import inspect

from app.crypto import EncryptedText, SecretDecryptError, keyring
from app.extensions import db
from app.models import Channel, PanelConnection
from tests.factories import Factory
from tests.tenancy_helpers import model_views

# Distinctive values: any occurrence anywhere is a leak.
SECRETS = {
    "green_api_token": "S3cr-green-api-token-8c1f5e20",
    "green_webhook_token": "S3cr-green-webhook-44d0a1b9",
    "telegram_bot_token": "7001234:S3cr-telegram-bot-9ab2c6d1",
    "telegram_secret_token": "S3cr-telegram-secret-b7e3f0a2",
    "meta_access_token": "S3cr-meta-access-0f62aa57",
    "meta_app_secret": "S3cr-meta-app-secret-5d19e3c8",
    "panel_api_key": "S3cr-panel-api-key-77c3e0f4",
    "refused_token": "S3cr-refused-write-1e9a7b3c",
}
SLUG = "acme"


@dataclass
class Planted:
    workspace_id: int
    manager: str
    admin: str


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.fixture
def planted(app, client, auth, caplog) -> Planted:
    """A workspace whose channels and panel got the SECRETS through the real write paths (with
    every log line captured, SQL statements and their parameters included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with app.app_context():
        factory = Factory(app)
        ws, manager = factory.populated_workspace(SLUG)
        factory.admin("root")
        result = Planted(ws.id, manager.username, "root")
        panel_id = db.session.query(PanelConnection.id).filter_by(workspace_id=ws.id).scalar()
        db.session.remove()

    auth.login(result.manager)
    # Through the screens (form posts): the add form takes the API token, the edit form the
    # webhook token (Relaydesk sets that one with "Configure webhook": it is not asked on add).
    response = client.post("/channelview/add?kind=greenapi", data={
        "name": "Main WhatsApp 2", "kind": "greenapi", "enabled": "y",
        "api_url": "https://7103.api.greenapi.com", "id_instance": "1101000009",
        "api_token": SECRETS["green_api_token"]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        green_id = db.session.query(Channel.id).filter_by(name="Main WhatsApp 2").scalar()
        db.session.remove()
    response = client.post(f"/channelview/edit/{green_id}", data={
        "name": "Main WhatsApp 2", "enabled": "y", "api_url": "https://7103.api.greenapi.com",
        "id_instance": "1101000009", "webhook_token": SECRETS["green_webhook_token"]})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    response = client.post(f"/panelconnectionview/edit/{panel_id}", data={
        "panel_type": "perfectpanel_v2", "url": "https://panel.example",
        "api_key": SECRETS["panel_api_key"], "service_rules_mode": "names",
        "requests_per_second": "5", "timeout_seconds": "15"})
    assert response.status_code == 302
    # Through the REST API.
    response = client.post("/api/v1/channel/", json={
        "name": "Support bot", "kind": "telegram", "bot_token": SECRETS["telegram_bot_token"],
        "secret_token": SECRETS["telegram_secret_token"]})
    assert response.status_code == 201, response.json
    response = client.post("/api/v1/channel/", json={
        "name": "Cloud number", "kind": "meta", "phone_number_id": "106540352242922",
        "access_token": SECRETS["meta_access_token"], "app_secret": SECRETS["meta_app_secret"]})
    assert response.status_code == 201, response.json

    with app.app_context():
        stored = {c.name: c for c in db.session.query(Channel).filter_by(workspace_id=ws.id)}
        assert stored["Main WhatsApp 2"].api_token == SECRETS["green_api_token"]
        assert stored["Main WhatsApp 2"].webhook_token == SECRETS["green_webhook_token"]
        assert stored["Support bot"].bot_token == SECRETS["telegram_bot_token"]
        assert stored["Cloud number"].app_secret == SECRETS["meta_app_secret"]
        assert db.session.get(PanelConnection, panel_id).api_key == SECRETS["panel_api_key"]
        db.session.remove()
    return result


def _secret_models() -> set[type]:
    return {m for m in (mp.class_ for mp in Model.registry.mappers)
            if any(isinstance(c.type, EncryptedText) for c in m.__table__.columns)}


def _crawl(app, client, *, skip_refused: bool, skip_bases=()) -> dict[str, str]:
    """GET what could show a secret, for every registered view and API (found at run time) over
    a model that holds secrets or points at one (its str() in lists and dropdowns): list, add
    form and `_info`; for the secret-holding models also every row's show/edit page and API
    answer. Views under `skip_bases` were crawled already. Returns {url: body}."""
    with app.app_context():
        secret_models = _secret_models()
        targets = []
        for view, kind in model_views(app):
            dm = view.datamodel
            related = {dm.get_related_model(c) for c in dm.list_properties if dm.is_relation(c)}
            if view.route_base in skip_bases or (
                    dm.obj not in secret_models and not related & secret_models):
                continue
            rows = []
            if dm.obj in secret_models:
                rows = [r[0] for r in db.session.query(inspect(dm.obj).primary_key[0])]
            targets.append((view.route_base, kind, rows))
        db.session.remove()
    assert targets
    bodies = {}
    for base, kind, rows in targets:
        if kind == "html":
            urls = [f"{base}/list/", f"{base}/add"]
            urls += [f"{base}/{page}/{pk}" for pk in rows for page in ("show", "edit")]
        else:
            urls = [f"{base}/?q=(page_size:100)",
                    f"{base}/_info?q=(keys:!(add_columns,edit_columns))"]
            urls += [f"{base}/{pk}" for pk in rows]
        for url in urls:
            response = client.get(url)
            if skip_refused and response.status_code in (403, 404, 405):
                continue
            bodies[url] = response.get_data(as_text=True)
    for url in ["/", "/api/v1/_openapi", "/swagger/v1", "/api/v1/menu/", "/account/api-keys/"]:
        bodies[url] = client.get(url).get_data(as_text=True)
    return bodies


def test_planted_secrets_appear_nowhere(app, planted, client, auth, caplog):
    seen: dict[str, str] = {}

    # Refused writes carrying a secret: they log tracebacks and flash/answer errors.
    response = client.post("/api/v1/channel/", json={
        "name": "Support bot", "kind": "telegram", "bot_token": SECRETS["refused_token"]})
    assert response.status_code == 422  # duplicate name in the workspace
    seen["POST /api/v1/channel/ (duplicate)"] = response.get_data(as_text=True)
    response = client.post("/channelview/add", data={
        "name": "Support bot", "kind": "telegram", "bot_token": SECRETS["refused_token"]},
        follow_redirects=True)
    seen["POST /channelview/add (duplicate)"] = response.get_data(as_text=True)
    response = client.post("/api/v1/channel/", json={
        "name": "Half meta", "kind": "meta", "app_secret": SECRETS["refused_token"]})
    assert response.status_code == 422  # access_token missing
    seen["POST /api/v1/channel/ (invalid)"] = response.get_data(as_text=True)
    # and one accepted write carrying a secret (refused duplicates now stop at the uniqueness
    # check, before any INSERT: this one is the control that statements are captured)
    response = client.post("/api/v1/channel/", json={
        "name": "Second number", "kind": "meta", "phone_number_id": "106540352242923",
        "access_token": SECRETS["meta_access_token"]})
    assert response.status_code == 201, response.json

    # Reading puts no secret into SQL; statement logging off keeps the crawl fast.
    caplog.set_level(logging.WARNING, logger="sqlalchemy.engine")
    as_manager = _crawl(app, client, skip_refused=True)
    seen.update({f"manager GET {u}": b for u, b in as_manager.items()})
    auth.logout()
    auth.login(planted.admin)  # the master admin's own screens (the shared ones were just seen)
    crawled = {u.split("?")[0].rsplit("/", 2)[0] for u in as_manager if "/list/" in u}
    crawled |= {u.split("?")[0].rstrip("/") for u in as_manager if u.startswith("/api/v1/")
                and "?" in u}
    seen.update({f"admin GET {u}": b for u, b in _crawl(app, client, skip_refused=False,
                                                        skip_bases=crawled).items()})
    assert any("adminchannelview/show" in url for url in seen), "the admin crawl saw no channel"
    assert any("/channelview/edit" in url for url in seen), "the manager crawl saw no channel"

    leaked_pages = {url: _leaks(body) for url, body in seen.items() if _leaks(body)}
    assert not leaked_pages, f"secrets rendered: {leaked_pages}"

    log_text = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "INSERT INTO channel" in log_text, "control: SQL statements were not captured"
    assert not _leaks(log_text), f"secrets in log lines: {_leaks(log_text)}"


def test_secrets_are_not_stored_in_plaintext(app, planted):
    with app.app_context(), db.engine.connect() as conn:
        for table in Model.metadata.sorted_tables:
            for row in conn.execute(sa.text(f'SELECT * FROM "{table.name}"')):  # noqa: S608
                text = " ".join(str(v) for v in row)
                assert not _leaks(text), f"plaintext secret in table {table.name}: {_leaks(text)}"
        tokens = conn.execute(sa.text(
            "SELECT api_token, webhook_token, bot_token, secret_token, access_token, app_secret "
            "FROM channel WHERE workspace_id = :w"), {"w": planted.workspace_id}).all()
        stored = [t for row in tokens for t in row if t is not None]
        assert len(stored) >= 6 and all(t.startswith("gAAAAA") for t in stored)  # Fernet tokens
        decrypted = {keyring.decrypt(t) for t in stored}
        assert {SECRETS["green_api_token"], SECRETS["telegram_bot_token"],
                SECRETS["meta_app_secret"]} <= decrypted


def _run_export(app, *args):
    result = app.test_cli_runner().invoke(args=["workspace", "export", SLUG, *args])
    assert "No such command" not in result.output, (
        "`flask --app run workspace export SLUG` is missing: the export part of this test "
        f"needs it (app/workspace_file/). Output: {result.output}")
    assert result.exit_code == 0, (result.output, result.exception)
    assert SLUG in result.output, "the export did not print the workspace file"
    return result.output


def test_export_leaves_secrets_out_unless_asked(app, planted, caplog):
    caplog.set_level(logging.DEBUG)
    exported = _run_export(app)
    assert "Main WhatsApp 2" in exported and "Support bot" in exported  # the rows are there
    assert not _leaks(exported), f"secrets in the export: {_leaks(exported)}"
    with_secrets = _run_export(app, "--include-secrets")
    planted_values = [v for k, v in SECRETS.items() if k != "refused_token"]
    assert all(v in with_secrets for v in planted_values), "control: --include-secrets"
    assert not _leaks(caplog.text), f"secrets in log lines of the export: {_leaks(caplog.text)}"


# --- rotation ------------------------------------------------------------------------------

def _encrypted_cells(conn) -> dict[tuple[str, str, object], str]:
    cells = {}
    for table in Model.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, EncryptedText)]
        if not columns:
            continue
        pk = list(table.primary_key.columns)[0].name
        for column in columns:
            sql = f'SELECT "{pk}", "{column.name}" FROM "{table.name}"'  # noqa: S608 - metadata
            for row_id, token in conn.execute(sa.text(sql)):
                if token is not None:
                    cells[(table.name, column.name, row_id)] = token
    return cells


def _read_channels(other_app) -> dict[int, str | None]:
    with other_app.app_context():
        try:
            return {c.id: c.api_token for c in db.session.query(Channel)}
        finally:
            db.session.remove()
            db.engine.dispose()


def test_secrets_rotate(app, planted):
    from app import create_app
    from tests.conftest import base_config

    old_key = app.config["ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    try:
        with app.app_context(), db.engine.connect() as conn:
            before = _encrypted_cells(conn)
            plaintext = {cell: keyring.decrypt(token) for cell, token in before.items()}
        assert len(before) >= 8

        result = app.test_cli_runner().invoke(args=["secrets", "rotate", "--new-key", new_key])
        assert result.exit_code == 0, (result.output, result.exception)
        assert f"Re-encrypted {len(before)} secret values." in result.output
        assert f"ENCRYPTION_KEY={new_key},{old_key}" in result.output

        with app.app_context(), db.engine.connect() as conn:
            after = _encrypted_cells(conn)
        assert after.keys() == before.keys()
        new_only, old_only = Fernet(new_key.encode()), Fernet(old_key.encode())
        for cell, token in after.items():
            assert token != before[cell], f"{cell} was not re-encrypted"
            assert new_only.decrypt(token.encode()).decode() == plaintext[cell]
            with pytest.raises(InvalidToken):
                old_only.decrypt(token.encode())

        old_app = create_app(base_config(ENCRYPTION_KEY=old_key, FAB_UPDATE_PERMS=False))
        with pytest.raises(SecretDecryptError):
            _read_channels(old_app)

        new_app = create_app(base_config(ENCRYPTION_KEY=f"{new_key},{old_key}",
                                         FAB_UPDATE_PERMS=False))
        readable = _read_channels(new_app)
        assert SECRETS["green_api_token"] in readable.values()
    finally:
        keyring.configure(old_key)  # the keyring is process-wide: give the suite its own back


def test_rotate_without_new_key_asks_and_generates_one(app, planted):
    old_key = app.config["ENCRYPTION_KEY"]
    try:
        declined = app.test_cli_runner().invoke(args=["secrets", "rotate"], input="n\n")
        assert declined.exit_code == 0  # re-encrypts with the configured keyring as it is
        assert f"ENCRYPTION_KEY={old_key}" in declined.output
        accepted = app.test_cli_runner().invoke(args=["secrets", "rotate"], input="y\n")
        assert accepted.exit_code == 0, accepted.output
        deploy = accepted.output.split("ENCRYPTION_KEY=", 1)[1].split()[0]
        generated, rest = deploy.split(",", 1)
        assert rest == old_key and generated != old_key
        with app.app_context():
            token = db.session.execute(sa.text(
                "SELECT api_token FROM channel WHERE api_token IS NOT NULL LIMIT 1")).scalar()
            assert Fernet(generated.encode()).decrypt(token.encode())
    finally:
        keyring.configure(old_key)
