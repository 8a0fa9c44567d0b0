"""log lists: a (workspace_id, id) index on every log table

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 06:30:00

Every log list (and its CSV export) reads one workspace's rows newest first
(`WHERE workspace_id = ? ORDER BY id DESC LIMIT 25`); with these indexes PostgreSQL walks the
workspace's newest rows instead of sorting all of them (bench/logs.py measures it at a
million rows a table across 50 workspaces).
"""
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TABLES = ('command_log', 'command_order', 'inbound_event', 'outbound_message',
          'external_call', 'ticket_activity')


def upgrade():
    for table in TABLES:
        op.create_index(f'ix_{table}_workspace_id_id', table, ['workspace_id', 'id'])


def downgrade():
    for table in TABLES:
        op.drop_index(f'ix_{table}_workspace_id_id', table_name=table)
