"""A Meta channel is verified before it receives anything (issue 10, "Platform identifiers can be
squatted": workspace A registered workspace B's WABA id and received B's template notifications).

Verification is a Graph call with the channel's own access token (the fake Graph server of
tests/fakes/meta.py, which knows which token controls which number and WABA): the number must
answer, and the WABA's phone_numbers must list it. Until then the channel is treated like an
unknown number by POST /webhooks/meta — real webhook bodies (tests/data/meta/) store no event for
it — and afterwards they do. Saving new credentials sends it back to verification.
"""
from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest
from rq import Queue

from app.extensions import db
from app.integrations.channels.meta import MetaClient
from app.jobs import queues
from app.jobs.verification import verify_channel, verify_meta_channel
from app.models import Channel, ExternalCall, InboundEvent
from app.models.channels import AWAITING_VERIFICATION
from tests.fakes import meta
from tests.integration.webhook_support import delete_all_rows

META_URL = "/webhooks/meta"
PLATFORM_SECRET = "platform-app-secret-0123456789"
PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "meta"
OTHER_NUMBER, OTHER_WABA = "106540359990001", "102290129990001"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture(autouse=True)
def _clean_database(app):
    yield
    delete_all_rows(app)


@pytest.fixture
def graph(app, fake_meta, monkeypatch, redis_conn):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    monkeypatch.setitem(app.config, "META_APP_SECRET", PLATFORM_SECRET)
    return fake_meta


@pytest.fixture
def acme(factory, graph):
    ws = factory.workspace("acme")
    factory.member(ws, "acme-manager")
    return ws


def post_meta(client, body: dict, secret: str = PLATFORM_SECRET):
    raw, headers = meta.signed_body(body, secret)
    return client.post(META_URL, data=raw, headers=headers)


def events(channel) -> list[tuple[str, str]]:
    db.session.expire_all()
    rows = (db.session.query(InboundEvent).filter_by(channel_id=channel.id)
            .order_by(InboundEvent.id))
    return [(e.kind, e.type) for e in rows]


def fresh(channel) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel.id)


def queued_verification(redis_conn, channel_id: int):
    job = Queue("default", connection=redis_conn).fetch_job(f"verify-channel-{channel_id}")
    assert job is not None, "no verification queued"
    assert job.func_name == queues.VERIFY_CHANNEL and job.args == (channel_id,)
    return job


def unverified(factory, workspace, fake, **values) -> Channel:
    values = {"phone_number_id": fake.phone_number_id, "waba_id": fake.waba_id,
              "access_token": fake.access_token, **values}
    return factory.channel(workspace, name="Cloud number", kind="meta", verified=False, **values)


# --- an unverified channel receives nothing -----------------------------------------------------

def test_unverified_channel_receives_nothing_until_verified(client, auth, acme, graph,
                                                            redis_conn):
    auth.login("acme-manager")
    created = client.post("/api/v1/channel/", json={
        "name": "Cloud number", "kind": "meta", "phone_number_id": graph.phone_number_id,
        "waba_id": graph.waba_id, "access_token": graph.access_token})
    assert created.status_code == 201, created.json
    channel = db.session.get(Channel, created.json["id"])
    assert channel.verified_at is None and channel.status_detail == AWAITING_VERIFICATION
    assert client.get(f"/api/v1/channel/{channel.id}").json["result"]["verification"] == \
        "awaiting"

    text = payload("pywa_text.json")  # to 106540352242922, the channel's number
    template = payload("pywa_template_approved.json")  # to WABA 102290129340398, its account
    assert text["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == \
        channel.phone_number_id
    assert template["entry"][0]["id"] == channel.waba_id
    for body in (text, template):
        assert post_meta(client, body).status_code == 200  # as for a number nobody has
    assert events(channel) == []

    job = queued_verification(redis_conn, channel.id)
    assert graph.request_count == 0  # queued by the save, run by a worker
    assert job.perform() == {"state": "verified", "detail": fresh(channel).status_detail}
    assert fresh(channel).verified_at is not None

    for body in (text, template):
        assert post_meta(client, body).status_code == 200
    assert events(channel) == [("message", "message:text"),
                               ("other", "message_template_status_update")]


def test_an_unverified_channels_own_app_secret_vouches_for_nothing(client, app, acme, graph,
                                                                   factory, monkeypatch):
    """Manual mode: the channel's own app secret signs; unverified, it is an unknown number
    (403, nothing stored); verified, its events are stored."""
    monkeypatch.setitem(app.config, "META_APP_SECRET", "")
    channel = unverified(factory, acme, graph, app_secret="own-app-secret-123")
    body = payload("captured_text_hihu.json")
    assert post_meta(client, body, secret="own-app-secret-123").status_code == 403
    assert events(channel) == []
    assert verify_meta_channel(channel.id)["state"] == "verified"
    assert post_meta(client, body, secret="own-app-secret-123").status_code == 200
    assert events(channel) == [("message", "message:text")]


def test_a_squatted_waba_gets_no_template_notifications(client, factory, acme, graph):
    """The finding: A enters B's WABA id (B not on Relaydesk yet, so the id is free) with A's
    own number and token. A's token cannot read B's WABA: A stays unverified and B's template
    status notifications are stored for nobody."""
    graph.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token="squatter-token")
    squatter = factory.channel(acme, name="Squatter", kind="meta", verified=False,
                               phone_number_id=OTHER_NUMBER, waba_id=graph.waba_id,
                               access_token="squatter-token")
    result = verify_meta_channel(squatter.id)
    assert result["state"] == "not_verified"
    assert f"cannot read the WhatsApp Business account {graph.waba_id}" in result["detail"]
    assert post_meta(client, payload("pywa_template_approved.json")).status_code == 200
    assert db.session.query(InboundEvent).count() == 0


# --- the Graph checks ----------------------------------------------------------------------------

def test_verification_records_number_name_and_quality(client, auth, factory, acme, graph):
    channel = unverified(factory, acme, graph)
    auth.login("acme-manager")
    response = client.post(f"/channelview/action/test_connection/{channel.id}",
                           follow_redirects=True)
    html = unescape(response.get_data(as_text=True))
    detail = "Verified: number 15550001234, name Relaydesk Test, quality GREEN"
    assert f"Cloud number: {detail}" in html
    row = fresh(channel)
    assert row.verified_at is not None and row.status == "ok" and row.status_detail == detail

    number, listing = graph.requests
    assert number.path == f"/v21.0/{graph.phone_number_id}"
    assert number.query == {"fields": "display_phone_number,verified_name,quality_rating"}
    assert listing.path == f"/v21.0/{graph.waba_id}/phone_numbers"
    assert {r.headers["Authorization"] for r in graph.requests} == {
        f"Bearer {graph.access_token}"}

    shown = unescape(client.get(f"/channelview/show/{channel.id}").get_data(as_text=True))
    assert "Verified by Meta" in shown and detail in shown
    assert "Verified by Meta" in unescape(client.get("/channelview/list/").get_data(
        as_text=True))


def test_a_waba_listing_is_read_page_by_page(factory, acme, graph):
    for i in range(150):  # the account's other numbers come first
        graph.add_number(f"10654035{i:07d}", waba_id=OTHER_WABA, token="busy-token")
    graph.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token="busy-token")
    channel = unverified(factory, acme, graph, phone_number_id=OTHER_NUMBER,
                         waba_id=OTHER_WABA, access_token="busy-token")
    assert verify_meta_channel(channel.id)["state"] == "verified"
    pages = graph.requests.filter("GET", f"*/{OTHER_WABA}/phone_numbers")
    assert len(pages) == 2 and "after" not in pages[0].query and pages[1].query["after"]


NOT_VERIFIED = {
    "a token that does not control the number": (
        {"access_token": "other-token"}, lambda g: g.grant("other-token"),
        "this access token cannot read phone number id 106540352242922 (Graph error 100)",
        "error"),
    "a number that is not in that WABA": (
        {"phone_number_id": OTHER_NUMBER, "access_token": "other-token"},
        lambda g: (g.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token="other-token"),
                   g.grant("other-token", g.waba_id)),
        f"phone number id {OTHER_NUMBER} is not a number of the WhatsApp Business account "
        "102290129340398", "error"),
    "a token that cannot read the WABA": (
        {"phone_number_id": OTHER_NUMBER, "access_token": "other-token"},
        lambda g: g.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token="other-token"),
        "this access token cannot read the WhatsApp Business account 102290129340398 "
        "(Graph error 100)", "error"),
    "a token Meta does not know": (
        {"access_token": "expired-token"}, lambda g: None,
        "Meta refused the access token (Graph error 190)", "needs_reauth"),
    "Meta not answering": (
        {}, lambda g: g.fail_next(1, 503),
        "Meta answered with Graph error 2; try again", "error"),
}


@pytest.mark.parametrize("case", NOT_VERIFIED)
def test_a_channel_that_does_not_prove_control_stays_unverified(client, factory, acme, graph,
                                                                case):
    values, seed, reason, status = NOT_VERIFIED[case]
    seed(graph)
    channel = unverified(factory, acme, graph, **values)
    result = verify_meta_channel(channel.id)
    row = fresh(channel)
    assert result["state"] == "not_verified" and reason in result["detail"]
    assert row.verified_at is None and row.status == status
    assert row.status_detail.startswith(("Not verified: ", "Verification failed: "))
    assert reason in row.status_detail
    assert row.access_token not in row.status_detail
    text = meta.text_notification("79001234567", "2274209 refill",
                                  phone_number_id=row.phone_number_id, waba_id=row.waba_id)
    assert post_meta(client, text).status_code == 200
    assert events(channel) == []


@pytest.mark.parametrize("trouble, keeps", [
    (lambda g: g.fail_next(1, 503), True),  # Meta down: nothing proven either way
    (lambda g: g.error_next(190), True),  # token expired: ownership was proven with it
    (lambda g: g.grants[g.access_token].discard(g.waba_id), False),  # the token lost the WABA
])
def test_a_failed_recheck_unverifies_only_when_meta_denies_control(client, factory, acme, graph,
                                                                   trouble, keeps):
    channel = factory.channel(acme, name="Cloud number", kind="meta",
                              phone_number_id=graph.phone_number_id, waba_id=graph.waba_id,
                              access_token=graph.access_token)  # verified
    trouble(graph)
    result = verify_channel(db.session.get(Channel, channel.id))
    assert not result.ok
    row = fresh(channel)
    assert (row.verified_at is not None) is keeps and row.status != "ok"
    body = payload("pywa_template_approved.json")
    assert post_meta(client, body).status_code == 200
    assert len(events(channel)) == (1 if keeps else 0)


def test_the_stored_token_never_appears_in_status_text(client, auth, factory, acme, graph):
    token = "EAAGdistinct-secret-token-0123456789"
    graph.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token=token,
                     verified_name=f"Shop {token}")  # an answer that echoes the token
    channel = unverified(factory, acme, graph, phone_number_id=OTHER_NUMBER,
                         waba_id=OTHER_WABA, access_token=token)
    auth.login("acme-manager")
    seen = []
    graph.error_next(100, message=f"(#100) Invalid token {token}", path=f"*/{OTHER_NUMBER}")
    for _attempt in ("refused, the error echoing the token", "verified, the name echoing it"):
        page = client.post(f"/channelview/action/test_connection/{channel.id}",
                           follow_redirects=True)
        seen += [page.get_data(as_text=True), fresh(channel).status_detail,
                 client.get(f"/api/v1/channel/{channel.id}").get_data(as_text=True),
                 client.get(f"/channelview/show/{channel.id}").get_data(as_text=True)]
    assert fresh(channel).verified_at is not None  # the second attempt verified it
    assert "Shop ****" in fresh(channel).status_detail
    seen += [c.response_body or "" for c in db.session.query(ExternalCall)]
    seen += [c.url for c in db.session.query(ExternalCall)]
    assert not [text for text in seen if token in text]


# --- what sends a channel back to verification ---------------------------------------------------

@pytest.mark.parametrize("change", [{"phone_number_id": "106540359990077"},
                                    {"waba_id": "102290129990077"},
                                    {"access_token": "a-new-access-token"},
                                    {"app_secret": "a-new-app-secret"}])
def test_new_number_account_or_credentials_need_verification_again(
        client, auth, factory, acme, graph, redis_conn, change):
    channel = factory.channel(acme, name="Cloud number", kind="meta",
                              phone_number_id=graph.phone_number_id, waba_id=graph.waba_id,
                              access_token=graph.access_token)  # verified
    auth.login("acme-manager")
    assert client.put(f"/api/v1/channel/{channel.id}", json={"notes": "renamed"}).json
    assert fresh(channel).verified_at is not None  # nothing that matters changed
    queue = Queue("default", connection=redis_conn)
    assert queue.fetch_job(f"verify-channel-{channel.id}") is None

    response = client.put(f"/api/v1/channel/{channel.id}", json=change)
    assert response.status_code == 200, response.json
    row = fresh(channel)
    assert row.verified_at is None and row.status_detail == AWAITING_VERIFICATION
    queued_verification(redis_conn, channel.id)
    text = meta.text_notification("79001234567", "hi", phone_number_id=row.phone_number_id)
    assert post_meta(client, text).status_code == 200
    assert events(channel) == []  # the per-process channel cache was cleared by the save


def test_a_check_of_values_replaced_meanwhile_is_not_recorded(app, factory, acme, graph,
                                                              monkeypatch):
    """The channel's access token is replaced while Meta is being asked about the old one: the
    answer about the old token must not verify the new one."""
    channel = unverified(factory, acme, graph)
    asked = MetaClient.test_connection

    def ask_while_a_manager_saves(self):
        result = asked(self)
        with app.app_context():  # another request, another session
            other = db.session.get(Channel, channel.id)
            other.access_token = "a-token-nobody-checked"
            db.session.commit()
        return result

    monkeypatch.setattr(MetaClient, "test_connection", ask_while_a_manager_saves)
    result = verify_channel(db.session.get(Channel, channel.id))
    assert not result.ok and result.summary.startswith("Not recorded")
    row = fresh(channel)
    assert row.verified_at is None and row.access_token == "a-token-nobody-checked"


def test_saving_on_the_screen_queues_verification_and_says_so(client, auth, acme, graph,
                                                              redis_conn, monkeypatch):
    auth.login("acme-manager")
    data = {"name": "Cloud number", "kind": "meta", "enabled": "y",
            "phone_number_id": graph.phone_number_id, "waba_id": graph.waba_id,
            "access_token": graph.access_token}
    page = unescape(client.post("/channelview/add", data=data, follow_redirects=True)
                    .get_data(as_text=True))
    assert "Cloud number is awaiting verification: Relaydesk asks Meta" in page
    channel = db.session.query(Channel).filter_by(name="Cloud number").one()
    queued_verification(redis_conn, channel.id)
    assert "Awaiting verification" in unescape(
        client.get("/channelview/list/").get_data(as_text=True))

    def redis_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(Queue, "enqueue", redis_down)
    data.update(name="Second number", phone_number_id=OTHER_NUMBER, waba_id=OTHER_WABA)
    page = unescape(client.post("/channelview/add", data=data, follow_redirects=True)
                    .get_data(as_text=True))
    assert ("Second number is awaiting verification, but the job queue is not reachable right "
            "now: use Test connection to verify it.") in page
    assert db.session.query(Channel).filter_by(name="Second number").one().verified_at is None


def test_workspace_file_stores_meta_channels_unverified_and_queues_verification(
        app, db, graph, redis_conn):
    token = "FAKE-meta-access-token-0000"  # the token docs/examples/acme.yaml gives its number
    graph.grant(token, graph.phone_number_id, graph.waba_id)
    sample = Path(__file__).resolve().parents[2] / "docs" / "examples" / "acme.yaml"
    text = sample.read_text().replace("plan: pro, ", "")
    path = Path(app.instance_path) / "verification-sample.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    try:
        result = app.test_cli_runner().invoke(args=["workspace", "import", str(path)])
    finally:
        path.unlink()
    assert result.exit_code == 0, result.output
    assert "Meta channel 'Cloud number' awaits verification (queued)" in result.output
    channel = db.session.query(Channel).filter_by(name="Cloud number").one()
    assert channel.verified_at is None
    assert queued_verification(redis_conn, channel.id).perform()["state"] == "verified"
    assert fresh(channel).verified_at is not None


def test_the_webhook_channel_cache_follows_verification(client, factory, acme, graph):
    """One body names a verified number and one awaiting verification: the cached lookup of
    that body is refreshed as soon as the second is verified in this process."""
    graph.add_number(OTHER_NUMBER, waba_id=OTHER_WABA, token="second-token")
    first = factory.channel(acme, name="First", kind="meta")  # verified
    second = factory.channel(acme, name="Second", kind="meta", verified=False,
                             phone_number_id=OTHER_NUMBER, waba_id=OTHER_WABA,
                             access_token="second-token")

    def both():
        return meta.notification(
            meta.entry(meta.messages_change(messages=[meta.text_message("7900001", "one")],
                                            phone_number_id=first.phone_number_id),
                       waba_id=first.waba_id),
            meta.entry(meta.messages_change(messages=[meta.text_message("7900002", "two")],
                                            phone_number_id=OTHER_NUMBER),
                       waba_id=OTHER_WABA))

    assert post_meta(client, both()).status_code == 200
    assert (len(events(first)), len(events(second))) == (1, 0)
    assert verify_meta_channel(second.id)["state"] == "verified"
    assert post_meta(client, both()).status_code == 200
    assert (len(events(first)), len(events(second))) == (2, 1)
