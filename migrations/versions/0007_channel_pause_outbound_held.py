"""channel edge cases: a paused channel holds its outbound messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 09:00:00

* `channel.status` may be `paused`: a Green API instance reported notAuthorized, blocked or
  sleepMode; sending through it waits until it reports authorized again.
* `outbound_message.state` may be `held`: a message waiting for its paused channel (not failed,
  not retried; released when the channel is authorized again).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CHANNEL_STATUSES = ('unknown', 'ok', 'error', 'needs_reauth', 'disabled')
OUTBOUND_STATES = ('pending', 'sending', 'retrying', 'sent', 'failed')


def _replace_check(table: str, column: str, name: str, old: tuple, new: tuple) -> None:
    """The CHECK constraint of a non-native Enum column, from `old` values to `new`."""
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
    _replace_check('channel', 'status', 'channel_status', CHANNEL_STATUSES,
                   (*CHANNEL_STATUSES, 'paused'))
    _replace_check('outbound_message', 'state', 'outbound_state', OUTBOUND_STATES,
                   (*OUTBOUND_STATES, 'held'))


def downgrade():
    # held messages go back to waiting; paused channels to an error with their detail
    op.execute("UPDATE outbound_message SET state = 'pending' WHERE state = 'held'")
    op.execute("UPDATE channel SET status = 'error' WHERE status = 'paused'")
    _replace_check('outbound_message', 'state', 'outbound_state', (*OUTBOUND_STATES, 'held'),
                   OUTBOUND_STATES)
    _replace_check('channel', 'status', 'channel_status', (*CHANNEL_STATUSES, 'paused'),
                   CHANNEL_STATUSES)
