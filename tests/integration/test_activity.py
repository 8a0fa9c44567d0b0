"""Activity charts (issue 15, point 5): commands per day by outcome, requests passed on per
provider, time from message to dispatch, refusals by reason, messages per channel; a
workspace's own on its home page, every workspace's on the master admin's dashboard."""
from __future__ import annotations

import json
import re
from datetime import timedelta

from app.activity import activity
from app.extensions import db
from app.models import CommandLog, CommandOrder, InboundEvent, OutboundMessage
from app.models.base import utcnow

_n = iter(range(10**6))


def handled(ws, channel, outcome, *, ago=timedelta(0), orders=(), dispatch_after=None):
    """One message on `channel`, its command log with `outcome`, its orders ((ok, reason,
    provider)) and, with `dispatch_after`, a provider message sent that long after it."""
    at = utcnow() - ago
    n = next(_n)
    event = InboundEvent(workspace_id=ws.id, channel_id=channel.id, platform="greenapi",
                         kind="message", type="incomingMessageReceived", dedupe_key=f"a{n}",
                         chat_id="1@c.us", text="x", payload={}, state="done", received_at=at)
    db.session.add(event)
    db.session.flush()
    log = CommandLog(workspace_id=ws.id, inbound_event_id=event.id, channel_id=channel.id,
                     chat_id="1@c.us", text="x", state="done", outcome=outcome, created_at=at)
    db.session.add(log)
    db.session.flush()
    for ok, reason, provider in orders:
        db.session.add(CommandOrder(workspace_id=ws.id, command_log_id=log.id,
                                    order_id=str(1000 + n), action="refill", ok=ok,
                                    reason=reason, provider_id=provider.id if provider else None,
                                    created_at=at))
    if dispatch_after is not None:
        db.session.add(OutboundMessage(workspace_id=ws.id, channel_id=channel.id,
                                       idempotency_key=f"d{n}", purpose="dispatch",
                                       chat_id="g@g.us", text="EXT refill", state="sent",
                                       inbound_event_id=event.id, created_at=at,
                                       sent_at=at + dispatch_after))
    db.session.commit()


def test_each_chart_counts_the_workspaces_own_rows(factory):
    ws, _manager = factory.populated_workspace("acme")
    other, _m = factory.populated_workspace("other")
    channel, provider = ws_channel(ws), ws_provider(ws)
    handled(ws, channel, "dispatched", orders=[(True, "ok", provider)],
            dispatch_after=timedelta(seconds=0.4))
    handled(ws, channel, "dispatched", orders=[(True, "ok", provider)],
            dispatch_after=timedelta(seconds=12))
    handled(ws, channel, "refused", orders=[(False, "refill_window_ended", None)],
            ago=timedelta(days=1))
    handled(ws, channel, "fallback", ago=timedelta(days=1))
    handled(ws, channel, "answered", ago=timedelta(days=20))  # outside the 14 days
    handled(other, ws_channel(other), "refused", orders=[(False, "cooldown", None)])

    charts = activity(ws.id)
    commands = {s["key"]: s["counts"] for s in charts["commands"]["series"]}
    assert set(commands) == {"passed_on", "refused", "not_understood"}
    assert commands["passed_on"][-1] == 2 and commands["refused"][-2] == 1
    assert len(charts["commands"]["days"]) == 14
    assert charts["providers"] == {**charts["providers"], "names": [provider.name],
                                   "counts": [2]}
    assert charts["latency"]["counts"] == [1, 0, 1, 0, 0]
    assert charts["refusals"]["reasons"] == ["Refill: period ended"]
    assert charts["channels"]["names"] == [channel.name]
    assert charts["channels"]["counts"] == [4]

    everyone = activity(None)
    assert sorted(everyone["refusals"]["reasons"]) == ["Asked recently", "Refill: period ended"]
    assert sum(everyone["channels"]["counts"]) == 5


def ws_channel(ws):
    from app.models import Channel
    return db.session.query(Channel).filter_by(workspace_id=ws.id).first()


def ws_provider(ws):
    from app.models import Provider
    return db.session.query(Provider).filter_by(workspace_id=ws.id).first()


def chart_json(html: str) -> dict:
    return json.loads(re.search(r'id="activity-charts"[^>]*>(.*?)</script>', html, re.S)[1])


def test_the_home_page_shows_the_workspaces_charts(factory, auth, client):
    ws, manager = factory.populated_workspace("acme")
    handled(ws, ws_channel(ws), "dispatched", orders=[(True, "ok", ws_provider(ws))],
            dispatch_after=timedelta(seconds=2))
    auth.login(manager.username)
    html = client.get("/").get_data(as_text=True)
    for canvas in ("chart-commands", "chart-providers", "chart-latency", "chart-channels"):
        assert f'id="{canvas}"' in html, canvas
    assert 'data-chart="refusals"' in html  # nothing refused: said in words, no empty chart
    assert chart_json(html)["latency"]["counts"] == [0, 1, 0, 0, 0]
    assert "vendor/chartjs/chart.umd.min.js" in html


def test_the_master_admins_dashboard_shows_every_workspaces_activity(factory, auth, client):
    for slug in ("acme", "bravo"):
        ws, _manager = factory.populated_workspace(slug)
        handled(ws, ws_channel(ws), "answered")
    auth.login(factory.admin("root").username)
    html = client.get("/dashboard/").get_data(as_text=True)
    assert chart_json(html)["commands"]["series"][0]["counts"][-1] == 2
