"""Logs › Cooldowns (app/views/logs.py `CooldownClaimView`) and its REST twin `cooldown_claim`:
the running cooldowns with who asked, a manager's audited clear (screen action and REST
DELETE) after which the same command is accepted again, agents read-only, another
workspace's claim 404 like a made-up id."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import AuditEntry, CooldownClaim
from app.models.base import utcnow
from tests.integration.pipeline_support import (CUSTOMER_CHAT, build_desk, dispatches,
                                                reasons, seed_refill_order, send)

ORDER = "2274209"
EXTERNAL = "EXT-88231"


@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, EXTERNAL)


@pytest.fixture
def desk(factory, pp, redis_conn):
    desk = build_desk(factory, pp.url)
    factory.member(desk.workspace, "acme-manager")
    factory.member(desk.workspace, "acme-agent", role="agent")
    return desk


def claim_of(desk) -> CooldownClaim:
    db.session.expire_all()
    return db.session.query(CooldownClaim).filter_by(workspace_id=desk.workspace.id,
                                                     order_id=ORDER).one()


def other_workspace_claim(factory) -> int:
    other = factory.workspace("other")
    row = CooldownClaim(workspace_id=other.id, order_id=ORDER, action="refill",
                        claimed_at=utcnow(), expires_at=utcnow() + timedelta(hours=1),
                        chat_id="other-chat", username="mallory")
    db.session.add(row)
    db.session.commit()
    return row.id


def clear_entries() -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.query(AuditEntry).filter_by(model="CooldownClaim", action="delete").all()


def test_a_claim_keeps_who_asked_and_the_list_shows_it_with_the_time_left(client, auth, desk):
    first = send(client, desk.channel, f"{ORDER} refill")
    assert first.outcome == "dispatched"
    claim = claim_of(desk)
    assert (claim.channel_id, claim.chat_id, claim.username, claim.command_log_id) == \
        (desk.channel.id, CUSTOMER_CHAT, "alice", first.id)

    ended = CooldownClaim(workspace_id=desk.workspace.id, order_id="5550001", action="speed",
                          claimed_at=utcnow() - timedelta(hours=2),
                          expires_at=utcnow() - timedelta(hours=1), username="bob")
    db.session.add(ended)
    db.session.commit()

    auth.login("acme-agent")
    page = client.get("/cooldownclaimview/list/").get_data(as_text=True)
    assert ORDER in page and "5550001" in page and "alice" in page and CUSTOMER_CHAT in page
    assert re.search(r"2[34] hours left", page), "the running cooldown's time left in words"
    assert "Ended" in page and "Refill" in page and "Speed up" in page
    assert "Running now" in page and "Export CSV" in page

    # the quick filters: running now / ended, and a filter by username and by chat
    running = re.search(r'href="([^"]*_flt_1_expires_at=[^"]*)"', page).group(1)
    finished = re.search(r'href="([^"]*_flt_2_expires_at=[^"]*)"', page).group(1)
    shown = client.get(running.replace("&amp;", "&")).get_data(as_text=True)
    assert ORDER in shown and "5550001" not in shown
    shown = client.get(finished.replace("&amp;", "&")).get_data(as_text=True)
    assert "5550001" in shown and ORDER not in shown
    shown = client.get("/cooldownclaimview/list/?_flt_0_username=bob").get_data(as_text=True)
    assert "5550001" in shown and ORDER not in shown
    shown = client.get(f"/cooldownclaimview/list/?_flt_0_chat_id={CUSTOMER_CHAT}").get_data(
        as_text=True)
    assert ORDER in shown and "5550001" not in shown

    # the REST twin reads the same (and its CSV export)
    listed = client.get("/api/v1/cooldown_claim/").get_json()
    assert listed["count"] == 2
    row = next(r for r in listed["result"] if r["order_id"] == ORDER)
    assert (row["chat_id"], row["username"], row["channel"]["id"]) == \
        (CUSTOMER_CHAT, "alice", desk.channel.id)
    csv_text = client.get("/api/v1/cooldown_claim/export.csv").get_data(as_text=True)
    assert ORDER in csv_text and "5550001" in csv_text


def test_a_manager_clears_a_cooldown_on_the_screen_audited_and_the_order_is_accepted_again(
        client, auth, desk):
    assert send(client, desk.channel, f"{ORDER} refill").outcome == "dispatched"
    held = send(client, desk.channel, f"{ORDER} refill")
    assert reasons(held) == {ORDER: "cooldown"}
    claim_id = claim_of(desk).id

    auth.login("acme-manager")
    show = client.get(f"/cooldownclaimview/show/{claim_id}").get_data(as_text=True)
    assert "Clear cooldown" in show  # the action on the show page
    response = client.post("/cooldownclaimview/action_post",
                           data={"action": "clear", "rowid": [str(claim_id)]})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/cooldownclaimview/list/")
    assert db.session.get(CooldownClaim, claim_id) is None

    (entry,) = clear_entries()
    assert (entry.action, entry.via, entry.workspace_id, entry.row_id) == \
        ("delete", "screen", desk.workspace.id, claim_id)
    assert "acme-manager" in entry.actor_label
    assert entry.changes["order_id"] == [ORDER, None]
    assert entry.changes["action"] == ["refill", None]
    assert entry.changes["username"] == ["alice", None]
    shown = client.get(f"/auditentryview/show/{entry.id}").get_data(as_text=True)
    assert "Cooldown" in shown and ORDER in shown and "Refill" in shown

    again = send(client, desk.channel, f"{ORDER} refill")
    assert again.outcome == "dispatched" and reasons(again) == {ORDER: "ok"}
    assert len(dispatches()) == 2


def test_a_manager_clears_selected_rows_and_through_rest(client, auth, desk, factory):
    assert send(client, desk.channel, f"{ORDER} refill").outcome == "dispatched"
    auth.login("acme-manager")
    claim_id = claim_of(desk).id
    response = client.post("/cooldownclaimview/action_post",
                           data={"action": "clear", "rowid": [str(claim_id)]})
    assert response.status_code == 302 and db.session.get(CooldownClaim, claim_id) is None

    assert send(client, desk.channel, f"{ORDER} refill").outcome == "dispatched"
    claim_id = claim_of(desk).id
    response = client.delete(f"/api/v1/cooldown_claim/{claim_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CooldownClaim, claim_id) is None
    assert [e.via for e in sorted(clear_entries(), key=lambda e: e.id)] == ["screen", "api"]
    assert send(client, desk.channel, f"{ORDER} refill").outcome == "dispatched"


def test_agents_read_only(client, auth, desk):
    send(client, desk.channel, f"{ORDER} refill")
    claim_id = claim_of(desk).id
    auth.login("acme-agent")
    assert client.get(f"/cooldownclaimview/show/{claim_id}").status_code == 200
    client.post("/cooldownclaimview/action_post",
                data={"action": "clear", "rowid": [str(claim_id)]})
    assert client.delete(f"/api/v1/cooldown_claim/{claim_id}").status_code in (401, 403)
    assert db.session.get(CooldownClaim, claim_id) is not None and not clear_entries()


def test_another_workspaces_claim_is_not_found_like_a_made_up_id(client, auth, desk, factory):
    foreign = other_workspace_claim(factory)
    auth.login("acme-manager")
    for pk in (foreign, 987654):
        assert client.get(f"/cooldownclaimview/show/{pk}").status_code == 404
        assert client.post("/cooldownclaimview/action_post",
                           data={"action": "clear", "rowid": [str(pk)]}).status_code == 404
        assert client.get(f"/api/v1/cooldown_claim/{pk}").status_code == 404
        assert client.delete(f"/api/v1/cooldown_claim/{pk}").status_code == 404
    db.session.expire_all()
    assert db.session.get(CooldownClaim, foreign) is not None and not clear_entries()
    assert "mallory" not in client.get("/cooldownclaimview/list/").get_data(as_text=True)


def test_the_master_admin_sees_and_clears_every_workspace(client, auth, desk, factory):
    foreign = other_workspace_claim(factory)
    factory.admin("root")
    auth.login("root")
    page = client.get("/admincooldownclaimview/list/").get_data(as_text=True)
    assert "mallory" in page
    assert client.post("/admincooldownclaimview/action_post",
                       data={"action": "clear", "rowid": [str(foreign)]}).status_code == 302
    assert db.session.get(CooldownClaim, foreign) is None
    (entry,) = clear_entries()
    assert entry.workspace_id != desk.workspace.id and entry.changes["username"][0] == "mallory"
