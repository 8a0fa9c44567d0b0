"""The optional trigram indexes of the lists' "contains" filters (migration 0022).

FAB's text filters "Contains" / "Not contains" / "Ends with" become `ILIKE '%word%'`, which no
B-tree index can answer: on a big log table PostgreSQL then reads every row of the workspace.
A GIN index with `gin_trgm_ops` (PostgreSQL's `pg_trgm` extension) finds the rows holding the
word from the index instead.

They are optional: a database without `pg_trgm` (a managed server that does not offer it,
SQLite) migrates without them, and the filters still work, only slower. So they are not on
the models; their names end in `_trgm`, and the schema comparison (the migrations test) and
`flask db migrate` leave such indexes alone (`is_optional_index`).
"""
from __future__ import annotations

OPTIONAL_INDEX_SUFFIX = "_trgm"


def is_optional_index(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ARG001
    """Alembic's `include_object`: False for an optional trigram index (compared by nobody),
    True for everything else."""
    return not (type_ == "index" and (name or "").endswith(OPTIONAL_INDEX_SUFFIX))
