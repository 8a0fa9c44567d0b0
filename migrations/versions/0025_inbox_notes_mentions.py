"""the inbox: internal notes, @mentions, the bot's idle resume time, message text search

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 13:00:00
"""
import logging

import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

log = logging.getLogger('alembic.runtime.migration')
# optional (PostgreSQL with pg_trgm, as migration 0022): the inbox's search across message text
TEXT_TRGM = 'ix_inbound_event_text_trgm'


def _trigram_available(bind) -> bool:
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning('pg_trgm is not available (%s): the inbox search works, only slower',
                    str(getattr(exc, 'orig', exc)).strip().splitlines()[0])
        return False
    savepoint.commit()
    return True


def upgrade():
    op.create_table(
        'conversation_note',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('conversation_id',
                  sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('conversation_note', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_note_workspace_id', ['workspace_id'])
        batch_op.create_index('ix_conversation_note_thread',
                              ['conversation_id', 'created_at', 'id'])
    op.create_table(
        'conversation_mention',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('note_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('conversation_id',
                  sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('seen_at', sa.DateTime(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['note_id'], ['conversation_note.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('note_id', 'user_id', name='uq_conversation_mention'),
    )
    with op.batch_alter_table('conversation_mention', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_mention_workspace_id', ['workspace_id'])
        batch_op.create_index('ix_conversation_mention_user_seen',
                              ['workspace_id', 'user_id', 'seen_at'])
        batch_op.create_index('ix_conversation_mention_conversation',
                              ['conversation_id', 'user_id'])
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbox_resume_minutes', sa.Integer(), nullable=False,
                                      server_default='30'))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql' and _trigram_available(bind):
        op.execute(f'CREATE INDEX IF NOT EXISTS {TEXT_TRGM} '
                   'ON inbound_event USING gin (text gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP INDEX IF EXISTS {TEXT_TRGM}')
    with op.batch_alter_table('workspace_settings', schema=None) as batch_op:
        batch_op.drop_column('inbox_resume_minutes')
    with op.batch_alter_table('conversation_mention', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_mention_conversation')
        batch_op.drop_index('ix_conversation_mention_user_seen')
        batch_op.drop_index('ix_conversation_mention_workspace_id')
    op.drop_table('conversation_mention')
    with op.batch_alter_table('conversation_note', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_note_thread')
        batch_op.drop_index('ix_conversation_note_workspace_id')
    op.drop_table('conversation_note')
