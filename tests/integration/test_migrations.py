"""The schema is owned by Alembic: the migrated database must match the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

from app.models.search_indexes import is_optional_index


def test_migrations_match_models(app, db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": False, "include_object": is_optional_index})
        diff = compare_metadata(context, Model.metadata)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_migration_head_is_applied(app, db):
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.config import BASE_DIR

    config = Config()
    config.set_main_option("script_location", str(BASE_DIR / "migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert set(current) == set(heads) and len(heads) == 1


ROWS = [
    "INSERT INTO workspace (id, slug, name, language, timezone, status, config_version, "
    "created_at, updated_at) VALUES (1, 'mig', 'Mig', 'en', 'UTC', 'active', 1, "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO workspace_settings (workspace_id, cooldown_refill_seconds, "
    "cooldown_speed_seconds, cooldown_cancel_seconds, max_ids_per_message, "
    "allow_partial_refill, fallback_reply_enabled, created_at, updated_at) "
    "VALUES (1, 1, 1, 1, 1, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO channel (id, name, kind, enabled, status, created_at, updated_at, "
    "workspace_id) VALUES (1, 'c', 'greenapi', 1, 'ok', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
    "INSERT INTO inbound_event (id, channel_id, platform, kind, type, dedupe_key, is_group, "
    "from_me, from_bot, received_at, payload, state, attempts, workspace_id) VALUES (1, 1, "
    "'greenapi', 'message', 't', 'k', 0, 0, 0, CURRENT_TIMESTAMP, '{}', 'done', 1, 1)",
    "INSERT INTO command_log (workspace_id, inbound_event_id, channel_id, chat_id, text, state, "
    "trace, created_at) VALUES (1, 1, 1, 'x', 't', 'done', '[]', CURRENT_TIMESTAMP)",
    "INSERT INTO outbound_message (workspace_id, channel_id, idempotency_key, purpose, chat_id, "
    "text, parts_total, parts_sent, platform_message_ids, state, attempts, inbound_event_id, "
    "created_at) VALUES (1, 1, 'k', 'reply', 'x', 't', 1, 0, '[]', 'sent', 1, 1, "
    "CURRENT_TIMESTAMP)",
]
TABLES = ("workspace", "workspace_settings", "channel", "inbound_event", "command_log",
          "outbound_message")


def test_sqlite_migrations_keep_the_rows_of_tables_they_recreate(tmp_path):
    """On SQLite a batch operation recreates the table; with foreign keys on, dropping the old
    table would delete its rows' children (command logs) or unlink them (outbound messages).
    migrations/env.py turns them off for the run: 0011 up and down keeps every row."""
    import sqlite3

    from flask_migrate import downgrade, upgrade

    from app import create_app
    from tests.conftest import base_config

    path = tmp_path / "embedded.db"
    app = create_app(base_config(FAB_UPDATE_PERMS=False, LOG_LEVEL="WARNING",
                                 SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))

    def contents():
        with sqlite3.connect(path) as connection:
            return ({t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                     for t in TABLES},
                    connection.execute("SELECT inbound_event_id FROM outbound_message").fetchall())

    with app.app_context():
        from app.extensions import db

        upgrade(revision="0010")
        with sqlite3.connect(path) as connection:
            for statement in ROWS:
                connection.execute(statement)
        before = contents()
        assert before == ({t: 1 for t in TABLES}, [(1,)])
        upgrade()
        assert contents() == before
        assert db.session.execute(db.text("PRAGMA foreign_keys")).scalar() == 1
        downgrade(revision="0010")
        assert contents() == before
        db.session.remove()
        db.engine.dispose()
