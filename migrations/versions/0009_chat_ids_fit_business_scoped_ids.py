"""chat ids fit WhatsApp business-scoped user ids

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:20:00

A Meta business-scoped user id is a country code, a period and up to 128 letters and digits,
with `ENT.` after the country for a parent id: up to 135 characters, more than the 120 every
chat id column held (a manager could type one the form accepted and the database refused).
Every chat id column, and the inbound event's sender, becomes `CHAT_ID_LENGTH` (160) long.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

COLUMNS = (('provider_route', 'chat_id', False), ('command_log', 'chat_id', False),
           ('link_code', 'chat_id', False), ('chat_identity', 'chat_id', False),
           ('admin_identity', 'chat_id', False), ('outbound_message', 'chat_id', False),
           ('inbound_event', 'chat_id', True), ('inbound_event', 'sender', True),
           ('detected_chat', 'chat_id', False))


def _resize(old: int, new: int) -> None:
    for table, column, nullable in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=old),
                                  type_=sa.String(length=new), existing_nullable=nullable)


def upgrade():
    _resize(120, 160)


def downgrade():
    _resize(160, 120)
