"""Re-encrypt every `EncryptedText` column with the newest key (MultiFernet.rotate)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_appbuilder import Model

from app.crypto import EncryptedText, keyring
from app.extensions import db


def encrypted_columns():
    """(table, column) for every encrypted column on the metadata."""
    for table in Model.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                yield table, column


def rotate_all() -> int:
    """Rotate the stored tokens in place (never through plaintext objects). Returns the count."""
    count = 0
    for table, column in encrypted_columns():
        pk_name = list(table.primary_key.columns)[0].name
        # A typed-as-Text view of the table: reads and writes the token exactly as stored.
        raw = sa.table(table.name, sa.column(pk_name), sa.column(column.name, sa.Text))
        pk, token_col = raw.c[pk_name], raw.c[column.name]
        rows = db.session.execute(sa.select(pk, token_col).where(token_col.isnot(None))).all()
        for row_id, token in rows:
            db.session.execute(
                sa.update(raw).where(pk == row_id).values({column.name: keyring.rotate(token)})
            )
            count += 1
    return count
