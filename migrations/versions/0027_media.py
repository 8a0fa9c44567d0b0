"""media: attachments received and sent (images, documents, audio, video, stickers,
locations, contacts)

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-04 13:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0027'
down_revision = '0025'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _code(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade():
    op.create_table(
        'media',
        sa.Column('id', BigId, nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('platform', _code(('greenapi', 'meta', 'telegram'), 'media_platform'),
                  nullable=False),
        sa.Column('chat_id', sa.String(length=160), nullable=False),
        sa.Column('direction', _code(('in', 'out'), 'media_direction'), nullable=False),
        sa.Column('kind', _code(('image', 'video', 'audio', 'voice', 'document', 'sticker',
                                 'location', 'contact'), 'media_kind'), nullable=False),
        sa.Column('state', _code(('pending', 'stored', 'failed', 'too_large', 'refused'),
                                 'media_state'), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('mime_type', sa.String(length=120), nullable=True),
        sa.Column('declared_mime_type', sa.String(length=120), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('file_name', sa.String(length=255), nullable=True),
        sa.Column('caption', sa.Text(), nullable=True),
        sa.Column('storage_key', sa.String(length=80), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('latitude', sa.Float(), nullable=True),
        sa.Column('longitude', sa.Float(), nullable=True),
        sa.Column('place_name', sa.String(length=255), nullable=True),
        sa.Column('address', sa.String(length=500), nullable=True),
        sa.Column('contact_name', sa.String(length=255), nullable=True),
        sa.Column('contact_phone', sa.String(length=40), nullable=True),
        sa.Column('inbound_event_id', BigId, nullable=True),
        sa.Column('outbound_message_id', BigId, nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('stored_at', sa.DateTime(), nullable=True),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['inbound_event_id'], ['inbound_event.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['outbound_message_id'], ['outbound_message.id'],
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('inbound_event_id', 'position', name='uq_media_event_position'),
    )
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index('ix_media_workspace_id_id', ['workspace_id', 'id'], unique=False)
        batch_op.create_index('ix_media_chat', ['workspace_id', 'channel_id', 'chat_id', 'id'],
                              unique=False)
        batch_op.create_index('ix_media_state', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_workspace_id'), ['workspace_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_media_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_storage_key'), ['storage_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_inbound_event_id'), ['inbound_event_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_media_outbound_message_id'),
                              ['outbound_message_id'], unique=False)


def downgrade():
    op.drop_table('media')
