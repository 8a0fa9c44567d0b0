"""refresh_services: the panel's services list cached as ServiceRule rows (cached mode)."""
from __future__ import annotations

import datetime as dt

import pytest

from app.jobs.services import refresh_services
from app.models import ServiceRule
from tests.fakes.perfectpanel import FakePerfectPanel
from tests.fakes.smmapi import FakeSmmApi

KEY = "smm-user-key-0123456789"
SERVICES = [
    {"service": 1, "name": "Instagram Followers [30 Days Refill] | Start: 0-1 Hour",
     "category": "Instagram", "rate": "0.90", "refill": True, "cancel": True},
    {"service": 2, "name": "Likes [No Refill] Instant", "category": "Instagram",
     "rate": "0.12", "refill": False, "cancel": None},
    {"service": "3", "name": "TikTok Views [Lifetime]", "rate": "0.01", "refill": "1",
     "cancel": "0"},
    {"service": 4, "name": "Mystery service", "rate": "1.00", "refill": False, "cancel": False},
]


@pytest.fixture(autouse=True)
def _fresh_rate_limits(redis_conn):
    yield


@pytest.fixture
def smm():
    with FakeSmmApi(api_key=KEY, services=[dict(s) for s in SERVICES]) as fake:
        yield fake
        assert not fake.errors


@pytest.fixture
def ws(factory):
    return factory.workspace("acme")


def cached_panel(factory, ws, fake, **kw):
    kw.setdefault("api_key", KEY)
    return factory.panel(ws, panel_type="smm_api_v2", url=fake.url, service_rules_mode="cached",
                         **kw)


def rules(db, workspace) -> dict[str, ServiceRule]:
    db.session.expire_all()
    return {r.service_id: r for r in
            db.session.query(ServiceRule).filter_by(workspace_id=workspace.id)}


def test_refresh_creates_rows_with_parsed_terms_and_panel_flags(factory, ws, smm, db):
    cached_panel(factory, ws, smm)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    summary = refresh_services(ws.id)

    assert summary == {"state": "ok", "fetched": 4, "created": 4, "updated": 0,
                       "overrides_kept": 0}
    stored = rules(db, ws)
    assert set(stored) == {"1", "2", "3", "4"}
    one, two, three, four = (stored[k] for k in ("1", "2", "3", "4"))
    assert (one.refill_kind, one.refill_days, one.start_minutes_max) == ("window", 30, 60)
    assert (one.panel_refill, one.panel_cancel) == (True, True)
    assert "30" in one.recognised and one.service_name == SERVICES[0]["name"]
    assert (two.refill_kind, two.panel_refill, two.panel_cancel) == ("none", False, None)
    assert two.start_minutes_max == 60  # "Instant"
    assert (three.refill_kind, three.refill_days, three.panel_refill, three.panel_cancel) == (
        "lifetime", None, True, False)
    assert four.refill_kind == "unknown" and four.recognised  # the parser's doubt is kept
    assert all(r.fetched_at >= before and not r.is_override and r.allow_refill
               for r in stored.values())
    assert smm.count("POST", "/api/v2") == 1


def test_refresh_updates_rows_but_keeps_overrides(factory, ws, smm, db):
    cached_panel(factory, ws, smm)
    old = dt.datetime(2024, 1, 1)
    factory.service_rule(ws, service_id="1", service_name="old name", refill_kind="lifetime",
                         is_override=True, allow_refill=False, notes="manager says lifetime",
                         panel_refill=False, recognised="workspace rule", fetched_at=old)
    factory.service_rule(ws, service_id="2", service_name="old name", refill_kind="window",
                         refill_days=7, panel_refill=True, fetched_at=old)

    summary = refresh_services(ws.id)

    assert summary["created"] == 2 and summary["updated"] == 1
    assert summary["overrides_kept"] == 1
    stored = rules(db, ws)
    override = stored["1"]
    assert override.service_name == SERVICES[0]["name"] and override.fetched_at > old
    assert (override.refill_kind, override.refill_days, override.allow_refill) == (
        "lifetime", None, False)
    assert (override.panel_refill, override.recognised, override.notes) == (
        False, "workspace rule", "manager says lifetime")
    assert override.is_override
    plain = stored["2"]
    assert (plain.service_name, plain.refill_kind, plain.refill_days, plain.panel_refill) == (
        SERVICES[1]["name"], "none", None, False)


def test_refresh_twice_is_idempotent_and_follows_renames(factory, ws, smm, db):
    cached_panel(factory, ws, smm)
    refresh_services(ws.id)
    smm.services[3]["name"] = "Mystery service [60 Days Refill]"

    summary = refresh_services(ws.id)

    assert summary == {"state": "ok", "fetched": 4, "created": 0, "updated": 4,
                       "overrides_kept": 0}
    stored = rules(db, ws)
    assert len(stored) == 4
    assert (stored["4"].refill_kind, stored["4"].refill_days) == ("window", 60)


def test_services_the_panel_dropped_and_other_workspaces_are_left_alone(factory, ws, smm, db):
    cached_panel(factory, ws, smm)
    factory.service_rule(ws, service_id="99", service_name="Retired service")
    other = factory.workspace("other")
    factory.service_rule(other, service_id="1", service_name="Other's own rule")

    refresh_services(ws.id)

    assert rules(db, ws)["99"].service_name == "Retired service"
    assert set(rules(db, other)) == {"1"}
    assert rules(db, other)["1"].service_name == "Other's own rule"


def test_duplicate_and_garbage_entries(factory, ws, smm, db):
    smm.services[:] = [{"service": 5, "name": "First [R30]"}, {"service": 5, "name": "Again [R60]"},
                       {"name": "no id"}]
    cached_panel(factory, ws, smm)
    summary = refresh_services(ws.id)
    assert summary["fetched"] == 1
    assert rules(db, ws)["5"].refill_days == 60  # the last entry wins


def test_names_mode_is_skipped_without_a_call(factory, ws, smm, db):
    factory.panel(ws, panel_type="smm_api_v2", url=smm.url, api_key=KEY,
                  service_rules_mode="names")
    assert refresh_services(ws.id)["state"] == "skipped"
    assert smm.request_count == 0 and rules(db, ws) == {}


def test_no_panel_is_skipped(factory, ws):
    assert refresh_services(ws.id) == {"state": "skipped", "reason": "no panel connection"}


def test_panel_failures_are_reported_and_change_nothing(factory, ws, smm, db):
    cached_panel(factory, ws, smm, api_key="wrong-key-999")
    factory.service_rule(ws, service_id="1", service_name="kept")
    summary = refresh_services(ws.id)
    assert summary["state"] == "failed" and summary["error"] == "auth"
    assert rules(db, ws)["1"].service_name == "kept"


def test_engines_without_a_services_list_fail_as_unsupported(factory, ws):
    with FakePerfectPanel() as fake:
        factory.panel(ws, panel_type="perfectpanel_v2", url=fake.url, api_key="pp-admin-key",
                      service_rules_mode="cached")
        summary = refresh_services(ws.id)
        assert fake.request_count == 0
    assert (summary["state"], summary["error"]) == ("failed", "unsupported")


def test_demo_panel_services_are_cached(factory, ws, db):
    factory.panel(ws, panel_type="demo", service_rules_mode="cached")
    assert refresh_services(ws.id)["fetched"] == 9
    stored = rules(db, ws)
    assert (stored["101"].refill_kind, stored["101"].refill_days) == ("window", 30)
    assert (stored["103"].refill_kind, stored["103"].panel_refill) == ("none", False)
