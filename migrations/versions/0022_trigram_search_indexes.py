"""log lists: trigram (pg_trgm) indexes for the "contains" filters

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 09:45:00

FAB's "Contains" filter is `ILIKE '%word%'`: no B-tree answers it, so a search of a chat id,
an order id or a message text read every row of the workspace (about 350 ms at a million
rows a table across 50 workspaces, bench/logs.py). A GIN `gin_trgm_ops` index answers it from
the index (a few ms). The columns: `TRIGRAM_COLUMNS` below.

PostgreSQL only, and only where the `pg_trgm` extension can be created: the extension is
created inside a savepoint; when that fails (a managed database without it, or a role without
the right), the indexes are skipped with a log line and the migration goes on: the filters
work without them, slower. SQLite: skipped.
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')
EXTENSION = 'pg_trgm'

# {table: (column, …)}: the text columns the log lists filter with "contains". The indexes are
# named ix_<table>_<column>_trgm: the `_trgm` suffix keeps them out of the model comparison
# (app/models/search_indexes.py).
TRIGRAM_COLUMNS = {
    'command_log': ('chat_id', 'order_ids', 'text'),
    'outbound_message': ('chat_id', 'text'),
    'inbound_event': ('chat_id',),
    'linked_user': ('username',),
}


def trigram_index_name(table: str, column: str) -> str:
    return f'ix_{table}_{column}_trgm'


def _trigram_available(bind) -> bool:
    """Create pg_trgm if it is missing, inside a savepoint (a refusal must not abort the
    migration's transaction); False when it cannot be had."""
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text(f'CREATE EXTENSION IF NOT EXISTS {EXTENSION}'))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning('%s is not available (%s): the trigram indexes of the "contains" '
                    'filters are skipped; those filters work, only slower on big tables',
                    EXTENSION, str(getattr(exc, 'orig', exc)).strip().splitlines()[0])
        return False
    savepoint.commit()
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    if not _trigram_available(bind):
        return
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.execute(f'CREATE INDEX IF NOT EXISTS {trigram_index_name(table, column)} '
                       f'ON {table} USING gin ({column} gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.execute(f'DROP INDEX IF EXISTS {trigram_index_name(table, column)}')
    # the extension stays: other objects may use it, and dropping it needs the same right
