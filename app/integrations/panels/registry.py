"""Which adapter serves a panel connection, and which engine a panel URL runs.

`adapter_for(connection)` builds the adapter of `connection.panel_type` from its settings (URL,
decrypted key, stored `api_path`, requests per second, timeout). `detect(url, api_key)` probes,
in this order (docs/external-apis.md 1.4): Rental Panel admin API v1 (a JSON `status`
success/fail/error or `bad_auth`), Perfect Panel admin API v2 under both base paths (the JSON
envelope, not the panel's HTML page), then the reseller API v2 (`balance`). The first engine
that answers wins, even when it refuses the key (then `ok` is False and `engine` says what was
found). A transient failure that outlasts the retries (network, Cloudflare challenge) stops the
probing: it says nothing about the engine.
"""
from __future__ import annotations

import dataclasses

from app.integrations.panels import PanelSettings, ci
from app.integrations.panels.base import ConnectionCheck, PanelAdapter, PanelError
from app.integrations.panels.demo_adapter import DemoPanelAdapter
from app.integrations.panels.perfectpanel import BASE_PATHS, PerfectPanelAdapter
from app.integrations.panels.rentalpanel import RentalPanelAdapter, check_answer
from app.integrations.panels.smmapi import SmmApiAdapter
from app.status_words import Said, panel_problem

ADAPTERS = {
    "perfectpanel_v2": PerfectPanelAdapter,
    "rentalpanel_v1": RentalPanelAdapter,
    "smm_api_v2": SmmApiAdapter,
}
ENGINE_NAMES = {"perfectpanel_v2": "Perfect Panel admin API v2",
                "rentalpanel_v1": "Rental Panel admin API v1",
                "smm_api_v2": "reseller API v2 (services only)", "demo": "demo panel"}


def adapter_for(connection) -> PanelAdapter:
    """The adapter for a `PanelConnection`.

    :raise PanelError("unsupported"): for a panel type no adapter serves.
    """
    if connection.panel_type == "demo":
        return DemoPanelAdapter()
    adapter_class = ADAPTERS.get(connection.panel_type)
    if adapter_class is None:
        raise PanelError("unsupported", f"no adapter for panel type {connection.panel_type!r}")
    return adapter_class(PanelSettings.from_connection(connection))


def detect(url: str, api_key: str, *, workspace_id: int | None = None, timeout: float = 10.0,
           requests_per_second: float = 5.0) -> ConnectionCheck:
    """Which engine answers at `url` with this key (never raises).

    Pass `workspace_id` so the probes are logged as the workspace's external calls and share
    its panel rate limit (without it they are paced per URL and the log rows are dropped).
    """
    settings = PanelSettings(url=url, api_key=api_key, workspace_id=workspace_id,
                             timeout=timeout, requests_per_second=requests_per_second)
    if not settings.base_url.lower().startswith(("http://", "https://")):
        return ConnectionCheck(False, "the panel URL must start with http:// or https://",
                               said=Said("panel_bad_url"))
    try:
        for probe in (_probe_v1, _probe_v2, _probe_user_api):
            found = probe(settings)
            if found is not None:
                return found
    except PanelError as exc:
        return ConnectionCheck(False, f"{exc.kind}: {exc.detail}", said=panel_problem(exc))
    summary = f"no known panel API answered at {settings.base_url}"
    return ConnectionCheck(False, summary, said=Said("panel_none", detail=summary))


def _found(engine: str, api_path: str, error: PanelError | None) -> ConnectionCheck:
    name = ENGINE_NAMES[engine]
    if error is None:
        summary = f"{name} found at {api_path}"
        return ConnectionCheck(True, summary, engine, api_path,
                               said=Said("panel_found", {"engine": engine}, detail=summary))
    if error.kind == "auth":
        summary = f"{name} found at {api_path}, but it refused the key ({error.detail})"
    else:
        summary = f"{name} found at {api_path}, but it answered {error.kind}: {error.detail}"
    said = Said("panel_found_problem", {"engine": engine}, [panel_problem(error)],
                detail=f"{name} found at {api_path}")
    return ConnectionCheck(False, summary, engine, api_path, said=said)


def _probe_v1(settings: PanelSettings) -> ConnectionCheck | None:
    adapter = RentalPanelAdapter(settings)
    result = adapter.http.request("detect", "GET", adapter.api_url,
                                  params={"key": settings.api_key, "action": "getOrders-by-id",
                                          "orders": "1", "provider": 1})
    body = ci(result.data)
    status = str(body.get("status") or "").lower()
    if status not in ("success", "error", "fail", "failed") and \
            str(body.get("error") or "").lower() != "bad_auth":
        return None
    try:
        check_answer(result, "detect")
    except PanelError as exc:
        return _found("rentalpanel_v1", "/adminapi/v1", exc)
    return _found("rentalpanel_v1", "/adminapi/v1", None)


def _probe_v2(settings: PanelSettings) -> ConnectionCheck | None:
    adapter = PerfectPanelAdapter(dataclasses.replace(settings, api_path=None))
    try:
        adapter.ping(candidates=BASE_PATHS)
    except PanelError as exc:
        if adapter.api_path is None:  # no envelope under either path: not this engine
            if exc.kind == "bad_response":
                return None
            raise
        return _found("perfectpanel_v2", adapter.api_path, exc)
    return _found("perfectpanel_v2", adapter.api_path or BASE_PATHS[0], None)


def _probe_user_api(settings: PanelSettings) -> ConnectionCheck | None:
    adapter = SmmApiAdapter(settings)
    try:
        adapter.account_balance()
    except PanelError as exc:
        if exc.kind == "bad_response":
            return None
        if exc.kind in ("auth", "rejected"):
            return _found("smm_api_v2", "/api/v2", exc)
        raise
    return _found("smm_api_v2", "/api/v2", None)
