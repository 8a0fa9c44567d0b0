"""Support tools → Playground: the real pipeline on a message that is never stored or sent."""
from app.demo import ensure_demo_workspace
from app.extensions import db
from app.models import (Channel, CommandLog, CommandOrder, CooldownClaim, InboundEvent,
                        OutboundMessage, Workspace)
from app.models.base import utcnow
from tests.factories import password_for

CUSTOMER = "79001234567@c.us"  # demo_customer's chat in the demo workspace


def demo_manager(factory):
    ensure_demo_workspace()
    workspace = db.session.query(Workspace).filter_by(slug="demo").one()
    user = factory.sm.find_user(username="demo-manager")
    factory.sm.reset_password(user.id, password_for("demo-manager"))
    channel = db.session.query(Channel).filter_by(workspace_id=workspace.id,
                                                  kind="greenapi").one()
    return workspace, channel


def try_message(client, channel, chat, text):
    return client.post("/playground/", data={"channel_id": channel.id, "chat_id": chat,
                                             "text": text}).get_data(as_text=True)


def test_preview_shows_reply_and_provider_message_and_stores_nothing(factory, auth, client):
    workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    page = try_message(client, channel, CUSTOMER, "2274209 refill\n2274211 refill")
    assert "Refill requested: 2274209" in page
    assert "The service of this order has no refill: 2274211" in page
    assert "EXT-88231 refill" in page  # what the provider group would receive
    assert "panel_fetch" in page and "cooldown" in page  # the trace
    for model in (CommandLog, CommandOrder, CooldownClaim, InboundEvent, OutboundMessage):
        assert db.session.query(model).count() == 0, model.__name__


def test_preview_reads_cooldowns_without_claiming(factory, auth, client):
    workspace, channel = demo_manager(factory)
    db.session.add(CooldownClaim(workspace_id=workspace.id, order_id="2274209", action="refill",
                                 claimed_at=utcnow(), expires_at=utcnow().replace(year=2099)))
    db.session.commit()
    auth.login("demo-manager")
    page = try_message(client, channel, CUSTOMER, "2274209 refill")
    assert "This order was requested recently" in page
    assert db.session.query(CooldownClaim).count() == 1


def test_an_unlinked_chat_gets_the_not_linked_reply(factory, auth, client):
    workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    page = try_message(client, channel, "79990000000@c.us", "2274209 refill")
    assert "not linked to a panel account" in page


def test_another_workspace_channel_cannot_be_used(factory, auth, client):
    workspace, channel = demo_manager(factory)
    other, manager = factory.populated_workspace("bravo")
    auth.login(manager.username)
    page = try_message(client, channel, CUSTOMER, "2274209 refill")
    assert "Choose a channel." in page and "Refill requested" not in page


def send_for_real(client, channel, chat, text):
    return client.post("/playground/", data={"channel_id": channel.id, "chat_id": chat,
                                             "text": text, "for_real": "y"})


def test_send_for_real_runs_the_command_like_a_webhook(factory, auth, client, redis_conn):
    """The message is stored as the chat's and queued for the workers; its page waits, then
    shows the outcome, the messages to the chat and the provider group, and the trace."""
    from app.jobs.events import process_event

    workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    answer = send_for_real(client, channel, CUSTOMER, "2274209 refill")
    assert answer.status_code == 302 and "/playground/run/" in answer.headers["Location"]
    event = db.session.query(InboundEvent).one()
    assert (event.type, event.chat_id, event.workspace_id) == ("playground", CUSTOMER,
                                                                workspace.id)
    waiting = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="playground-waiting"' in waiting and 'http-equiv="refresh"' in waiting

    assert process_event(event.id) == "dispatched"  # what a worker does with the queued job
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Sent for real" in page and 'id="playground-waiting"' not in page
    assert "Refill requested: 2274209" in page and "EXT-88231 refill" in page
    assert "panel_fetch" in page
    assert db.session.query(CommandLog).filter_by(inbound_event_id=event.id).count() == 1
    assert db.session.query(CooldownClaim).count() == 1  # claimed for real
    assert {m.purpose for m in db.session.query(OutboundMessage)} == {"reply", "dispatch"}


def test_an_agent_tries_messages_but_never_sends_for_real(factory, auth, client):
    workspace, channel = demo_manager(factory)
    agent = factory.member(workspace, "demo-agent", "agent")
    auth.login(agent.username)
    assert 'name="for_real"' not in client.get("/playground/").get_data(as_text=True)
    answer = send_for_real(client, channel, CUSTOMER, "2274209 refill")  # forged
    assert answer.status_code == 200 and "Dry run: nothing was sent" in answer.get_data(
        as_text=True)
    assert db.session.query(InboundEvent).count() == 0


def test_a_real_run_page_is_the_workspaces_own(factory, auth, client):
    workspace, channel = demo_manager(factory)
    other, manager = factory.populated_workspace("bravo")
    auth.login("demo-manager")
    send_for_real(client, channel, CUSTOMER, "2274209 status")
    event = db.session.query(InboundEvent).one()
    auth.logout()
    auth.login(manager.username)
    assert client.get(f"/playground/run/{event.id}").status_code == 404
    assert client.get("/playground/run/99999999").status_code == 404
