"""`flask --app run workspace import FILE` / `workspace export SLUG`."""
from __future__ import annotations

import os
import sys

import click
from flask.cli import AppGroup

workspace_cli = AppGroup("workspace", help="Import and export workspace files (YAML).")


@workspace_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True,
              help="Check the file and count what would change; write nothing.")
def import_command(file: str, dry_run: bool) -> None:
    """Create or update a workspace from FILE (all or nothing).

    Exits with status 1 and one `FILE:LINE: field: problem` line per problem when the file is
    invalid; nothing is written then.
    """
    from app.workspace_file.errors import WorkspaceFileInvalid
    from app.workspace_file.importer import WorkspaceImportFailed, import_path

    try:
        result = import_path(file, dry_run=dry_run)
    except WorkspaceFileInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        count = len(exc.problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found; nothing was written.",
                   err=True)
        sys.exit(1)
    except WorkspaceImportFailed as exc:
        click.echo(f"The database refused the import ({exc}); nothing was written.", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"Dry run for workspace '{result.slug}' ({file}): nothing was written.")
    else:
        click.echo(f"Imported {file} into workspace '{result.slug}'.")
    for line in result.summary_lines():
        click.echo(line)
    if not result.changed:
        click.echo("Nothing to change: the workspace already matches the file.")
    for name, queued in result.verification_queued.items():
        if queued:
            click.echo(f"Meta channel '{name}' awaits verification (queued): it receives "
                       "messages once Meta confirms its access token controls its number and "
                       "account.")
        else:
            click.secho(f"Meta channel '{name}' awaits verification, but the job queue is not "
                        "reachable: use Test connection on the Channels screen.", fg="yellow")
    if result.generated_passwords:
        click.secho("New logins without a password in the file (shown once):", fg="yellow")
        for username, password in result.generated_passwords.items():
            click.secho(f"  {username}: {password}", fg="yellow", bold=True)


@workspace_cli.command("export")
@click.argument("slug")
@click.option("--include-secrets", is_flag=True,
              help="Also write tokens and keys (decrypted). Keep such a file safe.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
def export_command(slug: str, include_secrets: bool, output: str | None) -> None:
    """Print the workspace file of the workspace SLUG (secrets left out by default)."""
    from app.crypto import SecretDecryptError
    from app.workspace_file.exporter import WorkspaceNotFound, export_workspace

    try:
        text = export_workspace(slug, include_secrets=include_secrets)
    except WorkspaceNotFound:
        click.echo(f"No workspace with slug '{slug}'.", err=True)
        sys.exit(1)
    except SecretDecryptError as exc:
        click.echo(f"Cannot export: {exc}.", err=True)
        sys.exit(1)
    if output is None:
        click.echo(text, nl=False)
        return
    # A file holding secrets is created readable by its owner only.
    mode = 0o600 if include_secrets else 0o644
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if include_secrets:
        os.chmod(output, 0o600)
    note = "secrets included: keep it safe" if include_secrets else "secrets left out"
    click.echo(f"Exported workspace '{slug}' to {output} ({note}).", err=True)
