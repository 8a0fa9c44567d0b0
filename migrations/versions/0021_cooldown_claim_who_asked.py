"""cooldown claims: who asked (channel, chat, username)

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-04 09:40:00

The Cooldowns screen (Logs › Cooldowns) shows and filters the running cooldowns by the chat
and linked user that caused them: the claim keeps them from the command that took it. Rows
taken before this migration have none (shown as unknown).
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cooldown_claim', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chat_id', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('username', sa.String(length=120), nullable=True))
        batch_op.create_foreign_key('fk_cooldown_claim_channel_id', 'channel', ['channel_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('cooldown_claim', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cooldown_claim_channel_id', type_='foreignkey')
        batch_op.drop_column('username')
        batch_op.drop_column('chat_id')
        batch_op.drop_column('channel_id')
