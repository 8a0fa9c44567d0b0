"""Panel adapters against the local fakes over real HTTP, with PostgreSQL (ExternalCall rows) and
Redis (the shared panel rate limit): every variant of docs/external-apis.md section 1."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from app.integrations.panels.base import PanelError
from app.integrations.panels.demo_adapter import DemoPanelAdapter
from app.integrations.panels.perfectpanel import PerfectPanelAdapter
from app.integrations.panels.registry import adapter_for, detect
from app.integrations.panels.rentalpanel import RentalPanelAdapter
from app.integrations.panels.smmapi import SmmApiAdapter
from app.models import ExternalCall
from tests.fakes.perfectpanel import FakePerfectPanel
from tests.fakes.rentalpanel import FakeRentalPanel
from tests.fakes.server import FakeServer, Reply
from tests.fakes.smmapi import FakeSmmApi

PP_KEY = "pp-admin-key-0123456789"
RP_KEY = "rp-admin-key-0123456789"
SMM_KEY = "smm-user-key-0123456789"
CREATED = dt.datetime(2025, 5, 15, 4, 36, 3)
CLOCK = dt.datetime(2025, 6, 1, 12, 0, 0)


@pytest.fixture(autouse=True)
def _fresh_rate_limits(redis_conn):
    """Workspace ids restart at 1 every test: forget the previous test's panel pacing."""
    yield


@pytest.fixture
def serve():
    started: list[FakeServer] = []

    def start(cls, **kwargs):
        server = cls(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    crashes = [error for server in started for error in server.errors]
    assert not crashes, "\n".join(crashes)


@pytest.fixture
def ws(factory):
    return factory.workspace("acme")


@pytest.fixture
def pp(serve):
    return serve(FakePerfectPanel, api_key=PP_KEY)


@pytest.fixture
def rp(serve):
    return serve(FakeRentalPanel, api_key=RP_KEY, clock=CLOCK)


@pytest.fixture
def smm(serve):
    return serve(FakeSmmApi, api_key=SMM_KEY)


def pp_adapter(factory, ws, fake, **kw) -> PerfectPanelAdapter:
    kw.setdefault("api_key", PP_KEY)
    panel = factory.panel(ws, panel_type="perfectpanel_v2", url=fake.url, **kw)
    adapter = adapter_for(panel)
    assert isinstance(adapter, PerfectPanelAdapter)
    return adapter


def rp_adapter(factory, ws, fake, **kw) -> RentalPanelAdapter:
    kw.setdefault("api_key", RP_KEY)
    adapter = adapter_for(factory.panel(ws, panel_type="rentalpanel_v1", url=fake.url, **kw))
    assert isinstance(adapter, RentalPanelAdapter)
    return adapter


def smm_adapter(factory, ws, fake, **kw) -> SmmApiAdapter:
    kw.setdefault("api_key", SMM_KEY)
    adapter = adapter_for(factory.panel(ws, panel_type="smm_api_v2", url=fake.url, **kw))
    assert isinstance(adapter, SmmApiAdapter)
    return adapter


def calls(db) -> list[ExternalCall]:
    db.session.expire_all()
    return db.session.query(ExternalCall).order_by(ExternalCall.id).all()


# ==== Perfect Panel admin API v2 ================================================================
def test_pp_single_order_every_field(factory, ws, pp):
    pp.add_order(2274209, user="Alice", service_id=7, service_name="Followers [30 Days Refill]",
                 link="https://instagram.com/alice", quantity=1000, start_count=3572,
                 remains=157, charge="0.27819", status="partial", provider="smmrush.com",
                 external_id="EXT-1", created=CREATED,
                 actions={"refill": True, "cancel_and_refund": False})
    result = pp_adapter(factory, ws, pp).get_orders(["2274209"])

    assert result.calls == 1 and result.missing == []
    order = result.orders["2274209"]
    assert (order.id, order.status, order.raw_status, order.username) == (
        "2274209", "partial", "partial", "Alice")
    assert (order.service_id, order.service_name, order.link) == (
        "7", "Followers [30 Days Refill]", "https://instagram.com/alice")
    assert (order.quantity, order.start_count, order.remains, order.charge) == (
        1000, 3572, 157, "0.27819")
    assert (order.provider, order.external_id, order.created_at, order.panel_now) == (
        "smmrush.com", "EXT-1", CREATED, None)
    assert order.actions == {"refill": True, "cancel_and_refund": False}
    assert pp.requests.last.headers["X-Api-Key"] == PP_KEY


VARIANTS = [
    {"status_style": "numeric"}, {"provider_style": "object"}, {"charge_style": "object"},
    {"created_style": "unix"}, {"quantity_key": "count"}, {"pagination_in": "data"},
    {"status_style": "numeric", "provider_style": "object", "charge_style": "object",
     "created_style": "unix", "quantity_key": "count", "pagination_in": "data"},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "+".join(f"{k}={x}"
                                                                     for k, x in v.items()))
def test_pp_every_documented_variant_reads_the_same(factory, ws, serve, variant):
    plain = serve(FakePerfectPanel, api_key=PP_KEY)
    other = serve(FakePerfectPanel, api_key=PP_KEY, **variant)
    for fake in (plain, other):
        fake.add_order(11, status="completed", provider="smmrush.com", charge="0.5",
                       quantity=300, created=CREATED)
        fake.seed_orders(3, start_id=20, status="in_progress", created=CREATED)
    ids = ["11", "20", "21", "22"]
    a = pp_adapter(factory, ws, plain).get_orders(ids, username="alice")
    other_ws = factory.workspace("other")
    b = pp_adapter(factory, other_ws, other).get_orders(ids, username="alice")

    assert a.orders.keys() == b.orders.keys() == set(ids)
    for order_id in ids:
        left, right = a.orders[order_id], b.orders[order_id]
        assert (left.status, left.provider, left.charge, left.quantity, left.created_at) == (
            right.status, right.provider, right.charge, right.quantity, right.created_at)
    assert b.orders["11"].status == "completed" and b.orders["20"].status == "in_progress"
    assert b.orders["11"].created_at == CREATED and b.orders["11"].charge == "0.5"
    assert b.orders["11"].provider == "smmrush.com" and b.orders["11"].quantity == 300
    assert a.calls == b.calls == 1  # one list call answered all four


@pytest.mark.parametrize("style", ["string", "numeric"])
def test_pp_statuses_are_normalised(factory, ws, serve, style):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, status_style=style)
    statuses = ["pending", "in_progress", "processing", "completed", "partial", "canceled",
                "fail", "error"]
    for number, status in enumerate(statuses, start=1):
        fake.add_order(number, status=status)
    result = pp_adapter(factory, ws, fake).get_orders([str(n) for n in range(1, 9)])
    got = [result.orders[str(n)].status for n in range(1, 9)]
    assert got == ["pending", "in_progress", "processing", "completed", "partial", "canceled",
                   "unknown", "unknown"]
    if style == "numeric":
        assert result.orders["2"].raw_status == "In progress"


def test_pp_capitalised_keys(factory, ws, pp):
    pp.override("GET", "*/orders/5", body={
        "Data": {"Id": 5, "User": "Bob", "Status": 2, "Status_name": "Completed",
                 "Provider": {"Name": "rush.example"}, "Charge": {"Value": "1.20"},
                 "Created": "2025-05-15 04:36:03", "Count": "40", "External_Id": 77},
        "Error_code": 0, "Error_message": ""})
    order = pp_adapter(factory, ws, pp).get_orders(["5"]).orders["5"]
    assert (order.username, order.status, order.provider, order.charge, order.created_at,
            order.quantity, order.external_id) == (
        "Bob", "completed", "rush.example", "1.20", CREATED, 40, "77")


def test_pp_batches_a_user_list_then_singles_for_the_rest(factory, ws, pp):
    alice = pp.seed_orders(18, start_id=1000, user="alice")
    bob = pp.seed_orders(2, start_id=2000, user="bob")
    adapter = pp_adapter(factory, ws, pp)
    ids = [str(i) for i in alice + bob]

    result = adapter.get_orders(ids, username=" Alice ")

    assert list(result.orders) == ids and result.missing == []
    assert result.calls == 3
    assert pp.count("GET", "*/orders") == 1
    assert pp.count("GET", "*/orders/*") == 2
    listed = pp.requests.filter("GET", "*/orders")[0].query
    assert listed["user"] == "Alice" and listed["sort"] == "date-desc"
    assert {result.orders[str(i)].username for i in bob} == {"bob"}


def test_pp_one_id_is_one_single_call(factory, ws, pp):
    pp.add_order(5)
    result = pp_adapter(factory, ws, pp).get_orders(["5"], username="alice")
    assert result.calls == 1 and pp.count("GET", "*/orders") == 0


def test_pp_pages_only_while_needed_and_caps_pages(factory, ws, pp):
    ids = pp.seed_orders(400, start_id=1, user="alice")  # id 400 is the newest
    adapter = pp_adapter(factory, ws, pp, requests_per_second=50)

    newest = adapter.get_orders(["400", "399", "398"], username="alice")
    assert newest.calls == 1 and len(newest.orders) == 3  # all on the first page

    pp.reset()
    older = adapter.get_orders(["400", "250", "150"], username="alice")  # pages 1, 2, 3
    assert older.calls == 3 and len(older.orders) == 3
    assert [r.query["offset"] for r in pp.requests.filter("GET", "*/orders")] == [
        "0", "100", "200"]

    pp.reset()
    oldest = adapter.get_orders(["400", str(ids[0]), str(ids[1])], username="alice")
    assert len(oldest.orders) == 3
    assert pp.count("GET", "*/orders") == 3  # capped at three pages
    assert pp.count("GET", "*/orders/*") == 2  # the two oldest, one by one
    assert oldest.calls == 5


def test_pp_short_user_list_stops_after_one_page(factory, ws, pp):
    pp.seed_orders(5, start_id=1, user="alice")
    pp.add_order(900, user="carol")
    result = pp_adapter(factory, ws, pp).get_orders(["1", "2", "900", "901"], username="alice")
    assert pp.count("GET", "*/orders") == 1
    assert set(result.orders) == {"1", "2", "900"} and result.missing == ["901"]
    assert result.calls == 3


def test_pp_missing_and_impossible_ids(factory, ws, pp):
    pp.add_order(1)
    result = pp_adapter(factory, ws, pp).get_orders(["1", "77", "abc", "1"])
    assert list(result.orders) == ["1"]
    assert sorted(result.missing) == ["77", "abc"]
    assert result.calls == 2  # "abc" needs no call, the duplicate neither


def test_pp_not_found_with_http_404_envelope_is_missing(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, error_http_status=404)
    result = pp_adapter(factory, ws, fake).get_orders(["5"])
    assert result.missing == ["5"] and result.calls == 1


def test_pp_200_with_error_code_is_retried_then_succeeds(factory, ws, pp):
    pp.add_order(5)
    pp.error_next(code=500, message="Internal error", n=1)
    result = pp_adapter(factory, ws, pp).get_orders(["5"])
    assert "5" in result.orders and result.calls == 2


def test_pp_200_with_error_code_that_stays_is_unreachable(factory, ws, pp):
    pp.add_order(5)
    pp.error_next(code=503, message="Maintenance", n=5)
    with pytest.raises(PanelError) as caught:
        pp_adapter(factory, ws, pp).get_orders(["5"])
    assert caught.value.kind == "unreachable" and caught.value.transient
    assert pp.request_count == 3


def test_pp_200_with_other_error_code_on_a_list_falls_back_to_singles(factory, ws, pp):
    pp.seed_orders(3, start_id=1)
    pp.error_next(code=400, message="Invalid user", n=1, path="*/orders")
    result = pp_adapter(factory, ws, pp).get_orders(["1", "2", "3"], username="alice")
    assert len(result.orders) == 3 and result.calls == 4


@pytest.mark.parametrize("http_status", [200, 401])
def test_pp_bad_key_is_auth_and_never_retried(factory, ws, serve, http_status):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, error_http_status=http_status)
    fake.add_order(5)
    adapter = pp_adapter(factory, ws, fake, api_key="wrong-key-999",
                         api_path="/adminapi/v2")
    with pytest.raises(PanelError) as caught:
        adapter.get_orders(["5", "6"], username="alice")
    assert caught.value.kind == "auth" and not caught.value.transient
    assert fake.request_count == 1


def test_pp_cloudflare_is_unreachable_after_retries(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, cloudflare=True)
    with pytest.raises(PanelError) as caught:
        pp_adapter(factory, ws, fake).get_orders(["5"])
    assert caught.value.kind == "unreachable" and "Cloudflare" in caught.value.detail
    assert fake.request_count == 3  # no fallback to the other base path either
    assert {r.path for r in fake.requests} == {"/adminapi/v2/orders/5"}


def test_pp_one_cloudflare_challenge_is_retried(factory, ws, pp):
    pp.add_order(5)
    pp.cloudflare_next(1)
    started = time.monotonic()
    result = pp_adapter(factory, ws, pp).get_orders(["5"])
    assert "5" in result.orders and result.calls == 2
    assert time.monotonic() - started >= 0.2  # the back-off


def test_pp_timeouts_are_retried_then_unreachable(factory, ws, pp, db):
    pp.add_order(5)
    pp.delay_next(3, seconds=1.5)
    adapter = pp_adapter(factory, ws, pp, timeout_seconds=0.3, api_path="/adminapi/v2")
    with pytest.raises(PanelError) as caught:
        adapter.get_orders(["5"])
    assert caught.value.kind == "unreachable" and "timeout" in caught.value.detail
    assert pp.request_count == 3
    assert [c.outcome for c in calls(db)] == ["timeout"] * 3


def test_pp_one_timeout_is_retried(factory, ws, pp):
    pp.add_order(5)
    pp.delay_next(1, seconds=1.5)
    adapter = pp_adapter(factory, ws, pp, timeout_seconds=0.3, api_path="/adminapi/v2")
    result = adapter.get_orders(["5"])
    assert "5" in result.orders and result.calls == 2


def test_pp_5xx_and_429_are_retried(factory, ws, pp):
    pp.add_order(5)
    pp.fail_next(1, 502)
    pp.fail_next(1, 429)
    result = pp_adapter(factory, ws, pp, api_path="/adminapi/v2").get_orders(["5"])
    assert "5" in result.orders and result.calls == 3


def test_pp_malformed_json_is_retried(factory, ws, pp):
    pp.add_order(5)
    pp.garbage_next(1, "truncated")
    result = pp_adapter(factory, ws, pp, api_path="/adminapi/v2").get_orders(["5"])
    assert "5" in result.orders and result.calls == 2


def test_pp_malformed_json_that_persists_is_unreachable(factory, ws, pp):
    pp.add_order(5)
    pp.garbage_next(3, "truncated")
    with pytest.raises(PanelError) as caught:
        pp_adapter(factory, ws, pp, api_path="/adminapi/v2").get_orders(["5"])
    assert caught.value.kind == "unreachable" and "malformed JSON" in caught.value.detail


@pytest.mark.parametrize("kind", ["html", "text", "empty"])
def test_pp_garbage_is_bad_response(factory, ws, pp, kind):
    pp.add_order(5)
    pp.garbage_next(1, kind)
    with pytest.raises(PanelError) as caught:
        pp_adapter(factory, ws, pp, api_path="/adminapi/v2").get_orders(["5"])
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize("body", [
    {"data": "oops", "error_code": 0}, {"data": [1, 2], "error_code": "0"}, [1, 2, 3],
    "just a string", {"data": {}, "error_code": 0},
])
def test_pp_wrong_types_are_bad_response(factory, ws, pp, body):
    pp.override("GET", "*/orders/5", body=body)
    with pytest.raises(PanelError) as caught:
        pp_adapter(factory, ws, pp, api_path="/adminapi/v2").get_orders(["5"])
    assert caught.value.kind == "bad_response"


def test_pp_garbage_items_in_a_list_are_skipped(factory, ws, pp):
    pp.add_order(5)
    pp.override("GET", "*/orders", times=1, body={
        "data": {"list": [None, "x", 7, {"no": "id"}, {"id": 6, "status": ["?"], "user": "alice",
                                                       "created": "soon", "quantity": "lots"}]},
        "error_code": 0, "error_message": ""})
    result = pp_adapter(factory, ws, pp).get_orders(["5", "6"], username="alice")
    assert result.orders["6"].status == "unknown" and result.orders["6"].quantity is None
    assert result.orders["5"].status == "completed"  # fetched singly
    assert result.calls == 2


def test_pp_falls_back_to_the_admin_base_path_and_remembers_it(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, base_path="/admin/adminapi/v2")
    fake.seed_orders(3, start_id=1)
    adapter = pp_adapter(factory, ws, fake)

    check = adapter.test_connection()
    assert check.ok and check.engine == "perfectpanel_v2"
    assert check.api_path == adapter.api_path == "/admin/adminapi/v2"
    assert "3 orders" in check.summary

    fake.reset()
    result = adapter.get_orders(["1", "2"], username="alice")
    assert len(result.orders) == 2 and result.calls == 1
    assert all(r.path.startswith("/admin/adminapi/v2/") for r in fake.requests)


def test_pp_first_call_finds_the_path_without_test_connection(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, base_path="/admin/adminapi/v2")
    fake.add_order(5)
    adapter = pp_adapter(factory, ws, fake)
    result = adapter.get_orders(["5"])
    assert "5" in result.orders and result.calls == 2  # one HTML 404 probe, then the order
    assert adapter.api_path == "/admin/adminapi/v2"


def test_pp_stored_or_pasted_api_path_is_used_directly(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, base_path="/admin/adminapi/v2")
    fake.add_order(5)
    stored = pp_adapter(factory, ws, fake, api_path="/admin/adminapi/v2")
    assert stored.get_orders(["5"]).calls == 1
    pasted = adapter_for(factory.panel(factory.workspace("pasted"), panel_type="perfectpanel_v2",
                                       url=fake.api_url + "/", api_key=PP_KEY))
    assert pasted.get_orders(["5"]).calls == 1


def test_pp_no_api_under_either_path_is_bad_response(factory, ws, rp):
    adapter = pp_adapter(factory, ws, rp)  # a Rental Panel: HTML 404 for both v2 paths
    with pytest.raises(PanelError) as caught:
        adapter.get_orders(["5"])
    assert caught.value.kind == "bad_response"
    check = adapter.test_connection()
    assert not check.ok and check.api_path is None


def test_pp_tickets(factory, ws, pp):
    first = pp.add_ticket(user="alice", subject="Refill please",
                          messages=[("alice", "2274209 refill"), ("support", "On it")])
    pp.add_ticket(user="bob", subject="Answered", status="answered")
    adapter = pp_adapter(factory, ws, pp)
    assert "tickets" in adapter.capabilities() and "ticket_close" not in adapter.capabilities()
    assert {"orders", "ownership", "dispatch"} <= adapter.capabilities()

    pending = adapter.list_tickets()
    assert [(t.id, t.subject, t.username, t.status) for t in pending] == [
        (str(first), "Refill please", "alice", "pending")]
    ticket = adapter.get_ticket(str(first))
    assert [(m["sender_name"], m["message"]) for m in ticket.messages] == [
        ("alice", "2274209 refill"), ("support", "On it")]

    adapter.reply_ticket(str(first), "Refill sent to the provider")
    assert pp.tickets[first]["messages"][-1]["message"] == "Refill sent to the provider"
    assert pp.tickets[first]["status"] == "answered"

    new_id = adapter.create_ticket("carol", "About your order", "We refilled 2274209")
    assert new_id is not None and pp.tickets[int(new_id)]["user"] == "carol"

    with pytest.raises(PanelError) as caught:
        adapter.get_ticket("999")
    assert caught.value.kind == "rejected"


def test_pp_ticket_reply_is_not_repeated_after_a_5xx_but_is_after_a_429(factory, ws, pp):
    ticket = pp.add_ticket(user="alice")
    adapter = pp_adapter(factory, ws, pp, api_path="/adminapi/v2")
    pp.fail_next(1, 500, method="POST")
    with pytest.raises(PanelError) as caught:
        adapter.reply_ticket(str(ticket), "hello")
    assert caught.value.kind == "unreachable" and pp.count("POST") == 1

    pp.reset()
    pp.fail_next(1, 429, method="POST")
    adapter.reply_ticket(str(ticket), "hello again")
    assert pp.count("POST") == 2
    assert [m["message"] for m in pp.tickets[ticket]["messages"]].count("hello again") == 1


def test_pp_has_no_services_or_balance(factory, ws, pp):
    adapter = pp_adapter(factory, ws, pp)
    for method, args in ((adapter.services, ()), (adapter.user_balance, ("alice",))):
        with pytest.raises(PanelError) as caught:
            method(*args)
        assert caught.value.kind == "unsupported"
    assert pp.request_count == 0


# ==== Rental Panel admin API v1 =================================================================
def test_rp_order_fields_and_panel_clock(factory, ws, rp):
    rp.add_order(2274209, username="Alice", status="completed", service="Likes [R30]",
                 provider="smmrush.com", external_id="EXT-9", date=CREATED)
    result = rp_adapter(factory, ws, rp).get_orders(["2274209", "404"])

    assert result.calls == 1 and result.missing == ["404"]
    order = result.orders["2274209"]
    assert (order.id, order.username, order.status, order.raw_status) == (
        "2274209", "Alice", "completed", "completed")
    assert (order.service_name, order.service_id, order.provider, order.external_id) == (
        "Likes [R30]", None, "smmrush.com", "EXT-9")
    assert (order.created_at, order.panel_now) == (CREATED, CLOCK)
    query = rp.requests.last.query
    assert (query["action"], query["orders"], query["provider"], query["key"]) == (
        "getOrders-by-id", "2274209,404", "1", RP_KEY)


def test_rp_capabilities(factory, ws, rp):
    adapter = rp_adapter(factory, ws, rp)
    assert adapter.capabilities() == {"orders", "ownership", "dispatch", "panel_clock"}
    for method, args in ((adapter.list_tickets, ()), (adapter.services, ()),
                         (adapter.user_balance, ("a",)), (adapter.get_ticket, ("1",)),
                         (adapter.reply_ticket, ("1", "x")),
                         (adapter.create_ticket, ("a", "b", "c"))):
        with pytest.raises(PanelError) as caught:
            method(*args)
        assert caught.value.kind == "unsupported"


def test_rp_statuses_are_normalised(factory, ws, rp):
    statuses = ["pending", "in progress", "processing", "completed", "partial", "canceled"]
    for number, status in enumerate(statuses, start=1):
        rp.add_order(number, status=status)
    result = rp_adapter(factory, ws, rp).get_orders([str(n) for n in range(1, 7)])
    assert [result.orders[str(n)].status for n in range(1, 7)] == [
        "pending", "in_progress", "processing", "completed", "partial", "canceled"]


@pytest.mark.parametrize(("count", "expected_calls"), [(100, 1), (101, 2), (250, 3)])
def test_rp_one_call_per_hundred_ids(factory, ws, rp, count, expected_calls):
    ids = [str(i) for i in rp.seed_orders(count, start_id=5000)]
    result = rp_adapter(factory, ws, rp).get_orders(ids)
    assert result.calls == expected_calls == rp.request_count
    assert list(result.orders) == ids and result.missing == []
    assert max(len(r.query["orders"].split(",")) for r in rp.requests) == 100


def test_rp_capitalised_keys_and_orders_keyed_by_id(factory, ws, rp):
    rp.override("GET", "*", body={
        "Status": "Success", "Current_date": "2025-06-01 12:00:00",
        "Orders": {"5": {"Id": "5", "Username": "Bob", "Order_status": "Cancelled",
                         "Service": "Views", "Provider": {"Name": "p.example"},
                         "External_id": 12, "Date": 1747283763}}})
    result = rp_adapter(factory, ws, rp).get_orders(["5", "6"])
    order = result.orders["5"]
    assert (order.username, order.status, order.provider, order.external_id) == (
        "Bob", "canceled", "p.example", "12")
    assert (order.created_at, order.panel_now) == (CREATED, CLOCK)
    assert result.missing == ["6"]


def test_rp_bad_key_is_auth_without_retry(factory, ws, rp):
    with pytest.raises(PanelError) as caught:
        rp_adapter(factory, ws, rp, api_key="wrong-key-999").get_orders(["1"])
    assert caught.value.kind == "auth" and rp.request_count == 1


@pytest.mark.parametrize("word", ["error", "fail"])
def test_rp_status_error_or_fail_is_rejected(factory, ws, rp, word):
    rp.error_next(error="Something odd", status_word=word, n=1)
    with pytest.raises(PanelError) as caught:
        rp_adapter(factory, ws, rp).get_orders(["1"])
    assert caught.value.kind == "rejected" and "Something odd" in caught.value.detail
    assert rp.request_count == 1


def test_rp_transient_failures_are_retried_then_unreachable(factory, ws, rp):
    rp.add_order(1)
    rp.fail_next(1, 500)
    rp.fail_next(1, 429)
    assert "1" in rp_adapter(factory, ws, rp).get_orders(["1"]).orders
    assert rp.request_count == 3

    rp.reset()
    rp.fail_next(3, 503)
    with pytest.raises(PanelError) as caught:
        rp_adapter(factory, factory.workspace("two"), rp).get_orders(["1"])
    assert caught.value.kind == "unreachable" and rp.request_count == 3


@pytest.mark.parametrize(("body", "kind"), [
    ({"status": "success", "orders": "none"}, "bad_response"),
    ([1, 2], "bad_response"),
    ("<html>hi</html>", "bad_response"),
])
def test_rp_wrong_shapes(factory, ws, rp, body, kind):
    rp.override("GET", "*", body=body)
    with pytest.raises(PanelError) as caught:
        rp_adapter(factory, ws, rp).get_orders(["1"])
    assert caught.value.kind == kind


def test_rp_html_cloudflare_is_unreachable(factory, ws, rp):
    rp.garbage_next(3, "cloudflare")
    with pytest.raises(PanelError) as caught:
        rp_adapter(factory, ws, rp).get_orders(["1"])
    assert caught.value.kind == "unreachable" and rp.request_count == 3


# ==== reseller API v2 (services only) ===========================================================
@pytest.mark.parametrize("capitalize", [False, True])
def test_smm_services(factory, ws, serve, capitalize):
    fake = serve(FakeSmmApi, api_key=SMM_KEY, capitalize_keys=capitalize)
    services = smm_adapter(factory, ws, fake).services()
    assert [(s.id, s.name, s.category, s.refill, s.cancel, s.rate) for s in services] == [
        ("1", "Instagram Followers [30 Days Refill]", "Instagram Followers", True, True, "0.90"),
        ("2", "Instagram Likes [No Refill] Instant", "Instagram Likes", False, None, "0.12"),
    ]
    assert fake.requests.last.form["action"] == "services"


def test_smm_capabilities_balance_and_unsupported_orders(factory, ws, smm):
    adapter = smm_adapter(factory, ws, smm)
    assert adapter.capabilities() == {"services"}
    with pytest.raises(PanelError) as caught:
        adapter.get_orders(["1"])
    assert caught.value.kind == "unsupported"
    assert adapter.account_balance() == ("100.84", "USD")
    check = adapter.test_connection()
    assert check.ok and "100.84" in check.summary and check.engine == "smm_api_v2"


def test_smm_bad_key_is_auth(factory, ws, smm):
    adapter = smm_adapter(factory, ws, smm, api_key="wrong-key-999")
    with pytest.raises(PanelError) as caught:
        adapter.services()
    assert caught.value.kind == "auth" and smm.request_count == 1
    assert not adapter.test_connection().ok


def test_smm_garbage_is_bad_response(factory, ws, smm):
    smm.garbage_next(1, "text")
    with pytest.raises(PanelError) as caught:
        smm_adapter(factory, ws, smm).services()
    assert caught.value.kind == "bad_response"


def test_smm_malformed_json_is_retried(factory, ws, smm):
    smm.garbage_next(1, "truncated")
    assert smm_adapter(factory, ws, smm).services()


# ==== demo panel ================================================================================
def test_demo_capabilities_services_balance(factory, ws):
    adapter = adapter_for(factory.panel(ws, panel_type="demo"))
    assert isinstance(adapter, DemoPanelAdapter)
    assert adapter.capabilities() == {"orders", "ownership", "dispatch", "services",
                                      "user_balance"}
    services = adapter.services()
    assert len(services) == 9 and services[2].refill is False and services[2].cancel is None
    assert adapter.user_balance(" DEMO_customer ") == "25.00"
    assert adapter.user_balance("nobody") is None
    assert adapter.test_connection().ok
    with pytest.raises(PanelError):
        adapter.list_tickets()


# ==== registry and detection ====================================================================
def test_detect_rental_panel(factory, ws, rp):
    check = detect(rp.url, RP_KEY, workspace_id=ws.id)
    assert (check.ok, check.engine, check.api_path) == (True, "rentalpanel_v1", "/adminapi/v1")
    refused = detect(rp.url, "wrong-key-999", workspace_id=ws.id)
    assert (refused.ok, refused.engine) == (False, "rentalpanel_v1")
    assert "refused" in refused.summary


@pytest.mark.parametrize("base_path", ["/adminapi/v2", "/admin/adminapi/v2"])
def test_detect_perfect_panel_and_its_path(factory, ws, serve, base_path):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, base_path=base_path)
    check = detect(fake.url + "/", PP_KEY, workspace_id=ws.id)
    assert (check.ok, check.engine, check.api_path) == (True, "perfectpanel_v2", base_path)
    assert fake.count(path="/adminapi/v1") == 1  # v1 was probed first
    refused = detect(fake.url, "wrong-key-999", workspace_id=ws.id)
    assert (refused.ok, refused.engine, refused.api_path) == (False, "perfectpanel_v2",
                                                              base_path)


def test_detect_user_api_only(factory, ws, smm):
    check = detect(smm.url, SMM_KEY, workspace_id=ws.id)
    assert (check.ok, check.engine, check.api_path) == (True, "smm_api_v2", "/api/v2")


class HtmlSite(FakeServer):
    """A website that is no panel API: an HTML page for every path, HTTP 200."""

    name = "html"

    def not_found(self, req):
        return Reply(200, "<!DOCTYPE html><html><body>Welcome</body></html>",
                     content_type="text/html")


def test_detect_html_site_is_no_engine(factory, ws, serve):
    site = serve(HtmlSite)
    check = detect(site.url, "any-key-1234", workspace_id=ws.id)
    assert (check.ok, check.engine) == (False, None)
    assert site.request_count == 4  # v1, both v2 paths, the reseller API


def test_detect_cloudflare_is_unreachable(factory, ws, serve):
    fake = serve(FakePerfectPanel, api_key=PP_KEY, cloudflare=True)
    check = detect(fake.url, PP_KEY, workspace_id=ws.id)
    assert (check.ok, check.engine) == (False, None) and "unreachable" in check.summary
    assert fake.request_count == 3


# ==== rate limit, logging =======================================================================
def test_rate_limit_paces_calls_across_adapters_and_threads(app, factory, ws, pp):
    pp.seed_orders(10, start_id=1)
    panel = factory.panel(ws, panel_type="perfectpanel_v2", url=pp.url, api_key=PP_KEY,
                          api_path="/adminapi/v2", requests_per_second=5)
    adapters = [adapter_for(panel), adapter_for(panel)]
    errors: list[BaseException] = []

    def work(adapter, first):
        try:
            with app.app_context():
                for order_id in range(first, first + 5):
                    adapter.get_orders([str(order_id)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(adapters[0], 1)),
               threading.Thread(target=work, args=(adapters[1], 6))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started

    assert not errors
    assert pp.request_count == 10
    assert elapsed >= 1.6
    stamps = sorted(r.timestamp for r in pp.requests)
    assert stamps[-1] - stamps[0] >= 1.6
    assert min(b - a for a, b in zip(stamps, stamps[1:], strict=False)) >= 0.12


def test_rate_limit_is_per_workspace_and_gives_up_beyond_five_seconds(factory, ws, pp):
    pp.seed_orders(2, start_id=1)
    slow = pp_adapter(factory, ws, pp, requests_per_second=0.1, api_path="/adminapi/v2")
    slow.get_orders(["1"])
    started = time.monotonic()
    with pytest.raises(PanelError) as caught:
        slow.get_orders(["2"])  # the next slot is 10 s away
    assert caught.value.kind == "unreachable" and "rate limit" in caught.value.detail
    assert time.monotonic() - started < 1.0
    other = pp_adapter(factory, factory.workspace("other"), pp, api_path="/adminapi/v2")
    assert "2" in other.get_orders(["2"]).orders  # another workspace is not held up
    assert pp.request_count == 2


def test_every_call_is_logged_with_timing_and_the_key_redacted(factory, ws, pp, rp, smm, db):
    pp.add_order(5)
    rp.add_order(5)
    pp_adapter(factory, ws, pp).get_orders(["5"])
    rp_adapter(factory, factory.workspace("rental"), rp).get_orders(["5"])
    smm_adapter(factory, factory.workspace("smm"), smm).services()

    rows = calls(db)
    assert [(r.service, r.operation, r.method, r.status_code, r.outcome) for r in rows] == [
        ("panel:perfectpanel_v2", "get_order", "GET", 200, "ok"),
        ("panel:rentalpanel_v1", "getOrders-by-id", "GET", 200, "ok"),
        ("panel:smm_api_v2", "services", "POST", 200, "ok"),
    ]
    assert all(r.duration_ms > 0 for r in rows)
    assert rows[0].workspace_id == ws.id
    for row in rows:
        text = " ".join(filter(None, (row.url, row.request_body, row.response_body)))
        assert PP_KEY not in text and RP_KEY not in text and SMM_KEY not in text
    assert "key=****" in rows[1].url
    assert "****" in rows[2].request_body
