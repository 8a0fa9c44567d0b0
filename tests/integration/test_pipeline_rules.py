"""The order-command pipeline, in-process: every answer the bot can give, and why.

Each message is POSTed to the real Green API webhook (test client), then the stored event is
processed with `process_event` exactly as the worker would; the panel is the Perfect Panel fake
(or Rental / reseller API / demo), and what would be sent is read from the outbound rows. Covered:
every refusal reason the pipeline can reach, with realistic orders; cooldowns; routing; one
provider message per route per batch; CommandOrder rows; the step trace; reply language and the
reply lookup order; admin identities (technical details, `force`); standalone commands (help,
balance, custom, fallback); and panel failures (timeouts, 5xx, Cloudflare, malformed JSON).
"""
from __future__ import annotations

import pytest

from app.domain.replies import DEFAULT_REPLIES, format_duration, render_reply
from app.extensions import db
from app.jobs.events import process_event
from app.jobs.replies import ReplyBook
from app.models import (CommandLog, CommandOrder, CooldownClaim, ExternalCall,
                        GlobalReplyTemplate, InboundEvent, OutboundMessage, WorkspaceSettings)
from tests.integration.pipeline_support import (ADMIN_CHAT, CUSTOMER_CHAT, GROUP_CHAT,
                                                seed_refill_order,
                                                PROVIDER_NAME,
                                                REFILL_30, STRANGER_CHAT,
                                                build_desk, days_ago, dispatches, line,
                                                post_green, reasons, reply_of, send, steps)

# The order every "it works" test refills: alice's, 5 days into a 30-day refill window.
ORDER = "2274209"
EXTERNAL = "EXT-88231"


@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, EXTERNAL)


@pytest.fixture
def desk(factory, pp, redis_conn):
    return build_desk(factory, pp.url)


def settings(desk) -> WorkspaceSettings:
    return db.session.query(WorkspaceSettings).filter_by(workspace_id=desk.workspace.id).one()


def assert_customer_safe(text: str) -> None:
    for secret in (PROVIDER_NAME, "smmrush", "EXT-", "Traceback", "HTTP ", "error_code",
                   "timeout", "bad_response", "unreachable"):
        assert secret.lower() not in text.lower(), f"{secret!r} leaked into {text!r}"


# --- the happy path, its trace and its records --------------------------------------------------

def test_refill_is_dispatched_replied_and_traced(client, desk, pp):
    log = send(client, desk.channel, f"{ORDER} refill")

    assert log.state == "done" and log.outcome == "dispatched"
    (dispatch,) = dispatches(log)
    assert (dispatch.chat_id, dispatch.text, dispatch.channel_id) == \
        (GROUP_CHAT, f"{EXTERNAL} refill", desk.channel.id)
    assert dispatch.idempotency_key == f"dispatch:{log.id}:{desk.route.id}"
    reply = reply_of(log)
    assert reply == line("refill_ok", order_ids=ORDER)
    assert_customer_safe(reply)
    (row,) = db.session.query(CommandOrder).filter_by(command_log_id=log.id).all()
    assert (row.order_id, row.action, row.ok, row.reason) == (ORDER, "refill", True, "ok")
    assert (row.provider_id, row.route_id, row.external_id, row.outbound_message_id) == \
        (desk.provider.id, desk.route.id, EXTERNAL, dispatch.id)
    claim = db.session.query(CooldownClaim).one()
    assert (claim.order_id, claim.action, claim.command_log_id) == (ORDER, "refill", log.id)

    names = [s["step"] for s in log.trace]
    for name in ("parse", "identity", "panel_fetch", "rule", "cooldown", "route", "dispatch",
                 "reply", "done"):
        assert name in names, f"no {name} step in {names}"
    assert names.index("parse") < names.index("identity") < names.index("panel_fetch") \
        < names.index("rule") < names.index("cooldown") < names.index("dispatch") \
        < names.index("reply")
    (fetch,) = steps(log, "panel_fetch")
    assert fetch["calls"] == 1 and fetch["found"] == 1 and fetch["fetch_ms"] >= 0
    (rule,) = steps(log, "rule")
    assert (rule["order"], rule["verdict"], rule["terms"], rule["refill_days"]) == \
        (ORDER, "ok", "window", 30)
    assert steps(log, "identity")[0]["linked_user"] == "alice"
    assert steps(log, "dispatch")[0]["outbound"] == dispatch.id
    assert log.reply_text == reply and log.linked_user_id == desk.user.id
    assert log.actions == "refill" and log.order_ids == ORDER


def test_one_provider_message_per_route_per_batch(client, factory, desk, pp):
    for order_id, external in ((2274301, "EXT-1"), (2274302, "EXT-2")):
        pp.add_order(order_id, user="alice", service_name=REFILL_30, external_id=external,
                     created=days_ago(3))
    other = factory.provider(desk.workspace, name="Peakerr", domains="peakerr.com")
    other_route = factory.route(other, desk.channel, chat_id="120363000000000002@g.us",
                                template="{external_ids} {action}")
    for order_id, external in ((2274303, "PK-7"), (2274304, "PK-8")):
        pp.add_order(order_id, user="alice", service_name=REFILL_30, external_id=external,
                     created=days_ago(3), provider="https://www.peakerr.com/")

    log = send(client, desk.channel, f"{ORDER}, 2274301 2274302+2274303/2274304 refill")

    by_chat = {d.chat_id: d.text for d in dispatches(log)}
    assert by_chat == {GROUP_CHAT: f"{EXTERNAL} refill\nEXT-1 refill\nEXT-2 refill",
                       "120363000000000002@g.us": "PK-7, PK-8 refill"}
    rows = db.session.query(CommandOrder).filter_by(command_log_id=log.id).all()
    assert len(rows) == 5 and all(r.ok for r in rows)
    dispatch_of = {d.chat_id: d.id for d in dispatches(log)}
    assert {r.order_id: r.outbound_message_id for r in rows} == {
        ORDER: dispatch_of[GROUP_CHAT], "2274301": dispatch_of[GROUP_CHAT],
        "2274302": dispatch_of[GROUP_CHAT],
        "2274303": dispatch_of["120363000000000002@g.us"],
        "2274304": dispatch_of["120363000000000002@g.us"]}
    assert {r.order_id: r.route_id for r in rows}["2274304"] == other_route.id
    # one grouped reply for the whole message
    assert reply_of(log) == line("refill_ok", order_ids=f"{ORDER}, 2274301, 2274302, 2274303, "
                                                        "2274304")
    assert len(steps(log, "dispatch")) == 2
    # the batch was fetched with one list call for the customer
    assert steps(log, "panel_fetch")[0]["calls"] == 1


def test_speed_and_cancel_are_dispatched(client, desk, pp):
    pp.add_order(2274401, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=400, external_id="EXT-S", created=days_ago(0, minutes=180))
    pp.add_order(2274402, user="alice", service_name=REFILL_30, status="pending",
                 external_id="EXT-C", created=days_ago(0, minutes=5))
    log = send(client, desk.channel, "2274401 speed\n2274402 cancel")
    (dispatch,) = dispatches(log)
    assert dispatch.text == "EXT-S speed\nEXT-C cancel"
    assert reply_of(log).splitlines() == [line("speed_ok", order_ids="2274401"),
                                          line("cancel_ok", order_ids="2274402")]


def test_details_answer_without_dispatch(client, desk, pp):
    pp.add_order(2274403, user="alice", service_name=REFILL_30, status="in_progress",
                 start_count=120, remains=300, created=days_ago(1))
    log = send(client, desk.channel, "2274403")
    assert dispatches(log) == [] and log.outcome == "answered"
    assert reply_of(log) == line("details_line", order_id="2274403", status="In progress",
                                 start_count=120, remains=300)


def test_a_linked_group_speaks_for_its_user(client, factory, desk, pp):
    group = "120363011112222333@g.us"
    factory.identity(desk.user, desk.channel, chat_id=group)
    log = send(client, desk.channel, f"{ORDER} refill", chat=group)
    assert log.outcome == "dispatched" and log.linked_user_id == desk.user.id
    reply = db.session.query(OutboundMessage).filter_by(purpose="reply").one()
    assert (reply.chat_id, reply.text) == (group, line("refill_ok", order_ids=ORDER))


# --- every refusal ------------------------------------------------------------------------------

def test_unknown_chat_gets_not_linked_without_asking_the_panel(client, desk, pp):
    pp.reset()
    log = send(client, desk.channel, f"{ORDER} refill", chat=STRANGER_CHAT)
    assert log.outcome == "not_linked"
    assert reply_of(log) == DEFAULT_REPLIES["not_linked"]
    assert pp.request_count == 0 and dispatches() == []
    assert steps(log, "identity")[0].get("linked_user") is None


def test_every_refill_refusal(client, factory, desk, pp):
    pp.add_order(2274210, user="bob", service_name=REFILL_30, created=days_ago(5))
    pp.add_order(2274211, user="alice", service_name=REFILL_30, created=days_ago(45))
    pp.add_order(2274212, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=50, created=days_ago(2))
    pp.add_order(2274213, user="alice", service_name=REFILL_30, status="partial",
                 created=days_ago(2))
    pp.add_order(2274214, user="alice", service_name="TikTok Views [No Refill]",
                 created=days_ago(2))
    pp.add_order(2274215, user="alice", service_name="Instagram Followers HQ",
                 created=days_ago(2))
    pp.add_order(2274216, user="alice", service_name=REFILL_30, status="canceled",
                 created=days_ago(2))
    pp.add_order(2274217, user="alice", service_name=REFILL_30, status="fail",
                 created=days_ago(2))
    pp.add_order(2274218, user="alice", service_id=77, service_name="IG Likes [Lifetime]",
                 created=days_ago(2))
    factory.service_rule(desk.workspace, service_id="77", refill_kind="lifetime",
                         allow_refill=False, is_override=True)
    pp.add_order(2274219, user="", service_name=REFILL_30, created=days_ago(2))
    # an order whose date the panel cannot give (fetched singly: not in alice's list)
    pp.override("GET", "*/orders/2274220", body={"data": {
        "id": 2274220, "user": "alice", "service_id": 1, "service_name": REFILL_30,
        "status": "completed", "provider": "smmrush.com", "external_id": "EXT-D",
        "created": "0000-00-00 00:00:00"}, "error_code": 0, "error_message": ""})

    ids = [str(i) for i in range(2274210, 2274221)] + ["9999999"]
    log = send(client, desk.channel, " ".join(ids) + " refill")

    expected = {
        "2274210": "not_owner", "2274211": "refill_window_ended",
        "2274212": "refill_not_completed", "2274213": "refill_partial_not_allowed",
        "2274214": "refill_not_covered", "2274215": "refill_unknown_terms",
        "2274216": "refill_order_canceled", "2274217": "status_unknown",
        "2274218": "refill_disabled", "2274219": "owner_unknown",
        "2274220": "refill_date_unknown", "9999999": "order_not_found",
    }
    assert reasons(log) == expected
    assert log.outcome == "refused" and dispatches() == []
    reply = reply_of(log)
    for order_id, reason in expected.items():
        assert line(reason, order_ids=order_id) in reply.splitlines()
    assert_customer_safe(reply)
    verdicts = {s["order"]: s["verdict"] for s in steps(log, "rule")}
    assert verdicts == {k: v for k, v in expected.items() if k != "9999999"}
    assert steps(log, "order")[0]["verdict"] == "order_not_found"
    assert steps(log, "panel_fetch")[0]["missing"] == ["9999999"]
    assert db.session.query(CooldownClaim).count() == 0


def test_partial_refill_when_the_workspace_allows_it(client, desk, pp):
    pp.add_order(2274213, user="alice", service_name=REFILL_30, status="partial",
                 external_id="EXT-P", created=days_ago(2))
    settings(desk).allow_partial_refill = True
    db.session.commit()
    log = send(client, desk.channel, "2274213 refill")
    assert reasons(log) == {"2274213": "ok"}
    assert dispatches(log)[0].text == "EXT-P refill"


def test_every_speed_and_cancel_refusal(client, factory, desk, pp):
    pp.add_order(2274501, user="alice", service_name=REFILL_30, status="completed",
                 created=days_ago(1))
    pp.add_order(2274502, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=900, created=days_ago(0, minutes=10))
    pp.add_order(2274503, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=0, created=days_ago(1))
    pp.add_order(2274504, user="alice", service_id=78, service_name=REFILL_30,
                 status="pending", remains=10, created=days_ago(1))
    factory.service_rule(desk.workspace, service_id="78", refill_kind="window", refill_days=30,
                         allow_speed=False, allow_cancel=False, is_override=True)
    pp.add_order(2274505, user="alice", service_name=REFILL_30, status="partial",
                 created=days_ago(1))
    pp.override("GET", "*/orders/2274506", body={"data": {
        "id": 2274506, "user": "alice", "service_id": 1, "service_name": REFILL_30,
        "status": "pending", "remains": 10, "provider": "smmrush.com", "created": None},
        "error_code": 0, "error_message": ""})

    log = send(client, desk.channel, "2274501 2274502 2274503 2274504 2274506 speed\n"
                                     "2274505 2274504 cancel")

    rows = db.session.query(CommandOrder).filter_by(command_log_id=log.id).all()
    assert {(r.order_id, r.action): r.reason for r in rows} == {
        ("2274501", "speed"): "speed_not_running",
        ("2274502", "speed"): "speed_start_time_not_passed",
        ("2274503", "speed"): "speed_nothing_remaining",
        ("2274504", "speed"): "speed_disabled",
        ("2274506", "speed"): "speed_date_unknown",
        ("2274505", "cancel"): "cancel_already_finished",
        ("2274504", "cancel"): "cancel_disabled",
    }
    reply = reply_of(log).splitlines()
    for key, order_id in (("speed_not_running", "2274501"),
                          ("speed_start_time_not_passed", "2274502"),
                          ("speed_nothing_remaining", "2274503"), ("speed_disabled", "2274504"),
                          ("speed_date_unknown", "2274506"),
                          ("cancel_already_finished", "2274505"),
                          ("cancel_disabled", "2274504")):
        assert line(key, order_ids=order_id) in reply
    assert dispatches() == []


def test_cooldown_refuses_with_the_time_left(client, desk, pp):
    first = send(client, desk.channel, f"{ORDER} refill")
    second = send(client, desk.channel, f"refill {ORDER}")

    assert first.outcome == "dispatched" and second.outcome == "refused"
    assert len(dispatches()) == 1
    assert reasons(second) == {ORDER: "cooldown"}
    (row,) = db.session.query(CommandOrder).filter_by(command_log_id=second.id).all()
    assert 86000 < row.detail["seconds_left"] <= 86400
    left = format_duration(row.detail["seconds_left"])
    assert left in ("24h", "23h 59m")
    assert reply_of(second) == line("cooldown", time_left=left, order_ids=ORDER)
    (cooldown,) = steps(second, "cooldown")
    assert cooldown["order"] == ORDER and 86000 < cooldown["seconds_left"] <= 86400


def test_cooldown_expires(client, desk, pp):
    settings(desk).cooldown_refill_seconds = 0
    db.session.commit()
    send(client, desk.channel, f"{ORDER} refill")
    send(client, desk.channel, f"{ORDER} refill")
    assert len(dispatches()) == 2


def test_provider_and_route_missing(client, factory, desk, pp):
    pp.add_order(2274601, user="alice", service_name=REFILL_30, provider="nobody.example",
                 created=days_ago(2))
    speedless = factory.provider(desk.workspace, name="Slowpoke", domains="slowpoke.net")
    factory.route(speedless, desk.channel, chat_id="120363000000000003@g.us",
                  actions="refill")
    pp.add_order(2274602, user="alice", service_name=REFILL_30, status="in_progress",
                 remains=10, provider="slowpoke.net", external_id="SP-1", created=days_ago(1))
    disabled = factory.provider(desk.workspace, name="Disabled", domains="disabled.net")
    factory.route(disabled, desk.channel, chat_id="120363000000000004@g.us", enabled=False)
    pp.add_order(2274603, user="alice", service_name=REFILL_30, provider="disabled.net",
                 external_id="DS-1", created=days_ago(2))

    log = send(client, desk.channel, "2274601 2274603 refill\n2274602 speed")

    assert reasons(log) == {"2274601": "provider_missing", "2274602": "route_missing",
                            "2274603": "route_missing"}
    reply = reply_of(log)
    assert line("provider_missing", order_ids="2274601") in reply.splitlines()
    assert line("route_missing", order_ids="2274603, 2274602") in reply.splitlines()
    assert_customer_safe(reply)
    for word in ("nobody.example", "Slowpoke", "SP-1", "DS-1"):
        assert word not in reply
    routes = {s["order"]: s for s in steps(log, "route")}
    assert routes["2274601"]["provider"] == "nobody.example"
    assert routes["2274602"]["provider"] == "Slowpoke"
    assert dispatches() == []
    # a refusal before the cooldown claim leaves the cooldown free
    assert db.session.query(CooldownClaim).count() == 0


def test_too_many_ids(client, desk, pp):
    settings(desk).max_ids_per_message = 2
    db.session.commit()
    pp.add_order(2274701, user="alice", service_name=REFILL_30, created=days_ago(2))
    log = send(client, desk.channel, f"{ORDER} 2274701 2274702 refill")
    reply = reply_of(log).split("\n\n")
    assert reply[0] == render_reply("too_many_ids", max_ids=2)
    assert set(reasons(log)) == {ORDER, "2274701"}  # only the first max_ids ids are handled
    assert steps(log, "parse")[0]["too_many_ids"] is True


def test_reseller_api_panel_is_unsupported(client, factory, fake_smmapi, redis_conn):
    desk = build_desk(factory, fake_smmapi.url, panel_type="smm_api_v2", api_key="user-key")
    log = send(client, desk.channel, f"{ORDER} refill")
    assert log.outcome == "unsupported"
    assert reply_of(log) == DEFAULT_REPLIES["unsupported"]
    assert fake_smmapi.request_count == 0 and dispatches() == []


def test_no_panel_connection_is_unsupported(client, desk, pp):
    db.session.delete(desk.panel)
    db.session.commit()
    log = send(client, desk.channel, f"{ORDER} refill")
    assert log.outcome == "unsupported"
    assert reply_of(log) == DEFAULT_REPLIES["unsupported"]


def test_rental_panel_orders_are_checked_on_the_panel_clock(client, factory, fake_rentalpanel,
                                                           redis_conn):
    import datetime as dt

    fake_rentalpanel.clock = dt.datetime(2025, 6, 1, 12, 0, 0)
    fake_rentalpanel.add_order(2274801, username="alice", service=REFILL_30,
                               external_id="RP-1", date="2025-05-20 12:00:00")
    fake_rentalpanel.add_order(2274802, username="alice", service=REFILL_30,
                               external_id="RP-2", date="2025-04-20 12:00:00")
    desk = build_desk(factory, fake_rentalpanel.url, panel_type="rentalpanel_v1",
                      api_key="rp-admin-key")
    log = send(client, desk.channel, "2274801 2274802 refill")
    assert reasons(log) == {"2274801": "ok", "2274802": "refill_window_ended"}
    assert dispatches(log)[0].text == "RP-1 refill"
    assert steps(log, "panel_fetch")[0]["calls"] == 1


# --- panel failures -----------------------------------------------------------------------------

PANEL_FAULTS = {
    "timeout": lambda pp: pp.delay_next(3, seconds=1.5, path="*/orders/*"),
    "5xx": lambda pp: pp.fail_next(3, 502, path="*/orders/*"),
    "cloudflare": lambda pp: pp.cloudflare_next(3, path="*/orders/*"),
    "malformed_json": lambda pp: pp.garbage_next(3, "truncated", path="*/orders/*"),
}
FAULT_EVIDENCE = {"timeout": "timeout", "5xx": "502", "cloudflare": "Cloudflare",
                  "malformed_json": "malformed JSON"}


@pytest.mark.parametrize("fault", list(PANEL_FAULTS))
def test_panel_failure_answers_panel_unavailable_and_logs_the_detail(client, factory, pp,
                                                                     redis_conn, fault):
    desk = build_desk(factory, pp.url, timeout=0.5)
    desk.panel.api_path = "/adminapi/v2"
    db.session.commit()
    PANEL_FAULTS[fault](pp)

    log = send(client, desk.channel, f"{ORDER} refill")

    assert log.state == "done" and log.outcome == "panel_unavailable"
    reply = reply_of(log)
    assert reply == DEFAULT_REPLIES["panel_unavailable"]
    assert_customer_safe(reply)
    assert dispatches() == [] and db.session.query(CooldownClaim).count() == 0
    # the adapter tried again before giving up
    assert pp.count("GET", f"*/orders/{ORDER}") > 1
    calls = db.session.query(ExternalCall).filter_by(workspace_id=desk.workspace.id) \
        .filter(ExternalCall.service.like("panel:%")).order_by(ExternalCall.id).all()
    assert len(calls) == pp.count("GET", f"*/orders/{ORDER}")
    assert all(c.outcome != "ok" for c in calls)
    assert all(c.service == "panel:perfectpanel_v2" and ORDER in c.url for c in calls)
    assert "pp-admin-key" not in " ".join(f"{c.url} {c.request_body}" for c in calls)
    (fetch,) = steps(log, "panel_fetch")
    assert fetch["error"] in ("unreachable", "bad_response") and fetch["fetch_ms"] > 0
    assert FAULT_EVIDENCE[fault].lower() in (fetch["detail"] + " ".join(
        f"{c.status_code} {c.outcome} {c.error} {c.response_body}" for c in calls)).lower()


def test_admin_sees_the_technical_detail_of_a_panel_failure(client, factory, pp, redis_conn):
    desk = build_desk(factory, pp.url, timeout=0.5)
    pp.fail_next(3, 500, path="*/orders/*")
    log = send(client, desk.channel, f"{ORDER} refill", chat=ADMIN_CHAT)
    reply = reply_of(log)
    assert reply.startswith(DEFAULT_REPLIES["panel_unavailable"])
    assert "unreachable" in reply and "HTTP 500" in reply


# --- admin identities ---------------------------------------------------------------------------

def test_admin_gets_technical_details_and_may_force(client, desk, pp):
    pp.add_order(2274211, user="bob", service_name=REFILL_30, external_id="EXT-OLD",
                 created=days_ago(45))

    refused = send(client, desk.channel, "2274211 refill", chat=ADMIN_CHAT)
    assert reasons(refused) == {"2274211": "refill_window_ended"}
    text = reply_of(refused)
    assert line("refill_window_ended", order_ids="2274211") in text
    assert "2274211 refill: refill_window_ended (" in text and "window_days=30" in text
    assert steps(refused, "identity")[0]["admin"] == "Owner"
    assert refused.admin_identity_id is not None

    forced = send(client, desk.channel, "2274211 refill force", chat=ADMIN_CHAT)
    assert reasons(forced) == {"2274211": "ok"}
    assert dispatches(forced)[0].text == "EXT-OLD refill"
    text = reply_of(forced)
    assert line("refill_ok", order_ids="2274211") in text
    assert f"provider={PROVIDER_NAME}" in text and "external_id=EXT-OLD" in text


def test_admin_force_skips_the_cooldown_but_a_customer_cannot(client, desk, pp):
    send(client, desk.channel, f"{ORDER} refill")
    customer = send(client, desk.channel, f"{ORDER} refill force")
    assert reasons(customer) == {ORDER: "cooldown"}
    admin = send(client, desk.channel, f"{ORDER} refill force", chat=ADMIN_CHAT)
    assert reasons(admin) == {ORDER: "ok"}
    assert [d.text for d in dispatches()] == [f"{EXTERNAL} refill"] * 2
    assert any(s.get("forced") for s in steps(admin, "cooldown"))
    # without force the admin is held by the cooldown like anyone else
    plain = send(client, desk.channel, f"{ORDER} refill", chat=ADMIN_CHAT)
    assert reasons(plain) == {ORDER: "cooldown"}


def test_a_staff_member_in_a_customer_group_gets_no_technical_details(client, factory, desk,
                                                                      pp):
    group = "120363011112222444@g.us"
    factory.identity(desk.user, desk.channel, chat_id=group)
    pp.add_order(2274211, user="bob", service_name=REFILL_30, external_id="EXT-OLD",
                 created=days_ago(45))
    (event_id,) = post_green(client, desk.channel, "2274211 refill force", chat=group,
                             sender=ADMIN_CHAT)
    process_event(event_id)
    log = db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()
    # the admin's powers hold (another user's order, forced past the window) …
    assert reasons(log) == {"2274211": "ok"} and log.admin_identity_id is not None
    # … but the reply goes to the customer's group: nothing technical in it
    text = reply_of(log)
    assert text == line("refill_ok", order_ids="2274211")
    assert_customer_safe(text)


def test_an_order_repeated_in_one_message_is_decided_once(client, desk, pp):
    log = send(client, desk.channel, f"{ORDER} refill\n{ORDER} refill force")
    assert [d.text for d in dispatches(log)] == [f"{EXTERNAL} refill"]
    assert len(steps(log, "rule")) == 1
    assert reply_of(log) == line("refill_ok", order_ids=ORDER)


# --- language and reply texts -------------------------------------------------------------------

def test_russian_customer_gets_the_russian_reply(client, factory, pp, redis_conn):
    desk = build_desk(factory, pp.url, language="ru")
    log = send(client, desk.channel, f"{ORDER} рефилл")
    assert log.language == "ru"
    assert reply_of(log) == f"Докрутка запрошена для 1 заказа: {ORDER}"
    assert dispatches(log)[0].text == f"{EXTERNAL} refill"  # providers get the plain command

    unknown = send(client, desk.channel, "9999999 refill")
    assert reply_of(unknown) != line("order_not_found", order_ids="9999999")


def test_reply_lookup_order(client, factory, pp, redis_conn):
    desk = build_desk(factory, pp.url, language="ru")
    catalogue = ReplyBook(desk.workspace.id, "ru").text("refill_ok", 1)
    assert catalogue == "Докрутка запрошена для {count} заказа: {order_ids}"
    db.session.add(GlobalReplyTemplate(key="refill_ok", language="ru",
                                       body="Глобально: {order_ids}"))
    db.session.commit()
    assert ReplyBook(desk.workspace.id, "ru").text("refill_ok") == "Глобально: {order_ids}"
    assert ReplyBook(desk.workspace.id, "en").text("refill_ok") == \
        DEFAULT_REPLIES["refill_ok"]
    factory.reply_template(desk.workspace, key="refill_ok", language="ru",
                           body="Рабочее место: {order_ids}")
    assert ReplyBook(desk.workspace.id, "ru-RU").text("refill_ok") == \
        "Рабочее место: {order_ids}"
    log = send(client, desk.channel, f"{ORDER} refill")
    assert reply_of(log) == f"Рабочее место: {ORDER}"


# --- standalone commands ------------------------------------------------------------------------

def test_help_and_custom_commands(client, factory, desk, pp):
    factory.custom_command(desk.workspace, keyword="prices", reply="Prices: see the panel.")
    assert reply_of(send(client, desk.channel, "help")) == DEFAULT_REPLIES["help"]
    log = send(client, desk.channel, "prices")
    assert reply_of(log) == "Prices: see the panel."
    assert steps(log, "custom")[0]["argument"] == "prices"
    # help and custom commands need no link
    assert reply_of(send(client, desk.channel, "help", chat=STRANGER_CHAT)) == \
        DEFAULT_REPLIES["help"]
    assert pp.request_count == 0


def test_balance_from_the_demo_panel(client, factory, redis_conn):
    from app.integrations.panels.demo import DEMO_USERNAME

    desk = build_desk(factory, "https://panel.demo.example", panel_type="demo")
    desk.user.username = DEMO_USERNAME
    db.session.commit()
    assert reply_of(send(client, desk.channel, "balance")) == \
        render_reply("balance", balance="25.00")
    assert reply_of(send(client, desk.channel, "balance", chat=STRANGER_CHAT)) == \
        DEFAULT_REPLIES["not_linked"]


def test_balance_unavailable_on_perfect_panel(client, desk, pp):
    assert reply_of(send(client, desk.channel, "balance")) == \
        DEFAULT_REPLIES["balance_unavailable"]


def test_fallback_reply_only_when_enabled(client, desk, pp):
    chatter = "hello, how are you doing today my friend"
    log = send(client, desk.channel, chatter)
    assert log.outcome == "ignored" and reply_of(log) is None
    settings(desk).fallback_reply_enabled = True
    db.session.commit()
    log = send(client, desk.channel, chatter + "?")
    assert log.outcome == "fallback"
    assert reply_of(log) == DEFAULT_REPLIES["fallback"]
    assert db.session.query(OutboundMessage).filter_by(purpose="reply").count() == 1


# --- idempotency of a re-run --------------------------------------------------------------------

def test_processing_an_event_again_changes_nothing(client, desk, pp):
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill")
    assert process_event(event_id) == "dispatched"
    assert process_event(event_id) == "skipped"
    # even a forced re-run of the command (a worker that lost its lease) sends nothing new
    from app.jobs.drivers import run_event

    log = db.session.query(CommandLog).one()
    log.state = "processing"
    db.session.commit()
    run_event(db.session.get(InboundEvent, event_id))
    assert len(dispatches()) == 1
    assert db.session.query(OutboundMessage).filter_by(purpose="reply").count() == 1
    assert db.session.query(CommandLog).count() == 1
    assert steps(db.session.query(CommandLog).one(), "resumed")


def test_a_run_that_raises_keeps_its_trace_and_is_finished_by_the_retry(client, desk, pp,
                                                                        monkeypatch):
    from app.jobs import pipeline

    def broken(template, items):
        raise RuntimeError("template engine exploded")

    monkeypatch.setattr(pipeline, "render_provider_command", broken)
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill")
    with pytest.raises(RuntimeError):
        process_event(event_id)
    db.session.expire_all()
    log = db.session.query(CommandLog).one()
    assert log.state == "processing" and "template engine exploded" in log.error
    assert [s["step"] for s in log.trace][-1] == "error"
    assert "rule" in [s["step"] for s in log.trace]  # what happened before the failure stays
    event = db.session.get(InboundEvent, event_id)
    assert event.state == "pending" and "RuntimeError" in event.last_error
    assert dispatches() == []

    monkeypatch.undo()
    event.lease_until = None  # the retry is due
    db.session.commit()
    assert process_event(event_id) == "dispatched"
    db.session.expire_all()
    log = db.session.query(CommandLog).one()
    assert log.state == "done" and log.error is None
    names = [s["step"] for s in log.trace]
    assert "error" in names and "resumed" in names and names[-1] == "done"
    assert [d.text for d in dispatches()] == [f"{EXTERNAL} refill"]
    # the retry found the cooldown claim its first attempt took
    assert reasons(log) == {ORDER: "ok"}



def test_a_customer_link_does_not_follow_them_into_unlinked_groups(client, desk, pp):
    group = "120363099998888777@g.us"
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill", chat=group,
                             sender=CUSTOMER_CHAT)
    process_event(event_id)
    log = db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()
    assert log.outcome == "ignored"
    assert steps(log, "ignored")[0]["reason"] == "group not linked"
    assert reply_of(log) is None and dispatches() == []
    assert pp.count("GET", "*/orders*") == 0  # the panel is not even asked


def test_messages_in_a_provider_group_are_never_commands(client, desk, pp):
    (event_id,) = post_green(client, desk.channel, f"{ORDER} refill", chat=GROUP_CHAT,
                             sender=CUSTOMER_CHAT)
    process_event(event_id)
    log = db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()
    assert log.outcome == "ignored"
    assert steps(log, "ignored")[0]["reason"] == "provider group"
    assert reply_of(log) is None and dispatches() == []
