"""The schema is owned by Alembic: the migrated database must match the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model


def test_migrations_match_models(app, db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
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
