"""quick replies: a workspace's canned answers, inserted with /shortcut

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 10:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'quick_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shortcut', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'shortcut', name='uq_quick_reply'),
    )
    with op.batch_alter_table('quick_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quick_reply_workspace_id'), ['workspace_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('quick_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quick_reply_workspace_id'))
    op.drop_table('quick_reply')
