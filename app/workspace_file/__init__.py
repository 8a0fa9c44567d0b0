"""The workspace file: import/export a whole workspace as YAML (DESIGN "Workspace file")."""
