"""The demo workspace `make run` creates (`flask --app run init --demo`), so a newcomer can look
around at once: a demo panel with sample orders (app/integrations/panels/demo.py), a web chat and
a Green API channel with placeholder credentials, a provider routed to a group chat, a linked
customer, an admin identity, settings, and a manager login.

Seeded once: when the `demo` workspace exists nothing is touched (whatever was changed in it is
kept) and no password is returned. Delete the workspace to have it seeded again on the next run.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from app.status_words import Said
from app.auth.passwords import generate_password
from app.auth.revocation import raise_epoch
from app.extensions import db
from app.integrations.panels.demo import DEMO_PANEL_URL, DEMO_PROVIDER_DOMAIN, DEMO_USERNAME
from app.models import (AdminIdentity, Channel, ChatIdentity, LinkedUser, PanelConnection,
                        Provider, ProviderRoute, Workspace, WorkspaceMember)
from app.security import ROLE_MANAGER

log = logging.getLogger(__name__)

DEMO_SLUG = "demo"
DEMO_NAME = "Demo SMM Panel"
DEMO_MANAGER = "demo-manager"
DEMO_MANAGER_EMAIL = "demo-manager@relaydesk.local"
DEMO_PROVIDER = "demoprovider"
# Placeholders: `.example` never resolves, so nothing is sent anywhere until real values are set.
DEMO_GREENAPI_URL = "https://greenapi.demo.example"
DEMO_GREENAPI_INSTANCE = "9900000001"
DEMO_GREENAPI_TOKEN = "demo-api-token-replace-me"  # noqa: S105 - a visible placeholder
DEMO_PROVIDER_GROUP = "120363000000000001@g.us"
DEMO_CUSTOMER_CHAT = "79001234567@c.us"
DEMO_ADMIN_CHAT = "79000000000@c.us"


@dataclass(frozen=True)
class DemoSetup:
    """What `ensure_demo_workspace` did. The password is shown once: None when nothing was made."""

    workspace_id: int
    created: bool
    manager_username: str
    manager_password: str | None


def ensure_demo_workspace() -> DemoSetup:
    """Create the demo workspace and its manager login unless the workspace exists.

    Everything is written in one transaction, the manager login included.

    :raise RuntimeError: if the login `demo-manager` already works in another workspace.
    """
    existing = _demo_workspace()
    if existing is not None:
        return DemoSetup(existing.id, False, DEMO_MANAGER, None)
    try:
        workspace = _seed_workspace()
        password = _attach_manager(workspace)
        db.session.commit()
    except IntegrityError:
        # Another process seeded it between our check and our commit: theirs stands.
        db.session.rollback()
        existing = _demo_workspace()
        if existing is None:
            raise
        return DemoSetup(existing.id, False, DEMO_MANAGER, None)
    except Exception:
        db.session.rollback()
        raise
    log.info("demo workspace %r created (id %s)", DEMO_SLUG, workspace.id)
    return DemoSetup(workspace.id, True, DEMO_MANAGER, password)


def _demo_workspace() -> Workspace | None:
    return db.session.query(Workspace).filter_by(slug=DEMO_SLUG).one_or_none()


def _seed_workspace() -> Workspace:
    workspace = Workspace(slug=DEMO_SLUG, name=DEMO_NAME, language="en", timezone="UTC")
    db.session.add(workspace)
    db.session.flush()  # the tenancy guard compares workspace ids, so the workspace needs one
    webchat = Channel(workspace=workspace, name="Demo web chat", kind="webchat",
                      notes="The web chat widget of the demo workspace.")
    whatsapp = Channel(
        workspace=workspace, name="Demo WhatsApp", kind="greenapi",
        api_url=DEMO_GREENAPI_URL, id_instance=DEMO_GREENAPI_INSTANCE,
        api_token=DEMO_GREENAPI_TOKEN, webhook_token=secrets.token_urlsafe(24),
        notes="Placeholder values (sends fail until you enter your Green API instance).",
    )
    provider = Provider(workspace=workspace, name=DEMO_PROVIDER, domains=DEMO_PROVIDER_DOMAIN,
                        aliases="demo provider",
                        notes="The provider every demo panel order names.")
    customer = LinkedUser(workspace=workspace, username=DEMO_USERNAME, language="en",
                          notes="Owns most demo orders (try 2274209 refill).")
    db.session.add_all([
        PanelConnection(workspace=workspace, panel_type="demo", url=DEMO_PANEL_URL,
                        service_rules_mode="names", status="ok",
                        status_detail=Said("panel_demo", {"first": "2274209",
                                                          "last": "2274220"}).encode()),
        webchat,
        whatsapp,
        provider,
        ProviderRoute(workspace=workspace, provider=provider, channel=whatsapp,
                      chat_id=DEMO_PROVIDER_GROUP, actions="refill, speed, cancel"),
        customer,
        ChatIdentity(workspace=workspace, linked_user=customer, channel=whatsapp,
                     chat_id=DEMO_CUSTOMER_CHAT),
        AdminIdentity(workspace=workspace, channel=whatsapp, chat_id=DEMO_ADMIN_CHAT,
                      name="Demo panel owner"),
    ])
    db.session.flush()
    return workspace


def _attach_manager(workspace: Workspace) -> str:
    """Make `demo-manager` a manager of the workspace with a new password, and return it.

    The login may be left over from a deleted demo workspace: it gets a new password then, since
    the old one was shown only once.
    """
    sm = current_app.appbuilder.sm
    role = sm.find_role(ROLE_MANAGER) or sm.add_role(ROLE_MANAGER)
    password = generate_password(DEMO_MANAGER)
    user = sm.find_user(username=DEMO_MANAGER)
    if user is None:
        user = sm.add_user(DEMO_MANAGER, "Demo", "Manager", DEMO_MANAGER_EMAIL, role,
                           password=password, commit=False)
        if not user:
            raise RuntimeError(f"could not create the login '{DEMO_MANAGER}'")
    else:
        user.password = generate_password_hash(
            password,
            method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
        )
        raise_epoch(user.id)  # a new password ends the sessions made with the old one
        user.active = True
        if role not in user.roles:
            user.roles.append(role)
    member = db.session.query(WorkspaceMember).filter_by(user_id=user.id).one_or_none()
    if member is None:
        db.session.add(WorkspaceMember(workspace=workspace, user_id=user.id, role="manager"))
    elif db.session.get(Workspace, member.workspace_id) is not None:
        raise RuntimeError(f"the login '{DEMO_MANAGER}' already works in another workspace")
    else:  # a membership left behind by a workspace deleted without cascades (SQLite)
        member.workspace = workspace
        member.role = "manager"
    return password
