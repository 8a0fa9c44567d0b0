"""broadcasts: a text to an audience of linked users, each recipient's state; opting out

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 02:30:00

* `broadcast`: name, text, audience (channel kinds, languages, tags: comma lists), when,
  status and counts.
* `broadcast_recipient`: one linked user of a broadcast, through one chat identity, its state
  and the outbound message that carries it.
* `linked_user`: `tags`, `opted_out` and `opted_out_at` (a `stop` keyword).
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    with op.batch_alter_table('linked_user') as batch:
        batch.add_column(sa.Column('tags', sa.Text(), nullable=True))
        batch.add_column(sa.Column('opted_out', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('opted_out_at', sa.DateTime(), nullable=True))
    op.create_table(
        'broadcast',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('channel_kinds', sa.Text(), nullable=True),
        sa.Column('languages', sa.Text(), nullable=True),
        sa.Column('tags', sa.Text(), nullable=True),
        sa.Column('scheduled_at', sa.DateTime(), nullable=True),
        sa.Column('status', _enum(('draft', 'scheduled', 'running', 'paused', 'done',
                                   'canceled'), 'broadcast_status'), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('sent', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('prepared_at', sa.DateTime(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_broadcast_status', 'broadcast', ['status'])
    op.create_index('ix_broadcast_workspace_id', 'broadcast', ['workspace_id'])
    op.create_table(
        'broadcast_recipient',
        sa.Column('id', BIG, nullable=False),
        sa.Column('broadcast_id', sa.Integer(), nullable=False),
        sa.Column('linked_user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(length=120), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=True),
        sa.Column('chat_id', sa.String(length=160), nullable=False),
        sa.Column('language', sa.String(length=10), nullable=False),
        sa.Column('state', _enum(('pending', 'sending', 'sent', 'failed', 'skipped'),
                                 'broadcast_recipient_state'), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=True),
        sa.Column('outbound_id', BIG, nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['linked_user_id'], ['linked_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['outbound_id'], ['outbound_message.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('broadcast_id', 'linked_user_id',
                            name='uq_broadcast_recipient_user'),
    )
    op.create_index('ix_broadcast_recipient_state', 'broadcast_recipient',
                    ['broadcast_id', 'state', 'id'])
    for column in ('linked_user_id', 'outbound_id', 'workspace_id'):
        op.create_index(f'ix_broadcast_recipient_{column}', 'broadcast_recipient', [column])


def downgrade():
    op.drop_table('broadcast_recipient')
    op.drop_table('broadcast')
    with op.batch_alter_table('linked_user') as batch:
        batch.drop_column('opted_out_at')
        batch.drop_column('opted_out')
        batch.drop_column('tags')
