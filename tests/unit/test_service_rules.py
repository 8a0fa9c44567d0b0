"""Reading refill and start-time terms from real-looking panel service names."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.service_rules import (
    INSTANT_START_MINUTES,
    ServiceTerms,
    parse_service_name,
    rule_terms,
)

# (service name, refill_kind, refill_days, start_max_minutes, confidence)
NAMES: list[tuple[str, str, int | None, int | None, str]] = [
    # --- the wordings of docs/external-apis.md 1.5
    ("Instagram Followers [30 Days Refill]", "window", 30, None, "high"),
    ("Instagram Followers [30D Refill] | Start: 0-1 Hour", "window", 30, 60, "high"),
    ("IG Likes | R30 | 0-1H Start", "window", 30, 60, "high"),
    ("TikTok Views AR30 ⚡ Instant", "window", 30, INSTANT_START_MINUTES, "high"),
    ("Refill 30 days - Instagram Followers HQ", "window", 30, None, "high"),
    ("Instagram Followers - Lifetime", "lifetime", None, None, "high"),
    ("Instagram Followers [Lifetime Refill] [Start 0-24 hours]", "lifetime", None, 1440, "high"),
    ("Instagram Likes [No Refill]", "none", None, None, "high"),
    ("YouTube Views | Non Refill | Start: 0-6 Hours", "none", None, 360, "high"),
    ("Twitter Followers - No Guarantee", "none", None, None, "high"),
    ("Facebook Page Likes Without Guarantee", "none", None, None, "high"),
    # --- windows, many spellings
    ("Instagram Followers | 30-Day Guarantee", "window", 30, None, "high"),
    ("Instagram Followers | 30 Days Guaranteed", "window", 30, None, "high"),
    ("Instagram Followers [Refill: 30D] [Speed: 10K/Day]", "window", 30, None, "high"),
    ("Instagram Followers (Refill 60 Days) Max 500K", "window", 60, None, "high"),
    ("Instagram Followers | 90 Days Auto-Refill", "window", 90, None, "high"),
    ("Instagram Followers ♻️ 30 Days", "window", 30, None, "high"),
    ("♻️ 45D | Instagram Real Followers", "window", 45, None, "high"),
    ("Telegram Members | 7 Days Refill ♻️ | 0-1H Start", "window", 7, 60, "high"),
    ("Instagram Followers [R365] [Start Time: 1-3 Hours]", "window", 365, 180, "high"),
    ("YouTube Subscribers [R30D] [Speed 100/Day]", "window", 30, None, "high"),
    ("Instagram Followers | 1 Year Refill", "window", 365, None, "high"),
    ("Instagram Followers | 6 Months Guarantee", "window", 180, None, "high"),
    ("INSTAGRAM FOLLOWERS | 15 DAYS REFILL | START 0-2H", "window", 15, 120, "high"),
    ("instagram followers 30days refill", "window", 30, None, "high"),
    ("Instagram Followers - Refill (30 Days) 🔥", "window", 30, None, "high"),
    ("🇮🇳 Indian Followers | Refill 30D | 0-12 Hours Start", "window", 30, 720, "high"),
    ("TikTok Followers [Refill: 30 Days] [Start: 0-1 Hr] [Speed: 5K/Day]", "window", 30, 60,
     "high"),
    ("Spotify Plays | 30 Day Warranty", "window", 30, None, "high"),
    # --- other languages
    ("Instagram Takipçi | 30 Gün Garantili | Başlangıç: 0-1 Saat", "window", 30, 60, "high"),
    ("Türk Takipçi 60 Gün Telafi Garantili", "window", 60, None, "high"),
    ("Seguidores Instagram | Reposição 30 dias | Início: 0-1 hora", "window", 30, 60, "high"),
    ("Seguidores Brasileiros - 30 dias de reposição", "window", 30, None, "high"),
    ("Seguidores | Garantía 30 días | Inicio: 0-2 horas", "window", 30, 120, "high"),
    ("Подписчики Instagram | Гарантия 30 дней | Старт: 0-1 час", "window", 30, 60, "high"),
    ("Подписчики Telegram [30 дней гарантии]", "window", 30, None, "high"),
    ("Garansi 30 Hari - Followers Indonesia | Mulai 0-1 Jam", "window", 30, 60, "high"),
    ("متابعين انستقرام | ضمان 30 يوم", "window", 30, None, "high"),
    # --- lifetime
    ("Instagram Followers | Life Time Guarantee", "lifetime", None, None, "high"),
    ("Instagram Followers | Lifetime Non Drop | Start: 0-30 Min", "lifetime", None, 30, "high"),
    ("Instagram Followers | Permanent Refill", "lifetime", None, None, "high"),
    ("Seguidores | Reposição Vitalícia", "lifetime", None, None, "high"),
    ("Takipçi | Ömür Boyu Garanti", "lifetime", None, None, "high"),
    ("Подписчики | Вечная гарантия", "lifetime", None, None, "high"),
    # --- no refill
    ("Instagram Followers 🚫 Refill", "none", None, None, "high"),
    ("Instagram Followers | Refill: No | Non Drop", "none", None, None, "high"),
    ("Instagram Reels Views [NR] [Instant]", "none", None, INSTANT_START_MINUTES, "high"),
    ("Instagram Likes | Non-Refill | Fast", "none", None, None, "high"),
    ("Instagram Followers ❌ No Refill ❌", "none", None, None, "high"),
    ("Seguidores | Sin reposición", "none", None, None, "high"),
    ("Seguidores | Sem reposição", "none", None, None, "high"),
    ("Türk Takipçi | Garantisiz", "none", None, None, "high"),
    ("Подписчики | Без гарантии", "none", None, None, "high"),
    ("Followers Indonesia | Tanpa Garansi", "none", None, None, "high"),
    ("متابعين | بدون ضمان", "none", None, None, "high"),
    ("Instagram Followers 0 Days Refill", "none", None, None, "high"),
    ("Instagram Followers | Not Guaranteed", "none", None, None, "high"),
    # --- unsure or unknown
    ("Instagram Followers HQ", "unknown", None, None, "low"),
    ("Instagram Followers ♻️", "unknown", None, None, "low"),
    ("Instagram Followers | Auto Refill | 30K/Day", "unknown", None, None, "low"),
    ("Instagram Followers | Refill 1000 Followers/Day", "unknown", None, None, "low"),
    ("Instagram Followers | 30 Days | Start 1h", "unknown", None, 60, "low"),
    ("Instagram Followers | Permanent", "unknown", None, None, "low"),
    ("Instagram Followers | Non Drop", "unknown", None, None, "low"),
    ("Instagram Followers [No Refill] [30 Days Refill]", "unknown", None, None, "low"),
    ("Instagram Followers | Lifetime | No Refill", "unknown", None, None, "low"),
    ("Instagram Followers R30 | 60 Days Refill", "window", 30, None, "low"),
    ("Instagram Followers | Lifetime | R30", "window", 30, None, "low"),
    ("Instagram Followers | Refill 30", "window", 30, None, "low"),
    ("Instagram Followers | Start: Instant - 1 Hour", "unknown", None, 60, "low"),
    ("Instagram Followers [Max 100K] [Start: 12H]", "unknown", None, 720, "low"),
    ("YouTube Views [Start: 1-3 Days]", "unknown", None, 4320, "low"),
    ("", "unknown", None, None, "low"),
    ("🔥🔥🔥", "unknown", None, None, "low"),
]


@pytest.mark.parametrize(("name", "kind", "days", "start", "confidence"), NAMES,
                         ids=[n[:50] or "<empty>" for n, *_ in NAMES])
def test_service_names(name, kind, days, start, confidence):
    terms = parse_service_name(name)
    assert (terms.refill_kind, terms.refill_days, terms.start_max_minutes, terms.confidence) == (
        kind, days, start, confidence)
    if kind != "unknown" or start is not None:
        assert terms.recognised, "what was read must be reported"


def test_the_table_is_big_enough():
    assert len(NAMES) >= 60


@pytest.mark.parametrize(("name", "doubt"), [
    ("Instagram Followers HQ", "no_refill_terms"),
    ("Instagram Followers ♻️", "refill_without_window"),
    ("Instagram Followers | 30 Days", "duration_without_refill_word"),
    ("Instagram Followers [No Refill] [30 Days Refill]", "conflicting_refill"),
    ("Instagram Followers R30 | 60 Days Refill", "several_windows"),
    ("Instagram Followers | Lifetime | R30", "window_and_lifetime"),
    ("Instagram Followers | Refill 30", "unit_assumed"),
    ("Instagram Followers [30 Days Refill]", None),
    ("Instagram Followers [R30] | 30 Days Refill", None),
])
def test_doubts_are_named(name, doubt):
    assert parse_service_name(name).doubt == doubt


def test_recognised_fragments_come_in_reading_order():
    terms = parse_service_name("Followers | 60 Days Refill | R30 | Start: 0-1 Hour")
    assert terms.recognised == (
        "60 days refill → refill 60 days",
        "r30 → refill 30 days",
        "start: 0-1 hour → start ≤ 60 min",
    )


def test_refill_days_are_not_read_as_start_time():
    terms = parse_service_name("[30 Days] Start 0-1 Hour | 30 Days Refill")
    assert terms.start_max_minutes == 60
    assert terms.refill_days == 30


def test_none_name_is_unknown():
    assert parse_service_name(None) == ServiceTerms(doubt="no_refill_terms")


def test_covers_refill():
    assert parse_service_name("R30").covers_refill
    assert parse_service_name("Lifetime").covers_refill
    assert not parse_service_name("No Refill").covers_refill
    assert not parse_service_name("Followers").covers_refill


def test_rule_terms_override_and_validate():
    terms = rule_terms("window", 45, 120, allow_speed=False)
    assert (terms.refill_kind, terms.refill_days, terms.start_max_minutes) == ("window", 45, 120)
    assert terms.source == "rule" and terms.confidence == "high"
    assert not terms.allow_speed and terms.allow_refill and terms.allow_cancel
    assert rule_terms("lifetime", 30).refill_days is None
    with pytest.raises(ValueError):
        rule_terms("window")
    with pytest.raises(ValueError):
        rule_terms("forever")


@settings(database=None, max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_never_raises_and_stays_consistent(name):
    terms = parse_service_name(name)
    assert terms.refill_kind in ("window", "lifetime", "none", "unknown")
    assert (terms.refill_days is not None) == (terms.refill_kind == "window")
    if terms.refill_days is not None:
        assert 1 <= terms.refill_days <= 3650
    if terms.refill_kind == "unknown":
        assert terms.confidence == "low"
    assert terms.start_max_minutes is None or terms.start_max_minutes >= 0


@settings(database=None, max_examples=200, deadline=None)
@given(st.integers(1, 999), st.sampled_from(["{n} Days Refill", "[{n}D Refill]", "R{n}",
                                             "AR{n}", "Refill {n} days", "{n} Day Guarantee"]),
       st.sampled_from(["Instagram Followers", "TikTok Likes | HQ", "🔥 YouTube Views"]))
def test_any_window_in_any_wording(days, wording, prefix):
    terms = parse_service_name(f"{prefix} | {wording.format(n=days)}")
    assert (terms.refill_kind, terms.refill_days, terms.confidence) == ("window", days, "high")


def test_each_service_name_is_read_once_per_process():
    name = "Instagram Followers [Refill: 45 Days] [Start: 0-2 Hours] cache-probe"
    first = parse_service_name(name)
    hits = parse_service_name.cache_info().hits
    again = parse_service_name(name)
    assert again is first and parse_service_name.cache_info().hits == hits + 1
    assert first.refill_days == 45
