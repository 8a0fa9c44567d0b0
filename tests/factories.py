"""Test data builders and the signed-in client helper (flaskr's AuthActions)."""
from __future__ import annotations

import hashlib
import itertools

from app.extensions import db
from app.models import (AdminIdentity, Channel, ChatIdentity, CommandAlias, CustomCommand,
                        LinkedUser, PanelConnection, Plan, Provider, ProviderRoute, ReplyTemplate,
                        ServiceRule, Workspace, WorkspaceMember)
from app.models.base import utcnow
from app.security import MEMBER_ROLE_TO_FAB, ROLE_ADMIN, ROLE_TRANSLATOR

_counter = itertools.count(1)


def password_for(username: str) -> str:
    """Each test login's password: fixed per username and passing the password policy (long
    enough, not common, not containing the username)."""
    digits = int(hashlib.sha256(username.encode()).hexdigest(), 16) % 10**8
    return f"Qz{digits:08d}-Vk!"


class Factory:
    """Creates rows directly (no request, so no workspace scope applies)."""

    def __init__(self, app):
        self.app = app
        self.sm = app.appbuilder.sm

    def commit(self, *rows):
        db.session.add_all(rows)
        db.session.commit()
        return rows[0] if len(rows) == 1 else rows

    # --- people ---------------------------------------------------------------------------
    def user(self, username: str, role: str, email: str | None = None):
        user = self.sm.add_user(username, username, "Test", email or f"{username}@test.example",
                                self.sm.find_role(role), password=password_for(username))
        assert user, f"could not create user {username}"
        return user

    def admin(self, username: str = "root"):
        return self.user(username, ROLE_ADMIN)

    def translator(self, username: str = "translator"):
        return self.user(username, ROLE_TRANSLATOR)

    def member(self, workspace: Workspace, username: str, role: str = "manager"):
        user = self.user(username, MEMBER_ROLE_TO_FAB[role])
        self.commit(WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role=role))
        return user

    def api_key(self, user) -> str:
        return self.sm.create_api_key(user, f"key-{next(_counter)}")["key"]

    # --- workspace configuration ----------------------------------------------------------
    def workspace(self, slug: str, name: str | None = None, **kw) -> Workspace:
        workspace = self.commit(Workspace(slug=slug, name=name or slug.title(), **kw))
        return workspace

    def plan(self, code=None, **kw) -> Plan:
        n = next(_counter)
        kw.setdefault("name", f"Plan {n}")
        return self.commit(Plan(code=code or f"plan-{n}", **kw))

    def channel(self, workspace, name=None, kind="greenapi", *, verified: bool = True,
                **kw) -> Channel:
        """A channel written directly. A Meta channel is verified (it receives events) unless
        `verified=False`: then it awaits verification, as one saved through a screen does."""
        n = next(_counter)
        defaults = {
            "greenapi": {"api_url": "http://127.0.0.1:9", "id_instance": f"110{n:07d}",
                         "api_token": f"green-token-{n}", "webhook_token": f"hook-token-{n}"},
            "telegram": {"bot_token": f"{700000 + n}:AAtelegram{n}", "secret_token": f"tg-{n}"},
            "meta": {"phone_number_id": f"1065{n:08d}", "access_token": f"meta-access-{n}",
                     "waba_id": f"1022{n:08d}", "verified_at": utcnow() if verified else None},
            "webchat": {},
        }[kind]
        defaults.update(kw)
        return self.commit(Channel(workspace_id=workspace.id, name=name or f"{kind}-{n}",
                                   kind=kind, **defaults))

    def panel(self, workspace, **kw) -> PanelConnection:
        kw.setdefault("panel_type", "demo")
        kw.setdefault("url", "https://panel.example")
        return self.commit(PanelConnection(workspace_id=workspace.id, **kw))

    def provider(self, workspace, name=None, **kw) -> Provider:
        return self.commit(Provider(workspace_id=workspace.id,
                                    name=name or f"provider-{next(_counter)}", **kw))

    def route(self, provider, channel, chat_id=None, **kw) -> ProviderRoute:
        return self.commit(ProviderRoute(workspace_id=provider.workspace_id, provider=provider,
                                         channel=channel,
                                         chat_id=chat_id or f"1203630{next(_counter)}@g.us", **kw))

    def linked_user(self, workspace, username=None, **kw) -> LinkedUser:
        return self.commit(LinkedUser(workspace_id=workspace.id,
                                      username=username or f"user{next(_counter)}", **kw))

    def identity(self, linked_user, channel, chat_id=None) -> ChatIdentity:
        return self.commit(ChatIdentity(workspace_id=linked_user.workspace_id,
                                        linked_user=linked_user, channel=channel,
                                        chat_id=chat_id or f"7900{next(_counter):07d}@c.us"))

    def admin_identity(self, workspace, channel, chat_id=None, name="Owner") -> AdminIdentity:
        return self.commit(AdminIdentity(workspace_id=workspace.id, channel=channel, name=name,
                                         chat_id=chat_id or f"7999{next(_counter):07d}@c.us"))

    def service_rule(self, workspace, service_id=None, **kw) -> ServiceRule:
        return self.commit(ServiceRule(workspace_id=workspace.id,
                                       service_id=service_id or str(next(_counter)), **kw))

    def alias(self, workspace, alias=None, action="refill") -> CommandAlias:
        return self.commit(CommandAlias(workspace_id=workspace.id,
                                        alias=alias or f"alias{next(_counter)}", action=action))

    def custom_command(self, workspace, keyword=None, reply="Hello") -> CustomCommand:
        return self.commit(CustomCommand(workspace_id=workspace.id,
                                         keyword=keyword or f"kw{next(_counter)}", reply=reply))

    def reply_template(self, workspace, key="help", language="en", body="Help text"):
        return self.commit(ReplyTemplate(workspace_id=workspace.id, key=key, language=language,
                                         body=body))

    def populated_workspace(self, slug: str):
        """A workspace with one row in every workspace-owned table, and its manager."""
        ws = self.workspace(slug)
        manager = self.member(ws, f"{slug}-manager", "manager")
        channel = self.channel(ws, name=f"{slug} WhatsApp")
        self.panel(ws, api_key=f"{slug}-panel-key-123456")
        provider = self.provider(ws, name=f"{slug}-provider", domains=f"{slug}.example")
        self.route(provider, channel)
        user = self.linked_user(ws, username=f"{slug}-customer")
        self.identity(user, channel)
        self.admin_identity(ws, channel)
        self.service_rule(ws)
        self.alias(ws, alias=f"{slug}-rf")
        self.custom_command(ws, keyword=f"{slug}-prices")
        self.reply_template(ws)
        return ws, manager


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str | None = None):
        password = password or password_for(username)
        response = self.client.post("/login/", data={"username": username, "password": password})
        assert response.status_code == 302 and "/login" not in response.headers["Location"], \
            f"login of {username} failed"
        return response

    def logout(self):
        return self.client.post("/logout/")
