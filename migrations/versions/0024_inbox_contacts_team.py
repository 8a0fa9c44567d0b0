"""the inbox's schema: contacts (linked_user), contact groups, conversation status/assignee/
takeover, member availability

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 12:50:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

PURPOSES = ('reply', 'dispatch', 'broadcast', 'test', 'system')
# `agent`: a team member's reply from the inbox; `api`: sent through the public API
NEW_PURPOSES = PURPOSES + ('agent', 'api')


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
    # contacts: a linked user is a contact with a username (app/models/people.py)
    with op.batch_alter_table('linked_user', schema=None) as batch_op:
        batch_op.alter_column('username', existing_type=sa.String(length=120), nullable=True)
        batch_op.add_column(sa.Column('name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('custom_fields', sa.JSON(), nullable=False,
                                      server_default='{}'))
        batch_op.add_column(sa.Column(
            'source', sa.Enum('manual', 'chat', 'import', 'api', 'link', name='contact_source',
                              native_enum=False, create_constraint=True),
            nullable=False, server_default='manual'))
        batch_op.add_column(sa.Column('first_seen_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_linked_user_workspace_phone', ['workspace_id', 'phone'],
                              unique=False)
        batch_op.create_index('ix_linked_user_workspace_last_seen',
                              ['workspace_id', 'last_seen_at'], unique=False)

    op.create_table(
        'contact_group',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'name', name='uq_contact_group_name'),
    )
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_group_workspace_id'), ['workspace_id'],
                              unique=False)
    op.create_table(
        'contact_group_member',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['linked_user.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['group_id'], ['contact_group.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contact_id', 'group_id'),
    )
    with op.batch_alter_table('contact_group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_group_member_group_id'), ['group_id'],
                              unique=False)

    # the inbox: status, assignee, unread, human takeover, the figures' timestamps
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'status', sa.Enum('open', 'pending', 'resolved', name='conversation_status',
                              native_enum=False, create_constraint=True),
            nullable=False, server_default='open'))
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('unread_count', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('bot_paused_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('bot_paused_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_agent_reply_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('opened_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_response_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key('fk_conversation_assignee_id_ab_user', 'ab_user',
                                    ['assignee_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_conversation_bot_paused_by_id_ab_user', 'ab_user',
                                    ['bot_paused_by_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_conversation_workspace_status_activity',
                              ['workspace_id', 'status', 'last_activity_at', 'id'], unique=False)
        batch_op.create_index('ix_conversation_workspace_assignee_status',
                              ['workspace_id', 'assignee_id', 'status', 'last_activity_at'],
                              unique=False)

    _replace_check('outbound_message', 'purpose', 'outbound_purpose', PURPOSES, NEW_PURPOSES)

    # the team: availability and the round-robin's memory
    with op.batch_alter_table('workspace_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'availability', sa.Enum('online', 'away', name='member_availability',
                                    native_enum=False, create_constraint=True),
            nullable=False, server_default='away'))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_assigned_at', sa.DateTime(), nullable=True))


def downgrade():
    op.execute("DELETE FROM outbound_message WHERE purpose IN ('agent', 'api')")
    _replace_check('outbound_message', 'purpose', 'outbound_purpose', NEW_PURPOSES, PURPOSES)
    # an enum's CHECK goes before its column (SQLite's batch copy would keep it otherwise)
    with op.batch_alter_table('workspace_member', schema=None) as batch_op:
        batch_op.drop_constraint('member_availability', type_='check')
        batch_op.drop_column('last_assigned_at')
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('availability')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_workspace_assignee_status')
        batch_op.drop_index('ix_conversation_workspace_status_activity')
        batch_op.drop_constraint('fk_conversation_bot_paused_by_id_ab_user', type_='foreignkey')
        batch_op.drop_constraint('fk_conversation_assignee_id_ab_user', type_='foreignkey')
        batch_op.drop_constraint('conversation_status', type_='check')
        for column in ('resolved_at', 'first_response_at', 'opened_at', 'last_agent_reply_at',
                       'bot_paused_by_id', 'bot_paused_at', 'unread_count', 'assignee_id',
                       'status'):
            batch_op.drop_column(column)
    with op.batch_alter_table('contact_group_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_group_member_group_id'))
    op.drop_table('contact_group_member')
    with op.batch_alter_table('contact_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_group_workspace_id'))
    op.drop_table('contact_group')
    # contacts without a username cannot go back to a table that needs one
    op.execute("DELETE FROM linked_user WHERE username IS NULL")
    with op.batch_alter_table('linked_user', schema=None) as batch_op:
        batch_op.drop_index('ix_linked_user_workspace_last_seen')
        batch_op.drop_index('ix_linked_user_workspace_phone')
        batch_op.drop_constraint('contact_source', type_='check')
        for column in ('last_seen_at', 'first_seen_at', 'source', 'custom_fields', 'email',
                       'phone', 'name'):
            batch_op.drop_column(column)
        batch_op.alter_column('username', existing_type=sa.String(length=120), nullable=False)
