"""panel tickets: subject rules, ticket activity, the ticket settings

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 02:30:00

* `ticket_rule`: a workspace's subject rules (subject words and/or message words → action).
* `ticket_activity`: one row per customer message of a panel ticket the ticket runner read;
  UNIQUE (workspace, ticket, message key) is the claim that keeps a message answered once.
* `workspace_settings.tickets_enabled` (default off) and `ticket_poll_seconds` (default 60).
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    op.create_table(
        'ticket_rule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('subject_words', sa.Text(), nullable=True),
        sa.Column('message_words', sa.Text(), nullable=True),
        sa.Column('action', _enum(('refill', 'speed', 'cancel', 'details', 'ignore'),
                                  'ticket_rule_action'), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ticket_rule_workspace_id', 'ticket_rule', ['workspace_id'])
    op.create_index('ix_ticket_rule_workspace_position', 'ticket_rule',
                    ['workspace_id', 'position'])
    op.create_table(
        'ticket_activity',
        sa.Column('id', BIG_ID, nullable=False),
        sa.Column('ticket_id', sa.String(length=40), nullable=False),
        sa.Column('message_key', sa.String(length=80), nullable=False),
        sa.Column('username', sa.String(length=120), nullable=True),
        sa.Column('subject', sa.String(length=300), nullable=True),
        sa.Column('customer_text', sa.Text(), nullable=True),
        sa.Column('rule', sa.String(length=120), nullable=True),
        sa.Column('action', sa.String(length=20), nullable=True),
        sa.Column('order_ids', sa.Text(), nullable=True),
        sa.Column('language', sa.String(length=10), nullable=True),
        sa.Column('state', _enum(('claimed', 'replying', 'answered', 'skipped', 'failed',
                                  'reply_failed', 'reply_unknown'), 'ticket_activity_state'),
                  nullable=False),
        sa.Column('outcome', sa.String(length=60), nullable=True),
        sa.Column('reply_text', sa.Text(), nullable=True),
        sa.Column('orders', sa.JSON(), nullable=False),
        sa.Column('trace', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=False),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.Column('replied_at', sa.DateTime(), nullable=True),
        sa.Column('duration_ms', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'ticket_id', 'message_key',
                            name='uq_ticket_activity'),
    )
    op.create_index('ix_ticket_activity_workspace_id', 'ticket_activity', ['workspace_id'])
    op.create_index('ix_ticket_activity_workspace_created', 'ticket_activity',
                    ['workspace_id', 'created_at'])
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tickets_enabled', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('ticket_poll_seconds', sa.Integer(), nullable=False,
                                      server_default='60'))
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.alter_column('tickets_enabled', server_default=None)
        batch_op.alter_column('ticket_poll_seconds', server_default=None)


def downgrade():
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.drop_column('ticket_poll_seconds')
        batch_op.drop_column('tickets_enabled')
    op.drop_index('ix_ticket_activity_workspace_created', table_name='ticket_activity')
    op.drop_index('ix_ticket_activity_workspace_id', table_name='ticket_activity')
    op.drop_table('ticket_activity')
    op.drop_index('ix_ticket_rule_workspace_position', table_name='ticket_rule')
    op.drop_index('ix_ticket_rule_workspace_id', table_name='ticket_rule')
    op.drop_table('ticket_rule')
