"""security: one owner per WABA, Meta verification, per-login auth epoch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 04:30:00

* `channel.waba_id` is unique across the platform (like the instance id, bot id and number id).
* `channel.verified_at`: a Meta channel receives events only once a Graph call with its own
  credentials confirmed the number and the WABA.
* `user_auth_state`: the epoch stamped into sessions and JWTs; raised on logout and password
  change to end the other sessions and tokens.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint('uq_channel_waba_id', ['waba_id'])
    op.create_table(
        'user_auth_state',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id'),
    )


def downgrade():
    op.drop_table('user_auth_state')
    with op.batch_alter_table('channel', schema=None) as batch_op:
        batch_op.drop_constraint('uq_channel_waba_id', type_='unique')
        batch_op.drop_column('verified_at')
