"""The app starts, serves its health endpoints and its main screens."""


def test_healthz_touches_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_down(app, client):
    from redis import Redis

    real = app.extensions["relaydesk_redis"]
    app.extensions["relaydesk_redis"] = Redis.from_url("redis://127.0.0.1:1/0",
                                                       socket_connect_timeout=0.2)
    try:
        response = client.get("/readyz")
    finally:
        app.extensions["relaydesk_redis"] = real
    assert response.status_code == 503
    assert response.json["checks"]["redis"] == "down"


def test_manager_sees_workspace_screens(factory, auth, client):
    ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    for url in ["/", "/channelview/list/", "/providerrouteview/list/", "/linkeduserview/list/",
                "/api/v1/channel/", "/account/api-keys/"]:
        assert client.get(url).status_code == 200, url


def test_manager_cannot_open_master_admin_screens(factory, auth, client):
    ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    for url in ["/workspaceadminview/list/", "/planview/list/", "/adminchannelview/list/"]:
        assert client.get(url).status_code in (302, 403), url


def test_pages_carry_language_and_direction(factory, auth, client):
    ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    assert b'<html lang="en" dir="ltr">' in client.get("/").data
    client.get("/lang/ar")
    assert b'<html lang="ar" dir="rtl">' in client.get("/").data
