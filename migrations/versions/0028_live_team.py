"""real time and the team: per-member notification preferences (sound, browser notification)
and the workspace's round-robin setting

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 13:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workspace_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_sound', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('notify_desktop', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('round_robin_enabled', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.drop_column('round_robin_enabled')
    with op.batch_alter_table('workspace_member', schema=None) as batch_op:
        batch_op.drop_column('notify_desktop')
        batch_op.drop_column('notify_sound')
