"""Service terms read from a panel service name: refill window and expected start time.

Contract
--------
`parse_service_name(name) -> ServiceTerms` reads the wordings of docs/external-apis.md 1.5 and their
real-world variants (brackets, `|` separators, emojis, Spanish, Portuguese, Turkish, Russian,
Indonesian and Arabic words), and says what it recognised and how sure it is:

- refill `window` with `refill_days`: `30 Days Refill`, `[30D Refill]`, `30-Day Guarantee`,
  `Refill 30 days`, `Refill: 30D`, `R30`, `AR30`, `♻️ 30 Days`, `1 Year Refill` (365),
  `6 Months Guarantee` (180), `30 Gün Garantili`, `Reposição 30 dias`, `Гарантия 30 дней`,
  `Garansi 30 Hari`, `ضمان 30 يوم`;
- `lifetime` (no window): `Lifetime`, `Lifetime Refill`, `Life Time Guarantee`; and, only when
  a refill word is present too, `Permanent`, `Forever`, `Unlimited`, `Vitalícia`, `Ömür Boyu`,
  `Пожизненная`, `Вечная`;
- `none`: `No Refill`, `Non Refill`, `Non-Refill`, `NR`, `No Guarantee`, `Without Guarantee`,
  `Refill: No`, `❌ Refill`, `Sin reposición`, `Sem reposição`, `Garantisiz`, `Без гарантии`,
  `Tanpa Garansi`, `بدون ضمان`, `0 Days Refill`;
- `unknown` otherwise, always with `confidence="low"` and a `doubt` key saying why
  (`no_refill_terms`, `refill_without_window`, `duration_without_refill_word`,
  `conflicting_refill`).

Conservative by design: contradictory signals (`No Refill … 30 Days Refill`) give `unknown`;
several different windows give the shortest with `confidence="low"` (`several_windows`), and so
does a window next to `lifetime` (`window_and_lifetime`); a refill word followed by a bare number
(`Refill 30`) is read as days with `confidence="low"`. `Non Drop` says nothing about refill and is
only recorded. `confidence` is about the refill reading; unknown terms make refill ineligible
(`eligibility`), and a workspace rule (`rule_terms`) overrides what a name says.

Start time (`start_max_minutes`, the upper end of the promised start): `Start: 0-1 Hour` (60),
`0-1H Start`, `Start 0-24 hours` (1440), `Start Time: 30 Min`, `Start: Instant - 1 Hour`,
`Başlangıç: 0-1 Saat`, `Старт: 0-1 час`, `Início: 0-1 hora`, `Mulai 0-1 Jam`; `Instant` alone
means `INSTANT_START_MINUTES`. Several start figures give the largest.

Pure: stdlib only, no I/O, never raises for any `str` (or None).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast

from app.domain.text import fold

RefillKind = Literal["window", "lifetime", "none", "unknown"]
Confidence = Literal["high", "low"]
REFILL_KINDS: tuple[str, ...] = ("window", "lifetime", "none", "unknown")

# What "Instant" promises, in minutes: panels treat it as "within the first hour".
INSTANT_START_MINUTES = 60
# Longest window believed from a name (ten years); more is a misreading (e.g. a quantity).
MAX_REFILL_DAYS = 3650

_REFILL_WORD = (
    r"(?:auto[\s-]?refill|refill|refil|guaranteed|guarantee|garantili|garantisi|garanti"
    r"|garantia|garansi|reposicao|reposicion|telafi|warranty|рефилл|рефил"
    r"|гаранти(?:я|и|ей|ю)|докрутк(?:а|и|ой|у)|ضمان)"
)
_DAY = r"(?:days?|d|dias?|gun|hari|дн(?:ей|я|и)|день|يوم|ايام)"
_MONTH = r"(?:months?|mo|mes(?:es)?|ay|bulan|месяц(?:а|ев)?|شهر|اشهر)"
_YEAR = r"(?:years?|yrs?|yr|anos?|yil|tahun|года?|лет|سنه)"
_UNIT = rf"(?P<unit>{_DAY}|{_MONTH}|{_YEAR})"
_GAP = r"[\s\-:|\[\]()/]*"

_WINDOW_PATTERNS: tuple[tuple[re.Pattern[str], Confidence], ...] = (
    # 30 Days Refill, [30D Refill], 30-Day Guarantee, 30 dias de reposicao, 30 gun garantili
    (re.compile(rf"(?<![\w.])(?P<n>\d{{1,4}})\s*-?\s*{_UNIT}\.?(?:\s+(?:of|de|da))?{_GAP}"
                rf"{_REFILL_WORD}(?!\w)"), "high"),
    # Refill 30 days, Refill: 30D, Guarantee (30 Days), Гарантия 30 дней
    (re.compile(rf"{_REFILL_WORD}{_GAP}(?:for\s+|de\s+)?(?P<n>\d{{1,4}})\s*-?\s*{_UNIT}(?!\w)"),
     "high"),
    # R30, AR30, [R365], R30D
    (re.compile(r"(?<![\w.])a?r(?P<n>\d{1,4})d?(?!\w)"), "high"),
    # Refill 30 (no unit): days, but not sure
    (re.compile(rf"{_REFILL_WORD}\s*[:\-]?\s*(?P<n>\d{{1,4}})(?![\w.,%$])(?!\s*[^\W\d])"),
     "low"),
)
_LIFETIME_STRONG = re.compile(r"(?<!\w)life\s*-?\s*time(?!\w)|(?<!\w)lifelong(?!\w)")
_LIFETIME_WEAK = re.compile(
    r"(?<!\w)(?:permanent|forever|unlimited|vitalici[ao]|omur\s*boyu|пожизненн\w*|вечн\w*"
    r"|seumur\s+hidup|مدى\s+الحياه)(?!\w)"
)
_NEGATIVE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"(?<!\w)(?:no|non|not|without|sin|sem|tanpa|bez|без|بدون|zero)\s*-?\s*"
               rf"{_REFILL_WORD}"),
    re.compile(r"(?<!\w)(?:nr|garantisiz|unguaranteed|non\s*-?\s*guaranteed)(?!\w)"),
    re.compile(rf"{_REFILL_WORD}\s*[:=\-]?\s*(?:no|none|yok|нет|x|✗|❌|🚫|⛔|✖)(?!\w)"
               r"(?!\s*-?\s*drop)"),
    re.compile(rf"(?:❌|🚫|⛔|✖|✗)\ufe0f?\s*{_REFILL_WORD}"),
)
_REFILL_MENTION = re.compile(rf"(?<!\w){_REFILL_WORD}(?!\w)|♻|🔄")
_NON_DROP = re.compile(r"(?<!\w)non\s*-?\s*drop(?!\w)|(?<!\w)no\s*-?\s*drop(?!\w)")
_BARE_DURATION = re.compile(rf"(?<![\w.])\d{{1,4}}\s*-?\s*{_UNIT}(?!\w)")

_MINUTES = r"m|mins?|minutes?|minute|mn|dk|dakika|minutos?|мин(?:ут[аы]?)?|menit|دقيقه|دقائق"
_HOURS = r"h|hrs?|hours?|saat|horas?|час(?:а|ов)?|jam|ساعه|ساعات"
_DAYS_T = r"d|days?|gun|dias?|дн(?:я|ей)?|день|hari|يوم|ايام"
_T_UNIT = rf"(?P<tunit>{_MINUTES}|{_HOURS}|{_DAYS_T})"
_INSTANT = r"(?:instant\w*|aninda|мгновенн\w*|моментальн\w*|instan|فوري)"
_NUMBER = r"\d{1,4}(?:[.,]\d{1,2})?"
_RANGE = (rf"(?:(?P<lo>{_NUMBER}|{_INSTANT})\s*(?:-|–|—|~|to|a|ile|до)\s*)?"
          rf"(?P<hi>{_NUMBER})\s*{_T_UNIT}(?!\w)")
_START_WORD = (r"(?:start(?:ing)?(?:\s*time)?|baslangic|baslama|inicio|старт|начало|mulai"
               r"|بدء|بدايه|⏱|⏰|🕐)")
_START_AFTER = re.compile(rf"{_START_WORD}\ufe0f?\s*[:\-]?\s*[\[(]?\s*{_RANGE}")
_START_WORD_RE = re.compile(_START_WORD)
_RANGE_BEFORE_START = re.compile(rf"(?<![\w.]){_RANGE}\s*[\])]?\s*$")
_START_INSTANT = re.compile(rf"{_START_WORD}\ufe0f?\s*[:\-]?\s*[\[(]?\s*{_INSTANT}")
_INSTANT_RE = re.compile(rf"(?<!\w){_INSTANT}")


@dataclass(frozen=True)
class ServiceTerms:
    """What is promised for a service: refill window, start time, allowed actions.

    `recognised` lists the fragments read (folded text → meaning) for the manager's screen;
    `doubt` is a machine key saying why the reading is not certain (None when sure).
    `allow_*` are False only when a workspace rule switches an action off.
    """

    refill_kind: RefillKind = "unknown"
    refill_days: int | None = None
    start_max_minutes: int | None = None
    recognised: tuple[str, ...] = ()
    confidence: Confidence = "low"
    doubt: str | None = None
    source: Literal["name", "rule"] = "name"
    allow_refill: bool = True
    allow_speed: bool = True
    allow_cancel: bool = True

    @property
    def covers_refill(self) -> bool:
        return self.refill_kind in ("window", "lifetime")


def _days(number: str, unit: str) -> int:
    value = int(number)
    if re.fullmatch(_MONTH, unit):
        return value * 30
    if re.fullmatch(_YEAR, unit):
        return value * 365
    return value


def _minutes(number: str, unit: str) -> int:
    value = float(number.replace(",", "."))
    if re.fullmatch(_MINUTES, unit):
        return round(value)
    if re.fullmatch(_HOURS, unit):
        return round(value * 60)
    return round(value * 1440)


def _prepare(name: str) -> str:
    text = fold(name)
    # the recycling sign is how panels write "refill"
    return re.sub(r"[♻🔄]\ufe0f?", " refill ", text)


def _blank(text: str, span: tuple[int, int]) -> str:
    return text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]


def _note(recognised: list[tuple[int, str]], match: re.Match[str], meaning: str) -> None:
    recognised.append((match.start(), f"{' '.join(match.group(0).split())} → {meaning}"))


def _read_start(text: str, recognised: list[tuple[int, str]]) -> int | None:
    found: list[int] = []
    for match in _START_AFTER.finditer(text):
        found.append(_minutes(match.group("hi"), match.group("tunit")))
        _note(recognised, match, f"start ≤ {found[-1]} min")
        text = _blank(text, match.span())
    for match in _START_INSTANT.finditer(text):
        _note(recognised, match, "start instant")
        text = _blank(text, match.span())
        found.append(INSTANT_START_MINUTES)
    for match in _START_WORD_RE.finditer(text):
        before = _RANGE_BEFORE_START.search(text[:match.start()])
        if before is not None:
            found.append(_minutes(before.group("hi"), before.group("tunit")))
            recognised.append((before.start(), f"{' '.join(before.group(0).split())} "
                                               f"{match.group(0)} → start ≤ {found[-1]} min"))
    if not found:
        instant = _INSTANT_RE.search(text)
        if instant is not None:
            found.append(INSTANT_START_MINUTES)
            _note(recognised, instant, "start instant")
    return max(found) if found else None


@lru_cache(maxsize=4096)
def parse_service_name(name: str | None) -> ServiceTerms:
    """Read refill and start-time terms from a service name (see the module docstring).
    Pure, and a panel has a few hundred service names that every order repeats: each name is
    read once per process (the terms are frozen, so sharing them is safe)."""
    text = _prepare(name or "")
    recognised: list[tuple[int, str]] = []

    negative = False
    for pattern in _NEGATIVE_PATTERNS:
        for match in pattern.finditer(text):
            negative = True
            _note(recognised, match, "no refill")
            text = _blank(text, match.span())

    windows: list[int] = []
    sure = True
    for pattern, confidence in _WINDOW_PATTERNS:
        for match in pattern.finditer(text):
            days = _days(match.group("n"), match.groupdict().get("unit") or "d")
            if days > MAX_REFILL_DAYS:
                continue
            if days == 0:
                negative = True
                _note(recognised, match, "no refill")
            else:
                windows.append(days)
                sure = sure and confidence == "high"
                _note(recognised, match, f"refill {days} days")
            text = _blank(text, match.span())

    lifetime = False
    mentions_refill = bool(_REFILL_MENTION.search(text)) or bool(windows)
    for match in _LIFETIME_STRONG.finditer(text):
        lifetime = True
        _note(recognised, match, "lifetime refill")
        text = _blank(text, match.span())
    if mentions_refill or lifetime:
        for match in _LIFETIME_WEAK.finditer(text):
            lifetime = True
            _note(recognised, match, "lifetime refill")
            text = _blank(text, match.span())
    for match in _NON_DROP.finditer(text):
        _note(recognised, match, "non-drop (says nothing about refill)")
        text = _blank(text, match.span())

    start = _read_start(text, recognised)
    if not (negative or windows or lifetime):
        for match in _REFILL_MENTION.finditer(text):
            mentions_refill = True
            _note(recognised, match, "refill, window not stated")
    kind, days, confidence, doubt = _decide(negative, windows, lifetime, sure, mentions_refill,
                                            bool(_BARE_DURATION.search(text)))
    notes = tuple(note for _, note in sorted(recognised, key=lambda pair: pair[0]))
    return ServiceTerms(kind, days, start, notes, confidence, doubt)


def _decide(
    negative: bool, windows: list[int], lifetime: bool, sure: bool, mentions_refill: bool,
    bare_duration: bool,
) -> tuple[RefillKind, int | None, Confidence, str | None]:
    positive = bool(windows) or lifetime
    if negative and positive:
        return "unknown", None, "low", "conflicting_refill"
    if negative:
        return "none", None, "high", None
    if windows:
        shortest = min(windows)
        if lifetime:
            return "window", shortest, "low", "window_and_lifetime"
        if len(set(windows)) > 1:
            return "window", shortest, "low", "several_windows"
        return "window", shortest, "high" if sure else "low", None if sure else "unit_assumed"
    if lifetime:
        return "lifetime", None, "high", None
    if mentions_refill:
        return "unknown", None, "low", "refill_without_window"
    if bare_duration:
        return "unknown", None, "low", "duration_without_refill_word"
    return "unknown", None, "low", "no_refill_terms"


def rule_terms(
    refill_kind: str,
    refill_days: int | None = None,
    start_max_minutes: int | None = None,
    *,
    allow_refill: bool = True,
    allow_speed: bool = True,
    allow_cancel: bool = True,
) -> ServiceTerms:
    """Terms a workspace states for a service (its override beats the name).

    :raise ValueError: if `refill_kind` is not one of `REFILL_KINDS`, or a window has no
        positive number of days.
    """
    if refill_kind not in REFILL_KINDS:
        raise ValueError(f"unknown refill kind {refill_kind!r}")
    if refill_kind == "window" and (refill_days is None or refill_days <= 0):
        raise ValueError("a refill window needs a positive number of days")
    days = refill_days if refill_kind == "window" else None
    return ServiceTerms(
        refill_kind=cast(RefillKind, refill_kind),
        refill_days=days,
        start_max_minutes=start_max_minutes,
        recognised=("workspace rule",),
        confidence="high",
        doubt=None if refill_kind != "unknown" else "no_refill_terms",
        source="rule",
        allow_refill=allow_refill,
        allow_speed=allow_speed,
        allow_cancel=allow_cancel,
    )
