"""platform support queue: a workspace's tickets to the platform team and their messages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 21:00:00

* `support_ticket`: subject, category, status (open, answered, closed), priority, who opened
  it, when the last public message was written and whether the platform wrote it.
* `support_message`: a ticket's messages (the customer's, the platform's replies and the
  platform's internal notes), with the author's name as it was when written.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    op.create_table(
        'support_ticket',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('category', _enum(('billing', 'technical', 'account', 'other'),
                                    'support_category'), nullable=False),
        sa.Column('status', _enum(('open', 'answered', 'closed'), 'support_status'),
                  nullable=False),
        sa.Column('priority', _enum(('normal', 'high'), 'support_priority'), nullable=False),
        sa.Column('opened_by_id', sa.Integer(), nullable=True),
        sa.Column('last_reply_at', sa.DateTime(), nullable=False),
        sa.Column('last_reply_by_platform', sa.Boolean(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['opened_by_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    for column in ('status', 'last_reply_at', 'workspace_id'):
        op.create_index(f'ix_support_ticket_{column}', 'support_ticket', [column])
    op.create_table(
        'support_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('author_label', sa.String(length=200), nullable=False),
        sa.Column('from_platform', sa.Boolean(), nullable=False),
        sa.Column('internal', sa.Boolean(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['support_ticket.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    for column in ('ticket_id', 'workspace_id'):
        op.create_index(f'ix_support_message_{column}', 'support_message', [column])


def downgrade():
    for column in ('ticket_id', 'workspace_id'):
        op.drop_index(f'ix_support_message_{column}', table_name='support_message')
    op.drop_table('support_message')
    for column in ('status', 'last_reply_at', 'workspace_id'):
        op.drop_index(f'ix_support_ticket_{column}', table_name='support_ticket')
    op.drop_table('support_ticket')
