"""`decide` without a database: every refusal reason, the claim, the force, the route.

The facts are plain objects (providers, routes and rules need only the attributes the decision
reads), so each rule of the pipeline is tested here in microseconds instead of through webhook
→ database → fake panel.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from app.domain.decide import (COOLDOWN, ORDER_NOT_FOUND, PROVIDER_MISSING, ROUTE_MISSING,
                               Policy, Who, decide, match_provider, settle, terms_for)
from app.domain.eligibility import REFUSAL_REASONS, Order

NOW = datetime(2026, 12, 3, 12, 0, 0)
OWNER = Who(username="carol")
ADMIN = Who(username=None, is_admin=True)
POLICY = Policy(allow_partial_refill=False,
                cooldowns={"refill": 3600, "speed": 600, "cancel": 60})


def route(id=7, actions=("refill", "speed", "cancel"), enabled=True):
    return SimpleNamespace(id=id, enabled=enabled, action_list=list(actions),
                           chat_id="120363000000000003@g.us")


PROVIDER = SimpleNamespace(id=3, name="Prov", domain_list=["prov.com"], alias_list=["pv"],
                           routes=[route()])


def rule(kind="lifetime", days=None, start=None, *, refill=True, speed=True, cancel=True,
         override=True, panel_refill=None, panel_cancel=None, service_id="11"):
    return SimpleNamespace(refill_kind=kind, refill_days=days, start_minutes_max=start,
                           allow_refill=refill, allow_speed=speed, allow_cancel=cancel,
                           is_override=override, panel_refill=panel_refill,
                           panel_cancel=panel_cancel, service_id=service_id)


def order(status="Completed", *, username="carol", created=NOW - timedelta(days=2),
          remains=10, provider="https://www.prov.com/api/v2", external_id="EXT-88231"):
    return Order(id="2274209", username=username, status=status, service_name="IG likes",
                 service_id="11", created_at=created, remains=remains, start_count=100,
                 provider=provider, external_id=external_id)


def run(action, the_order, *, the_rule=None, who=OWNER, policy=POLICY, force=False,
        providers=(PROVIDER,)):
    return decide("2274209", action, the_order, force=force, who=who, policy=policy,
                  rules={"11": the_rule or rule()}, providers=providers, now=NOW)


# Every refusal: (action, order, rule, who, policy). A reason added to the eligibility rules
# without a case here fails `test_every_refusal_reason_has_a_case`.
REFUSALS = {
    "not_linked": ("refill", order(), None, Who(), POLICY),
    "owner_unknown": ("refill", order(username=None), None, OWNER, POLICY),
    "not_owner": ("cancel", order(username="mallory"), None, OWNER, POLICY),
    "status_unknown": ("refill", order("Frozen"), None, OWNER, POLICY),
    "refill_not_completed": ("refill", order("In progress"), None, OWNER, POLICY),
    "refill_partial_not_allowed": ("refill", order("Partial"), None, OWNER, POLICY),
    "refill_order_canceled": ("refill", order("Canceled"), None, OWNER, POLICY),
    "refill_disabled": ("refill", order(), rule(refill=False), OWNER, POLICY),
    "refill_not_covered": ("refill", order(), rule("none"), OWNER, POLICY),
    "refill_unknown_terms": ("refill", order(), rule("unknown"), OWNER, POLICY),
    "refill_date_unknown": ("refill", order(created=None), rule("window", 30), OWNER, POLICY),
    "refill_window_ended": ("refill", order(created=NOW - timedelta(days=40)),
                            rule("window", 30), OWNER, POLICY),
    "speed_not_running": ("speed", order("Completed"), None, OWNER, POLICY),
    "speed_disabled": ("speed", order("In progress"), rule(speed=False), OWNER, POLICY),
    "speed_nothing_remaining": ("speed", order("In progress", remains=0), None, OWNER,
                                POLICY),
    "speed_date_unknown": ("speed", order("Pending", created=None),
                           rule("lifetime", start=60), OWNER, POLICY),
    "speed_start_time_not_passed": ("speed", order("Pending",
                                                   created=NOW - timedelta(minutes=10)),
                                    rule("lifetime", start=60), OWNER, POLICY),
    "cancel_already_finished": ("cancel", order("Partial"), None, OWNER, POLICY),
    "cancel_disabled": ("cancel", order("Pending"), rule(cancel=False), OWNER, POLICY),
}


def test_every_refusal_reason_has_a_case():
    assert set(REFUSALS) == set(REFUSAL_REASONS)


@pytest.mark.parametrize("reason", sorted(REFUSALS))
def test_each_refusal_is_final_with_its_reason_and_no_claim(reason):
    action, the_order, the_rule, who, policy = REFUSALS[reason]
    decision = run(action, the_order, the_rule=the_rule, who=who, policy=policy)
    assert decision.final and not decision.dispatch
    assert decision.outcome.reason == reason == decision.record.reason
    assert decision.claim_seconds is None and decision.route is None
    rule_step = [s for s in decision.steps if s["step"] == "rule"][-1]
    assert rule_step["verdict"] == reason and rule_step["order"] == "2274209"
    # a refusal never names a route; the verdict to store keeps the external id
    assert decision.record.route_id is None
    assert decision.record.external_id == (the_order.external_id or None)
    assert settle(decision, held=True) is decision  # a final decision takes no claim answer


def test_an_order_the_panel_did_not_return_is_not_found():
    decision = run("refill", None)
    assert decision.outcome.reason == ORDER_NOT_FOUND and decision.record.detail == {}
    assert decision.steps == ({"step": "order", "order": "2274209", "action": "refill",
                               "verdict": ORDER_NOT_FOUND},)


def test_an_unknown_provider_is_provider_missing():
    decision = run("refill", order(provider="elsewhere.net"))
    assert decision.outcome.reason == PROVIDER_MISSING
    assert decision.outcome.detail == {"provider": "elsewhere.net"}
    assert decision.steps[-1] == {"step": "route", "order": "2274209",
                                  "error": PROVIDER_MISSING, "provider": "elsewhere.net"}


@pytest.mark.parametrize("case", ["no route for the action", "route disabled",
                                  "no external id"])
def test_no_way_to_send_is_route_missing(case):
    provider, the_order = PROVIDER, order()
    if case == "no route for the action":
        provider = SimpleNamespace(**{**vars(PROVIDER), "routes": [route(actions=("speed",))]})
    elif case == "route disabled":
        provider = SimpleNamespace(**{**vars(PROVIDER), "routes": [route(enabled=False)]})
    else:
        the_order = order(external_id="")
    decision = run("refill", the_order, providers=(provider,))
    assert decision.outcome.reason == ROUTE_MISSING
    assert decision.record.provider_id == 3 and decision.record.route_id is None


def test_a_held_cooldown_refuses_with_the_time_left():
    decision = run("refill", order())
    assert not decision.final and decision.claim_seconds == 3600
    settled = settle(decision, held=False, seconds_left=1234.4)
    assert settled.outcome.reason == COOLDOWN == settled.record.reason
    assert settled.outcome.detail == {"seconds_left": 1234.4}
    assert not settled.dispatch and settled.record.provider_id == 3
    assert settled.steps[-1] == {"step": "cooldown", "order": "2274209", "action": "refill",
                                 "claimed": False, "seconds_left": 1234}


def test_an_accepted_order_takes_the_claim_then_its_route():
    decision = run("speed", order("In progress"))
    assert decision.claim_seconds == 600
    settled = settle(decision, held=True)
    assert settled.dispatch and settled.route.id == 7
    assert settled.outcome.detail == {"provider": "Prov", "external_id": "EXT-88231"}
    assert (settled.record.route_id, settled.record.provider_id) == (7, 3)
    assert [s["step"] for s in settled.steps] == ["rule", "cooldown", "route"]
    assert settled.steps[1]["claimed"] is True and settled.steps[1]["seconds"] == 600


def test_a_preview_says_it_would_claim():
    settled = settle(run("cancel", order("Pending")), held=True, simulated=True)
    assert settled.steps[1] == {"step": "cooldown", "order": "2274209", "action": "cancel",
                                "would_claim": True, "seconds": 60}


def test_an_admin_forcing_overrides_the_terms_and_takes_no_claim():
    decision = run("refill", order(created=NOW - timedelta(days=40)),
                   the_rule=rule("window", 30), who=ADMIN, force=True)
    assert not decision.final and decision.claim_seconds is None
    settled = settle(decision)
    assert settled.dispatch
    assert settled.steps[-2] == {"step": "cooldown", "order": "2274209", "action": "refill",
                                 "forced": True}
    assert [s for s in settled.steps if s["step"] == "rule"][0]["detail"]["forced"] == [
        "refill_window_ended"]


def test_force_from_a_customer_counts_for_nothing():
    decision = run("refill", order(created=NOW - timedelta(days=40)),
                   the_rule=rule("window", 30), force=True)
    assert decision.outcome.reason == "refill_window_ended"


def test_force_never_overrides_ownership_or_status():
    assert run("refill", order("In progress"), who=ADMIN, force=True).outcome.reason == \
        "refill_not_completed"
    assert run("refill", order(), who=Who(username="mallory"), force=True).outcome.reason == \
        "not_owner"


def test_details_are_answered_without_claim_or_route():
    decision = run("details", order("Partial", remains=5))
    assert decision.final and not decision.dispatch
    assert decision.outcome.detail == {"status": "Partial", "start_count": 100, "remains": 5}
    assert decision.claim_seconds is None


def test_partial_refills_follow_the_workspace_setting():
    allowed = run("refill", order("Partial"), policy=Policy(True, {"refill": 0}))
    assert not allowed.final and allowed.claim_seconds == 0


def test_an_action_without_a_cooldown_setting_claims_zero_seconds():
    assert run("refill", order(), policy=Policy()).claim_seconds == 0


def test_a_rule_that_cannot_be_read_falls_back_to_the_name_and_says_so():
    broken = rule("window", None)  # a window without days
    decision = run("refill", order(), the_rule=broken)
    assert decision.steps[0] == {"step": "rule_invalid", "service": "11",
                                 "error": "a refill window needs a positive number of days"}


def test_the_panel_saying_no_refill_beats_the_name_unless_overridden():
    cached = rule("window", 30, override=False, panel_refill=False)
    terms, problem = terms_for(order(), {"11": cached})
    assert terms.refill_kind == "none" and problem is None
    assert run("refill", order(), the_rule=cached).outcome.reason == "refill_not_covered"
    no_cancel = rule(override=False, panel_cancel=False)
    assert run("cancel", order("Pending"), the_rule=no_cancel).outcome.reason == \
        "cancel_disabled"


def test_rules_are_found_by_service_name_too():
    by_name = {"name:IG likes": rule("none", service_id=None)}
    terms, _ = terms_for(order(), by_name)
    assert terms.refill_kind == "none"


def test_steps_carry_json_values_only():
    decision = run("refill", order(created=NOW - timedelta(days=40)),
                   the_rule=rule("window", 30))
    detail = [s for s in decision.steps if s["step"] == "rule"][0]["detail"]
    assert all(isinstance(v, (str, int, float, bool, list)) for v in detail.values())


@pytest.mark.parametrize("written,expected", [
    ("https://www.prov.com/api/v2", "Prov"), ("PROV.COM", "Prov"), ("pv", "Prov"),
    ("prov", "Prov"), ("http://prov.com:8080", "Prov"), ("other.com", None), ("", None)])
def test_providers_are_matched_by_domain_alias_or_name(written, expected):
    found = match_provider([PROVIDER], written)
    assert (found.name if found else None) == expected
