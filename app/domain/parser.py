"""Chat command parser: a customer's message → structured commands (DESIGN "Command grammar").

Contract
--------
`parse(text, aliases=None, custom_keywords=(), max_ids=100) -> ParseResult`. Pure and total: it
never raises for any `str` (an invalid *configuration*, e.g. an alias pointing at an unknown
action, raises `ValueError`), imports neither Flask nor the database, and does no I/O.

What it reads
- An order id is a run of 4–12 digits (any Unicode digits, returned as ASCII). Ids may be
  separated by commas, spaces, new lines, `+`, `/` (or anything else that is not a digit).
  `#2274209`, `2274209!!`, `id:2274209`, `order2274209` are all ids.
- Actions (`ORDER_ACTIONS`): `refill`, `speed`, `cancel`, `details`; they take ids and may come
  before or after them. Ids with no action mean `details`. Standalone actions: `balance`, `help`
  and workspace custom commands (`Command("custom", argument=<keyword as configured>)`); they
  take no ids (ids next to them become `details`). Account actions: `link <username>` and
  `verify <code>` are only read as the first word of a line followed by exactly one argument.
  `/start` (Telegram) means `help`.
- Aliases: `DEFAULT_ALIASES` (multilingual data) < workspace `custom_keywords` < workspace
  `aliases` (alias → action). Matching is on folded text (`app.domain.text.fold`: case, Latin
  diacritics, Arabic letter forms), multi-word aliases match across spaces and hyphens
  (`speed up`, `speed-up`, `isi ulang`), runs of a repeated letter are squeezed
  (`refilllll`), and the English action names tolerate one typo (`cancle`, `refiil`, `balnce`).
- `force` (`FORCE_WORDS`) marks the nearest order action in its line (`2274209 refill force`);
  the parser only reports it: honouring it is for admin identities only (eligibility).

How the pieces are grouped
- Each line is read on its own. In a line with ids and actions, if an action comes first every
  action takes the ids that follow it (`refill 1111 2222 cancel 3333`), otherwise every action
  takes the ids before it (`1111, 2222 speed 3333 cancel`); ids left after the last action of an
  ids-first line mean `details`. Adjacent actions share their ids (`1111 refill speed`). A
  leading `details` word before ids that another action follows only introduces them
  (`check 1111 refill` is a refill).
- Lines with only ids attach to a neighbouring line: to the previous line's action when that
  line ends with an action that takes following ids (`refill\\n1111\\n2222`,
  `refill 1111\\n2222`), else to the next line's action when that line starts with ids-then-action
  or is a bare action (`1111\\n2222 refill`, `1111\\n2222\\nrefill`); when both are possible the
  message's own orientation (does its first command word or its first id come first?) decides.
  Otherwise they mean `details`.
- Commands with the same (action, force, argument) are merged; ids are de-duplicated keeping
  their first position; commands come out in the order they first appear.
- An order action with no ids at all (`refill`, `status?`) is kept only when its line holds no
  unexplained word (the pipeline then asks for the order id); a lone `how to refill?` is no
  command.

What it ignores or reports
- Conversation: a line whose unexplained fragments outnumber `max(3, 2 × its ids and action
  words)`, or that has no id and no action, is conversation and yields nothing (its text goes to
  `ParseResult.ignored`, for the trace). A negated action (`don't cancel`,
  `cancel mat karo`, `iptal etme`) and refill/speed/cancel in a line that asks `why/how/when`
  are not commands (their ids fall back to `details`).
- Not ids: digit runs shorter than 4 or longer than 12 (phone numbers), `+` directly followed by
  8 or more digits, money (`$5000`, `5000 rs`, `paid 5000`), quantities (`10k`, a round
  `5000 followers`), percentages, decimals (`10.50`), dates and times, and digits inside links,
  e-mail addresses and @mentions.
- `unknown` lists, without repeats, the fragments of command lines it could not explain:
  wrong-length digit runs, money, quantities, percentages, dates, and words that are neither
  actions nor filler (`FILLER_WORDS`: greetings, `please`, `order`, `my`, …). `invalid_ids` is
  the subset that looks like a mistyped id (a run of 3, or of more than 12, digits; `+` and 8 or
  more digits), and any bare number in a line with an order action but no valid id
  (`refill 1 2 3`). A line holding nothing but such bad ids is reported too, so the customer
  can be told.
- `max_ids` bounds the distinct ids of the whole message: beyond it `too_many_ids` is set and
  only the first `max_ids` distinct ids are kept (commands left without ids are dropped).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from app.domain.text import ascii_digits, fold

ORDER_ACTIONS: tuple[str, ...] = ("refill", "speed", "cancel", "details")
STANDALONE_ACTIONS: tuple[str, ...] = ("balance", "help")
ACCOUNT_ACTIONS: tuple[str, ...] = ("link", "verify")
CUSTOM = "custom"
# Actions a workspace alias may point at.
ALIAS_ACTIONS: tuple[str, ...] = ORDER_ACTIONS + STANDALONE_ACTIONS + ACCOUNT_ACTIONS
# Order actions that change something upstream: negations and questions disarm them.
ACTING_ACTIONS: frozenset[str] = frozenset({"refill", "speed", "cancel"})

MIN_ID_DIGITS = 4
MAX_ID_DIGITS = 12
# Longer input is cut: no chat platform delivers more than a few thousand characters.
MAX_TEXT_CHARS = 20_000

DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "refill": (
        # English and common typos
        "refill", "refil", "refll", "reffil", "reffill", "refilll", "rifill", "refills",
        "re fill", "rf", "rfl",
        # Spanish
        "recarga", "recargar", "rellenar", "relleno", "reposicion", "reposiciones", "reponer",
        # Portuguese
        "reposição", "repor", "recarregar", "refil",
        # Russian
        "рефилл", "рефил", "восстановить", "восстановление", "докрутка", "докрутить",
        "докрутите",
        # Turkish
        "dolum", "telafi", "telafi et", "yeniden dolum",
        # Hindi / Urdu in Latin script (and Devanagari)
        "refill karo", "refill kar do", "refill kardo", "refill krdo", "wapas", "wapis",
        "रिफिल",
        # Indonesian
        "isi ulang", "isiulang",
        # Arabic
        "إعادة تعبئة", "اعادة تعبئة", "تعبئة", "ريفيل", "ريفل",
    ),
    "speed": (
        "speed", "speedup", "speed up", "speedy", "spd", "fast", "faster", "hurry", "hurry up",
        "hızlandır", "hızlandırma", "hızlan",
        "acelerar", "acelera", "acelere", "agilizar",
        "ускорить", "ускорение", "ускорьте",
        "percepat",
        "jaldi", "jaldi karo", "speed karo", "speed kar do", "speed kardo",
        "تسريع", "سرع",
        "स्पीड",
    ),
    "cancel": (
        "cancel", "cancell", "cancle", "cancl", "cancel karo", "cancel kar do", "cancel kardo",
        "iptal", "iptal et",
        "cancelar", "cancela", "cancele", "anular",
        "отмена", "отменить", "отмените",
        "batal", "batalkan",
        "radd", "radd karo",
        "إلغاء", "الإلغاء", "كنسل",
        "रद्द",
    ),
    "details": (
        "details", "detail", "status", "stat", "stats", "info", "information", "check",
        "check status", "track",
        "durum", "bilgi", "detay",
        "estado", "detalles", "detalhes", "situação",
        "статус", "инфо", "детали", "проверить",
        "cek", "cek status",
        "حالة", "الحالة", "تفاصيل",
    ),
    "balance": (
        "balance", "bal", "check balance", "funds",
        "bakiye",
        "saldo", "cek saldo",
        "баланс",
        "رصيد", "الرصيد",
        "बैलेंस",
    ),
    "help": (
        "help", "menu", "commands", "command",
        "yardım",
        "ayuda", "ajuda",
        "помощь", "помогите", "меню",
        "bantuan",
        "madad",
        "مساعدة",
    ),
    "link": ("link", "vincular", "bağla", "привязать"),
    "verify": ("verify", "verificar", "doğrula", "подтвердить"),
}

# Glue words that carry no command meaning; they are neither actions nor "unknown".
FILLER_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    # English
    "pls", "plz", "plzz", "pleas", "please", "plss", "kindly", "order", "orders", "id", "ids",
    "nr", "num", "my", "the", "a", "an", "for", "and", "to", "of", "this", "these", "those",
    "it", "all", "both", "also", "again", "urgent", "asap", "now", "hi", "hello", "hey", "dear",
    "sir", "madam", "bro", "brother", "admin", "support", "team", "thanks", "thank", "you",
    "thx", "ty", "tnx", "ok", "okay", "i", "me", "need", "want", "request", "do",
    # Spanish / Portuguese
    "hola", "por", "favor", "porfa", "porfavor", "pedido", "pedidos", "orden", "mi", "mis",
    "el", "la", "los", "las", "de", "del", "y", "gracias", "amigo", "número", "ola", "oi",
    "meu", "minha", "meus", "da", "o", "obrigado", "obrigada", "bom", "dia", "fazer",
    # Turkish
    "merhaba", "selam", "sipariş", "siparişim", "siparişler", "nolu", "numaralı", "lütfen",
    "abi", "hocam", "kardeşim", "teşekkürler", "teşekkür", "sağol", "et", "eder", "misiniz",
    "yapın", "yapar", "için",
    # Russian
    "привет", "здравствуйте", "заказ", "заказа", "заказы", "номер", "пожалуйста", "плиз",
    "спасибо", "мой", "мои", "по", "для", "сделайте", "сделать", "нужно", "на", "и",
    # Indonesian
    "halo", "hai", "kak", "min", "mohon", "tolong", "pesanan", "ya", "dong", "terima", "kasih",
    "gan", "saya", "untuk", "nomor",
    # Hindi / Urdu (Latin script)
    "bhai", "bhaiya", "ji", "mera", "meri", "mere", "karo", "kar", "kardo", "krdo", "hai",
    "ka", "ki", "ko", "yeh", "ye", "jii", "salam", "salaam", "assalam", "walaikum", "abhi",
    "tak", "hua", "hui", "bhi", "aur", "se",
    # Arabic
    "مرحبا", "السلام", "عليكم", "طلب", "الطلب", "طلبي", "رقم", "من", "فضلك", "لو", "سمحت",
    "شكرا", "يا", "اخي",
))

# Words that negate the action next to them (`don't cancel`, `cancel mat karo`, `iptal etme`).
NEGATION_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "dont", "don't", "do't", "not", "never", "no", "nahi", "nahin", "nhi", "mat", "não",
    "nao", "yok", "etme", "yapma", "не", "jangan", "لا",
))
# `no` is also filler (`refill order no 2274209`): it negates only the action right after it.
NEGATION_BEFORE_ONLY: frozenset[str] = frozenset({"no"})
# A line that asks why/how/when is talking about an action, not asking for one.
QUESTION_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "why", "how", "when", "neden", "niye", "nasıl", "почему", "как", "когда", "porque",
    "kyun", "kyu", "kaise", "kab", "kenapa", "bagaimana", "kapan", "لماذا", "كيف", "متى",
    "como", "cuando", "quando",
))
FORCE_WORDS: frozenset[str] = frozenset({"force", "forced"})
# A number right before one of these is a quantity, not an order id.
QUANTITY_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "followers", "follower", "likes", "like", "views", "view", "subscribers", "subs",
    "members", "comments", "shares", "plays", "seguidores", "curtidas", "takipçi", "beğeni",
    "izlenme", "подписчиков", "подписчики", "лайков", "просмотров", "pengikut",
))
# Letters glued to the end of a number that make it a quantity (`10k`, `2m`).
QUANTITY_SUFFIXES: frozenset[str] = frozenset({"k", "m", "x"})
CURRENCY_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "usd", "dollar", "dollars", "rs", "inr", "rupees", "rupee", "pkr", "tl", "lira", "eur",
    "euro", "euros", "rub", "руб", "рублей", "idr", "rp", "brl", "reais", "sar", "riyal",
    "ريال", "pesos", "peso", "usdt",
))
# A number right after one of these is an amount of money.
PAYMENT_WORDS: frozenset[str] = frozenset(fold(w) for w in (
    "paid", "pay", "payment", "deposit", "deposited", "added", "add", "sent", "transfer",
    "transferred", "charged", "spent", "price", "cost", "amount", "fund", "recharge",
    "ödedim", "yatırdım", "pague", "paguei", "оплатил", "bayar",
))
# Typo tolerance (one edit) only for these unambiguous English names...
FUZZY_TARGETS: dict[str, str] = {
    "refill": "refill", "cancel": "cancel", "status": "details", "details": "details",
    "balance": "balance", "speedup": "speed",
}
# ...and never for real words one edit away from them.
FUZZY_BLOCKLIST: frozenset[str] = frozenset({
    "states", "statue", "statues", "statut", "retail", "detain", "refile", "refit", "balanced",
    "cancer", "candel", "canceled", "speedo",
})

_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}/\S*", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+")
_MENTION_RE = re.compile(r"@[^\W\d]\w*")
_DATE_RE = re.compile(
    r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}|\d{1,2}:\d{2}(?::\d{2})?)"
    r"(?!\d)"
)
_START_RE = re.compile(r"^\s*/start(?:@\w+)?\s*$", re.IGNORECASE)
_ACCOUNT_RE = re.compile(r"^[\s/!#.*>-]*([^\W\d_]+)\s*[:=-]?\s*(\S+)?\s*$")
_ARGUMENT_STRIP = ".,!?;:\"'`()[]{}<>"
_APOSTROPHES = "'’ʼ"
_PAUSE_RE = re.compile(r"[,.;!?،؛؟。]")


@dataclass(frozen=True)
class Command:
    """One thing the customer asked for.

    `action` is one of `ORDER_ACTIONS`, `STANDALONE_ACTIONS`, `ACCOUNT_ACTIONS` or `"custom"`;
    `order_ids` are distinct ASCII digit strings (order actions only); `argument` is the custom
    keyword as configured, or the `link`/`verify` argument as typed (None if missing).
    """

    action: str
    order_ids: tuple[str, ...] = ()
    force: bool = False
    argument: str | None = None


@dataclass(frozen=True)
class ParseResult:
    """What `parse` understood (`commands`) and what it could not (`unknown`)."""

    commands: list[Command] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid_ids: list[str] = field(default_factory=list)
    too_many_ids: bool = False
    ignored: list[str] = field(default_factory=list)

    @property
    def is_command(self) -> bool:
        return bool(self.commands)

    @property
    def order_ids(self) -> tuple[str, ...]:
        """Every distinct order id of the message, in order of appearance."""
        return tuple(dict.fromkeys(i for c in self.commands for i in c.order_ids))

    def describe(self) -> str:
        """A one-line summary for logs: `refill 2274209,2274210 force; balance`."""
        parts = []
        for c in self.commands:
            words = [c.action]
            if c.argument is not None:
                words.append(c.argument)
            if c.order_ids:
                words.append(",".join(c.order_ids))
            if c.force:
                words.append("force")
            parts.append(" ".join(words))
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Alias index

@dataclass(frozen=True)
class _Meaning:
    action: str
    argument: str | None = None


@dataclass(frozen=True)
class _Index:
    phrases: dict[tuple[str, ...], _Meaning]
    longest: int


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(tok.norm for tok in _tokenise(text))


def _build_index(aliases: tuple[tuple[str, str], ...], custom: tuple[str, ...]) -> _Index:
    phrases: dict[tuple[str, ...], _Meaning] = {}
    for action, words in DEFAULT_ALIASES.items():
        for alias in words:
            key = _phrase(alias)
            if key:
                phrases[key] = _Meaning(action)
    for keyword in custom:
        key = _phrase(keyword)
        if key:
            phrases[key] = _Meaning(CUSTOM, keyword.strip())
    for alias, action in aliases:
        if action not in ALIAS_ACTIONS:
            raise ValueError(f"alias {alias!r} points at unknown action {action!r}")
        key = _phrase(alias)
        if key:
            phrases[key] = _Meaning(action)
    longest = max((len(k) for k in phrases), default=1)
    return _Index(phrases, longest)


@lru_cache(maxsize=128)
def _cached_index(aliases: tuple[tuple[str, str], ...], custom: tuple[str, ...]) -> _Index:
    return _build_index(aliases, custom)


def _index_for(aliases: Mapping[str, str] | None, custom: Iterable[str]) -> _Index:
    alias_items = tuple(sorted((str(k), str(v)) for k, v in (aliases or {}).items()))
    custom_items = tuple(str(k) for k in custom if str(k).strip())
    return _cached_index(alias_items, custom_items)


# ---------------------------------------------------------------------------------------------
# Tokens

@dataclass(frozen=True)
class _Token:
    kind: str  # "word" | "num"
    text: str  # as typed
    norm: str  # folded word, or ASCII digits
    start: int
    end: int


def _category(ch: str) -> str:
    return unicodedata.category(ch)


def _tokenise(line: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(line)
    while i < n:
        cat = _category(line[i])
        if cat == "Nd":
            j = i + 1
            while j < n and _category(line[j]) == "Nd":
                j += 1
            text = line[i:j]
            tokens.append(_Token("num", text, ascii_digits(text), i, j))
            i = j
        elif cat[0] in "LM":
            j = i + 1
            while j < n:
                c = _category(line[j])[0]
                if c in "LM":
                    j += 1
                elif line[j] in _APOSTROPHES and j + 1 < n and _category(line[j + 1])[0] == "L":
                    j += 2
                else:
                    break
            text = line[i:j]
            tokens.append(_Token("word", text, fold(text), i, j))
            i = j
        else:
            i += 1
    return tokens


_REPEATS = {1: re.compile(r"(.)\1+"), 2: re.compile(r"(.)\1{2,}")}


def _squeezed(word: str, keep: int) -> str:
    """Squeeze runs of one character to at most `keep` (`refilllll` → `refill`/`refil`)."""
    return _REPEATS[keep].sub(lambda m: m.group(1) * keep, word)


def _word_variants(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((word, _squeezed(word, 2), _squeezed(word, 1))))


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance ≤ 1 (one insertion, deletion, substitution or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [k for k in range(la) if a[k] != b[k]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if la > lb:
        a, b = b, a
    # b is one longer: deleting one character of b must give a
    return any(b[:k] + b[k + 1:] == a for k in range(len(b)))


def _fuzzy_action(word: str) -> str | None:
    if len(word) < 5 or not word.isascii() or not word.isalpha() or word in FUZZY_BLOCKLIST:
        return None
    found = {action for target, action in FUZZY_TARGETS.items() if _within_one_edit(word, target)}
    return found.pop() if len(found) == 1 else None


# ---------------------------------------------------------------------------------------------
# Line items

@dataclass
class _Item:
    kind: str  # "id" | "act" | "force" | "filler" | "neg" | "unknown"
    text: str
    action: str = ""
    argument: str | None = None
    force: bool = False
    invalid_id: bool = False  # an "unknown" that looks like a mistyped order id
    seq: int = 0  # position in the message, for output order
    pause_before: bool = False  # punctuation (`,.;!?`) between this item and the previous one


def _is_valid_id(digits: str) -> bool:
    return MIN_ID_DIGITS <= len(digits) <= MAX_ID_DIGITS


def _char_before(line: str, pos: int) -> str:
    k = pos - 1
    while k >= 0 and line[k] == " ":
        k -= 1
    return line[k] if k >= 0 else ""


def _char_after(line: str, pos: int) -> str:
    k = pos
    while k < len(line) and line[k] == " ":
        k += 1
    return line[k] if k < len(line) else ""


def _read_number(line: str, tokens: list[_Token], i: int) -> tuple[list[_Item], int]:
    """Read the number at tokens[i]; return its items and the index after what it consumed."""
    tok = tokens[i]
    # dotted group: 10.50 (money) or 2274209.2274210 (ids)
    group = [tok]
    while (len(group) < 20 and i + len(group) < len(tokens)
           and tokens[i + len(group)].kind == "num"
           and tokens[i + len(group)].start == group[-1].end + 1
           and line[group[-1].end] == "."):
        group.append(tokens[i + len(group)])
    if len(group) > 1:
        end = i + len(group)
        if all(_is_valid_id(t.norm) for t in group):
            return [_Item("id", t.norm) for t in group], end
        if end < len(tokens) and tokens[end].kind == "word" and tokens[end].norm in CURRENCY_WORDS:
            end += 1  # 5.50 usd: one fragment
        return [_Item("unknown", line[tok.start:tokens[end - 1].end])], end

    digits = tok.norm
    prev = tokens[i - 1] if i > 0 else None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    glued_next = nxt is not None and nxt.start == tok.end
    before, after = _char_before(line, tok.start), _char_after(line, tok.end)

    if nxt is not None and nxt.kind == "word" and (
        (glued_next and nxt.norm in QUANTITY_SUFFIXES)
        or (nxt.norm in QUANTITY_WORDS and len(digits) <= 7 and digits.endswith("00"))
    ):
        return [_Item("unknown", line[tok.start:nxt.end])], i + 2
    if nxt is not None and nxt.kind == "word" and nxt.norm in CURRENCY_WORDS:
        return [_Item("unknown", line[tok.start:nxt.end])], i + 2
    if (before and _category(before) == "Sc") or (after and _category(after) == "Sc"):
        return [_Item("unknown", tok.text)], i + 1
    if tok.end < len(line) and line[tok.end] == "%":
        return [_Item("unknown", tok.text + "%")], i + 1
    if prev is not None and prev.kind == "word" and (
        prev.norm in CURRENCY_WORDS or prev.norm in PAYMENT_WORDS
    ):
        return [_Item("unknown", tok.text)], i + 1
    if tok.start > 0 and line[tok.start - 1] == "+" and len(digits) >= 8:
        sep_before = _char_before(line, tok.start - 1)
        if not (sep_before and _category(sep_before) == "Nd"):
            return [_Item("unknown", "+" + tok.text, invalid_id=True)], i + 1
    if _is_valid_id(digits):
        return [_Item("id", digits)], i + 1
    # 1-2 digits are counts ("2 orders"), not attempts at an id
    return [_Item("unknown", tok.text, invalid_id=len(digits) >= 3)], i + 1


def _match_phrase(tokens: list[_Token], i: int, index: _Index) -> tuple[_Meaning, int] | None:
    for size in range(min(index.longest, len(tokens) - i), 0, -1):
        window = tokens[i:i + size]
        if any(t.kind != "word" for t in window):
            continue
        if size == 1:
            for variant in _word_variants(window[0].norm):
                meaning = index.phrases.get((variant,))
                if meaning is not None:
                    return meaning, 1
        else:
            meaning = index.phrases.get(tuple(t.norm for t in window))
            if meaning is not None:
                return meaning, size
    return None


def _read_token(line: str, tokens: list[_Token], i: int, index: _Index
                ) -> tuple[list[_Item], int]:
    """Read what starts at tokens[i]; return its items and the index after what it consumed."""
    tok = tokens[i]
    if tok.kind == "num":
        return _read_number(line, tokens, i)
    matched = _match_phrase(tokens, i, index)
    if matched is not None:
        meaning, size = matched
        text = line[tok.start:tokens[i + size - 1].end]
        if meaning.action in ACCOUNT_ACTIONS:
            # link/verify only count at the start of a line (handled before tokenising)
            return [_Item("unknown", text)], i + size
        return [_Item("act", text, meaning.action, meaning.argument)], i + size
    variants = _word_variants(tok.norm)
    if any(v in NEGATION_WORDS for v in variants):
        return [_Item("neg", tok.text)], i + 1
    if tok.norm in FORCE_WORDS:
        return [_Item("force", tok.text)], i + 1
    if any(v in FILLER_WORDS for v in variants):
        return [_Item("filler", tok.text)], i + 1
    if (action := _fuzzy_action(_squeezed(tok.norm, 2))) is not None:
        return [_Item("act", tok.text, action)], i + 1
    return [_Item("unknown", tok.text)], i + 1


def _read_line(line: str, index: _Index) -> list[_Item]:
    tokens = _tokenise(line)
    items: list[_Item] = []
    i, last_end = 0, 0
    while i < len(tokens):
        found, after = _read_token(line, tokens, i, index)
        found[0].pause_before = bool(_PAUSE_RE.search(line[last_end:tokens[i].start]))
        items.extend(found)
        last_end = tokens[after - 1].end
        i = after
    return items


def _neighbour(items: list[_Item], pos: int, step: int) -> _Item | None:
    """The nearest non-filler item on one side, within the same phrase (no `,.;!?` between)."""
    k = pos
    while True:
        crossing = items[k] if step < 0 else (items[k + 1] if k + 1 < len(items) else None)
        if crossing is None or k + step < 0 or crossing.pause_before:
            return None
        k += step
        if items[k].kind != "filler":
            return items[k]


def _disarm(items: list[_Item]) -> None:
    """Turn negated actions, and acting actions in a why/how/when line, into unknown words;
    drop a details word that only introduces a standalone action (`check my balance`)."""
    asks = any(it.kind == "unknown" and fold(it.text) in QUESTION_WORDS for it in items)
    for pos, it in enumerate(items):
        if it.kind != "act" or it.action not in ORDER_ACTIONS:
            continue
        before, after = _neighbour(items, pos, -1), _neighbour(items, pos, 1)
        negated = (before is not None and before.kind == "neg") or (
            after is not None and after.kind == "neg"
            and fold(after.text) not in NEGATION_BEFORE_ONLY)
        if it.action in ACTING_ACTIONS and (negated or asks):
            it.kind = "unknown"
    for it in items:
        if it.kind == "neg":
            it.kind = "filler"
    for pos, it in enumerate(items):
        # `check my balance`: the details word only introduces the standalone action
        after = _neighbour(items, pos, 1)
        if (it.kind == "act" and it.action == "details" and after is not None
                and after.kind == "act" and after.action not in ORDER_ACTIONS):
            it.kind = "filler"


def _attach_force(items: list[_Item]) -> None:
    acts = [p for p, it in enumerate(items) if it.kind == "act" and it.action in ORDER_ACTIONS]
    for pos, it in enumerate(items):
        if it.kind != "force":
            continue
        before = [p for p in acts if p < pos]
        after = [p for p in acts if p > pos]
        if before:
            items[before[-1]].force = True
            it.kind = "filler"
        elif after:
            items[after[0]].force = True
            it.kind = "filler"
        else:
            it.kind = "unknown"


def _short_ids(items: list[_Item]) -> None:
    """`refill 1 2 3`: in a line with an order action and no order id, bare numbers are
    mistyped ids (reported in `invalid_ids`, so the customer is told), not counts."""
    if any(it.kind == "id" for it in items) or not any(
            it.kind == "act" and it.action in ORDER_ACTIONS for it in items):
        return
    for it in items:
        if it.kind == "unknown" and it.text.isdigit():
            it.invalid_id = True


# ---------------------------------------------------------------------------------------------
# Clauses: actions with the ids they take

@dataclass
class _Clause:
    seq: int
    acts: list[_Item]
    ids: list[str]
    open_fwd: bool = False  # may take ids from the following id-only lines
    open_back: bool = False  # may take ids from the preceding id-only lines
    pure: bool = True  # its line had no unexplained word
    took_back: bool = False


@dataclass
class _Standalone:
    seq: int
    command: Command


def _seq(*runs: list[_Item]) -> int:
    return min(it.seq for run in runs for it in run)


def _clauses_of_line(items: list[_Item], pure: bool) -> list[_Clause]:
    runs: list[tuple[str, list[_Item]]] = []
    for it in items:
        kind = "id" if it.kind == "id" else "act"
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(it)
        else:
            runs.append((kind, [it]))
    if not runs:
        return []
    id_runs = [r for r in runs if r[0] == "id"]
    act_runs = [r for r in runs if r[0] == "act"]
    if not act_runs:
        ids = [it.text for r in id_runs for it in r[1]]
        return [_Clause(_seq(items), [], ids, pure=pure)]
    if not id_runs:
        acts = [it for r in act_runs for it in r[1]]
        return [_Clause(_seq(acts), acts, [], open_fwd=True, open_back=True, pure=pure)]
    if (runs[0][0] == "act" and runs[-1][0] == "act" and len(runs) > 2
            and all(it.action == "details" for it in runs[0][1])):
        # `check 2274209 refill`, `status 2274209 pls cancel`: the leading "check" only
        # introduces the ids, the last action is what is asked for
        runs = runs[1:]
    clauses: list[_Clause] = []
    if runs[0][0] == "act":  # action first: each action takes the ids after it
        for k in range(0, len(runs), 2):
            ids = [it.text for it in runs[k + 1][1]] if k + 1 < len(runs) else []
            clauses.append(_Clause(_seq(runs[k][1]), runs[k][1], ids, pure=pure))
        clauses[-1].open_fwd = True
    else:  # ids first: each action takes the ids before it
        for k in range(0, len(runs), 2):
            ids = [it.text for it in runs[k][1]]
            acts = runs[k + 1][1] if k + 1 < len(runs) else []
            clauses.append(_Clause(_seq(runs[k][1]), acts, ids, pure=pure))
        clauses[0].open_back = True
    return clauses


def _join_lines(clauses: list[_Clause], ids_first: bool) -> list[_Clause]:
    """Give id-only clauses to a neighbouring action (see the module docstring)."""
    merged: list[_Clause] = []
    for clause in clauses:  # consecutive id-only clauses form one group
        if merged and not clause.acts and not merged[-1].acts:
            merged[-1].ids.extend(clause.ids)
        else:
            merged.append(clause)
    result: list[_Clause] = []
    k = 0
    while k < len(merged):
        clause = merged[k]
        if clause.acts:
            result.append(clause)
            k += 1
            continue
        prev = result[-1] if result and result[-1].acts else None
        nxt = merged[k + 1] if k + 1 < len(merged) and merged[k + 1].acts else None
        take_prev = prev is not None and prev.open_fwd and not prev.took_back
        take_next = nxt is not None and nxt.open_back
        if take_prev and take_next:
            take_prev = not ids_first
            take_next = ids_first
        if take_prev and prev is not None:
            prev.ids.extend(clause.ids)
        elif take_next and nxt is not None:
            nxt.ids[:0] = clause.ids
            nxt.took_back = True
            nxt.seq = min(nxt.seq, clause.seq)
        else:
            result.append(clause)
        k += 1
    return result


# ---------------------------------------------------------------------------------------------
# The parser

def _account_command(line: str, index: _Index) -> Command | None:
    match = _ACCOUNT_RE.match(line)
    if match is None:
        return None
    meaning = index.phrases.get((fold(match.group(1)),))
    if meaning is None or meaning.action not in ACCOUNT_ACTIONS:
        return None
    argument = (match.group(2) or "").strip(_ARGUMENT_STRIP).lstrip("@").strip(_ARGUMENT_STRIP)
    return Command(meaning.action, argument=argument or None)


def _scrub(line: str, unknown: list[str]) -> str:
    """Blank out links, e-mail addresses, mentions (ignored) and dates/times (unknown)."""
    for pattern in (_URL_RE, _EMAIL_RE, _MENTION_RE):
        line = pattern.sub(lambda m: " " * len(m.group(0)), line)

    def note(m: re.Match[str]) -> str:
        unknown.append(m.group(0))
        return " " * len(m.group(0))

    return _DATE_RE.sub(note, line)


def parse(
    text: str,
    aliases: Mapping[str, str] | None = None,
    custom_keywords: Iterable[str] = (),
    max_ids: int = 100,
) -> ParseResult:
    """Read the commands in one chat message (see the module docstring for the grammar).

    :param aliases: workspace aliases, alias → action (one of `ALIAS_ACTIONS`); they add to and
        override `DEFAULT_ALIASES`.
    :param custom_keywords: workspace custom command keywords (answered with a fixed reply).
    :param max_ids: most distinct order ids taken from one message.
    :raise ValueError: if an alias points at an action that does not exist.
    """
    index = _index_for(aliases, custom_keywords)
    text = (text or "")[:MAX_TEXT_CHARS]

    seq = 0

    def next_seq() -> int:
        nonlocal seq
        seq += 1
        return seq

    clauses: list[_Clause] = []
    standalone: list[_Standalone] = []
    unknown: list[str] = []
    invalid: list[str] = []
    ignored: list[str] = []
    ids_first: bool | None = None

    for raw_line in text.splitlines():
        if not raw_line.strip():
            continue
        if _START_RE.match(raw_line):
            standalone.append(_Standalone(next_seq(), Command("help")))
            continue
        account = _account_command(raw_line, index)
        if account is not None:
            standalone.append(_Standalone(next_seq(), account))
            continue

        line_unknown: list[str] = []
        line = _scrub(raw_line, line_unknown)
        items = _read_line(line, index)
        _disarm(items)
        _attach_force(items)
        _short_ids(items)
        line_unknown.extend(it.text for it in items if it.kind == "unknown")
        line_invalid = [it.text for it in items if it.kind == "unknown" and it.invalid_id]
        commandish = [it for it in items if it.kind in ("id", "act")]

        if not commandish:
            if line_invalid and len(line_invalid) == len(line_unknown):
                unknown.extend(line_unknown)  # a lone mistyped id deserves an answer
                invalid.extend(line_invalid)
            else:
                ignored.append(raw_line.strip())
            continue
        if len(line_unknown) > max(3, 2 * len(commandish)):
            ignored.append(raw_line.strip())
            continue

        unknown.extend(line_unknown)
        invalid.extend(line_invalid)
        pure = not any(it.kind == "unknown" and not it.invalid_id for it in items)
        ordered: list[_Item] = []
        for it in commandish:
            it.seq = next_seq()
            if it.kind == "act" and it.action not in ORDER_ACTIONS:
                standalone.append(
                    _Standalone(it.seq, Command(it.action, argument=it.argument)))
            else:
                ordered.append(it)
                if ids_first is None:
                    ids_first = it.kind == "id"
        clauses.extend(_clauses_of_line(ordered, pure))

    joined = _join_lines(clauses, bool(ids_first))
    return _assemble(joined, standalone, unknown, invalid, ignored, max_ids)


def _assemble(
    clauses: list[_Clause],
    standalone: list[_Standalone],
    unknown: list[str],
    invalid: list[str],
    ignored: list[str],
    max_ids: int,
) -> ParseResult:
    # (action, force, argument) → [seq, ids]
    merged: dict[tuple[str, bool, str | None], list] = {}
    for clause in clauses:
        acts = clause.acts or [_Item("act", "", "details")]
        if not clause.ids and not clause.pure:
            continue
        for act in acts:
            key = (act.action, act.force, None)
            slot = merged.setdefault(key, [clause.seq, []])
            slot[0] = min(slot[0], clause.seq)
            slot[1].extend(clause.ids)
    for item in standalone:
        key = (item.command.action, False, item.command.argument)
        merged.setdefault(key, [item.seq, []])

    distinct = list(dict.fromkeys(i for _, ids in merged.values() for i in ids))
    too_many = len(distinct) > max(0, max_ids)
    allowed = set(distinct[:max(0, max_ids)])

    commands: list[tuple[int, Command]] = []
    for (action, force, argument), (position, ids) in merged.items():
        kept = tuple(dict.fromkeys(i for i in ids if i in allowed))
        if action in ORDER_ACTIONS and ids and not kept:
            continue  # every id of this command was beyond max_ids
        commands.append((position, Command(action, kept, force, argument)))
    commands.sort(key=lambda pair: pair[0])
    return ParseResult(
        commands=[c for _, c in commands],
        unknown=list(dict.fromkeys(unknown)),
        invalid_ids=list(dict.fromkeys(invalid)),
        too_many_ids=too_many,
        ignored=ignored,
    )
