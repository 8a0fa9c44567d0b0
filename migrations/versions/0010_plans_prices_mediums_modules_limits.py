"""plans: prices per currency and interval, mediums, modules and limits

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:40:00

* `plan_price`: a plan's price per (currency, billing interval), with its Stripe price and
  Razorpay plan ids; the single price of each existing plan becomes its first row.
* `plan`: `mediums` and `modules` (comma-separated lists), the limits `max_team_members`,
  `max_broadcasts_per_month`, `log_retention_days`, `api_requests_per_minute`,
  `api_requests_per_day`; every limit may be NULL (unlimited); `sort_order`.
  `price_cents`, `currency`, `interval`, `stripe_price_id` and the unused
  `max_commands_per_month` go.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

NEW_LIMITS = ('max_team_members', 'max_broadcasts_per_month', 'log_retention_days',
              'api_requests_per_minute', 'api_requests_per_day')


def upgrade():
    op.create_table(
        'plan_price',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('interval', sa.Enum('month', 'year', name='billing_interval',
                                      native_enum=False, create_constraint=True),
                  nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('stripe_price_id', sa.String(length=120), nullable=True),
        sa.Column('razorpay_plan_id', sa.String(length=120), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('plan_id', 'currency', 'interval', name='uq_plan_price'),
    )
    op.create_index('ix_plan_price_plan_id', 'plan_price', ['plan_id'])
    op.execute(
        "INSERT INTO plan_price (plan_id, currency, interval, amount_cents, stripe_price_id, "
        "created_at, updated_at) SELECT id, currency, interval, price_cents, stripe_price_id, "
        "created_at, updated_at FROM plan")
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mediums', sa.Text(), nullable=False,
                                      server_default='greenapi,meta,telegram,webchat'))
        batch_op.add_column(sa.Column('modules', sa.Text(), nullable=False,
                                      server_default='api'))
        batch_op.add_column(sa.Column('sort_order', sa.Integer(), nullable=False,
                                      server_default='0'))
        for name in NEW_LIMITS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.alter_column('max_channels', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('max_linked_users', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_column('price_cents')
        batch_op.drop_column('currency')
        if op.get_bind().dialect.name == 'sqlite':
            # the batch copy would keep the Enum's CHECK constraint on the dropped column
            # ("no such column: interval"): a plain type first drops it
            batch_op.alter_column('interval', existing_nullable=False, type_=sa.String(5),
                                  existing_type=sa.Enum('month', 'year', name='billing_interval',
                                                        native_enum=False,
                                                        create_constraint=True))
        batch_op.drop_column('interval')
        batch_op.drop_column('stripe_price_id')
        batch_op.drop_column('max_commands_per_month')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.alter_column('mediums', server_default=None)
        batch_op.alter_column('modules', server_default=None)
        batch_op.alter_column('sort_order', server_default=None)


def downgrade():
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price_cents', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False,
                                      server_default='USD'))
        batch_op.add_column(sa.Column('interval', sa.Enum(
            'month', 'year', name='billing_interval', native_enum=False,
            create_constraint=True), nullable=False, server_default='month'))
        batch_op.add_column(sa.Column('stripe_price_id', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('max_commands_per_month', sa.Integer(), nullable=False,
                                      server_default='5000'))
    op.execute(
        "UPDATE plan SET price_cents = p.amount_cents, currency = p.currency, "
        "interval = p.interval, stripe_price_id = p.stripe_price_id FROM ("
        "SELECT DISTINCT ON (plan_id) plan_id, amount_cents, currency, interval, "
        "stripe_price_id FROM plan_price ORDER BY plan_id, id) AS p WHERE p.plan_id = plan.id"
        if op.get_bind().dialect.name == 'postgresql' else
        "UPDATE plan SET price_cents = COALESCE((SELECT amount_cents FROM plan_price "
        "WHERE plan_id = plan.id ORDER BY id LIMIT 1), 0)")
    with op.batch_alter_table('plan', schema=None) as batch_op:
        for name in ('sort_order', 'modules', 'mediums', *NEW_LIMITS):
            batch_op.drop_column(name)
        batch_op.alter_column('max_channels', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('max_linked_users', existing_type=sa.Integer(), nullable=False)
    op.drop_index('ix_plan_price_plan_id', table_name='plan_price')
    op.drop_table('plan_price')
