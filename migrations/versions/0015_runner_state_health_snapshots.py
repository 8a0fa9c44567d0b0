"""runners: each workspace runner's state, and hourly health snapshots

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 02:10:00

* `runner_state`: one row per (workspace, runner): enabled or why not, last run, duration,
  outcome, last error, failing since, summary, next run, a queue lease, counters.
* `health_snapshot`: one row per (workspace, hour): events, commands, messages and panel calls
  of the period, and the backlog when it was taken.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    op.create_table(
        'runner_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('runner', _enum(('tickets', 'broadcasts', 'services', 'maintenance'),
                                  'runner_name'), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.String(length=300), nullable=True),
        sa.Column('last_run_at', sa.DateTime(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
        sa.Column('outcome', _enum(('ok', 'failed', 'skipped'), 'runner_outcome'),
                  nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('failing_since', sa.DateTime(), nullable=True),
        sa.Column('summary', sa.JSON(), nullable=True),
        sa.Column('next_run_at', sa.DateTime(), nullable=True),
        sa.Column('queued_until', sa.DateTime(), nullable=True),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'runner', name='uq_runner_state'),
    )
    op.create_index('ix_runner_state_workspace_id', 'runner_state', ['workspace_id'])
    op.create_index('ix_runner_state_next', 'runner_state', ['next_run_at'])
    op.create_table(
        'health_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period_start', sa.DateTime(), nullable=False),
        sa.Column('period_end', sa.DateTime(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False)
          for name in ('events_received', 'events_failed', 'commands', 'commands_dispatched',
                       'messages_sent', 'messages_failed', 'panel_calls', 'panel_errors',
                       'backlog')),
        sa.Column('taken_at', sa.DateTime(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'period_start', name='uq_health_snapshot_period'),
    )
    op.create_index('ix_health_snapshot_workspace_id', 'health_snapshot', ['workspace_id'])


def downgrade():
    op.drop_table('health_snapshot')
    op.drop_table('runner_state')
