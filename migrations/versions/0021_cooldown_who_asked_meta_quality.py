"""cooldown claims: who asked (channel, chat, username); a Meta number's quality rating and
its token's expiry date

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 09:40:00

The Cooldowns screen (Logs › Cooldowns) shows and filters the running cooldowns by the chat
and linked user that caused them: the claim keeps them from the command that took it. Rows
taken before this migration have none (shown as unknown).

A Meta channel keeps the quality rating Meta gives its number (GREEN, YELLOW, RED, UNKNOWN)
and when the health runner read it, and the date its access token expires, when the manager
recorded one (blank: a system user's token, which never expires).
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cooldown_claim', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('chat_id', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('username', sa.String(length=120), nullable=True))
        batch_op.create_foreign_key('fk_cooldown_claim_channel_id', 'channel', ['channel_id'],
                                    ['id'], ondelete='SET NULL')


    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quality_rating', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('quality_checked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('token_expires_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.drop_column('token_expires_on')
        batch_op.drop_column('quality_checked_at')
        batch_op.drop_column('quality_rating')
    with op.batch_alter_table('cooldown_claim', schema=None) as batch_op:
        batch_op.drop_constraint('fk_cooldown_claim_channel_id', type_='foreignkey')
        batch_op.drop_column('username')
        batch_op.drop_column('chat_id')
        batch_op.drop_column('channel_id')
