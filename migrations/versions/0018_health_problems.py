"""health: the problems the health runner opened and cleared; the `health` runner

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 06:30:00

* `health_problem`: one row per problem occurrence (open while `cleared_at` is NULL; one open
  row per workspace, code and subject: a partial UNIQUE index).
* `runner_state.runner` accepts `health`.
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

RUNNERS = ('tickets', 'broadcasts', 'services', 'maintenance')


def _replace_check(table: str, column: str, name: str, old: tuple, new: tuple) -> None:
    """The CHECK constraint of a non-native Enum column, from `old` values to `new`."""
    if op.get_bind().dialect.name == 'sqlite':  # no ALTER of constraints: batch recreates
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_nullable=False,
                existing_type=sa.Enum(*old, name=name, native_enum=False,
                                      create_constraint=True),
                type_=sa.Enum(*new, name=name, native_enum=False, create_constraint=True))
        return
    op.drop_constraint(name, table, type_='check')
    values = ', '.join(f"'{value}'" for value in new)
    op.create_check_constraint(name, table, f'{column} IN ({values})')


def upgrade():
    op.create_table(
        'health_problem',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=40), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('subject_key', sa.String(length=80), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('link', sa.String(length=300), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('cleared_at', sa.DateTime(), nullable=True),
        sa.Column('opened_mailed', sa.Integer(), nullable=False),
        sa.Column('cleared_mailed', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_health_problem_workspace_id', 'health_problem', ['workspace_id'])
    op.create_index('ix_health_problem_workspace_opened', 'health_problem',
                    ['workspace_id', 'opened_at'])
    op.create_index('uq_health_problem_open', 'health_problem',
                    ['workspace_id', 'code', 'subject_key'], unique=True,
                    postgresql_where=sa.text('cleared_at IS NULL'),
                    sqlite_where=sa.text('cleared_at IS NULL'))
    _replace_check('runner_state', 'runner', 'runner_name', RUNNERS, (*RUNNERS, 'health'))


def downgrade():
    op.execute("DELETE FROM runner_state WHERE runner = 'health'")
    _replace_check('runner_state', 'runner', 'runner_name', (*RUNNERS, 'health'), RUNNERS)
    op.drop_table('health_problem')
