"""The workspace file: import/export a workspace as YAML (docs/contracts.md "Workspace file")."""
