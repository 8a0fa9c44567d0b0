"""log lists: a (workspace_id, id) index on every log table, and the filtered columns

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 06:30:00

Every log list (and its CSV export) reads one workspace's rows newest first
(`WHERE workspace_id = ? ORDER BY id DESC LIMIT 25`); with these indexes PostgreSQL walks the
workspace's newest rows instead of sorting all of them (bench/logs.py measures it at a
million rows a table across 50 workspaces). A filter by channel, outcome, state or username
counts its rows and reads its newest page from a (workspace_id, column, id) index instead
of reading every row of the workspace.
"""
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

TABLES = ('command_log', 'command_order', 'inbound_event', 'outbound_message',
          'external_call', 'ticket_activity')

FILTERED = {'command_log': ('outcome', 'channel_id', 'linked_user_id'),
            'outbound_message': ('state', 'channel_id')}


def upgrade():
    for table in TABLES:
        op.create_index(f'ix_{table}_workspace_id_id', table, ['workspace_id', 'id'])
    for table, columns in FILTERED.items():
        for column in columns:
            op.create_index(f'ix_{table}_workspace_{column}', table,
                            ['workspace_id', column, 'id'])


def downgrade():
    for table, columns in FILTERED.items():
        for column in columns:
            op.drop_index(f'ix_{table}_workspace_{column}', table_name=table)
    for table in TABLES:
        op.drop_index(f'ix_{table}_workspace_id_id', table_name=table)
