"""Command-line interface: `flask --app run <command>` (docs/contracts.md "Contracts")."""
from __future__ import annotations


import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db

secrets_cli = AppGroup("secrets", help="Encrypted secrets at rest.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(secrets_cli)
    from app.workspace_file.cli import workspace_cli

    app.cli.add_command(workspace_cli)


@click.command("init")
@click.option("--demo/--no-demo", default=False, help="Also create the demo workspace.")
@with_appcontext
def init_command(demo: bool) -> None:
    """First run: roles, the default plans, the master admin (password printed once) and
    optionally the demo. Run again, it creates only what is missing and changes nothing."""
    from app.bootstrap import ensure_master_admin, ensure_roles
    from app.plans import ensure_default_plans

    ensure_roles()
    created_plans = ensure_default_plans()
    if created_plans:
        click.echo(f"Default plans created: {', '.join(created_plans)}.")
    created, password = ensure_master_admin()
    username = current_app.config["ADMIN_USERNAME"]
    if created and password is not None:
        click.secho("Master admin created. This password is shown once:", fg="yellow")
        click.secho(f"  username: {username}\n  password: {password}", fg="yellow", bold=True)
    elif created:
        click.echo(f"Master admin '{username}' created with ADMIN_PASSWORD.")
    else:
        click.echo(f"Master admin '{username}' already exists.")
    if demo:
        from app.demo import ensure_demo_workspace

        result = ensure_demo_workspace()
        if result.manager_password:
            click.secho("Demo workspace created. Demo manager (shown once):", fg="yellow")
            click.secho(f"  username: {result.manager_username}\n"
                        f"  password: {result.manager_password}", fg="yellow", bold=True)
        else:
            click.echo("Demo workspace already present.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the RQ scheduler in this worker.")
@click.option("--queues", default="default,pipeline,low", show_default=True,
              help="In priority order: sends (default) finish started commands first.")
@with_appcontext
def worker_command(burst: bool, no_scheduler: bool, queues: str) -> None:
    """Run an RQ worker (with the scheduler unless --no-scheduler)."""
    from app.jobs.worker import run_worker

    run_worker(queues=[q.strip() for q in queues.split(",") if q.strip()], burst=burst,
               with_scheduler=not no_scheduler)


@secrets_cli.command("rotate")
@click.option("--new-key", default=None,
              help="Fernet key to put in front of ENCRYPTION_KEY (generated when omitted).")
@with_appcontext
def rotate_command(new_key: str | None) -> None:
    """Re-encrypt every stored secret with the newest key.

    Run it after prepending a key to ENCRYPTION_KEY, or give --new-key to have it done here; the
    new ENCRYPTION_KEY value to deploy is printed at the end.
    """
    from cryptography.fernet import Fernet

    from app.crypto import keyring
    from app.secrets_rotation import rotate_all

    keys = current_app.config["ENCRYPTION_KEY"]
    if new_key is not None or click.confirm("Generate a new key and rotate now?", default=True):
        new_key = new_key or Fernet.generate_key().decode()
        keys = f"{new_key},{keys}"
        keyring.configure(keys)
    count = rotate_all()
    db.session.commit()
    click.echo(f"Re-encrypted {count} secret values.")
    click.secho(f"Deploy ENCRYPTION_KEY={keys}", fg="yellow")
