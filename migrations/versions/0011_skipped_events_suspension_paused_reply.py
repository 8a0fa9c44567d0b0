"""plans at run time: skipped events, the suspension's reason, the paused reply switch

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 10:00:00

* `inbound_event.state` may be `skipped`, with `skip_reason` `plan` (the workspace's plan does
  not include the channel's medium) or `suspended` (the workspace is suspended): stored, never
  processed, never retried (app/jobs/events.py).
* `workspace.suspended_reason`: why the workspace is suspended, shown to its members.
* `workspace_settings.paused_reply_enabled` (default on): while the workspace is suspended,
  customers who write get the `service_paused` reply (at most one per chat an hour).
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

EVENT_STATES = ('pending', 'queued', 'processing', 'done', 'failed', 'ignored')


def _replace_check(table: str, column: str, name: str, old: tuple, new: tuple) -> None:
    """The CHECK constraint of a non-native Enum column, from `old` values to `new` (as in
    migration 0007)."""
    if op.get_bind().dialect.name == 'sqlite':  # no ALTER of constraints: batch recreates
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_nullable=False,
                existing_type=sa.Enum(*old, name=name, native_enum=False,
                                      create_constraint=True),
                type_=sa.Enum(*new, name=name, native_enum=False, create_constraint=True))
        return
    op.drop_constraint(name, table, type_='check')
    values = ', '.join(f"'{value}'" for value in new)
    op.create_check_constraint(name, table, f'{column} IN ({values})')


def upgrade():
    _replace_check('inbound_event', 'state', 'event_state', EVENT_STATES,
                   (*EVENT_STATES, 'skipped'))
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'skip_reason', sa.Enum('plan', 'suspended', name='event_skip_reason',
                                   native_enum=False, create_constraint=True),
            nullable=True))
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suspended_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_reply_enabled', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.alter_column('paused_reply_enabled', server_default=None)


def downgrade():
    # skipped events read as ignored (neither was handled); the reasons go
    op.execute("UPDATE inbound_event SET state = 'ignored' WHERE state = 'skipped'")
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.drop_column('paused_reply_enabled')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('suspended_reason')
    with op.batch_alter_table('inbound_event', schema=None) as batch_op:
        if op.get_bind().dialect.name == 'sqlite':  # the batch copy would keep its CHECK
            batch_op.alter_column('skip_reason', existing_nullable=True, type_=sa.String(9),
                                  existing_type=sa.Enum('plan', 'suspended',
                                                        name='event_skip_reason',
                                                        native_enum=False,
                                                        create_constraint=True))
        batch_op.drop_column('skip_reason')  # on PostgreSQL its CHECK constraint goes with it
    _replace_check('inbound_event', 'state', 'event_state', (*EVENT_STATES, 'skipped'),
                   EVENT_STATES)
