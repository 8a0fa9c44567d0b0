"""audit trail: one row per configuration change

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 21:00:00

* `audit_entry`: who (`actor_user_id`, `actor_label`, and `impersonator_*` for the master admin
  acting as a manager), when, how (`via`), what (`action`, `model`, `row_id`, `row_label`) and
  `changes` (JSON `{column: [before, after]}`). No foreign keys: the trail outlives the rows,
  logins and workspaces it describes. Indexed for a workspace's trail and the whole trail,
  newest first.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('actor_user_id', sa.Integer(), nullable=True),
        sa.Column('actor_label', sa.String(length=200), nullable=True),
        sa.Column('via', sa.String(length=20), nullable=False),
        sa.Column('impersonator_user_id', sa.Integer(), nullable=True),
        sa.Column('impersonator_label', sa.String(length=200), nullable=True),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('model', sa.String(length=60), nullable=False),
        sa.Column('row_id', sa.Integer(), nullable=True),
        sa.Column('row_label', sa.String(length=200), nullable=True),
        sa.Column('changes', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_entry_workspace_created', 'audit_entry',
                    ['workspace_id', 'created_at'])
    op.create_index('ix_audit_entry_created_at', 'audit_entry', ['created_at'])


def downgrade():
    op.drop_index('ix_audit_entry_created_at', table_name='audit_entry')
    op.drop_index('ix_audit_entry_workspace_created', table_name='audit_entry')
    op.drop_table('audit_entry')
