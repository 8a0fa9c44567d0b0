"""conversations: one row per chat, filled from the messages stored so far; thread indexes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 09:30:00

* `conversation`: one row per (workspace, channel, chat id) with its kind (customer, group,
  provider), linked user, contact name, first and last activity, the last message's preview
  and direction, and the inbound and outbound message counts (app/models/conversations.py).
* A chat's thread reads its messages by (workspace_id, channel_id, chat_id, time, id):
  an index of that shape on inbound_event, outbound_message and command_log.
* `backfill(bind)`: two set-based statements fill the table from the inbound messages and the
  outbound messages (dispatches excepted) already stored; the tests run this very function.
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

THREAD_INDEXES = (('inbound_event', 'received_at'), ('outbound_message', 'created_at'),
                  ('command_log', 'created_at'))

# Every chat that has messages, its counts and times (an INSERT … SELECT … GROUP BY over the
# two message tables); the kind from the provider routes and the group flag, the linked user
# from the chat identity. Portable SQL (PostgreSQL and SQLite).
BACKFILL_ROWS = """
INSERT INTO conversation (workspace_id, channel_id, chat_id, kind, linked_user_id, contact_name,
                          first_seen_at, last_activity_at, last_inbound_at, last_direction,
                          preview, inbound_count, outbound_count)
SELECT g.workspace_id, g.channel_id, g.chat_id,
       CASE WHEN EXISTS (SELECT 1 FROM provider_route r
                         WHERE r.channel_id = g.channel_id AND r.chat_id = g.chat_id)
            THEN 'provider' WHEN g.group_messages > 0 THEN 'group' ELSE 'customer' END,
       (SELECT ci.linked_user_id FROM chat_identity ci
        WHERE ci.channel_id = g.channel_id AND ci.chat_id = g.chat_id),
       g.contact_name, g.first_at, g.last_at, g.last_in,
       CASE WHEN g.last_in IS NOT NULL AND g.last_in >= g.last_at THEN 'in' ELSE 'out' END,
       NULL, g.inbound, g.outbound
FROM (SELECT m.workspace_id, m.channel_id, m.chat_id,
             SUM(m.inbound) AS inbound, SUM(1 - m.inbound) AS outbound,
             MIN(m.at) AS first_at, MAX(m.at) AS last_at,
             MAX(CASE WHEN m.inbound = 1 THEN m.at END) AS last_in,
             SUM(m.grp) AS group_messages, MAX(m.name) AS contact_name
      FROM (SELECT workspace_id, channel_id, chat_id, received_at AS at, 1 AS inbound,
                   CASE WHEN is_group THEN 1 ELSE 0 END AS grp,
                   CASE WHEN is_group OR from_me THEN NULL ELSE sender_name END AS name
            FROM inbound_event WHERE kind = 'message' AND chat_id IS NOT NULL
            UNION ALL
            SELECT workspace_id, channel_id, chat_id, created_at, 0, 0, NULL
            FROM outbound_message WHERE purpose <> 'dispatch') AS m
      GROUP BY m.workspace_id, m.channel_id, m.chat_id) AS g
WHERE TRUE
ON CONFLICT (workspace_id, channel_id, chat_id) DO NOTHING
"""

# The preview: the text of the chat's newest message in the direction the row says (one
# index lookup per conversation, on the thread indexes).
BACKFILL_PREVIEWS = """
UPDATE conversation SET preview = SUBSTR(CASE WHEN last_direction = 'in'
    THEN (SELECT i.text FROM inbound_event i
          WHERE i.workspace_id = conversation.workspace_id
            AND i.channel_id = conversation.channel_id AND i.chat_id = conversation.chat_id
            AND i.kind = 'message'
          ORDER BY i.received_at DESC, i.id DESC LIMIT 1)
    ELSE (SELECT o.text FROM outbound_message o
          WHERE o.workspace_id = conversation.workspace_id
            AND o.channel_id = conversation.channel_id AND o.chat_id = conversation.chat_id
            AND o.purpose <> 'dispatch'
          ORDER BY o.created_at DESC, o.id DESC LIMIT 1) END, 1, 160)
WHERE preview IS NULL
"""


def backfill(bind) -> None:
    """Fill `conversation` from the stored messages (set-based: two statements)."""
    bind.execute(sa.text(BACKFILL_ROWS))
    bind.execute(sa.text(BACKFILL_PREVIEWS))


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    for table, at in THREAD_INDEXES:
        op.create_index(f'ix_{table}_chat_thread', table,
                        ['workspace_id', 'channel_id', 'chat_id', at, 'id'])
    op.create_table(
        'conversation',
        sa.Column('id', BIG, nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.String(length=160), nullable=False),
        sa.Column('kind', _enum(('customer', 'group', 'provider'), 'conversation_kind'),
                  nullable=False),
        sa.Column('linked_user_id', sa.Integer(), nullable=True),
        sa.Column('contact_name', sa.String(length=255), nullable=True),
        sa.Column('first_seen_at', sa.DateTime(), nullable=False),
        sa.Column('last_activity_at', sa.DateTime(), nullable=False),
        sa.Column('last_inbound_at', sa.DateTime(), nullable=True),
        sa.Column('last_direction', _enum(('in', 'out'), 'conversation_direction'),
                  nullable=False),
        sa.Column('preview', sa.String(length=160), nullable=True),
        sa.Column('inbound_count', sa.Integer(), nullable=False),
        sa.Column('outbound_count', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['linked_user_id'], ['linked_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('workspace_id', 'channel_id', 'chat_id',
                            name='uq_conversation_chat'),
    )
    op.create_index('ix_conversation_channel_id', 'conversation', ['channel_id'])
    op.create_index('ix_conversation_workspace_id', 'conversation', ['workspace_id'])
    op.create_index('ix_conversation_workspace_activity', 'conversation',
                    ['workspace_id', 'last_activity_at', 'id'])
    op.create_index('ix_conversation_workspace_kind_activity', 'conversation',
                    ['workspace_id', 'kind', 'last_activity_at', 'id'])
    op.create_index('ix_conversation_workspace_linked_user', 'conversation',
                    ['workspace_id', 'linked_user_id', 'last_activity_at'])
    backfill(op.get_bind())


def downgrade():
    op.drop_table('conversation')
    for table, _at in THREAD_INDEXES:
        op.drop_index(f'ix_{table}_chat_thread', table_name=table)
