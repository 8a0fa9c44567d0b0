"""Eligibility: ownership first, then status, service terms and the clock, for every action."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.eligibility import (
    FORCEABLE_REASONS,
    REFUSAL_REASONS,
    Order,
    OrderStatus,
    Verdict,
    WorkspaceOptions,
    check,
    check_details,
    check_owner,
    normalise_status,
    reference_clock,
)
from app.domain.service_rules import ServiceTerms, parse_service_name, rule_terms

CREATED = datetime(2025, 5, 1, 12, 0, 0)  # naive: UTC by the project's convention
NOW = CREATED + timedelta(days=10)
R30 = rule_terms("window", 30, 60)
LIFETIME = rule_terms("lifetime")
NO_REFILL = rule_terms("none")
UNKNOWN = parse_service_name("Instagram Followers HQ")


def order(**changes) -> Order:
    base = Order(id="2274209", username="alice", status="Completed",
                 service_name="Instagram Followers [30 Days Refill]", service_id="12",
                 created_at=CREATED, remains=0, start_count=3572, provider="smmrush.com",
                 external_id="88231")
    return replace(base, **changes)


def verdict(action: str, the_order: Order | None = None, terms: ServiceTerms = R30, *,
            linked: str | None = "alice", now: datetime = NOW, **kwargs) -> Verdict:
    return check(action, the_order or order(), terms, linked_username=linked, now=now, **kwargs)


RUNNING = order(status="In progress", remains=157, created_at=NOW - timedelta(hours=5))

# (case, action, order, terms, extra keyword arguments, expected reason)
REFUSALS = [
    ("chat not linked", "refill", order(), R30, {"linked": None}, "not_linked"),
    ("chat linked to blank", "details", order(), R30, {"linked": "  "}, "not_linked"),
    ("panel gave no username", "refill", order(username=None), R30, {}, "owner_unknown"),
    ("someone else's order", "refill", order(username="bob"), R30, {}, "not_owner"),
    ("someone else's details", "details", order(username="bob"), R30, {}, "not_owner"),
    ("someone else's cancel", "cancel", replace(RUNNING, username="bob"), R30, {}, "not_owner"),
    ("status not understood", "refill", order(status="Fail"), R30, {}, "status_unknown"),
    ("numeric status without name", "speed", order(status="2"), R30, {}, "status_unknown"),
    ("refill pending", "refill", order(status="Pending"), R30, {}, "refill_not_completed"),
    ("refill in progress", "refill", order(status="In progress"), R30, {},
     "refill_not_completed"),
    ("refill processing", "refill", order(status="processing"), R30, {},
     "refill_not_completed"),
    ("refill canceled", "refill", order(status="Canceled"), R30, {}, "refill_order_canceled"),
    ("refill partial, not allowed", "refill", order(status="Partial"), R30, {},
     "refill_partial_not_allowed"),
    ("refill switched off by rule", "refill", order(), rule_terms("window", 30,
                                                                 allow_refill=False), {},
     "refill_disabled"),
    ("no refill service", "refill", order(), NO_REFILL, {}, "refill_not_covered"),
    ("unknown terms", "refill", order(), UNKNOWN, {}, "refill_unknown_terms"),
    ("no creation date", "refill", order(created_at=None), R30, {}, "refill_date_unknown"),
    ("window ended", "refill", order(), R30, {"now": CREATED + timedelta(days=31)},
     "refill_window_ended"),
    ("speed completed", "speed", order(), R30, {}, "speed_not_running"),
    ("speed partial", "speed", order(status="Partial"), R30, {}, "speed_not_running"),
    ("speed canceled", "speed", order(status="Cancelled"), R30, {}, "speed_not_running"),
    ("speed switched off", "speed", RUNNING, rule_terms("window", 30, allow_speed=False), {},
     "speed_disabled"),
    ("speed nothing left", "speed", replace(RUNNING, remains=0), R30, {},
     "speed_nothing_remaining"),
    ("speed negative remains", "speed", replace(RUNNING, remains=-20), R30, {},
     "speed_nothing_remaining"),
    ("speed too early", "speed", replace(RUNNING, created_at=NOW - timedelta(minutes=20)), R30,
     {}, "speed_start_time_not_passed"),
    ("speed without date", "speed", replace(RUNNING, created_at=None), R30, {},
     "speed_date_unknown"),
    ("cancel completed", "cancel", order(), R30, {}, "cancel_already_finished"),
    ("cancel partial", "cancel", order(status="partial"), R30, {}, "cancel_already_finished"),
    ("cancel canceled", "cancel", order(status="CANCELED"), R30, {}, "cancel_already_finished"),
    ("cancel switched off", "cancel", RUNNING, rule_terms("none", allow_cancel=False), {},
     "cancel_disabled"),
]


@pytest.mark.parametrize(("case", "action", "the_order", "terms", "kwargs", "reason"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refusals(case, action, the_order, terms, kwargs, reason):
    result = verdict(action, the_order, terms, **kwargs)
    assert result == Verdict(False, reason, result.detail)
    assert reason in REFUSAL_REASONS


def test_every_refusal_reason_is_tested():
    assert {r[-1] for r in REFUSALS} == set(REFUSAL_REASONS)


# --- ownership

@pytest.mark.parametrize("linked", ["alice", "Alice", " ALICE ", "alice\n"])
def test_ownership_is_trimmed_and_case_insensitive(linked):
    assert verdict("details", linked=linked).ok


@pytest.mark.parametrize("linked", ["alice2", "alic", "al ice", "bob"])
def test_ownership_needs_the_same_name(linked):
    assert verdict("details", linked=linked).reason == "not_owner"


def test_ownership_comes_before_everything():
    # a stranger asking about a canceled order of unknown terms learns nothing but "not yours"
    stranger = order(username="bob", status="Canceled")
    for action in ("refill", "speed", "cancel", "details"):
        assert verdict(action, stranger, UNKNOWN).reason == "not_owner"


def test_admin_identity_speaks_for_the_panel():
    assert check_owner(order(username="bob"), None, is_admin=True).ok
    assert verdict("refill", order(username="bob"), linked=None, is_admin=True).ok


# --- refill window

def test_refill_inside_window_gives_time_left():
    result = verdict("refill")
    assert result.ok and result.reason == "ok"
    assert result.detail == {"refill_kind": "window", "window_days": 30, "clock": "server",
                             "days_left": 20, "hours_left": 480}


def test_last_instant_of_the_window_still_counts():
    end = CREATED + timedelta(days=30)
    assert verdict("refill", now=end).ok
    late = verdict("refill", now=end + timedelta(seconds=1))
    assert late.reason == "refill_window_ended"
    assert late.detail["window_days"] == 30


def test_window_ended_says_how_long_ago():
    result = verdict("refill", now=CREATED + timedelta(days=33, hours=5))
    assert result.detail == {"window_days": 30, "clock": "server", "ended_days_ago": 3,
                             "ended_hours_ago": 77}


def test_panel_clock_wins_over_server_clock():
    # the server thinks the window has ended, the panel (whose clock dates the order) says not
    inside_on_panel = order(panel_now=CREATED + timedelta(days=29, hours=23))
    result = verdict("refill", inside_on_panel, now=CREATED + timedelta(days=31))
    assert result.ok and result.detail["clock"] == "panel"
    assert result.detail["hours_left"] == 1
    # and the other way round
    ended_on_panel = order(panel_now=CREATED + timedelta(days=30, seconds=1))
    result = verdict("refill", ended_on_panel, now=CREATED + timedelta(days=29))
    assert result.reason == "refill_window_ended" and result.detail["clock"] == "panel"


def test_panel_clock_boundary():
    assert verdict("refill", order(panel_now=CREATED + timedelta(days=30)),
                   now=CREATED + timedelta(days=99)).ok


def test_reference_clock():
    assert reference_clock(order(), NOW) == (NOW.replace(tzinfo=UTC), "server")
    assert reference_clock(order(panel_now=CREATED), NOW) == (CREATED.replace(tzinfo=UTC),
                                                              "panel")


def test_aware_and_naive_datetimes_mix():
    istanbul = timezone(timedelta(hours=3))
    created_local = datetime(2025, 5, 1, 15, 0, 0, tzinfo=istanbul)  # == CREATED in UTC
    end = (CREATED + timedelta(days=30)).replace(tzinfo=UTC)
    assert verdict("refill", order(created_at=created_local), now=end).ok
    assert not verdict("refill", order(created_at=created_local),
                       now=end + timedelta(seconds=1)).ok


def test_order_created_in_the_future_is_inside_the_window():
    assert verdict("refill", order(created_at=NOW + timedelta(hours=3))).ok


def test_lifetime_has_no_window():
    result = verdict("refill", terms=LIFETIME, now=CREATED + timedelta(days=3000))
    assert result == Verdict(True, "ok", {"refill_kind": "lifetime"})
    assert verdict("refill", order(created_at=None), LIFETIME).ok


def test_window_from_a_service_name():
    terms = parse_service_name("Instagram Followers [7 Days Refill] | Start: 0-1 Hour")
    assert verdict("refill", terms=terms, now=CREATED + timedelta(days=7)).ok
    assert not verdict("refill", terms=terms, now=CREATED + timedelta(days=7, minutes=1)).ok


# --- partial

def test_partial_refill_when_the_workspace_allows_it():
    allowed = WorkspaceOptions(allow_partial_refill=True)
    assert verdict("refill", order(status="Partial"), options=allowed).ok
    assert verdict("refill", order(status="Partial")).reason == "refill_partial_not_allowed"
    # allowing partial does not bypass the window
    late = verdict("refill", order(status="Partial"), options=allowed,
                   now=CREATED + timedelta(days=40))
    assert late.reason == "refill_window_ended"


# --- speed

def test_speed_when_running_and_late():
    for status in ("Pending", "In progress", "Processing", "in_progress", "pending"):
        assert verdict("speed", replace(RUNNING, status=status)).ok, status


def test_speed_start_time_boundary():
    started = NOW - timedelta(minutes=60)
    assert verdict("speed", replace(RUNNING, created_at=started)).ok
    early = verdict("speed", replace(RUNNING, created_at=started + timedelta(seconds=1)))
    assert early.reason == "speed_start_time_not_passed"
    assert early.detail == {"start_max_minutes": 60, "clock": "server", "minutes_left": 1}


def test_speed_start_time_on_the_panel_clock():
    fresh = replace(RUNNING, created_at=NOW - timedelta(hours=5),
                    panel_now=NOW - timedelta(hours=5) + timedelta(minutes=10))
    result = verdict("speed", fresh)
    assert result.reason == "speed_start_time_not_passed"
    assert result.detail["minutes_left"] == 50 and result.detail["clock"] == "panel"


def test_speed_without_a_stated_start_uses_the_workspace_default():
    terms = parse_service_name("Instagram Followers [30 Days Refill]")
    fresh = replace(RUNNING, created_at=NOW - timedelta(minutes=30))
    assert verdict("speed", fresh, terms).ok
    result = verdict("speed", fresh, terms, options=WorkspaceOptions(default_start_minutes=120))
    assert result.reason == "speed_start_time_not_passed"
    assert result.detail["minutes_left"] == 90


def test_speed_with_unreported_remains_is_allowed():
    assert verdict("speed", replace(RUNNING, remains=None)).ok


def test_instant_start():
    terms = parse_service_name("TikTok Views | Instant | No Refill")
    assert verdict("speed", replace(RUNNING, created_at=NOW - timedelta(minutes=61)), terms).ok
    assert not verdict("speed", replace(RUNNING, created_at=NOW - timedelta(minutes=59)),
                       terms).ok


# --- cancel and details

@pytest.mark.parametrize("status", ["Pending", "In progress", "Processing"])
def test_cancel_while_not_finished(status):
    assert verdict("cancel", order(status=status), NO_REFILL).ok


def test_details_for_the_owner_whatever_the_status():
    for status in ("Pending", "Completed", "Canceled", "weird"):
        assert verdict("details", order(status=status), UNKNOWN).ok
    assert check_details(order(), linked_username="alice").detail == {"status": "completed"}


def test_only_order_actions_are_checked():
    with pytest.raises(ValueError):
        verdict("balance")


# --- force

@pytest.mark.parametrize(("action", "the_order", "terms", "now", "reason"), [
    ("refill", order(), R30, CREATED + timedelta(days=90), "refill_window_ended"),
    ("refill", order(), NO_REFILL, NOW, "refill_not_covered"),
    ("refill", order(), UNKNOWN, NOW, "refill_unknown_terms"),
    ("refill", order(status="Partial"), R30, NOW, "refill_partial_not_allowed"),
    ("refill", order(created_at=None), R30, NOW, "refill_date_unknown"),
    ("refill", order(), rule_terms("lifetime", allow_refill=False), NOW, "refill_disabled"),
    ("speed", replace(RUNNING, created_at=NOW), R30, NOW, "speed_start_time_not_passed"),
    ("speed", replace(RUNNING, created_at=None), R30, NOW, "speed_date_unknown"),
    ("speed", RUNNING, rule_terms("none", allow_speed=False), NOW, "speed_disabled"),
    ("cancel", RUNNING, rule_terms("none", allow_cancel=False), NOW, "cancel_disabled"),
])
def test_admin_force_overrides_terms_and_clock(action, the_order, terms, now, reason):
    assert reason in FORCEABLE_REASONS
    assert verdict(action, the_order, terms, now=now).reason == reason
    assert verdict(action, the_order, terms, now=now, is_admin=True).reason == reason
    assert verdict(action, the_order, terms, now=now, force=True).reason == reason
    forced = verdict(action, the_order, terms, now=now, is_admin=True, force=True)
    assert forced.ok and forced.detail["forced"] == [reason]


def test_force_lists_everything_it_overrode():
    forced = verdict("refill", order(status="Partial"), NO_REFILL, is_admin=True, force=True)
    # in the order of the rules: the service's terms first, then the status
    assert forced.ok and forced.detail["forced"] == ["refill_not_covered",
                                                     "refill_partial_not_allowed"]


@pytest.mark.parametrize(("action", "the_order", "reason"), [
    ("refill", order(status="Pending"), "refill_not_completed"),
    ("refill", order(status="Canceled"), "refill_order_canceled"),
    ("refill", order(status="???"), "status_unknown"),
    ("speed", order(), "speed_not_running"),
    ("speed", replace(RUNNING, remains=0), "speed_nothing_remaining"),
    ("cancel", order(), "cancel_already_finished"),
])
def test_force_never_overrides_the_order_status(action, the_order, reason):
    assert reason not in FORCEABLE_REASONS
    assert verdict(action, the_order, is_admin=True, force=True).reason == reason


def test_force_never_overrides_ownership_for_a_customer():
    assert verdict("refill", order(username="bob"), force=True).reason == "not_owner"


# --- status normalisation

@pytest.mark.parametrize(("value", "name", "expected"), [
    ("Pending", None, OrderStatus.PENDING),
    ("pending", None, OrderStatus.PENDING),
    ("PENDING", None, OrderStatus.PENDING),
    ("In progress", None, OrderStatus.IN_PROGRESS),
    ("In Progress", None, OrderStatus.IN_PROGRESS),
    ("in progress", None, OrderStatus.IN_PROGRESS),
    ("in_progress", None, OrderStatus.IN_PROGRESS),
    ("inprogress", None, OrderStatus.IN_PROGRESS),
    ("Processing", None, OrderStatus.PROCESSING),
    ("processing", None, OrderStatus.PROCESSING),
    ("Completed", None, OrderStatus.COMPLETED),
    ("completed", None, OrderStatus.COMPLETED),
    ("Complete", None, OrderStatus.COMPLETED),
    ("Partial", None, OrderStatus.PARTIAL),
    ("partial", None, OrderStatus.PARTIAL),
    ("Canceled", None, OrderStatus.CANCELED),
    ("Cancelled", None, OrderStatus.CANCELED),
    ("canceled", None, OrderStatus.CANCELED),
    ("CANCELLED", None, OrderStatus.CANCELED),
    (" Completed ", None, OrderStatus.COMPLETED),
    (2, "Completed", OrderStatus.COMPLETED),
    ("2", "Completed", OrderStatus.COMPLETED),
    (5, "In progress", OrderStatus.IN_PROGRESS),
    (2, None, OrderStatus.UNKNOWN),
    ("Completed", "", OrderStatus.COMPLETED),
    (None, None, OrderStatus.UNKNOWN),
    ("", None, OrderStatus.UNKNOWN),
    ("Refunded", None, OrderStatus.UNKNOWN),
    (True, None, OrderStatus.UNKNOWN),
    (OrderStatus.PARTIAL, None, OrderStatus.PARTIAL),
])
def test_normalise_status(value, name, expected):
    assert normalise_status(value, name) is expected
