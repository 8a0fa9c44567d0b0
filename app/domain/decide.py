"""One (order, action) of a command, decided: what happens to it and why.

Contract
--------
`decide(order_id, action, order, *, force, who, policy, rules, providers, now) -> Decision`
from the facts alone: the order as the panel reported it (None: not found), the service
rules of the workspace, the identity of the chat (`Who`), the workspace's settings
(`Policy`), its providers and routes, and the clock. Pure: no Flask, no database, no I/O.

A `Decision` is either final (`outcome` set: a refusal, or `details` answered) or waits for
a cooldown claim (`claim_seconds` set): the caller claims it (a database claim, the only fact
not known here) and `settle(decision, held, seconds_left)` finishes it. An admin's forced
command takes no claim: `settle(decision)` finishes it at once.

Reasons, in the order they are checked (the first failing one is the outcome):
1. `order_not_found`: the panel did not return the order (to this chat: not its order, or
   no such order, which are indistinguishable on purpose);
2. the eligibility rules of app/domain/eligibility.py (`REFUSAL_REASONS`: ownership, the
   service's terms, the order's status, the clock), with the terms of `terms_for`;
3. `details` is answered here, with the order's status, start count and remains;
4. `provider_missing`: no provider of the workspace matches the order's provider
   (`match_provider`); `route_missing`: the provider has no enabled route for the action, or
   the order has no external id to send;
5. `cooldown`: another command holds the (order, action) cooldown (`settle`).

`steps` are the trace steps of this (order, action), in order, as {"step": name, **facts}
with None values left out; `record` is the per-order verdict to store (reason, detail, and
the provider, route and external id it involved).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from app.domain.eligibility import Order, WorkspaceOptions, check
from app.domain.replies import Outcome
from app.domain.service_rules import ServiceTerms, parse_service_name, rule_terms

ORDER_NOT_FOUND = "order_not_found"
PROVIDER_MISSING = "provider_missing"
ROUTE_MISSING = "route_missing"
COOLDOWN = "cooldown"


@dataclass(frozen=True)
class Who:
    """The chat, as the decision needs it: the linked panel username (None: not linked) and
    whether it is an admin identity (speaks for the panel: skips ownership, may force)."""
    username: str | None = None
    is_admin: bool = False


@dataclass(frozen=True)
class Policy:
    """The workspace settings a decision reads: partial refills, and the cooldown per action
    in seconds (an action not listed has none)."""
    allow_partial_refill: bool = False
    cooldowns: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """The per-order verdict to store."""
    reason: str
    detail: dict
    provider_id: int | None = None
    route_id: int | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Decision:
    order_id: str
    action: str
    steps: tuple[dict, ...]
    outcome: Outcome | None = None  # final; None while a claim is pending or not settled
    record: Record | None = None
    provider: Any = None
    route: Any = None  # the route to dispatch through, once ok
    claim_seconds: int | None = None  # a cooldown claim is needed, for this long
    external_id: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome is not None

    @property
    def dispatch(self) -> bool:
        """Settled and accepted: the order goes to `route`."""
        return self.outcome is not None and self.outcome.reason == "ok" and self.route is not None


def step(name: str, **facts) -> dict:
    """A trace step: its name and the facts given, None values left out."""
    return {"step": name, **{k: v for k, v in facts.items() if v is not None}}


def plain(detail: Mapping | None) -> dict:
    """A JSON-safe copy of a verdict detail (datetimes as ISO text, timedeltas as seconds,
    collections as lists of text, anything else as text)."""
    result = {}
    for key, value in dict(detail or {}).items():
        if isinstance(value, timedelta):
            value = value.total_seconds()
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, (list, tuple, set)):
            value = [str(v) for v in value]
        elif not isinstance(value, (str, int, float, bool)) and value is not None:
            value = str(value)
        result[key] = value
    return result


def terms_for(order: Order, rules: Mapping) -> tuple[ServiceTerms, dict | None]:
    """The service's terms: a manager's override beats everything; then the cached service
    (what the panel's services list says, e.g. refill: false); then what the service name
    says. `rules` maps a service id, or "name:<service name>", to a rule with `refill_kind`,
    `refill_days`, `start_minutes_max`, `allow_*`, `is_override`, `panel_refill`,
    `panel_cancel`, `service_id`. Returns (terms, None), or, for a rule that cannot be read,
    (the name's terms, {"service": its service id, "error": why})."""
    rule = rules.get(order.service_id or "") or rules.get(f"name:{order.service_name}")
    if rule is None:
        return parse_service_name(order.service_name), None
    kind, days = rule.refill_kind, rule.refill_days
    if not rule.is_override:
        if rule.panel_refill is False:
            kind, days = "none", None
        elif kind == "unknown":
            return parse_service_name(order.service_name), None
    try:
        return rule_terms(kind, days, rule.start_minutes_max,
                          allow_refill=rule.allow_refill, allow_speed=rule.allow_speed,
                          allow_cancel=rule.allow_cancel and (rule.is_override
                                                              or rule.panel_cancel
                                                              is not False)), None
    except ValueError as exc:
        return parse_service_name(order.service_name), {"service": rule.service_id,
                                                        "error": str(exc)}


def normalise_domain(value: str | None) -> str:
    """A provider's domain as written anywhere ("https://www.Prov.com/api") → "prov.com"."""
    text = (value or "").strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].split(":", 1)[0]
    return text[4:] if text.startswith("www.") else text


def match_provider(providers: Iterable, order_provider: str | None):
    """The provider whose domain, alias or name is the order's provider field (domains first),
    or None. A provider has `name`, `domain_list`, `alias_list`."""
    if not order_provider:
        return None
    providers = list(providers)
    domain = normalise_domain(order_provider)
    plain_name = order_provider.strip().lower()
    for provider in providers:
        if domain and domain in {normalise_domain(d) for d in provider.domain_list}:
            return provider
    for provider in providers:
        names = {a.lower() for a in provider.alias_list} | {provider.name.lower()}
        if plain_name in names or domain in names:
            return provider
    return None


def decide(order_id: str, action: str, order: Order | None, *, force: bool = False,
           who: Who = Who(), policy: Policy = Policy(), rules: Mapping | None = None,
           providers: Iterable = (), now: datetime) -> Decision:
    """See the module docstring."""
    if order is None:
        return Decision(order_id, action,
                        (step("order", order=order_id, action=action, verdict=ORDER_NOT_FOUND),),
                        Outcome(order_id, action, ORDER_NOT_FOUND), Record(ORDER_NOT_FOUND, {}))
    steps: list[dict] = []
    terms, unreadable = terms_for(order, rules or {})
    if unreadable is not None:
        steps.append(step("rule_invalid", **unreadable))
    verdict = check(action, order, terms, linked_username=who.username, now=now,
                    options=WorkspaceOptions(allow_partial_refill=policy.allow_partial_refill),
                    is_admin=who.is_admin, force=force)
    detail = plain(verdict.detail)
    steps.append(step("rule", order=order_id, action=action, status=order.status,
                      service=order.service_name, terms=terms.refill_kind,
                      refill_days=terms.refill_days, recognised=list(terms.recognised) or None,
                      verdict=verdict.reason, detail=detail or None))
    external_id = order.external_id or None
    if not verdict.ok:
        return Decision(order_id, action, tuple(steps),
                        Outcome(order_id, action, verdict.reason, verdict.detail),
                        Record(verdict.reason, detail, external_id=external_id))
    if action == "details":
        facts = {"status": order.status, "start_count": order.start_count,
                 "remains": order.remains}
        return Decision(order_id, action, tuple(steps), Outcome(order_id, action, "ok", facts),
                        Record("ok", plain(facts), external_id=external_id))
    provider = match_provider(providers, order.provider)
    if provider is None:
        steps.append(step("route", order=order_id, error=PROVIDER_MISSING,
                          provider=order.provider))
        facts = {"provider": order.provider}
        return Decision(order_id, action, tuple(steps),
                        Outcome(order_id, action, PROVIDER_MISSING, facts),
                        Record(PROVIDER_MISSING, plain(facts), external_id=external_id))
    route = next((r for r in provider.routes if r.enabled and action in r.action_list), None)
    if route is None or not order.external_id:
        steps.append(step("route", order=order_id, error=ROUTE_MISSING, provider=provider.name,
                          external_id=order.external_id))
        return Decision(order_id, action, tuple(steps),
                        Outcome(order_id, action, ROUTE_MISSING,
                                {"provider": provider.name, "external_id": order.external_id}),
                        Record(ROUTE_MISSING, {"provider": provider.name},
                               provider_id=provider.id, external_id=external_id))
    forced = who.is_admin and force
    return Decision(order_id, action, tuple(steps), provider=provider, route=route,
                    external_id=order.external_id,
                    claim_seconds=None if forced else int(policy.cooldowns.get(action, 0)))


def settle(decision: Decision, held: bool | None = None, seconds_left: float = 0.0, *,
           simulated: bool = False) -> Decision:
    """Finish a decision that passed every rule: with the cooldown claim's answer (`held`:
    this command holds it; else `seconds_left` until it is free), or without one when it was
    forced (`held` None). `simulated` (a preview): the claim was only read, and the trace says
    the run would claim it. A final decision is returned as it is."""
    if decision.final:
        return decision
    order_id, action, provider, route = (decision.order_id, decision.action,
                                         decision.provider, decision.route)
    steps = list(decision.steps)
    if decision.claim_seconds is None:
        steps.append(step("cooldown", order=order_id, action=action, forced=True))
    elif not held:
        steps.append(step("cooldown", order=order_id, action=action, claimed=False,
                          seconds_left=round(seconds_left)))
        detail = {"seconds_left": seconds_left}
        return replace(decision, steps=tuple(steps), route=None,
                       outcome=Outcome(order_id, action, COOLDOWN, detail),
                       record=Record(COOLDOWN, plain(detail), provider_id=provider.id,
                                     external_id=decision.external_id))
    elif simulated:
        steps.append(step("cooldown", order=order_id, action=action, would_claim=True,
                          seconds=decision.claim_seconds))
    else:
        steps.append(step("cooldown", order=order_id, action=action, claimed=True,
                          seconds=decision.claim_seconds))
    steps.append(step("route", order=order_id, provider=provider.name, route=route.id,
                      chat=route.chat_id))
    return replace(decision, steps=tuple(steps),
                   outcome=Outcome(order_id, action, "ok", {"provider": provider.name,
                                                            "external_id": decision.external_id}),
                   record=Record("ok", {"provider": provider.name}, provider_id=provider.id,
                                 route_id=route.id, external_id=decision.external_id))
