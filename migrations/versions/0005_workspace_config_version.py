"""workspace config version

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:30:00

Workers cache each workspace's configuration and reload it when `config_version` changes
(app/jobs/workspace_config.py).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config_version', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade():
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('config_version')
