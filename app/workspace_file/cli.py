"""`flask --app run workspace import FILE` / `workspace export SLUG`."""
from __future__ import annotations

from flask.cli import AppGroup

workspace_cli = AppGroup("workspace", help="Import and export workspace files (YAML).")
