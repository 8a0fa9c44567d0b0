"""A Meta number's quality rating and its token's expiry on Health (app/health_checks.py):
the health runner reads the rating with the documented number check (the fake Meta server
answers exactly its fields), stores it on the channel, raises `meta_quality_low` for YELLOW or
RED and clears it once GREEN again; a recorded "token expires on" day raises
`meta_token_expiring` 7 days ahead; Meta answering an error page, timing out or refusing the
token changes nothing and breaks nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app import health_checks
from app.extensions import db
from app.integrations.channels import base
from app.models import Channel, ExternalCall, HealthProblem
from app.models.base import utcnow


@pytest.fixture
def acme(factory, redis_conn, public_url):
    return factory.workspace("acme", name="Acme")


@pytest.fixture
def number(app, factory, acme, fake_meta, monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    return factory.channel(acme, kind="meta", name="Cloud number", status="ok",
                           phone_number_id=fake_meta.phone_number_id,
                           waba_id=fake_meta.waba_id, access_token=fake_meta.access_token)


def fresh(channel) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel.id)


def open_codes(workspace) -> dict[str, str]:
    db.session.expire_all()
    return {row.code: row.severity for row in db.session.query(HealthProblem).filter_by(
        workspace_id=workspace.id, cleared_at=None)}


def age(channel, hours: float) -> None:
    row = fresh(channel)
    row.quality_checked_at = utcnow() - timedelta(hours=hours)
    db.session.commit()


def test_the_rating_is_read_stored_and_a_low_one_is_a_problem_until_it_recovers(
        client, factory, acme, number, fake_meta, auth):
    fake_meta.set_quality("RED")
    health_checks.run_workspace(acme.id)
    row = fresh(number)
    assert row.quality_rating == "RED" and row.quality_checked_at is not None
    (asked,) = [r for r in fake_meta.requests
                if r.method == "GET" and r.path.endswith(f"/{fake_meta.phone_number_id}")]
    assert asked.query["fields"] == ("display_phone_number,verified_name,quality_rating,"
                                     "code_verification_status")
    assert asked.headers["Authorization"] == f"Bearer {fake_meta.access_token}"
    call = db.session.query(ExternalCall).filter_by(service="meta",
                                                    operation="number_state").one()
    assert call.outcome == "ok" and fake_meta.access_token not in (call.url or "")
    assert open_codes(acme) == {"meta_quality_low": "problem"}

    factory.member(acme, "acme-manager")
    auth.login("acme-manager")
    report = client.get("/api/v1/health").get_json()
    (problem,) = report["problems"]
    assert problem["code"] == "meta_quality_low" and "Low (red)" in problem["message"]
    assert problem["fix"] and problem["link"] == f"/channelview/show/{number.id}"
    assert report["channels"][0]["quality_rating"] == "RED"
    assert "Low (red)" in client.get("/health/").get_data(as_text=True)
    assert "Low (red)" in client.get(f"/channelview/show/{number.id}").get_data(as_text=True)

    # read at most hourly: a run within the hour does not ask Meta again
    fake_meta.set_quality("YELLOW")
    health_checks.run_workspace(acme.id)
    assert fresh(number).quality_rating == "RED" and len(fake_meta.requests) == 1
    age(number, 2)
    health_checks.run_workspace(acme.id)
    assert fresh(number).quality_rating == "YELLOW"
    assert [p.severity for p in health_checks.evaluate(acme.id).problems] == ["warning"]
    assert set(open_codes(acme)) == {"meta_quality_low"}  # still open (not told twice)

    fake_meta.set_quality("GREEN")
    age(number, 2)
    health_checks.run_workspace(acme.id)
    assert fresh(number).quality_rating == "GREEN" and open_codes(acme) == {}


def test_an_unrated_or_odd_rating_is_unknown_and_no_problem(acme, number, fake_meta):
    fake_meta.set_quality("PURPLE")
    health_checks.run_workspace(acme.id)
    assert fresh(number).quality_rating == "UNKNOWN" and open_codes(acme) == {}


@pytest.mark.parametrize("fault", ["html", "timeout", "401", "190"])
def test_a_meta_error_changes_nothing_and_breaks_nothing(client, factory, acme, number,
                                                         fake_meta, auth, monkeypatch, fault):
    fake_meta.set_quality("YELLOW")
    health_checks.run_workspace(acme.id)
    read_at = fresh(number).quality_checked_at
    age(number, 2)
    read_at = fresh(number).quality_checked_at
    fake_meta.set_quality("GREEN")
    if fault == "html":
        fake_meta.garbage_next(kind="html", status=502)
    elif fault == "timeout":
        monkeypatch.setattr(base, "LIVE_TIMEOUT", 0.3)
        fake_meta.delay_next(seconds=1.5)
    elif fault == "401":
        fake_meta.fail_next(status=401, body="<html><body>Unauthorized</body></html>")
    else:
        fake_meta.error_next(190, http_status=401)
    result = health_checks.run_workspace(acme.id)
    assert set(result) == {"open", "opened", "cleared"}
    row = fresh(number)
    assert (row.quality_rating, row.quality_checked_at) == ("YELLOW", read_at)
    assert open_codes(acme) == {"meta_quality_low": "warning"}
    factory.member(acme, "acme-manager")
    auth.login("acme-manager")
    assert client.get("/health/").status_code == 200
    assert client.get(f"/channelview/show/{number.id}").status_code == 200
    # the next run reads it again
    health_checks.run_workspace(acme.id)
    assert fresh(number).quality_rating == "GREEN" and open_codes(acme) == {}


def test_unverified_disabled_or_refused_numbers_are_not_asked(factory, acme, fake_meta, app,
                                                              monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    factory.channel(acme, kind="meta", verified=False)
    factory.channel(acme, kind="meta", enabled=False)
    factory.channel(acme, kind="meta", status="needs_reauth")
    assert health_checks.refresh_meta_quality(acme.id) == 0
    assert len(fake_meta.requests) == 0


def test_the_token_expiry_is_warned_7_days_ahead(client, factory, acme, number, auth):
    today = utcnow().date()
    row = fresh(number)
    row.token_expires_on = today + timedelta(days=8)
    db.session.commit()
    assert "meta_token_expiring" not in {p.code for p in health_checks.evaluate(acme.id).problems}

    row = fresh(number)
    row.token_expires_on = today + timedelta(days=7)
    db.session.commit()
    (problem,) = [p for p in health_checks.evaluate(acme.id).problems
                  if p.code == "meta_token_expiring"]
    assert problem.severity == "warning"
    assert (today + timedelta(days=7)).isoformat() in problem.message()
    assert "in 7 days" in problem.message()
    health_checks.refresh(acme.id)
    assert open_codes(acme) == {"meta_token_expiring": "warning"}

    row = fresh(number)
    row.token_expires_on = today - timedelta(days=1)
    db.session.commit()
    (problem,) = [p for p in health_checks.evaluate(acme.id).problems
                  if p.code == "meta_token_expiring"]
    assert problem.severity == "problem" and "expired on" in problem.message()

    # blank: never expires (a system user's token)
    row = fresh(number)
    row.token_expires_on = None
    db.session.commit()
    health_checks.refresh(acme.id)
    assert open_codes(acme) == {}


def test_a_manager_records_the_expiry_on_the_channel_screen(client, factory, acme, number,
                                                            auth):
    factory.member(acme, "acme-manager")
    auth.login("acme-manager")
    page = client.get(f"/channelview/edit/{number.id}").get_data(as_text=True)
    assert 'name="token_expires_on"' in page
    day = (utcnow().date() + timedelta(days=3)).isoformat()
    response = client.post(f"/channelview/edit/{number.id}", data={
        "name": "Cloud number", "enabled": "y", "phone_number_id": number.phone_number_id,
        "waba_id": number.waba_id, "token_expires_on": day})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    row = fresh(number)
    assert row.token_expires_on.isoformat() == day and row.verified_at is not None
    report = client.get("/api/v1/health").get_json()
    assert "meta_token_expiring" in {p["code"] for p in report["problems"]}
    # a day that is no date is refused beside the field, nothing saved
    response = client.post(f"/channelview/edit/{number.id}", data={
        "name": "Cloud number", "enabled": "y", "phone_number_id": number.phone_number_id,
        "waba_id": number.waba_id, "token_expires_on": "next tuesday"})
    assert response.status_code == 200
    assert fresh(number).token_expires_on.isoformat() == day
    # the REST twin reads both and takes the day
    shown = client.get(f"/api/v1/channel/{number.id}").get_json()["result"]
    assert shown["token_expires_on"] == day and "quality_rating" in shown
