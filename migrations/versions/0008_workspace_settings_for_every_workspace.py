"""every workspace has its settings row

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:30:00

Workspaces created by the master admin's screen or by sign-up had no `workspace_settings` row,
so their managers had no settings to edit. From now on a workspace is created with its row
(app/models/settings.py); this gives the missing ones theirs, with the defaults.
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "INSERT INTO workspace_settings (workspace_id, cooldown_refill_seconds, "
        "cooldown_speed_seconds, cooldown_cancel_seconds, max_ids_per_message, "
        "allow_partial_refill, fallback_reply_enabled, created_at, updated_at) "
        "SELECT w.id, 86400, 43200, 43200, 100, {false}, {false}, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP FROM workspace w WHERE NOT EXISTS "
        "(SELECT 1 FROM workspace_settings s WHERE s.workspace_id = w.id)".format(
            false="false" if op.get_bind().dialect.name == "postgresql" else "0"))


def downgrade():
    pass  # the rows are valid settings: nothing to undo
