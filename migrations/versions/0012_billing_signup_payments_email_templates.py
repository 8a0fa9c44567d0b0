"""billing: subscriptions priced and paid, invoices numbered, manual payments, payment events,
e-mail templates, pending workspaces

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:30:00

* `subscription`: one per workspace (UNIQUE); the price agreed (`interval`, `amount_cents`,
  `currency`), how it is paid (`payment_method`), `cancel_at_period_end`, the expiry reminder
  sent (`reminder_sent_for`), the newest provider event applied (`provider_event_at`), the
  Razorpay subscription id; statuses gain `pending_approval` and `expired`.
* `invoice`: its plan, description and period, the Razorpay payment id; `payment_method` gains
  `razorpay` and `free`. `invoice_counter`: the last number given per year.
* `payment_method` (manual ways to pay, the master admin's), `payment_submission` (a customer's
  payment reference waiting for approval), `payment_event` (payment webhooks, UNIQUE per
  provider and event id), `email_template` (the master admin's e-mail texts per language).
* `workspace.status` gains `pending` (waiting for its first payment); `inbound_event.skip_reason`
  gains `pending`.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OLD_SUBSCRIPTION = ('trialing', 'pending_payment', 'active', 'past_due', 'canceled')
NEW_SUBSCRIPTION = ('trialing', 'pending_payment', 'pending_approval', 'active', 'past_due',
                    'expired', 'canceled')
OLD_METHODS = ('manual', 'stripe')
NEW_METHODS = ('manual', 'stripe', 'razorpay', 'free')
OLD_WORKSPACE = ('active', 'suspended')
NEW_WORKSPACE = ('pending', 'active', 'suspended')
OLD_SKIP = ('plan', 'suspended')
NEW_SKIP = ('plan', 'suspended', 'pending')


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _replace_enum(table: str, column: str, name: str, old: tuple, new: tuple,
                  nullable: bool = False) -> None:
    """A non-native Enum column from `old` values to `new`: its CHECK constraint and its
    VARCHAR length (the longest value)."""
    if op.get_bind().dialect.name == 'sqlite':  # no ALTER of constraints: batch recreates
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_nullable=nullable,
                                  existing_type=_enum(old, name), type_=_enum(new, name))
        return
    op.drop_constraint(name, table, type_='check')
    length = max(len(value) for value in new)
    if length != max(len(value) for value in old):
        op.alter_column(table, column, type_=sa.String(length),
                        existing_type=sa.String(max(len(value) for value in old)),
                        existing_nullable=nullable)
    values = ', '.join(f"'{value}'" for value in new)
    op.create_check_constraint(name, table, f'{column} IN ({values})')


def _timestamps():
    return [sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('updated_at', sa.DateTime(), nullable=False)]


def upgrade():
    _replace_enum('workspace', 'status', 'workspace_status', OLD_WORKSPACE, NEW_WORKSPACE)
    _replace_enum('inbound_event', 'skip_reason', 'event_skip_reason', OLD_SKIP, NEW_SKIP,
                  nullable=True)
    _replace_enum('subscription', 'status', 'subscription_status', OLD_SUBSCRIPTION,
                  NEW_SUBSCRIPTION)
    _replace_enum('invoice', 'payment_method', 'payment_method', OLD_METHODS, NEW_METHODS)

    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interval', _enum(('month', 'year'), 'billing_interval'),
                                      nullable=False, server_default='month'))
        batch_op.add_column(sa.Column('amount_cents', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=False,
                                      server_default='USD'))
        batch_op.add_column(sa.Column('payment_method', _enum(NEW_METHODS, 'payment_method'),
                                      nullable=False, server_default='manual'))
        batch_op.add_column(sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('reminder_sent_for', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('provider_event_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('razorpay_subscription_id', sa.String(length=120),
                                      nullable=True))
        batch_op.create_unique_constraint('uq_subscription_razorpay_subscription_id',
                                          ['razorpay_subscription_id'])
        batch_op.create_unique_constraint('uq_subscription_workspace', ['workspace_id'])
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        for column in ('interval', 'amount_cents', 'currency', 'payment_method',
                       'cancel_at_period_end'):
            batch_op.alter_column(column, server_default=None)

    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('description', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('period_start', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('period_end', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('razorpay_payment_id', sa.String(length=120),
                                      nullable=True))
        batch_op.create_unique_constraint('uq_invoice_razorpay_payment_id',
                                          ['razorpay_payment_id'])
        batch_op.create_foreign_key('fk_invoice_plan_id_plan', 'plan', ['plan_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_invoice_plan_id', ['plan_id'])

    op.create_table(
        'invoice_counter',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_number', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('year'),
    )
    op.create_table(
        'payment_method',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('instructions', sa.Text(), nullable=False),
        sa.Column('currencies', sa.String(length=200), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'payment_submission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('payment_method_id', sa.Integer(), nullable=True),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('interval', _enum(('month', 'year'), 'billing_interval'), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=False),
        sa.Column('customer_note', sa.Text(), nullable=True),
        sa.Column('status', _enum(('pending', 'approved', 'rejected'), 'submission_status'),
                  nullable=False),
        sa.Column('review_note', sa.Text(), nullable=True),
        sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.Column('invoice_id', sa.Integer(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['payment_method_id'], ['payment_method.id'],
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['reviewed_by_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    for column in ('subscription_id', 'payment_method_id', 'plan_id', 'status',
                   'workspace_id'):
        op.create_index(f'ix_payment_submission_{column}', 'payment_submission', [column])
    op.create_table(
        'payment_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', _enum(('stripe', 'razorpay'), 'payment_provider'),
                  nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=False),
        sa.Column('event_type', sa.String(length=120), nullable=False),
        sa.Column('created', sa.DateTime(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('processed_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=40), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'event_id', name='uq_payment_event'),
    )
    op.create_index('ix_payment_event_workspace_id', 'payment_event', ['workspace_id'])
    op.create_table(
        'email_template',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('language', sa.String(length=10), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key', 'language', name='uq_email_template'),
    )


def downgrade():
    op.drop_table('email_template')
    op.drop_index('ix_payment_event_workspace_id', table_name='payment_event')
    op.drop_table('payment_event')
    for column in ('subscription_id', 'payment_method_id', 'plan_id', 'status',
                   'workspace_id'):
        op.drop_index(f'ix_payment_submission_{column}', table_name='payment_submission')
    op.drop_table('payment_submission')
    op.drop_table('payment_method')
    op.drop_table('invoice_counter')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.execute("UPDATE invoice SET payment_method = 'manual' "
               "WHERE payment_method IN ('razorpay', 'free')")
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_plan_id')
        batch_op.drop_constraint('fk_invoice_plan_id_plan', type_='foreignkey')
        batch_op.drop_constraint('uq_invoice_razorpay_payment_id', type_='unique')
        for column in ('razorpay_payment_id', 'period_end', 'period_start', 'description',
                       'plan_id'):
            batch_op.drop_column(column)
    _replace_enum('invoice', 'payment_method', 'payment_method', NEW_METHODS, OLD_METHODS)
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_constraint('uq_subscription_workspace', type_='unique')
        batch_op.drop_constraint('uq_subscription_razorpay_subscription_id', type_='unique')
        if sqlite:  # the batch copy would keep the CHECKs of the dropped Enum columns
            batch_op.alter_column('interval', existing_nullable=False, type_=sa.String(5),
                                  existing_type=_enum(('month', 'year'), 'billing_interval'))
            batch_op.alter_column('payment_method', existing_nullable=False,
                                  type_=sa.String(8),
                                  existing_type=_enum(NEW_METHODS, 'payment_method'))
        for column in ('razorpay_subscription_id', 'provider_event_at', 'reminder_sent_for',
                       'cancel_at_period_end', 'payment_method', 'currency', 'amount_cents',
                       'interval'):
            batch_op.drop_column(column)
    op.execute("UPDATE subscription SET status = 'pending_payment' "
               "WHERE status = 'pending_approval'")
    op.execute("UPDATE subscription SET status = 'canceled' WHERE status = 'expired'")
    _replace_enum('subscription', 'status', 'subscription_status', NEW_SUBSCRIPTION,
                  OLD_SUBSCRIPTION)
    op.execute("UPDATE inbound_event SET skip_reason = 'suspended' "
               "WHERE skip_reason = 'pending'")
    _replace_enum('inbound_event', 'skip_reason', 'event_skip_reason', NEW_SKIP, OLD_SKIP,
                  nullable=True)
    op.execute("UPDATE workspace SET status = 'suspended' WHERE status = 'pending'")
    _replace_enum('workspace', 'status', 'workspace_status', NEW_WORKSPACE, OLD_WORKSPACE)
