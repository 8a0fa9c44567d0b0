"""Fixtures shared by the integration tests of the channel and URL screens (test_channel_actions.py,
test_channel_setup.py, test_tenant_urls.py): a workspace "acme" with a public base URL, its
signed-in manager, and one channel per platform pointed at the local fakes. A module's own fixture
of the same name wins."""
from __future__ import annotations

import pytest

PUBLIC = "https://relaydesk.example"
VERIFY_TOKEN = "meta-verify-token-123"


@pytest.fixture
def public_url(app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setitem(app.config, "META_VERIFY_TOKEN", VERIFY_TOKEN)


@pytest.fixture
def acme(factory, redis_conn, public_url):
    return factory.workspace("acme")


@pytest.fixture
def manager(acme, factory, auth):
    factory.member(acme, "acme-manager")
    auth.login("acme-manager")


@pytest.fixture
def green(factory, acme, fake_greenapi):
    return factory.channel(acme, kind="greenapi", name="Main WhatsApp", api_url=fake_greenapi.url,
                           id_instance=fake_greenapi.id_instance,
                           api_token=fake_greenapi.api_token)


@pytest.fixture
def telegram(factory, acme, fake_telegram):
    return factory.channel(acme, kind="telegram", name="Support bot", bot_token=fake_telegram.token,
                           api_base=fake_telegram.url)


@pytest.fixture
def meta(app, factory, acme, fake_meta, monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    return factory.channel(acme, kind="meta", name="Cloud number",
                           phone_number_id=fake_meta.phone_number_id,
                           waba_id=fake_meta.waba_id, access_token=fake_meta.access_token,
                           verified=False)
