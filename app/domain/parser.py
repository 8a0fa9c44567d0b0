"""Chat command parser: a customer's message → commands (docs/contracts.md "Command grammar").

Contract
--------
`parse(text, aliases=None, custom_keywords=(), max_ids=100) -> ParseResult`. Pure and total: it
never raises for any `str` (an invalid *configuration*, e.g. an alias pointing at an unknown
action, raises `ValueError`), imports neither Flask nor the database, and does no I/O (it
reads our English reply texts from `app.domain.replies`, pure data). A message parses in well
under a millisecond (tests/unit/test_parser_corpus.py times the whole corpus).

The trust rule
- A refill, speed or cancel is dispatched only when the message clearly asks for that action on
  those ids. Anything less clear means the order's details (`2274209 refill done?`), a question
  (`ParseResult.ambiguous`), or nothing. A wrong refill or cancel costs money; a cancel cannot
  be undone; a details answer costs nothing.
- Ambiguous: the ids are clear but the action is not — two acting actions offered as
  alternatives (`or` between them, or a question: `2274209 cancel or refill?`, `iptal mi telafi
  mi?`), or advice or permission asked (`should I cancel 2274209 or wait?`, `can I cancel …`,
  `можно отменить …?`, `cancel karu?`). Such a sentence yields an `Ambiguity(order_ids,
  actions)` instead of commands; the pipeline asks the customer to choose and does nothing.

What it reads
- An order id is a run of 4–12 digits (any Unicode digits, returned as ASCII) that stands
  alone. Ids may be separated by commas, spaces, new lines, `+`, `/` (or anything else that is
  not a digit). `#2274209`, `2274209!!`, `id:2274209`, `order2274209` are all ids; digits glued
  to another word or to an underscore are part of a name (`user2274`, `john_1994`).
- Actions (`ORDER_ACTIONS`): `refill`, `speed`, `cancel`, `details`; they take ids and may come
  before or after them. Ids with no action mean `details`. Standalone actions: `balance`, `help`
  and workspace custom commands (`Command("custom", argument=<keyword as configured>)`); they
  take no ids (ids next to them become `details`). Account actions: `link <username>` and
  `verify <code>` are only read as the first word of a line followed by exactly one argument
  (not a link: `Link: instagram.com/p/…` is a ticket form's field). `/start` (Telegram) means
  `help`; a question of how much is in the customer's account (`كم باقي في حسابي؟`, `hesabımda
  ne kadar var`: `HOW_MUCH_WORDS` and `ACCOUNT_WORDS`, no id) means `balance`.
- Aliases: `DEFAULT_ALIASES` (multilingual data) < workspace `custom_keywords` < workspace
  `aliases` (alias → action). Matching is on folded text (`norm`: `app.domain.text.fold` — case,
  Latin diacritics, Arabic letter forms — and the Arabic hamza written or not), multi-word
  aliases match across spaces and hyphens (`speed up`, `speed-up`, `isi ulang`), runs of a
  repeated letter are squeezed (`refilllll`). Hinglish pairs a noun with a light verb
  (`HINGLISH_VERB_WORDS` × `HINGLISH_LIGHT_VERBS`: `band karwa do`, `tez kijiye`). A word of
  six letters or more one edit away from exactly one default alias of that length is that
  alias (`cancelarr`, `batalkn`, `التعويظ`; the English names from five letters: `balnce`), as
  are two words one edit away from a two-word alias (`spead up`), except real words listed in
  `FUZZY_BLOCKLIST` and every word another table knows (`_vocabulary_words`: `yazdım`, "I
  wrote", is not `yardım`). Russian (also in Latin letters: `otmenite`, `uskorte`), Turkish and
  Indonesian verbs are read by their stem (`ACTION_STEMS`: `восстановите`, `hızlandırın`,
  `dibatalin`, `остановите`; a stem of eight letters or more also one edit away:
  `востановите`), except past forms (a state: `отменили`, `otmenili`, `отменился`) and
  Turkish negative imperatives (`hızlandırmayın`); stopping an order is cancelling it (`stop
  order`, `durdurun`, `hentikan`); common Hinglish words typed in Devanagari are read as their
  Latin spelling (`DEVANAGARI_WORDS`: `जल्दी करो` = `jaldi karo`); Arabic in Latin letters
  keeps its digits inside the word (`ta3weed`, `2lgha2`, `sama7t`: `_join_arabizi`); Arabic
  words are also looked up without a leading `و`, `ال`, `ب`, `ل` (`والتعويض`) and without a
  trailing pronoun or plural ending (`كنسلوا`, `الغوه`, `تعوضون`); Spanish and Portuguese
  imperatives without a glued pronoun (`cancélame`, `repónganme`); English gerunds and the
  Indonesian `-nya` without their ending (`refilling`, `refillnya`); Indonesian words without
  the passive `di-` (`dicancel`). `NOT_COMMAND_PHRASES` hold an action word but mean
  something else (`paise wapas`: money back, not a refill; a refund is an explained topic:
  `quiero que me devuelvan el dinero del …` means details), as does a word that also means
  "give back" next to money (`верните средства`, `amount wapas`); a refill word next to a
  guarantee (`GUARANTEE_WORDS`, a number of days: `Followers [Refill 30D]`, `lifetime
  refill`) names a service's guarantee.
- `force` (`FORCE_WORDS`) marks the nearest order action in its line (`2274209 refill force`);
  the parser only reports it: honouring it is for admin identities only (eligibility).

How the pieces are grouped
- Each sentence is read on its own, like a line (a sentence ends at `.!?;` followed by a
  space, a symbol or the end of the line; `2274209.2274210` and `10.50` end none); below,
  "line" means such a sentence. In a line with ids and actions, if an action comes first every
  action takes the ids that follow it (`refill 1111 2222 cancel 3333`), otherwise every action
  takes the ids before it (`1111, 2222 speed 3333 cancel`); ids left after the last action of an
  ids-first line mean `details`. A phrase (after `,`) that turns this order around starts a
  segment read on its own (`2274209 refill, cancel 2274210`, `refill 2274209, 2274210 cancel`,
  `2274326 tamamlandı, 2274327 iptal edin`: `_turns_around`). Adjacent actions share their
  ids (`1111 refill speed`), except a speed word that is an adverb of manner beside a refill or
  cancel (`refill kar do jaldi`, `cancel 2274209 fast`: `SPEED_ADVERBS`), and unless one is
  a details word (`refill status 1111` asks for the status). A leading `details` word before
  ids that another action follows only introduces them (`check 1111 refill` is a refill).
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
- Chatty text around ids (a sentence with ids, no action and too many unexplained words)
  gives its ids to a neighbouring sentence that asks for an action and names no ids (`my order
  4456781 is stuck at 0 for 2 days now. Please speed it up`), or to a polite request (`… but
  only got 500. Can you refill?`), not to another question; ids no action takes mean details
  when the text names them as orders (`order`, `pedido`, `#`, …) or they have six digits or
  more (`LONG_ID_DIGITS`); otherwise it is conversation (`the next 2025 sale`). A sentence
  that asks for an action with no ids has more room after such text (`ACTION_ONLY_ROOM`).
- A sentence (or a phrase after `,` or a dash) that starts with a correction word and asks for
  an action with no ids (`cancel 2274209? no wait, refill it`, `cancelar el 3320004, perdón,
  quise decir acelerar`) replaces the last earlier request with ids: it takes those ids, the
  earlier action is dropped. One that names only ids with `only` (`refill 2290319 and
  2290320. wait no, only 2290319`) keeps just those ids of the request before it; the others
  mean details.

What it ignores or reports
- Conversation: a sentence whose unexplained fragments outnumber `max(3, 2 × its ids and
  action words)` — `max(12, 4 × …)` when it names both ids and an order action,
  `max(CHATTY_ROOM, 6 × …)` when that action is a refill, speed or cancel asked for (a chatty
  request), no limit for a quote — or that has no id and no action, is conversation and yields
  nothing (its text goes to `ParseResult.ignored`, for the trace). Numbers read as counts,
  years, references or names are explained fragments.
- Not requests (refill/speed/cancel become unknown words; their ids fall back to `details`):
  - a negated action: prefix negations point at the next action or id (`don't cancel`,
    `не отменяйте`, `jangan dibatalkan`, `لا تلغي`, through pronouns, `to` and modals: `no lo
    aceleren`, `não é pra cancelar`, `tidak bisa dibatalkan`), or at the previous one when they
    end their phrase (`el 7309012 no`, `отменять не нужно`); postfix ones at the previous one
    (`iptal etmeyin`, `iptal edilmesin`, `cancel mat karo`, `iptal değil`); `nahi`/`jangan`/
    `yok` and the words for "leave it" (`kalsın`, `biarin`, `chhod do`) at the previous one
    when it is an action or id, else the next (`cancel nahi, refill karo`, `leave 8812035`),
    but at the verb when they stand between an id and it (`6670819 jangan dibatalin`); a
    negated id is left out of every action (`refill 8812034 only, not 8812035` → refill
    8812034; details 8812035), as is an id said to be fine (`o 8340522 tá ok`, `2274210 is
    fine`: `FINE_WORDS`); `no` negates an id only after a pause (`refill order no 2274209` is
    an id); Hinglish `na` after an imperative softens it (`tez karo na`), Turkish `ne kadar`,
    `ne zaman` are questions, not Russian `ne`, and a negation looks through a past copula
    (`no era cancelar`) and `never mind`, `no longer needed`;
  - a sentence that asks why/how/when or for news (`any update on …`, `¿cómo va …?`) or
    whether a service offers an action (`do you offer refill for …?`), a question (a `?`, a
    question particle, an English auxiliary first: `did u refill 2274209`, a final `belum`)
    about a state (`STATE_WORDS`, a past form or a question tag: `refill done?`, `iptal oldu
    mu?`, `отменились?`, `cancelaram?`, `… or not?`, `udah di refill belum?`, `هل تم …`; an
    Indonesian passive with no request marker: `dibatalkan?`) — but a polite request giving a
    negated state as its reason is a request (`not started yet, can you speed up?`) —, a
    condition (`if it does not start, cancel …`, `si no empieza`, `başlamazsa`; not `if
    possible`, `لو سمحت`; Spanish `si` before any word but a polite one: `si mañana sigue
    igual`, Portuguese `se` before `CONDITION_AFTER_SE`: `se amanhã`; a condition naming its
    own id reaches only from its phrase on: `isi ulang 8810283, kalau 8810284 biarin`), a
    mistake or mention in a phrase with no id (`galti se cancel likha`, `me equivoqué`), a past
    report (`REPORT_WORDS`: `Refill requested: …`, `запрошена`, `iptal talebim`; not a
    ticket-form label starting a line: `Request: Refill`; with the customer as its subject it
    reaches only what follows: `6120354 refill i asked 3 times already` is a refill) and a
    line quoting one of our replies in English or any shipped language (three words or
    more of one, `app.domain.reply_texts`; between quotation marks, only the sentence holding
    the quotation: `"Refill requested …: 6210009, 6210010" … pls refill 6210010 again` refills
    6210010 and shows 6210009 only); our question pasted back (`ask_action`) is asked again,
    as is asking whether an action is possible (`is it possible to cancel …`, `iptal
    edilebilir mi?`, `bisa dibatalkan gak?`) or recommended (`¿me recomiendan cancelar …?`) —
    advice is asked about an action the modal comes before or shares a phrase with, not in
    the past (`should have been`), and then only that phrase's state words make it a question
    of state (`6120357 has been at 0 for 2 days, should i wait or cancel?` asks); our help text
    pasted back is no command at all (its ids are our examples);
  - an action right next to a details word (`refill status 2274209`, `estado de la recarga`)
    asks for the status; a refill word next to a balance word is a top-up (`recarga de
    saldo`, `isi ulang saldo`, `تعبئة رصيد`) and neither is read; nor is a balance word in a
    sentence about paying or topping up (`пополнил баланс`, `I paid 5000 but balance …`), in
    a negated phrase (`o saldo não voltou`) or in one of money going back (`RETURN_WORDS`,
    refunds: `iptal edip bakiyeme iade edin`).
- Not ids: digit runs shorter than 4 or longer than 12, `+` directly followed by 8 or more
  digits, phone numbers (international or local groups: `+62 812-3456-7890`, `0812-3456-7890`,
  `0532 123 45 67`, `8-912-345-67-89`, `(11) 98765-4321`; a run of 10 or more digits starting
  with 0), money (`$5000`, `5000 rs`, `paid 5000`), quantities (`10k`, `1350 followers` — up to
  six digits, or round), counts (a number after a count word: `start count 1520, now 1490`,
  `было 1520 стало 1490`, `antes 5230 agora 4870`, `önce … şimdi …`, `كان … الآن …`; the second
  of `from 5230 to 4870` or `1520 → 1490`; words such as `was`/`had`/`from` count only numbers
  of up to five digits or round ones), numbers shorter than the message's longest id in a
  weaker count context (`_weak_count`: a count word up to three words before, `3100 geldi`,
  `takipçi 12800`, `600 of 2000`, `12800'den 12100'e`, a pair with a count), numbers of up to
  five digits two or more shorter than their sentence's longest id and next to neither an id
  nor an action (`refill 2290312 pls 4500 gone`: `_short_numbers`), a year after (or before)
  a month name (`March 2024`, `5 de enero 2025`, `марта 2024`), a number next to a
  reference word (`service 4232`, `4232 servisi`, `2210 id'li servisten`, `ticket 5521`),
  digit groups next to a phone word (`PHONE_WORDS`: `whatsapp 98765 43210`, `тел
  89123456789`), an amount after a top-up (`пополнил баланс на 5000`), percentages, decimals
  (`10.50`), dates and times, and digits inside links, e-mail addresses and @mentions
  (`@maria.2001`). `no.` before a number abbreviates "number" (`order no. 2274312`).
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

_ARABIC_HAMZA_SEATS = str.maketrans({"ئ": "ي", "ؤ": "و"})


def norm(text: str) -> str:
    """The form words are compared in: `fold` (case, Latin diacritics, Arabic letter forms), and
    for Arabic the hamza spelled on a seat or left out alike (`تعبئة` = `تعبيه`, `الغاء` =
    `الغا`), as customers type it both ways."""
    folded = fold(text)
    if not any("\u0600" <= ch <= "\u06ff" for ch in folded):
        return folded
    words = folded.translate(_ARABIC_HAMZA_SEATS).split(" ")
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("ء") else w for w in words)

ORDER_ACTIONS: tuple[str, ...] = ("refill", "speed", "cancel", "details")
STANDALONE_ACTIONS: tuple[str, ...] = ("balance", "help")
ACCOUNT_ACTIONS: tuple[str, ...] = ("link", "verify")
CUSTOM = "custom"
# The meaning of `NOT_COMMAND_PHRASES` in the alias index (never an action).
NOT_COMMAND = "-"
# Actions a workspace alias may point at.
ALIAS_ACTIONS: tuple[str, ...] = ORDER_ACTIONS + STANDALONE_ACTIONS + ACCOUNT_ACTIONS
# Order actions that change something upstream: negations and questions disarm them.
ACTING_ACTIONS: frozenset[str] = frozenset({"refill", "speed", "cancel"})

MIN_ID_DIGITS = 4
MAX_ID_DIGITS = 12
# The order ids of one panel have (about) one length: a number of up to SHORT_NUMBER_DIGITS
# digits, ID_LENGTH_GAP or more shorter than the longest id of the message, is a count or an
# amount (`refill 2290312 pls 4500 gone`), not an order id — unless it stands next to an id or
# an action (`2290312, 4500 refill`, `cancel 4500`): see `_short_numbers`.
SHORT_NUMBER_DIGITS = 5
ID_LENGTH_GAP = 2
# In chatty text no action takes, an id of this many digits or more (or any id named as an
# order) still means the order's details; a shorter one (`the next 2025 sale`) is conversation.
LONG_ID_DIGITS = 6
# A sentence that names ids and asks for a refill, speed-up or cancel may hold this many
# unexplained words (a chatty request); see "What it ignores" in the module docstring.
CHATTY_ROOM = 30
# ...and a sentence asking for one with no ids (they may come from the sentence before).
ACTION_ONLY_ROOM = 6
# Longer input is cut: no chat platform delivers more than a few thousand characters.
MAX_TEXT_CHARS = 20_000

DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "refill": (
        # English and common typos
        "refill", "refil", "refll", "reffil", "reffill", "refilll", "rifill", "refills",
        "re fill", "rf", "rfl",
        # Spanish
        "recarga", "recargar", "rellenar", "relleno", "reposicion", "reposiciones", "reponer",
        "repongan", "reponga", "rellenen", "recarguen", "reposición",
        # Portuguese
        "reposição", "repor", "recarregar", "refil", "repõe", "reponha", "reponham", "repoem",
        # Russian
        "рефилл", "рефил", "восстановить", "восстановление", "докрутка", "докрутить",
        "докрутите", "докрутку", "верните",
        # Turkish
        "dolum", "telafi", "telafi et", "yeniden dolum", "telafi edin", "telafi eder misiniz",
        # Hindi / Urdu in Latin script (and Devanagari)
        "refill karo", "refill kar do", "refill kardo", "refill krdo", "wapas", "wapis",
        "bhar do", "bhar dijiye", "bhar dena", "refill do", "refill kro",
        "रिफिल",
        # Indonesian
        "isi ulang", "isiulang", "diisi ulang", "di isi ulang", "diisi", "direfill", "di refill",
        "refillkan", "refill in",
        # Arabic
        "إعادة تعبئة", "اعادة تعبئة", "تعبئة", "ريفيل", "ريفل", "تعويض", "عوض", "عوضني",
        # Arabic in Latin letters (Arabizi)
        "ta3weed", "ta3wid", "t3weed", "ta3wed", "3awed", "3awdo", "3awedni", "3awdoni",
        "عوضوني", "عوضوا", "عوضو", "تعويضي", "تعوض", "يعوض",
    ),
    "speed": (
        "speed", "speedup", "speed up", "speedy", "spd", "fast", "faster", "hurry", "hurry up",
        "expedite", "accelerate",
        "hızlandır", "hızlandırma", "hızlan",
        "acelerar", "acelera", "acelere", "agilizar", "aceleración", "aceleração", "aceleren",
        "acelerenlo", "aceleralo", "agiliza", "agilizem", "agilicen", "aceleras", "aceleram",
        "uma acelerada", "una acelerada", "dar uma acelerada",
        "ускорить", "ускорение", "ускорьте",
        "percepat", "dipercepat", "cepetin", "dicepetin", "percepatkan", "cepatkan",
        "jaldi", "jaldi karo", "speed karo", "speed kar do", "speed kardo", "tez karo",
        "tez kar do", "tez kardo", "fast karo", "fast kar do", "fast kardo",
        "تسريع", "سرع", "سرعوا", "سرعو", "تسرع", "استعجال",
        # Arabic in Latin letters (Arabizi)
        "tasree3", "tasri3", "tasre3", "sarri3", "sarre3", "sare3", "sar3o", "sarr3o",
        "स्पीड",
    ),
    "cancel": (
        "cancel", "cancell", "cancle", "cancl", "cancel karo", "cancel kar do", "cancel kardo",
        "iptal", "iptal et",
        # stopping an order is cancelling it (`pls stop order 6630912`, `остановите`)
        "stop order", "stop the order", "stop my order", "stop this order", "stop orders",
        "parar o pedido", "parem o pedido", "pare o pedido", "detener el pedido",
        "detengan el pedido", "paren el pedido",
        "cancelar", "cancela", "cancele", "anular", "cancelación", "cancelamento", "cancelen",
        "cancelenlo", "cancelalo", "cancelala", "cancelem",
        "отмена", "отменить", "отмените",
        "batal", "batalkan", "dibatalkan", "dibatalin", "batalin", "pembatalan",
        "band karo", "band kar do", "band kardo", "bnd karo", "rok do", "rok dijiye", "rokdo",
        "roko", "rokiye", "rok lo",
        "radd", "radd karo",
        "إلغاء", "الإلغاء", "كنسل", "كنسله", "الغي", "الغيه", "الغوا", "تلغي", "تلغيه",
        # Arabic in Latin letters (Arabizi)
        "elgha2", "ilgha2", "2lgha2", "el8a2", "elghi", "2elghi", "alghi", "elghoo", "kansel",
        "रद्द",
    ),
    "details": (
        "details", "detail", "status", "stat", "stats", "info", "information", "check",
        "check status", "track",
        "durum", "durumu", "durumunu", "bilgi", "detay",
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
        "رصيد", "الرصيد", "رصيدي",
        "बैलेंस",
    ),
    "help": (
        "help", "menu", "commands", "command",
        "yardım",
        "ayuda", "ajuda",
        "помощь", "помогите", "меню",
        "bantuan",
        "madad",
        "مساعدة", "ساعدني", "ساعدوني", "ساعدونا",
    ),
    "link": ("link", "vincular", "bağla", "привязать"),
    "verify": ("verify", "verificar", "doğrula", "подтвердить"),
}
# Hinglish asks with a noun or an adverb and a light verb (`band karwa do`, `tez kijiye`,
# `bhar dijiye`): every pair of these is an alias of its action.
HINGLISH_VERB_WORDS: dict[str, tuple[str, ...]] = {
    "refill": ("refill", "refil", "bhar", "wapas bhar"),
    "speed": ("speed", "speed up", "fast", "tez", "jaldi"),
    "cancel": ("cancel", "band", "bnd", "rok", "radd"),
}
HINGLISH_LIGHT_VERBS: tuple[str, ...] = (
    "karo", "kro", "kar do", "kardo", "kr do", "krdo", "kar dijiye", "kar dena", "karna",
    "karwa do", "karwado", "karwao", "karwa dijiye", "kijiye", "karein", "karen", "kariye",
)
for _action, _words in HINGLISH_VERB_WORDS.items():
    DEFAULT_ALIASES[_action] += tuple(
        phrase for phrase in (f"{w} {v}" for w in _words for v in HINGLISH_LIGHT_VERBS)
        if phrase not in DEFAULT_ALIASES[_action])
del _action, _words
# Hinglish is also typed in Devanagari (`ऑर्डर 2274209 रिफिल कर दो`, `जल्दी करो`): its common words
# are read as their usual Latin spelling, so every table in Latin letters applies to them.
DEVANAGARI_WORDS: dict[str, str] = {
    # actions and their light verbs
    "रिफिल": "refill", "रीफिल": "refill", "रिफ़िल": "refill", "भर": "bhar", "भरो": "bharo",
    "वापस": "wapas", "स्पीड": "speed", "जल्दी": "jaldi", "तेज": "tez", "फास्ट": "fast",
    "कैंसल": "cancel", "कैंसिल": "cancel", "केंसल": "cancel", "कैन्सल": "cancel", "बंद": "band",
    "बन्द": "band", "रोक": "rok", "रोको": "roko", "रद्द": "radd", "स्टेटस": "status",
    "चेक": "check", "डिटेल": "details", "डिटेल्स": "details", "बैलेंस": "balance",
    "बैलेन्स": "balance", "मदद": "madad", "हेल्प": "help",
    "करो": "karo", "कर": "kar", "दो": "do", "दीजिए": "dijiye", "दीजिये": "dijiye",
    "कीजिए": "kijiye", "कीजिये": "kijiye", "करिए": "kariye", "करें": "karen", "करना": "karna",
    "करवा": "karwa", "करवाओ": "karwao", "करवादो": "karwado", "देना": "dena", "कराओ": "karwao",
    # negation, questions, conditions
    "नहीं": "nahi", "नही": "nahi", "मत": "mat", "ना": "na", "न": "na", "क्या": "kya",
    "कब": "kab", "क्यों": "kyun", "क्यूं": "kyun", "कैसे": "kaise", "अगर": "agar", "या": "ya",
    "हुआ": "hua", "हुई": "hui", "हुए": "hue", "गया": "gaya", "गई": "gayi", "गयी": "gayi",
    "किया": "kiya", "किये": "kiye", "किए": "kiye",
    # filler and counts
    "को": "ko", "का": "ka", "की": "ki", "के": "ke", "है": "hai", "हैं": "hai", "भाई": "bhai",
    "भैया": "bhaiya", "जी": "ji", "प्लीज": "please", "कृपया": "please", "ऑर्डर": "order",
    "आर्डर": "order", "ऑडर": "order", "मेरा": "mera", "मेरी": "meri", "मेरे": "mere",
    "अभी": "abhi", "तक": "tak", "और": "aur", "भी": "bhi", "से": "se", "ये": "ye", "यह": "yeh",
    "लिए": "liye", "सिर्फ": "sirf", "चाहिए": "chahiye", "पैसा": "paisa", "पैसे": "paise",
    "था": "tha", "थे": "the", "थी": "thi", "अब": "ab", "पहले": "pehle", "कम": "kam",
    "फॉलोअर्स": "followers", "फॉलोवर्स": "followers", "लाइक्स": "likes", "व्यूज": "views",
    "धन्यवाद": "thanks", "शुक्रिया": "thanks", "आईडी": "id", "नंबर": "number",
}
_NUKTA = "\u093c"
_DEVANAGARI_FOLDED: dict[str, str] = {
    norm(word).replace(_NUKTA, ""): latin for word, latin in DEVANAGARI_WORDS.items()}
# A single-word default alias → its action (number contexts ask "is this a balance word?").
DEFAULT_ALIAS_ACTIONS: dict[str, str] = {
    norm(alias): action for action, aliases in DEFAULT_ALIASES.items() for alias in aliases
    if " " not in alias}

# Glue words that carry no command meaning; they are neither actions nor "unknown".
FILLER_WORDS: frozenset[str] = frozenset(norm(w) for w in (
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
    "gan", "saya", "untuk", "nomor", "di",
    # Hindi / Urdu (Latin script)
    "bhai", "bhaiya", "ji", "mera", "meri", "mere", "karo", "kar", "kardo", "krdo", "hai",
    "ka", "ki", "ko", "yeh", "ye", "jii", "salam", "salaam", "assalam", "walaikum", "abhi",
    "tak", "hua", "hui", "bhi", "aur", "se",
    # Arabic
    "مرحبا", "السلام", "عليكم", "طلب", "الطلب", "طلبي", "رقم", "من", "فضلك", "لو", "سمحت",
    "شكرا", "يا", "اخي", "ابي", "ابغى", "ابغي", "اريد", "أريد", "حق", "على", "في", "عندي", "بس",
    "ممكن", "لو", "تكرمت", "تكرمتوا",
    # Arabic in Latin letters (Arabizi)
    "talab", "sama7t", "samaht", "sam7t", "tsm7", "momken", "mumkin", "mmkn", "e3mlo", "3mlo",
    "akhi", "5ayi", "shukran", "yalla",
    # neutral words (`only`, `just`, `need`), so that a negation reaches its action
    "only", "just", "solo", "sólo", "só", "только", "надо", "нужно", "sadece", "aja", "saja",
    "sirf", "فقط", "usah", "karna", "karni", "karne", "а", "pfv", "pfvr", "plz",
    "заказу", "заказе", "плз", "wale", "wala", "liye", "nih", "yaar", "yar", "dong",
    # urgency and verbs of doing (`faz a reposição agora`, `hemen iptal`, `فورا`)
    "faz", "faça", "faca", "fazer", "haz", "hagan", "haga", "hacer", "make", "agora", "ahora",
    "immediately", "today", "hoy", "hoje", "срочно", "сейчас", "hemen", "acil", "şimdi",
    "segera", "sekarang", "turant", "الحين", "فورا", "quero", "quiero", "que",
    # Russian in Latin letters
    "zdravstvuyte", "zdravstvuite", "zdrastvuyte", "zdrastvuite", "privet", "zakaz", "zakaza",
    "zakazy", "zakazu", "nomer", "pozhaluysta", "pozhalujsta", "pojaluysta", "pozhalusta",
    "pozhaluista", "spasibo", "sdelayte", "sdelaite", "mne", "moy", "moi", "dlya", "nuzhno",
    "nado", "srochno",
))

# Negation. A word negates the action, or the id, it points at: prefix words the next one
# (`don't cancel`, `не отменяйте`, `no 2274210`), postfix words the previous one (`iptal
# etmeyin`, `cancel mat karo`, `8812035 değil`), words of both kinds the previous one when
# there is one, else the next (`cancel nahi, refill`, `nahi cancel`). A prefix word that ends
# its phrase points at the previous one (`cancelar solo 7309011, el 7309012 no`, `отменять не
# нужно`).
NEGATION_PREFIX: frozenset[str] = frozenset(norm(w) for w in (
    "dont", "don't", "do't", "not", "never", "no", "cannot", "can't", "cant", "não", "nao",
    "nunca", "sin", "sem", "не", "нет", "ни", "ne", "net", "bukan", "forget", "nevermind",
    "tidak", "tdk", "gak", "ga", "nggak", "ngga", "enggak", "لا", "ليس", "مو", "مش", "ما", "بدون",
))
NEGATION_POSTFIX: frozenset[str] = frozenset(norm(w) for w in (
    "mat", "mt", "etme", "yapma", "etmeyin", "etmeyiniz", "etmesin", "yapmayın", "yapmayınız",
    "istemiyorum", "istemiyoruz", "istemiyom", "değil", "degil", "olmasın",
))
NEGATION_EITHER: frozenset[str] = frozenset(norm(w) for w in (
    "nahi", "nahin", "nhi", "nai", "na", "yok", "jangan", "jgn",
    # leave it as it is (`9910284 kalsın`, `8810284 ko chhod do`, `leave 8812035`)
    "leave", "kalsın", "kalsin", "dursun", "biarin", "biarkan", "biar", "chhod", "chod",
    "chhodo", "chodo", "оставьте", "оставь", "خليه", "خلوه", "اتركه", "اتركوه",
))
# Turkish verbs of doing in a negative form (`iptal edilmesin`, `telafi yapılmasın`): light
# verb stems and the negative endings that may follow them.
_TURKISH_LIGHT_VERBS: tuple[str, ...] = tuple(norm(w) for w in (
    "et", "ed", "edil", "yap", "yapıl", "ol", "olun"))
_TURKISH_NEGATIVE_ENDINGS: frozenset[str] = frozenset(norm(w) for w in (
    "me", "ma", "meyin", "mayın", "meyiniz", "mayınız", "mesin", "masın", "meyelim",
    "mayalım", "miyorum", "mıyorum", "meyin", "mem", "mam", "meyiz", "mayız"))
NEGATION_WORDS: frozenset[str] = NEGATION_PREFIX | NEGATION_POSTFIX | NEGATION_EITHER
# Hinglish `na` after an imperative softens it (`tez karo na`: "do speed it up, won't you");
# before the verb it negates (`cancel na karo`).
HINGLISH_SOFTENERS: frozenset[str] = frozenset({"na", "naa", "na?"})
HINGLISH_IMPERATIVES: frozenset[str] = frozenset({
    "karo", "kro", "do", "kardo", "krdo", "dijiye", "kijiye", "karein", "karen", "kariye",
    "karwao", "karwado", "dena", "dijie", "kijie", "karwaiye"})
# An id said to be fine (`o 8340522 tá ok`, `2274210 is fine`, `а 2274210 нормально`) is left
# out of every action, like a negated id: see `_fine_ids`. These words say so on their own...
FINE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "fine", "good", "normal", "normally", "bien", "bem", "certo", "normalmente", "нормально",
    "норм", "нормальный", "порядке", "sorunsuz", "düzgün", "aman", "beres", "normal",
    "theek", "thik", "sahi", "سليم", "مضبوط", "زين", "طبيعي", "ماشي",
))
# ...these only after a copula (`tá ok`, `is ok`, `udah oke`, `ok hai` — `ok` alone is also
# an acknowledgement: `refill 2274209 ok`).
FINE_AFTER_COPULA: frozenset[str] = frozenset(norm(w) for w in (
    "ok", "okay", "oke", "okey", "bom", "tamam", "تمام", "ок", "окей",
))
COPULAS: frozenset[str] = frozenset(norm(w) for w in (
    "is", "are", "its", "it's", "looks", "seems", "tá", "ta", "está", "esta", "estão", "es",
    "é", "ficou", "quedó", "udah", "sudah", "sdh", "dah", "hai", "he", "h", "всё", "все",
    "уже", "zaten", "artık", "already", "now", "agora", "ahora", "ab",
))
# The customer as the subject (`6120354 refill, I asked 3 times already`): what they report
# of their own past requests starts at this word, it does not reach back to a request made
# before it in the sentence (see `_report_start`).
FIRST_PERSON_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "i", "we", "ive", "i've", "yo", "eu", "я", "мы", "ben", "biz", "aku", "saya", "gue", "gw",
    "maine", "mene", "humne", "hamne", "انا", "أنا", "احنا", "نحن",
))
# `no` is also filler (`refill order no 2274209`): before an action it negates it, before an
# id only after a pause (`refill 8812034, no 8812035`).
NEGATION_BEFORE_ONLY: frozenset[str] = frozenset({"no"})
# Words a negation looks through for its target (`não é cancelar`, `it is not cancel`).
NEGATION_TRANSPARENT: frozenset[str] = frozenset(norm(w) for w in (
    "é", "e", "es", "is", "it", "its", "be", "a", "а", "ser", "that", "this", "de",
    # a copula in the past (`no era cancelar`, `não foi cancelar`, `было не отменить`)
    "era", "was", "fue", "foi", "было", "был", "была",
    # `no need to`, `não precisa`, `no hace falta`, `gerek yok`, `zaroorat nahi`
    "need", "needs", "necessary", "precisa", "preciso", "precisam", "necesita", "necesito",
    "hace", "falta", "gerek", "chahiye", "zarurat", "zaroorat", "perlu", "usah",
    # pronouns before a Spanish or Portuguese verb (`no lo aceleren`, `não me cancela`), `to`
    # (`não é pra cancelar`, `not to cancel`)
    "lo", "la", "los", "las", "le", "les", "me", "te", "se", "nos", "lhe", "lhes", "o",
    "pra", "para", "to",
    # a modal (`cannot be canceled`, `tidak bisa dibatalkan`, `no se puede cancelar`)
    "can", "could", "bisa", "boleh", "puede", "pode", "podem", "pueden", "يمكن",
    # don't touch it (`а 6630196 не трогайте`), don't bother (`don't bother refilling`)
    "трогайте", "трогать", "трогай", "bother", "want", "try", "quero", "quiero", "хочу",
    "mau", "ingin", "pengen", "chahta", "chahti", "ابي", "ابغى", "اريد",
    # `never mind cancelling`, `no longer needed`, `forget about the refill`
    "mind", "longer", "needed", "about", "more",
    # intensifiers (`cancel bilkul mat karna`, `asla iptal etmeyin`)
    "bilkul", "kabhi", "absolutely", "at", "all", "asla", "sakın", "jamais", "nunca", "أبدا",
    "ابدا", "sama", "sekali",
))
# A line that asks why/how/when is talking about an action, not asking for one.
QUESTION_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "why", "how", "when", "neden", "niye", "nasıl", "ne zaman", "почему", "как", "когда",
    "kyun", "kyu", "kaise", "kab", "kenapa", "pochemu", "kogda", "bagaimana", "kapan", "لماذا",
    "كيف", "متى",
    "cuando", "quando", "cuánto", "quanto",
    # asking for news of a request (`any update on the refill of 2274209?`)
    "update", "updates", "progress", "news", "noticias", "novedades", "novidades", "novidade",
    "новости", "новостей", "haber", "kabar", "khabar", "اخبار", "أخبار",
))
# These ask how/what only in a question (`¿cómo va la reposición del 2274209?`; `como` is also
# `as`).
QUESTION_WORDS_IF_ASKED: frozenset[str] = frozenset(norm(w) for w in (
    "como", "cómo", "gimana",
    # asking whether a service offers an action (`do you offer refill for 2274209?`)
    "offer", "offers", "provide", "available", "disponible", "disponível", "доступен",
    "доступна",
))
# Question particles: with them (or `?`) a sentence asks something.
QUESTION_PARTICLES: frozenset[str] = frozenset(norm(w) for w in (
    "mı", "mi", "mu", "mü", "mısınız", "ли", "kya", "kia", "apakah", "apa", "هل",
))
# In a question these words ask about the state of an action already asked for (`2274209
# refill done?`, `iptal oldu mu?`, `отменили?`): the ids mean details.
STATE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    # English
    "done", "completed", "complete", "finished", "started", "working", "processed", "success",
    "successful", "yet", "already", "did", "was", "were", "has", "happened", "gone", "went",
    "refilled", "canceled", "cancelled", "canceld", "sped", "accepted", "approved", "received",
    # Spanish / Portuguese
    "certo",
    "hecho", "hecha", "hizo", "hicieron", "completado", "completada", "terminado", "cancelado",
    "cancelada", "realizado", "realizada", "realizó", "listo", "feito", "feita", "fez",
    "fizeram", "foi", "concluído", "concluido", "terminou", "completo", "pronto", "já",
    "repuesto", "reposto", "acelerado", "funcionó", "funcionou",
    # Russian
    "сделали", "сделан", "сделано", "сделана", "выполнен", "выполнено", "выполнили", "готово",
    "готов", "уже", "завершен", "завершено", "прошел", "прошла", "прошло", "приняли",
    # Turkish
    "yapıldı", "yapıldımı", "oldu", "oldumu", "tamamlandı", "bitti", "edildi", "edildimi",
    "başladı", "yaptınız", "yaptiniz", "geldi",
    # Russian in Latin letters
    "uzhe", "sdelali", "sdelano", "gotovo", "vypolnen", "vypolnili",
    # Indonesian
    "sudah", "udah", "sdh", "dah", "selesai", "berhasil", "masuk",
    # Arabic
    "تم", "اكتمل", "انتهى", "خلص", "صار", "نجح", "نزل", "وصل", "اشتغل", "بدا", "انلغى",
    "اتلغى",
    # Hinglish
    "hua", "hui", "hue", "gaya", "gayi", "gya", "kiya", "kiye", "hogaya", "hogya",
))
# A question that ends with one of these asks whether something happened (`… or not?`, `udah
# di refill belum?`, `تسرع ولا لسه؟`, `отменился или нет?`).
STATE_TAGS: frozenset[str] = frozenset(norm(w) for w in (
    "not", "yet", "no", "não", "nao", "нет", "nahi", "nahin", "nhi", "belum", "blm", "değil",
    "degil", "gak", "ga", "nggak", "ngga", "enggak", "tidak", "لسه", "لسا", "للحين", "لا",
))
# An English sentence that starts with one of these asks something, `?` or not (`did u refill
# 2274209`, `is 2274209 canceled already`).
AUX_QUESTION_STARTERS: frozenset[str] = frozenset({
    "did", "does", "is", "was", "has", "have", "were", "are", "will", "didnt", "isnt", "hasnt"})
# A sentence that starts with one of these corrects the one before it (`cancel 2274209? no
# wait, refill it`): see `_is_correction`.
CORRECTION_STARTERS: frozenset[str] = frozenset(norm(w) for w in (
    "wait", "sorry", "actually", "oops", "correction", "mean", "meant", "perdón", "perdona",
    "quise", "quis",
    "desculpa", "desculpe", "ой", "извините", "точнее", "вернее", "pardon", "aslında", "maaf",
    "maksudnya", "matlab", "اقصد", "قصدي", "عفوا",
))
# These tags make a question even without a question mark (`udah masuk belum ya`).
QUESTION_TAGS: frozenset[str] = frozenset(norm(w) for w in ("belum", "blm"))
# A polite request (`can you speed up 2274209?`, `consegue acelerar?`, `ممكن تسريع؟`): a state
# it gives as its reason (`not started yet`) does not make it a question about that state.
REQUEST_MARKERS: frozenset[str] = frozenset(norm(w) for w in (
    "pode", "podem", "consegue", "conseguem", "puede", "pueden", "podrían", "podrias", "momken",
    "mumkin", "mmkn",
    "можете", "сможете", "bisa", "bisakah", "tolong", "minta", "mohon", "tlg", "ممكن", "تقدر",
    "تقدرون", "sakte", "sakta", "skte", "please", "pls", "plz",
))
# An Indonesian passive (`dibatalkan`, `di refill`) in a question with no request marker asks
# whether it happened (`pesanan 2274209 dibatalkan?`), unless actions are offered as choices.
_PASSIVE_TEXT_RE = re.compile(r"^di[a-z\s-]", re.IGNORECASE)
_PASSIVE_BEFORE_RE = re.compile(r"(?:^|\W)di[\s-]*$", re.IGNORECASE)


def _is_passive(item: _Item, text: str) -> bool:
    """An Indonesian passive action: `dibatalkan`, `di refill`, `di-cancel`."""
    return bool(_PASSIVE_TEXT_RE.match(item.text) or _PASSIVE_BEFORE_RE.search(text[:item.start]))
# Past reports of a request (the bot's own `Refill requested: …` pasted back, `запрошена`):
# a sentence holding one asks for nothing new.
REPORT_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "requested", "request", "asked", "запрошена", "запрошено", "запрошен", "просил",
    "просила", "solicitada", "solicitado", "solicitud", "solicitação", "pedí", "talep",
    "talebim", "talebi", "talebimiz", "istendi", "istedim", "diminta", "permintaan",
))
# Asking for advice or permission (`should I cancel 2274209?`, `can I cancel …`, `можно
# отменить …?`, `cancel karu?`): the customer is asked back.
MODAL_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "should", "shall", "shld", "devo", "debo", "deberia", "debería", "deveria", "можно",
    "mozhno", "luchshe",
    "стоило", "лучше", "karu", "karun", "karoon", "kru", "du", "doon", "kardu", "krdu",
    "edeyim", "yapayım",
    "yapayim", "mıyım", "miyim", "sebaiknya", "mending", "perlu", "أفضل", "افضل", "الافضل",
    "etsem", "etsek", "yapsam", "yapsak", "انصحني", "تنصحني", "conviene",
    # asking for a recommendation (`¿me recomiendan cancelar …?`)
    "recommend", "advise", "suggest", "recomiendan", "recomienda", "recomiendas",
    "recomendam", "recomenda", "recomendaria", "sugieren", "посоветуйте", "советуете",
    "önerirsiniz", "önerir", "sarankan", "saranin", "تنصح", "تنصحوني",
    # can it be done (`iptal edilebilir mi?`)
    "edilebilir", "yapılabilir", "olabilir",
))
# Two words that ask for advice together (`стоит ли отменять`, `vale a pena cancelar`).
MODAL_PAIRS: frozenset[tuple[str, str]] = frozenset(
    (norm(a), norm(b)) for a, b in (
        ("стоит", "ли"), ("vale", "a"), ("worth", "it"), ("it", "possible"), ("es", "posible"),
        ("é", "possível"), ("e", "possivel"), ("mümkün", "mü"), ("возможно", "ли")))
# `can I`, `could we`, `may I`: a modal verb followed by I/we.
MODAL_VERBS: frozenset[str] = frozenset({"can", "could", "may", "might", "do", "shall"})
FIRST_PERSON: frozenset[str] = frozenset({"i", "we"})
# `or` between two actions (`cancel or refill?`), or between an action and waiting.
OR_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "or", "o", "ou", "или", "либо", "ili", "ya", "yaa", "veya", "yoksa", "ya da", "atau", "ato",
    "أو", "او", "ولا",
))
# Arabic `ولا` is also "nor" (`ما تحرك ولا شي`, "it did not move at all"): before these it is no
# alternative.
_NOTHING_AFTER_OR: frozenset[str] = frozenset(norm(w) for w in (
    "شي", "شيء", "شى", "حاجه", "حاجة", "اي", "أي", "واحد"))
# `o` is `or` in Spanish and the article in Portuguese (`cancelar o 2274209`): before a number
# it is the article.
_ARTICLE_OR: frozenset[str] = frozenset({"o"})
WAIT_STEMS: tuple[str, ...] = tuple(norm(w) for w in (
    "wait", "espero", "esperar", "espere", "aguard", "подожд", "ждать", "жду", "bekle",
    "tunggu", "انتظر", "ننتظر", "استنى",
))
# A mistake or a mention (`galti se cancel likha`, `I typed cancel by mistake`): an action in
# the same phrase, when that phrase names no id, is a word talked about, not asked for.
MENTION_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "mistake", "mistakenly", "accidentally", "wrongly", "typed", "wrote", "galti", "galtise",
    "likha", "likh", "error", "engano", "querer", "ошибке", "ошибочно", "написал", "написала",
    "yanlışlıkla", "yanlislikla", "yazdım", "keliru", "ketik", "بالغلط", "غلط", "كتبت",
    "escribí", "escrevi",
    # owning up to a mistake (`perdón me equivoqué, no era cancelar`)
    "equivoqué", "equivoque", "equivocado", "equivocada", "errei", "enganei", "confundi",
    "ошибся", "ошиблась", "перепутал", "перепутала", "karıştırdım",
))
# Money (`верните средства`, `amount wapas`, `استرجاع فلوسي`): with it a word that also means
# "give back" asks for a refund, not a refill.
MONEY_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "money", "amount", "payment", "funds", "refund", "paisa", "paise", "paisay", "rupees",
    "деньги", "денег", "средства", "оплату", "para", "paramı", "ücret", "dinero", "plata",
    "dinheiro", "grana", "uang", "dana", "duit", "فلوس", "فلوسي", "المبلغ", "مبلغ", "فلوسي",
))
# Topping up the balance (`пополнил баланс`, `bakiye yükledim`, `شحنت رصيد`): the balance word
# next to one of these is not a request to see the balance.
TOPUP_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "topup", "top", "added", "add", "deposit", "deposited", "loaded", "recargué", "recargue",
    "recarreguei", "depositei", "пополнил", "пополнила", "пополнение", "пополнить", "закинул",
    "yükledim", "yükleme", "yükle", "yatırdım", "isi", "شحنت", "شحن", "حولت", "اشحن", "نشحن",
    "recharge",
))
# A condition makes what follows hypothetical (`cancel 2274209 if it does not start`)...
CONDITION_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "if", "unless", "otherwise", "agar", "eğer", "если", "jika", "kalau", "kalo", "klo", "law",
    "إذا", "اذا", "إن", "لو",
))
# `si`/`se` are also `yes` and a pronoun: they make a condition before a negation (`si no
# empieza`, `se não começar`); Spanish `si` (not `sí`, yes) before any word but a polite one
# (`si mañana sigue igual`, not `si es posible`), Portuguese `se` before one of
# `CONDITION_AFTER_SE` (`se amanhã`, `se o pedido`, `se ainda`: Spanish `se` is a pronoun).
CONDITION_IF_NEGATED: frozenset[str] = frozenset(norm(w) for w in ("si", "se"))
CONDITION_SI: frozenset[str] = frozenset({"si"})
CONDITION_AFTER_SE: frozenset[str] = frozenset(norm(w) for w in (
    "amanhã", "hoje", "até", "ainda", "o", "a", "os", "as", "meu", "minha", "tiver", "estiver",
    "for", "der", "continuar", "demorar", "passar", "caso",
))
# Turkish conditional endings of a negative verb (`başlamazsa`, `gelmezse`).
_TURKISH_CONDITIONAL_ENDINGS: tuple[str, ...] = ("mazsa", "mezse", "mazsak", "mezsek")
# ...except the polite ones (`if possible`, `si es posible`, `если можно`, `agar ho sake`,
# `لو سمحت`).
POLITE_AFTER_CONDITION: frozenset[str] = frozenset(norm(w) for w in (
    "possible", "posible", "possível", "можно", "bisa", "mümkünse", "ممكن", "ho", "you",
    "puedes", "pueden", "puede", "podes", "pode", "podem", "es", "fuera", "fueras", "gustan",
    "سمحت", "سمحتوا", "سمحتو", "تكرمت", "تكرمتوا", "تكرمتو", "sama7t", "samaht", "sam7t",
    "tsm7",
))
FORCE_WORDS: frozenset[str] = frozenset({"force", "forced"})
# A number right before one of these is a quantity, not an order id.
QUANTITY_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "followers", "follower", "likes", "like", "views", "view", "subscribers", "subs",
    "members", "member", "comments", "comment", "shares", "plays", "reactions", "votes",
    "impressions", "saves", "reels", "fans", "retweets", "pcs", "seguidores", "seguidor",
    "curtidas", "visualizações", "visualizacoes", "visualizaciones", "vistas", "inscritos",
    "suscriptores", "takipçi", "takipci", "beğeni", "izlenme", "izlenim", "abone", "tane",
    "adet", "подписчиков", "подписчика", "подписчики", "подписчик", "лайков", "лайка", "лайки",
    "просмотров", "просмотра", "просмотры", "шт", "pengikut", "suka", "متابع", "متابعين",
    "متابعه", "لايك", "لايكات", "مشاهده", "مشاهدات",
    "podpischikov", "podpischiki", "laykov", "prosmotrov",
))
# Quantity nouns long enough to be recognised with a case ending (`beğeniden`).
_LONG_QUANTITY_WORDS: tuple[str, ...] = tuple(sorted(w for w in QUANTITY_WORDS
                                                     if w.isascii() and len(w) >= 5))
# Letters glued to the end of a number that make it a quantity (`10k`, `2m`).
QUANTITY_SUFFIXES: frozenset[str] = frozenset({"k", "m", "x", "rb", "jt"})
CURRENCY_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "usd", "dollar", "dollars", "rs", "inr", "rupees", "rupee", "pkr", "tl", "lira", "eur",
    "euro", "euros", "rub", "руб", "рублей", "рубля", "idr", "rp", "brl", "reais", "real",
    "sar", "riyal", "ريال", "pesos", "peso", "usdt", "dolar", "dólares", "dolares", "ribu",
    "rb", "rupiah", "دولار", "جنيه", "درهم", "rupaye", "rupay", "₹",
))
# A number right after one of these is an amount of money.
PAYMENT_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "paid", "pay", "payment", "deposit", "deposited", "added", "add", "sent", "transfer",
    "transferred", "charged", "spent", "price", "cost", "amount", "fund", "recharge",
    "ödedim", "yatırdım", "pague", "paguei", "pagué", "оплатил", "заплатил", "bayar",
    "دفعت", "diye", "bheje",
    # topping up the balance (`пополнил баланс на 5000`, `bakiye yükledim`)
    "topup", "top", "recargué", "recarreguei", "depositei", "deposité", "пополнил",
    "пополнила", "пополнение", "закинул", "yükledim", "yükleme", "شحنت", "حولت",
))
# Looked through between a payment word and its amount (`пополнил баланс на 5000`).
PAYMENT_SKIP_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "на", "of", "to", "de", "ke", "em", "en", "a", "with", "rs", "my", "mi", "meu",
))
# A number right after one of these (or in `from N to M`, `N → M`) is a count, not an id:
# `start count 1520, now 1490`, `было 1520 стало 1490`, `antes 5230 agora 4870`.
COUNT_BEFORE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    # English
    "count", "startcount", "was", "were", "now", "had", "have", "has", "got", "get", "getting",
    "remains", "remain", "remaining", "left", "lost", "lose", "dropped", "drop", "drops",
    "down", "decreased", "reduced", "before", "after", "initial", "current", "currently",
    "from", "reached", "received", "delivered", "showing", "shows", "total", "missing",
    # Spanish / Portuguese
    "tenía", "tenia", "tengo", "tiene", "ahora", "antes", "después", "despues", "bajó", "bajo",
    "perdí", "perdi", "empezó", "empezo", "inicio", "inicial", "agora", "depois", "tinha",
    "tem", "caiu", "era", "estava", "ficou", "começou", "comecou", "faltan", "faltam", "quedan",
    "restam", "desde",
    "llegaron", "llegó", "entregaron", "entregó", "entregou", "entregaram", "chegou",
    "chegaram", "recibí", "recebi", "quedó", "quedaron", "quedan",
    # Russian
    "было", "стало", "сейчас", "теперь", "осталось", "количество", "упало", "списалось",
    "пришло", "начало", "старт", "стартовое", "с", "из", "был", "была", "были",
    # Turkish
    "önce", "şimdi", "başlangıç", "vardı", "kaldı", "sayısı", "düştü", "geldi", "eksik",
    # Indonesian
    "awal", "sekarang", "skrg", "skrng", "skg", "tadinya", "tadi", "sebelumnya", "tinggal",
    "sisa", "kurang", "dari", "jadi", "turun", "masuk",
    # Arabic
    "كان", "الان", "الآن", "صار", "باقي", "نقص", "نزل", "وصل", "اصبح", "أصبح", "بقي",
    # Hinglish
    "tha", "the", "thi", "ab", "pehle", "aaye", "aya", "mile", "kam",
))
# `from N to M`, `N → M`: the second number of a pair whose first is a count.
COUNT_LINK_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "to", "a", "até", "ate", "до", "на", "ke", "hingga", "sampai", "jadi", "den", "dan", "ten",
    "tan", "ye", "ya", "e", "الى", "إلى", "ل", "then", "and", "y", "и", "ve", "aur", "و",
))
# Words looked through between a count word and its number (`está en 1490`, `now only 11980`).
COUNT_SKIP_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "only", "just", "is", "are", "at", "on", "en", "em", "in", "está", "esta", "ta", "tá",
    "de", "da", "was", "about", "around", "approx", "в", "на", "только", "sadece", "cuma",
    "com", "con", "with", "у", "di", "pada", "no", "na", "em", "sa",
    "hanya", "sirf", "фактически", "من", "فقط", "sólo", "solo", "só", "la", "el", "o", "de",
    "its", "it's", "it", "pra", "para", "to", "about", "like",
))
# Words before a number that make it *probably* a count (`ordered 5000 on 2274209`), as the
# words of `COUNT_BEFORE_WORDS` do up to three words before it; see `_weak_count`.
WEAK_COUNT_BEFORE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "ordered", "bought", "start", "started", "compré", "comprei", "pedí", "заказал", "заказывал",
    "aldım", "beli", "mangaye", "liye", "طلبت", "اشتريت",
))
# Words right after a number that make it *probably* a count (`3100 geldi`, `1200 aaye`,
# `700 left`); see `_weak_count`.
COUNT_AFTER_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "left", "remaining", "remain", "dropped", "lost", "came", "arrived", "delivered",
    "llegaron", "llegó", "faltan", "chegou", "chegaram", "faltam", "пришло", "осталось",
    "упало", "ушло", "списалось", "geldi", "düştü", "kaldı", "gitti", "eksik", "masuk",
    "turun", "tersisa", "hilang", "ilang", "kurang", "aaye", "aaya", "aye", "mile", "gaye",
    "bache", "reh", "oldu", "olmuş", "iken", "وصل", "وصلت", "نقص", "باقي", "راح", "بقي",
))
# Links of a pair of numbers (`600 of 2000`, `12800'den 12100'e`, `14500 se 13900`): with the
# other number of the pair, a number is *probably* a count.
PAIR_LINK_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "of", "de", "из", "dari", "se", "से", "من", "out", "den", "dan", "ten", "tan", "to", "a",
    "até", "до", "ke", "hingga", "sampai", "الى", "إلى", "->",
))
# A number next to one of these names something else than an order (`service 4232`,
# `4232 servisi`, `ticket 5521`).
REFERENCE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "service", "services", "serviceid", "servis", "servisi", "servisin", "hizmet", "servicio",
    "serviço", "servico", "услуга", "услуги", "услугу", "сервис", "сервиса", "layanan",
    "خدمة", "الخدمة", "خدمه", "ticket", "tiket", "тикет", "bilet", "category", "categoria",
    "kategori", "категория", "package", "paket", "plan", "تذكرة", "qty", "quantity",
    "cantidad", "quantidade", "количество", "miktar", "jumlah",
))
# Month names: a year (19xx, 20xx) right after one is a date (`March 2024`, `марта 2024`).
MONTH_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
    "setiembre", "octubre", "noviembre", "diciembre",
    "janeiro", "fevereiro", "março", "maio", "junho", "julho", "setembro", "outubro",
    "novembro", "dezembro",
    "январь", "января", "февраль", "февраля", "март", "марта", "апрель", "апреля", "май", "мая",
    "июнь", "июня", "июль", "июля", "август", "августа", "сентябрь", "сентября", "октябрь",
    "октября", "ноябрь", "ноября", "декабрь", "декабря",
    "ocak", "şubat", "mart", "nisan", "mayıs", "haziran", "temmuz", "ağustos", "eylül", "ekim",
    "kasım", "aralık",
    "januari", "februari", "maret", "mei", "juni", "juli", "agustus", "oktober", "desember",
    "يناير", "فبراير", "مارس", "أبريل", "ابريل", "مايو", "يونيو", "يوليو", "أغسطس", "اغسطس",
    "سبتمبر", "أكتوبر", "اكتوبر", "نوفمبر", "ديسمبر",
    "year", "año", "ano", "год", "года", "yılı", "yil", "tahun", "سنة", "saal",
))
# Phrases that hold an action word but mean something else: money back (`paise wapas`,
# `верните деньги`) is a refund, not a refill. They are read as one unexplained fragment.
# A refund asked about an order names the order: the phrase is explained (its ids mean details).
NOT_COMMAND_PHRASES: tuple[str, ...] = (
    "paise wapas", "paisa wapas", "paise wapis", "paisa wapis", "paise vapas", "paisa vapas",
    "money back", "refund", "refunded", "верните деньги", "вернуть деньги", "возврат денег",
    "возврат средств", "возврат", "para iadesi", "para iade", "paramı geri", "iade",
    "uang kembali", "dana kembali", "kembalikan uang", "balikin uang",
    "devuelvan el dinero", "devuelvan mi dinero", "devolver el dinero", "devuelvanme el dinero",
    "reembolso", "reembolsar", "reembolsen", "estorno", "estornar", "estornem",
    "dinheiro de volta", "devolver o dinheiro", "devolvam o dinheiro", "devolvam meu dinheiro",
    "استرجاع", "استرداد", "استرجاع المبلغ", "ارجاع المبلغ", "رجعوا فلوسي",
)
# Money going back: a balance word next to one is where a refund goes, not a request to see it.
RETURN_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "back", "return", "returned", "geri", "iade", "kembali", "kembalikan", "balik", "balikin",
    "wapas", "wapis", "вернуть", "верните", "вернули", "вернулись", "devolver", "devuelvan",
    "devolvam", "devolução", "devolucion", "volta", "voltou", "voltar", "volvió", "ارجاع",
    "رجعوا", "ترجع", "يرجع", "رجع",
))
# Russian, Turkish, Indonesian and Arabic verbs take many endings: a word that starts with
# one of these stems is its action (`восстановите`, `отменяйте`, `hızlandırın`)...
ACTION_STEMS: dict[str, str] = {
    norm(stem): action for stem, action in (
        ("восстанов", "refill"), ("докрут", "refill"), ("рефил", "refill"),
        ("отмен", "cancel"), ("ускор", "speed"),
        ("hızlandır", "speed"), ("iptal", "cancel"), ("telafi", "refill"),
        ("dibatal", "cancel"), ("batalin", "cancel"), ("batalkan", "cancel"),
        ("dipercepat", "speed"), ("percepat", "speed"), ("cepetin", "speed"),
        ("dicepetin", "speed"), ("direfill", "refill"),
        ("durum", "details"),
        # Russian typed in Latin letters (`otmenite zakaz`, `uskorte`, `vosstanovite`)
        ("останов", "cancel"), ("durdur", "cancel"), ("hentikan", "cancel"),
        ("dihentikan", "cancel"),
        ("otmen", "cancel"), ("uskor", "speed"), ("vosstanov", "refill"), ("vostanov", "refill"),
        ("dokrut", "refill"),
    )
}
# The Russian stems in Latin letters, and the endings of their past forms (`otmenili`,
# `uskoreno`): a state, as `отменили` is.
_LATIN_RU_STEMS: frozenset[str] = frozenset({"otmen", "uskor", "vosstanov", "vostanov", "dokrut"})
_PAST_ENDINGS_RU_LATIN = ("en", "ena", "eno", "eny", "ili", "il", "ila", "ilo", "li", "lo",
                          "lsya", "las", "los", "lis")
# A stem of this many letters or more is also recognised one edit away (`востановите`).
FUZZY_STEM_MIN_LETTERS = 8
# ...unless its ending makes it a past form (a state: `отменен`, `восстановили`) or a
# negative imperative (`hızlandırmayın`).
_PAST_ENDINGS_RU = ("ен", "ена", "ено", "ены", "или", "ил", "ила", "ило", "ли", "ло",
                    "лся", "лась", "лось", "лись")
_NEGATIVE_ENDINGS_TR_FOLDED = tuple(norm(w) for w in (
    "mayın", "meyin", "mayınız", "meyiniz", "masın", "mesin", "mıyorum", "miyorum"))
_PAST_ENDINGS_TR = tuple(norm(w) for w in ("dı", "di", "du", "dü", "tı", "ti", "tu", "tü",
                                           "dımı", "dimi", "dumu", "dümü"))
# Typo tolerance (one edit) for words of six letters or more close to one single-word default
# alias of that length (and to these English names)...
FUZZY_TARGETS: dict[str, str] = {
    "refill": "refill", "cancel": "cancel", "status": "details", "details": "details",
    "balance": "balance", "speedup": "speed",
}
FUZZY_MIN_LETTERS = 6
# ...and never for real words one edit away from them.
FUZZY_BLOCKLIST: frozenset[str] = frozenset(norm(w) for w in (
    "states", "statue", "statues", "statut", "retail", "detain", "refile", "refit", "balanced",
    "cancer", "candel", "canceled", "speedo", "canceld", "refiled", "recargo", "recargos",
    "balances", "balancer", "helper",
    "отменен", "отмене", "отменил", "telafisi",
))
_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}/\S*", re.IGNORECASE)
_EMAIL_RE = re.compile(r"\S+@\S+\.\w+")
_MENTION_RE = re.compile(r"@[^\W\d](?:[\w.]*\w)?")
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
class Ambiguity:
    """Ids the customer clearly named with an action that is not clear (`2274209 cancel or
    refill?`, `should I cancel 2274209 or wait?`): the customer is asked, nothing is done.
    `actions` are the candidate acting actions, in the order they were written."""

    order_ids: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class ParseResult:
    """What `parse` understood (`commands`), what it must ask about (`ambiguous`) and what it
    could not read (`unknown`)."""

    commands: list[Command] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid_ids: list[str] = field(default_factory=list)
    too_many_ids: bool = False
    ignored: list[str] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)

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
    for text in NOT_COMMAND_PHRASES:
        key = _phrase(text)
        if key:
            phrases[key] = _Meaning(NOT_COMMAND)
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


@lru_cache(maxsize=8192)
def _fold_word(text: str) -> str:
    """The form a word is compared in: `norm`, and a common Hinglish word typed in Devanagari
    in its Latin spelling (`DEVANAGARI_WORDS`, with or without a nukta: `तेज़` = `tez`)."""
    folded = norm(text)
    if folded and "\u0900" <= folded[0] <= "\u097f":
        return _DEVANAGARI_FOLDED.get(folded.replace(_NUKTA, ""), folded)
    return folded


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
            tokens.append(_Token("word", text, _fold_word(text), i, j))
            i = j
        else:
            i += 1
    if any(t.kind == "num" and t.text in _ARABIZI_DIGITS for t in tokens):
        return _join_arabizi(line, tokens)
    return tokens


# Arabic typed in Latin letters writes some sounds as digits (`ta3weed`, `2lgha2`, `sama7t`):
# a single digit 2–9 glued to Latin letters (three or more) is part of the word. A one-digit
# number is never an order id, so nothing is lost (`5k`, `3rd` keep fewer letters).
_ARABIZI_DIGITS = frozenset("23456789")
_ARABIZI_MIN_LETTERS = 3


def _arabizi_glue(a: _Token, b: _Token) -> bool:
    """Two adjacent tokens of an Arabizi word: Latin letters and a single digit 2–9."""
    if a.end != b.start or a.kind == b.kind:
        return False
    return all(t.text in _ARABIZI_DIGITS if t.kind == "num" else t.text.isascii()
               for t in (a, b))


def _join_arabizi(line: str, tokens: list[_Token]) -> list[_Token]:
    """`tokens` with each Arabizi word (`_arabizi_glue`) made one word token."""
    joined: list[_Token] = []
    k = 0
    while k < len(tokens):
        j = k + 1
        while j < len(tokens) and _arabizi_glue(tokens[j - 1], tokens[j]):
            j += 1
        group = tokens[k:j]
        letters = sum(len(t.text) for t in group if t.kind == "word")
        if len(group) > 1 and letters >= _ARABIZI_MIN_LETTERS:
            text = line[group[0].start:group[-1].end]
            joined.append(_Token("word", text, _fold_word(text), group[0].start, group[-1].end))
        else:
            joined.extend(group)
        k = j
    return joined


_REPEATS = {1: re.compile(r"(.)\1+"), 2: re.compile(r"(.)\1{2,}")}


def _squeezed(word: str, keep: int) -> str:
    """Squeeze runs of one character to at most `keep` (`refilllll` → `refill`/`refil`)."""
    return _REPEATS[keep].sub(lambda m: m.group(1) * keep, word)


_ARABIC_PREFIXES = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ل", "ف")
# Object pronouns and the plural of imperatives (`كنسلوا`, `عوضوه`, `الغيها`, `وصلني`).
_ARABIC_SUFFIXES = ("وها", "وني", "وه", "وا", "ها", "ني", "نا", "هم", "كم", "لي", "ه")
# ...and the plural of a present verb under it (`تعوضون`, `تسرعونه`).
_ARABIC_PLURAL_ENDINGS = ("ون", "ين")


@lru_cache(maxsize=8192)
def _arabic_variants(word: str) -> tuple[str, ...]:
    """The word, and for Arabic without a leading conjunction or article, and without a
    trailing object pronoun or plural ending (the stem keeps three letters or more)."""
    if not word or not "\u0600" <= word[0] <= "\u06ff":
        return (word,)
    variants = [word]
    for prefix in _ARABIC_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            variants.append(word[len(prefix):])
    for base in list(variants):
        for suffix in _ARABIC_SUFFIXES:
            if base.endswith(suffix) and len(base) - len(suffix) >= 3:
                stem = base[:-len(suffix)]
                variants.append(stem)
                if stem.endswith("و"):
                    variants.append(stem + "ا")  # `الغوه` → `الغوا`
    for base in list(variants):
        for ending in _ARABIC_PLURAL_ENDINGS:
            if base.endswith(ending) and len(base) - len(ending) >= 3:
                variants.append(base[:-len(ending)])
    return tuple(variants)


# Spanish and Portuguese pronouns glued to an imperative (`cancélame`, `repónganme`,
# `aceléramelo`): the verb is looked up without them.
_ENCLITICS = ("melo", "mela", "selo", "sela", "noslo", "los", "las", "les", "nos", "me", "lo",
              "la", "le")
_ROMANCE_MIN_LETTERS = 7
# The English gerund (`refilling`, `canceling`) and the Indonesian `-nya` (`refillnya`).
_OTHER_SUFFIXES = ("ing", "nya")
# Indonesian passive `di-` glued to a word of another language (`dicancel`, `dispeedup`).
_PASSIVE_PREFIX = "di"


def _latin_variants(word: str) -> list[str]:
    """Forms of a Latin-script word without an enclitic pronoun (Spanish, Portuguese), the
    English `-ing`, the Indonesian `-nya` or passive prefix `di-`; none for shorter words."""
    variants: list[str] = []
    if len(word) >= _ROMANCE_MIN_LETTERS and word.isascii() and word.isalpha():
        for suffix in _ENCLITICS:
            if word.endswith(suffix):
                variants.append(word[:-len(suffix)])
                break
        for suffix in _OTHER_SUFFIXES:
            if word.endswith(suffix):
                variants.append(word[:-len(suffix)])
    if word.startswith(_PASSIVE_PREFIX) and len(word) >= 6 and word.isascii() and word.isalpha():
        variants.append(word[len(_PASSIVE_PREFIX):])
    return variants


@lru_cache(maxsize=4096)
def _word_variants(word: str) -> tuple[str, ...]:
    """The forms a word is looked up in: as typed, with letter runs squeezed, and for Arabic
    without a leading conjunction or article (`والآن` → `الان`, `التعويض` → `تعويض`)."""
    variants = [word, _squeezed(word, 2), _squeezed(word, 1), *_arabic_variants(word)[1:]]
    return tuple(dict.fromkeys(variants + _latin_variants(word)))


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


@lru_cache(maxsize=1)
def _fuzzy_targets() -> dict[int, list[tuple[str, str]]]:
    """Single-word default aliases of `FUZZY_MIN_LETTERS` or more (and `FUZZY_TARGETS`), by
    length."""
    targets = dict(FUZZY_TARGETS)
    for action, words in DEFAULT_ALIASES.items():
        if action in ORDER_ACTIONS or action in STANDALONE_ACTIONS:
            for alias in words:
                folded = norm(alias)
                if folded.isalpha() and len(folded) >= FUZZY_MIN_LETTERS - 1:
                    targets.setdefault(folded, action)
    by_length: dict[int, list[tuple[str, str]]] = {}
    for target, action in targets.items():
        by_length.setdefault(len(target), []).append((target, action))
    return by_length


@lru_cache(maxsize=1)
def _vocabulary_words() -> frozenset[str]:
    """Every word the parser's tables already know as something else than an action (state,
    mention, count, question, modal, report, condition, filler, negation words…): a real word
    of the customer's language, never read as a typo of an alias (`yazdım` "I wrote" is not
    `yardım`, `geldi` is not `telafi`)."""
    tables = (FILLER_WORDS, NEGATION_WORDS, NEGATION_TRANSPARENT, QUESTION_WORDS,
              QUESTION_WORDS_IF_ASKED, QUESTION_PARTICLES, STATE_WORDS, STATE_TAGS,
              CORRECTION_STARTERS, REQUEST_MARKERS, REPORT_WORDS, MODAL_WORDS, MENTION_WORDS,
              MONEY_WORDS, TOPUP_WORDS, CONDITION_WORDS, POLITE_AFTER_CONDITION, QUANTITY_WORDS,
              CURRENCY_WORDS, PAYMENT_WORDS, COUNT_BEFORE_WORDS, WEAK_COUNT_BEFORE_WORDS,
              COUNT_AFTER_WORDS, REFERENCE_WORDS, MONTH_WORDS, FINE_WORDS, FIRST_PERSON_WORDS)
    known = frozenset().union(*tables)
    return known - set(DEFAULT_ALIAS_ACTIONS)


@lru_cache(maxsize=4096)
def _fuzzy_action(word: str, typed_length: int | None = None) -> str | None:
    """The action of a default alias one edit away from `word` (a word of six letters or more;
    the English names from five), None when there is none or more than one, or when `word` is
    a word the parser knows as something else (`_vocabulary_words`)."""
    typed_length = len(word) if typed_length is None else typed_length
    if (typed_length < 5 or not word.isalpha() or word in FUZZY_BLOCKLIST
            or word in _vocabulary_words()):
        return None
    by_length = _fuzzy_targets()
    found = set()
    for size in (len(word) - 1, len(word), len(word) + 1):
        for target, action in by_length.get(size, ()):
            if (typed_length >= FUZZY_MIN_LETTERS or target in FUZZY_TARGETS) and \
                    _within_one_edit(word, target):
                found.add(action)
    return found.pop() if len(found) == 1 else None


@lru_cache(maxsize=1)
def _joined_targets() -> dict[str, str]:
    """Multi-word default aliases written as one word (`speedup`, `isiulang`); not the Hinglish
    pairs with a light verb (`band karo`: the light verb says nothing of the action)."""
    light = {norm(w) for verb in HINGLISH_LIGHT_VERBS for w in verb.split()}
    return {"".join(norm(alias).split()): action
            for action, words in DEFAULT_ALIASES.items()
            if action in ORDER_ACTIONS or action in STANDALONE_ACTIONS
            for alias in words if " " in alias and len("".join(alias.split())) >= 6
            and not light & set(norm(alias).split()[1:])}


@lru_cache(maxsize=4096)
def _fuzzy_joined(word: str) -> str | None:
    """Two typed words one edit away from a multi-word alias (`spead up`)."""
    if len(word) < FUZZY_MIN_LETTERS or not word.isalpha():
        return None
    found = {action for target, action in _joined_targets().items()
             if abs(len(target) - len(word)) <= 1 and _within_one_edit(word, target)}
    found.discard("")
    return found.pop() if len(found) == 1 else None


def _stem_form(word: str, rest: str) -> str:
    """"state" for a past form (`отменили`, `отменился`, `otmenili`, `iptal edildi`),
    "negated" for a Turkish negative imperative (`hızlandırmayın`), else "act"."""
    if rest and "\u0400" <= word[0] <= "\u04ff" and rest.endswith(_PAST_ENDINGS_RU):
        return "state"
    if rest and word[:len(word) - len(rest)] in _LATIN_RU_STEMS \
            and rest.endswith(_PAST_ENDINGS_RU_LATIN):
        return "state"
    if rest.startswith(_NEGATIVE_ENDINGS_TR_FOLDED):
        return "negated"
    if rest and word.isascii() and rest.endswith(_PAST_ENDINGS_TR):
        return "state"
    return "act"


@lru_cache(maxsize=4096)
def _stem_action(word: str) -> tuple[str, str] | None:
    """(`ACTION_STEMS` action, "act" | "state" | "negated") for a word built on an action
    stem (`отмените` → cancel act, `отменили` → state, `hızlandırmayın` → negated), or on a
    stem of `FUZZY_STEM_MIN_LETTERS` or more typed one edit away (`востановите`)."""
    for stem, action in ACTION_STEMS.items():
        if word.startswith(stem):
            return action, _stem_form(word, word[len(stem):])
    if len(word) < FUZZY_STEM_MIN_LETTERS or not word.isalpha():
        return None
    for stem, action in ACTION_STEMS.items():
        if len(stem) < FUZZY_STEM_MIN_LETTERS:
            continue
        for cut in (len(stem), len(stem) - 1, len(stem) + 1):
            if cut <= len(word) and _within_one_edit(word[:cut], stem):
                return action, _stem_form(word, word[cut:])
    return None


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
    explained: bool = False  # an "unknown" number read as a count, year, reference or name
    negated: bool = False  # an id the customer excluded (`refill 1111, not 2222`)
    start: int = 0  # where it starts in its sentence
    state: bool = False  # an "unknown" past form of an action (`отменили`, `refilled`)
    phrase: int = 0  # its phrase in the sentence (phrases are separated by `,.;!?`)
    talks: bool = False  # its phrase says something unexplained (`2274326 tamamlandı`)


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


# Count words that make a number a count only when it is short (at most 5 digits) or round:
# they also come before order ids (`was 5512098 refilled?`, `ab 2274209 refill karo`).
_WEAK_COUNT_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "was", "were", "had", "have", "has", "got", "get", "getting", "from", "received",
    "delivered", "showing", "shows", "total", "era", "estava", "tem", "tiene", "tengo",
    "dari", "jadi", "masuk", "с", "из", "the", "tha", "thi", "ab", "mile", "aya", "aaye",
    "geldi", "desde", "inicio", "start",
))
_ARROWS = ("->", "→", "=>", "⇒", "➡", ">")
# Words between a reference word and its number (`service id 4232`, `услуга № 4232`).
_NUMBER_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "id", "no", "nr", "num", "number", "numara", "номер", "nomor", "رقم", "numero", "número",
))
# Turkish puts the noun after the number (`4232 servisi`).
_REFERENCE_AFTER: frozenset[str] = frozenset(norm(w) for w in (
    "servisi", "servisin", "servisinde", "servisine", "hizmeti", "paketi", "kategorisi",
))
# ...with any case ending (`servisten`, `hizmetinden`), possibly after `id'li`, `nolu`.
_REFERENCE_AFTER_STEMS: tuple[str, ...] = tuple(norm(w) for w in (
    "servis", "hizmet", "paket", "kategori"))
_NUMBER_WORDS_AFTER: frozenset[str] = frozenset(norm(w) for w in (
    "id'li", "idli", "nolu", "no'lu", "numaralı", "numarali", "#"))


def _is_count(tokens: list[_Token], i: int, counts: set[int]) -> bool:
    """Whether the number at tokens[i] is a count by its context (see COUNT_BEFORE_WORDS)."""
    tok = tokens[i]
    digits = tok.norm
    short = len(digits) <= 5 or digits.endswith("000")
    k, skipped = i - 1, 0
    while (k >= 0 and skipped < 2 and tokens[k].kind == "word"
           and tokens[k].norm in COUNT_SKIP_WORDS):
        k -= 1
        skipped += 1
    if k < 0:
        return False
    prev = tokens[k]
    if prev.kind == "num":
        return False
    variants = _word_variants(prev.norm)
    if prev.norm.endswith("nya") and len(prev.norm) > 5:
        variants += (prev.norm[:-3],)  # Indonesian `awalnya`: `awal`
    if any(v in COUNT_BEFORE_WORDS for v in variants):
        return short or not any(v in _WEAK_COUNT_WORDS for v in variants)
    # the second number of `from N to M`, `1520 den 1490 a`
    return (prev.norm in COUNT_LINK_WORDS and k - 1 >= 0 and (k - 1) in counts)


def _is_quantity_word(word: str) -> bool:
    """A quantity noun (`followers`), also with a Turkish case ending (`beğeniden`,
    `takipçiden`)."""
    if word in QUANTITY_WORDS:
        return True
    return word.isascii() and any(word.startswith(q) and len(word) - len(q) <= 4
                                  for q in _LONG_QUANTITY_WORDS)


def _weak_count(tokens: list[_Token], i: int, counts: set[int] = frozenset()) -> bool:
    """Whether the number at tokens[i] has a context that makes it *probably* a count: a count
    word up to three words before it (`start count was 18400 and now its 17950`), a count word
    right after it (`3100 geldi`, `1200 aaye`), a quantity noun right before it (`takipçi
    12800`), or another number it is paired with (`600 of 2000`, `12800'den 12100'e`, `14500 se
    13900`), or a count of the same sentence it pairs with (as many digits, at most twice or
    half its value: `tenía 3300 y quedó en 3050`). Only numbers shorter than the message's
    longest id are read so (`_read_number`): order ids of one panel have one length, counts
    are smaller."""
    value = int(tokens[i].norm)
    for j in counts:
        other = tokens[j].norm
        if len(other) == len(tokens[i].norm) and value <= 2 * int(other) <= 4 * value:
            return True
    for k in range(i - 1, max(-1, i - 4), -1):
        tok = tokens[k]
        if tok.kind == "num":
            break
        if any(v in COUNT_BEFORE_WORDS or v in WEAK_COUNT_BEFORE_WORDS
               for v in _word_variants(tok.norm)):
            return True
    prev = tokens[i - 1] if i > 0 else None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if nxt is not None and nxt.kind == "word" and (
            any(v in COUNT_AFTER_WORDS for v in _word_variants(nxt.norm))
            or _is_quantity_word(nxt.norm)
            or (nxt.norm in PAIR_LINK_WORDS and i + 2 < len(tokens)
                and tokens[i + 2].kind == "num")):
        return True
    if prev is not None and prev.kind == "word" and (
            _is_quantity_word(prev.norm)
            or (prev.norm in PAIR_LINK_WORDS and i >= 2 and tokens[i - 2].kind == "num")):
        return True
    return False


def _is_year(tokens: list[_Token], i: int) -> bool:
    tok = tokens[i]
    if len(tok.norm) != 4 or tok.norm[:2] not in ("19", "20"):
        return False
    k = i - 1
    while k >= 0 and tokens[k].kind == "word" and tokens[k].norm in ("de", "of", "del", "do"):
        k -= 1
    if k >= 1 and tokens[k].kind == "num" and len(tokens[k].norm) <= 2:
        k -= 1  # `March 5 2024`
    before = k >= 0 and tokens[k].kind == "word" and tokens[k].norm in MONTH_WORDS
    after = (i + 1 < len(tokens) and tokens[i + 1].kind == "word"
             and tokens[i + 1].norm in MONTH_WORDS)
    return before or after


def _is_reference(tokens: list[_Token], i: int) -> bool:
    """A number next to a reference word (`service 4232`, `услуга № 4232`, `4232 servisi`,
    `2210 id'li servisten`): it names a service, a ticket, a package, not an order."""
    k = i - 1
    while k >= 0 and tokens[k].kind == "word" and tokens[k].norm in _NUMBER_WORDS:
        k -= 1
    if k >= 0 and tokens[k].kind == "word" and tokens[k].norm in REFERENCE_WORDS:
        return True
    k = i + 1
    if k < len(tokens) and tokens[k].kind == "word" and tokens[k].norm in _NUMBER_WORDS_AFTER:
        k += 1
    return k < len(tokens) and tokens[k].kind == "word" and (
        tokens[k].norm in _REFERENCE_AFTER or tokens[k].norm.startswith(_REFERENCE_AFTER_STEMS))


def _known_word(word: str, index: _Index) -> bool:
    """An alias, filler or negation word: digits glued to it may still be an id (`order2274209`,
    `2274209refill`)."""
    return any((v,) in index.phrases or v in FILLER_WORDS or v in NEGATION_WORDS
               for v in _word_variants(word)) or _fuzzy_action(word) is not None


def _is_glued(line: str, tokens: list[_Token], i: int, index: _Index) -> bool:
    """Digits glued to letters or underscores of a name (`user2274`, `john_1994`) are not an id."""
    tok = tokens[i]
    prev = tokens[i - 1] if i > 0 else None
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if prev is not None and prev.kind == "word" and prev.end == tok.start \
            and not _known_word(prev.norm, index):
        return True
    if nxt is not None and nxt.kind == "word" and nxt.start == tok.end \
            and nxt.norm not in QUANTITY_SUFFIXES and nxt.norm not in CURRENCY_WORDS \
            and not _known_word(nxt.norm, index):
        return True
    before = line[tok.start - 2:tok.start] if tok.start >= 2 else ""
    after = line[tok.end:tok.end + 2]
    return (len(before) == 2 and before[1] == "_" and before[0].isalnum()) or (
        len(after) == 2 and after[0] == "_" and after[1].isalnum())


def _paid_before(tokens: list[_Token], i: int) -> bool:
    """Whether a payment word comes right before the number at tokens[i], through a balance
    word or a preposition (`paid 5000`, `пополнил баланс на 5000`), unless it closes an amount
    already given (`2500 tl ödedim 4433221`)."""
    k, skipped = i - 1, 0
    while (k >= 0 and skipped < 2 and tokens[k].kind == "word"
           and (tokens[k].norm in PAYMENT_SKIP_WORDS
                or DEFAULT_ALIAS_ACTIONS.get(tokens[k].norm) == "balance")):
        k -= 1
        skipped += 1
    if k < 0 or tokens[k].kind != "word":
        return False
    if tokens[k].norm in CURRENCY_WORDS:
        return True
    return tokens[k].norm in PAYMENT_WORDS and not (
        k >= 1 and tokens[k - 1].kind == "word" and tokens[k - 1].norm in CURRENCY_WORDS)


def _read_number(line: str, tokens: list[_Token], i: int, index: _Index, counts: set[int],
                 longest: int = 0) -> tuple[list[_Item], int]:
    """Read the number at tokens[i]; return its items and the index after what it consumed.
    `longest`: the digits of the message's longest possible order id (see `_weak_count`)."""
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
        or (_is_quantity_word(nxt.norm) and (len(digits) <= 6 or digits.endswith("00")))
    ):
        counts.add(i)
        return [_Item("unknown", line[tok.start:nxt.end])], i + 2
    if nxt is not None and nxt.kind == "word" and nxt.norm in CURRENCY_WORDS:
        return [_Item("unknown", line[tok.start:nxt.end])], i + 2
    if (before and _category(before) == "Sc") or (after and _category(after) == "Sc"):
        return [_Item("unknown", tok.text)], i + 1
    if tok.end < len(line) and line[tok.end] == "%":
        return [_Item("unknown", tok.text + "%")], i + 1
    if _paid_before(tokens, i):
        return [_Item("unknown", tok.text)], i + 1
    if tok.start > 0 and line[tok.start - 1] == "+" and len(digits) >= 8:
        sep_before = _char_before(line, tok.start - 1)
        if not (sep_before and _category(sep_before) == "Nd"):
            return [_Item("unknown", "+" + tok.text, invalid_id=True)], i + 1
    # counts (`start count 1520, now 1490`, `from 5230 to 4870`, `1520 → 1490`), years after a
    # month, service and ticket numbers, names (`user2274`, `john_1994`), local phone numbers
    between_next = line[tok.end:nxt.start] if nxt is not None and nxt.kind == "num" else ""
    if (_is_count(tokens, i, counts)
            or (between_next and any(a in between_next for a in _ARROWS)
                and len(digits) <= 6 and len(nxt.norm) <= 6)
            or (prev is not None and prev.kind == "num" and (i - 1) in counts
                and any(a in line[prev.end:tok.start] for a in _ARROWS))):
        counts.add(i)
        return [_Item("unknown", tok.text, explained=True)], i + 1
    if (_is_year(tokens, i) or _is_reference(tokens, i) or _is_glued(line, tokens, i, index)
            or (digits.startswith("0") and len(digits) >= 10)):
        return [_Item("unknown", tok.text, explained=True)], i + 1
    if _is_valid_id(digits) and len(digits) < longest and _weak_count(tokens, i, counts):
        counts.add(i)
        return [_Item("unknown", tok.text, explained=True)], i + 1
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


_NE_QUESTION_PREFIX: frozenset[str] = frozenset({"ne"})
_NE_QUESTION_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "kadar", "zaman", "oldu", "durumda", "var", "yapayım", "yapalım"))


# A refill word next to a guarantee names a service's guarantee (`Followers [Refill 30D]`,
# `refill 30 days`, `lifetime refill`, `garantia de reposição`), not a request.
GUARANTEE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "lifetime", "guarantee", "guaranteed", "warranty", "garantia", "garantía", "garanti",
    "garantili", "гарантия", "гарантией", "гарантии", "garansi", "ضمان", "مضمون",
))
DAY_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "d", "day", "days", "dia", "dias", "días", "gün", "gun", "день", "дня", "дней", "hari",
    "يوم", "ايام", "أيام", "din",
))


def _is_guarantee(tokens: list[_Token], start: int, end: int) -> bool:
    """Whether the refill word at tokens[start:end] names a guarantee: a guarantee word right
    before or after it, or a number of days (`30D`, `30 days`, `365 gün`) right after it, or
    right before it (`30 days refill`)."""
    before = tokens[start - 1] if start > 0 else None
    after = tokens[end] if end < len(tokens) else None
    unit_after = tokens[end + 1] if end + 1 < len(tokens) else None
    if any(t is not None and t.kind == "word" and t.norm in GUARANTEE_WORDS
           for t in (before, after)):
        return True
    if after is not None and after.kind == "num" and unit_after is not None \
            and unit_after.kind == "word" and unit_after.norm in DAY_WORDS:
        return True
    return (before is not None and before.kind == "word" and before.norm in DAY_WORDS
            and start >= 2 and tokens[start - 2].kind == "num")


def _read_token(line: str, tokens: list[_Token], i: int, index: _Index, counts: set[int],
                longest: int = 0) -> tuple[list[_Item], int]:
    """Read what starts at tokens[i]; return its items and the index after what it consumed."""
    tok = tokens[i]
    if tok.kind == "num":
        return _read_number(line, tokens, i, index, counts, longest)
    if tok.norm in COUNT_BEFORE_WORDS and i + 1 < len(tokens) and tokens[i + 1].kind == "num" \
            and _is_count(tokens, i + 1, counts):
        return [_Item("filler", tok.text)], i + 1  # `start count 1520`: explained by its number
    matched = _match_phrase(tokens, i, index)
    if matched is not None:
        meaning, size = matched
        text = line[tok.start:tokens[i + size - 1].end]
        if meaning.action == "refill" and _is_guarantee(tokens, i, i + size):
            # a service's guarantee (`Followers [Refill 30D]`, `lifetime refill`): no request
            return [_Item("unknown", text, explained=True)], i + size
        if meaning.action in ACCOUNT_ACTIONS or meaning.action == NOT_COMMAND:
            # link/verify only count at the start of a line (handled before tokenising); a
            # refund is a known topic (`quiero que me devuelvan el dinero del 7230426`)
            refund = meaning.action == NOT_COMMAND
            return [_Item("unknown", text, NOT_COMMAND if refund else "", explained=refund)], \
                i + size
        return [_Item("act", text, meaning.action, meaning.argument)], i + size
    if tok.norm in _NE_QUESTION_PREFIX and i + 1 < len(tokens) \
            and tokens[i + 1].norm in _NE_QUESTION_WORDS:
        # Turkish `ne kadar` (how much), `ne zaman` (when): `ne` is not Russian "not"
        return [_Item("unknown", line[tok.start:tokens[i + 1].end])], i + 2
    variants = _word_variants(tok.norm)
    if any(v in NEGATION_WORDS for v in variants) or _is_postfix_negation(tok.norm):
        return [_Item("neg", tok.text)], i + 1
    if tok.norm in FORCE_WORDS:
        return [_Item("force", tok.text)], i + 1
    if any(v in FILLER_WORDS for v in variants):
        return [_Item("filler", tok.text)], i + 1
    stem = _stem_action(tok.norm)
    if stem is not None:
        action, form = stem
        if form == "act":
            return [_Item("act", tok.text, action)], i + 1
        if form == "negated":
            return [_Item("unknown", tok.text)], i + 1
        return [_Item("unknown", tok.text, state=True)], i + 1
    for variant in variants[1:2] + variants[3:]:
        if (action := _fuzzy_action(variant, len(tok.norm))) is not None:
            return [_Item("act", tok.text, action)], i + 1
    if (action := _fuzzy_action(_squeezed(tok.norm, 2))) is not None:
        return [_Item("act", tok.text, action)], i + 1
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    if nxt is not None and nxt.kind == "word" and (
            action := _fuzzy_joined(tok.norm + nxt.norm)) is not None:
        return [_Item("act", line[tok.start:nxt.end], action)], i + 2  # `spead up`
    return [_Item("unknown", tok.text)], i + 1


def _read_line(line: str, index: _Index, tokens: list[_Token] | None = None,
               longest: int = 0) -> list[_Item]:
    tokens = _tokenise(line) if tokens is None else tokens
    items: list[_Item] = []
    counts: set[int] = set()
    i, last_end = 0, 0
    while i < len(tokens):
        found, after = _read_token(line, tokens, i, index, counts, longest)
        found[0].pause_before = bool(_PAUSE_RE.search(line[last_end:tokens[i].start]))
        for item in found:
            item.start = tokens[i].start
        items.extend(found)
        last_end = tokens[after - 1].end
        i = after
    _short_numbers(items)
    return items


def _short_numbers(items: list[_Item]) -> None:
    """Ids of up to `SHORT_NUMBER_DIGITS` digits, `ID_LENGTH_GAP` or more shorter than the
    longest id of their sentence, with neither an id nor an action right before or after them
    (`refill 2290312 pls 4500 gone`, `cancel 4410502 i only need 2000 not 5000`), are counts or
    amounts (explained numbers); in a list of ids (`2290312, 4500 refill`), after an action
    (`cancel 4500`) or with no longer id beside them they stay ids."""
    longest = max((len(it.text) for it in items if it.kind == "id"), default=0)
    for pos, it in enumerate(items):
        if it.kind != "id" or len(it.text) > SHORT_NUMBER_DIGITS \
                or longest - len(it.text) < ID_LENGTH_GAP:
            continue
        around = items[max(0, pos - 1):pos] + items[pos + 1:pos + 2]
        if not any(other.kind in ("id", "act") for other in around):
            it.kind, it.explained = "unknown", True


def _neighbour(items: list[_Item], pos: int, step: int, through: frozenset[str] = frozenset()
               ) -> _Item | None:
    """The nearest non-filler item on one side, within the same phrase (no `,.;!?` between);
    unknown words in `through` are looked through too."""
    k = pos
    while True:
        crossing = items[k] if step < 0 else (items[k + 1] if k + 1 < len(items) else None)
        if crossing is None or k + step < 0 or crossing.pause_before:
            return None
        k += step
        item = items[k]
        if item.kind == "filler" or (item.kind == "unknown" and _fold_word(item.text) in through):
            continue
        return item


def _is_postfix_negation(word: str) -> bool:
    """A word that negates the action or id before it (`etmeyin`, `mat`, `edilmesin`)."""
    if word in NEGATION_POSTFIX:
        return True
    return any(word.startswith(stem) and word[len(stem):] in _TURKISH_NEGATIVE_ENDINGS
               for stem in _TURKISH_LIGHT_VERBS)


def _negation_target(items: list[_Item], pos: int, asks: bool = False) -> _Item | None:
    """The action or id a negation word points at (see NEGATION_PREFIX); in a question a
    negation that ends its phrase is a tag (`bisa dibatalkan gak?`), it points at nothing."""
    word = _fold_word(items[pos].text)
    before = _neighbour(items, pos, -1, NEGATION_TRANSPARENT)
    after = _neighbour(items, pos, 1, NEGATION_TRANSPARENT)
    if _is_postfix_negation(word):
        target = before
    elif word in HINGLISH_SOFTENERS and before is not None and before.kind == "act" \
            and _fold_word(before.text.split()[-1]) in HINGLISH_IMPERATIVES:
        return None  # `tez karo na`: "do speed it up, won't you"
    elif word in NEGATION_EITHER:
        target = before if before is not None and before.kind in ("act", "id") else after
        if before is not None and target is before and before.kind == "id" and after is not None \
                and after.kind == "act" and after.action in ACTING_ACTIONS:
            target = after  # `6670819 jangan dibatalin`: the verb is what is negated
    else:
        target = after
        if word in NEGATION_BEFORE_ONLY and target is not None and target.kind == "id" \
                and not items[pos].pause_before:
            return None  # `refill order no 2274209`: `no` is "number"
        if after is None:
            # it ends its phrase: `el 7309012 no`, `отменять не нужно`
            target = None if asks else before
    if target is not None and target.kind in ("act", "id"):
        return target
    return None


# Speed words that are also adverbs of manner (`refill kar do jaldi`, "refill it quickly";
# `cancel fast`): beside another refill or cancel of their phrase they say how, not what.
SPEED_ADVERBS: frozenset[str] = frozenset(norm(w) for w in (
    "fast", "faster", "quick", "quickly", "speedy", "jaldi", "jldi", "jaldii", "rápido",
    "rapido", "быстро", "hızlı", "hizli", "cepat", "بسرعة", "بسرعه",
))


def _manner_adverbs(items: list[_Item], phrases: list[int]) -> None:
    """In a sentence asking for a refill or cancel, a speed word of `SPEED_ADVERBS` only says
    how it should be done, and becomes filler, when it stands right beside that action
    (`refill kar do jaldi`), in a phrase with no id (`2274209 refill, jaldi`), or last in the
    phrase of that action in an action-first sentence, where it would take no id (`cancel
    2274209 fast pls`); not after ids of its own (`2274209 refill 2274210 fast`, `refill
    2274209, 2274210 fast` speed 2274210 up)."""
    asked = {phrases[pos] for pos, it in enumerate(items)
             if it.kind == "act" and it.action in ("refill", "cancel")}
    if not asked:
        return
    with_ids = {phrases[pos] for pos, it in enumerate(items) if it.kind == "id"}
    commandish = [pos for pos, it in enumerate(items) if it.kind in ("id", "act")]
    action_first = bool(commandish) and items[commandish[0]].kind == "act"
    for pos, it in enumerate(items):
        if not (it.kind == "act" and it.action == "speed"
                and _fold_word(it.text) in SPEED_ADVERBS):
            continue
        beside = [n for n in (_neighbour(items, pos, -1), _neighbour(items, pos, 1))
                  if n is not None]
        if (any(n.kind == "act" and n.action in ("refill", "cancel") for n in beside)
                or phrases[pos] not in with_ids
                or (action_first and pos == commandish[-1] and phrases[pos] in asked)):
            it.kind = "filler"


def _mark_fine_ids(items: list[_Item]) -> None:
    """An id said to be fine (`o 8340522 tá ok`, `2274210 is fine`, `2274210 нормально`, `ok
    hai`) is left out of every action like a negated id: the words after it in its phrase,
    through copulas and filler, say so (`FINE_WORDS`; `FINE_AFTER_COPULA` after a copula)."""
    for pos, it in enumerate(items):
        if it.kind != "id":
            continue
        copula = False
        following = items[pos + 1:]
        for k, other in enumerate(following):
            if other.pause_before or other.kind in ("act", "id"):
                break
            word = _fold_word(other.text)
            after = _fold_word(following[k + 1].text) if k + 1 < len(following) else ""
            if word in FINE_WORDS or (word in FINE_AFTER_COPULA
                                      and (copula or after in ("hai", "he", "h"))):
                it.negated = True
                break
            if word in COPULAS:
                copula = True
            elif other.kind != "filler":
                break


@dataclass
class _Sentence:
    """What one sentence says beyond its items."""

    asks: bool = False  # a question (`?`, a question particle)
    ask_actions: tuple[str, ...] = ()  # ambiguous: the candidate acting actions
    quoted: bool = False  # the bot's own reply, or a report of a past request


def _phrases(items: list[_Item]) -> list[int]:
    """The phrase of each item: phrases are separated by `,.;!?` (`_Item.pause_before`)."""
    numbers, phrase = [], 0
    for k, it in enumerate(items):
        if it.pause_before and k > 0:
            phrase += 1
        numbers.append(phrase)
    return numbers


def _phrase_at(items: list[_Item], phrases: list[int], start: int) -> int:
    """The phrase of the text at `start` (a position in the sentence)."""
    found = 0
    for it, phrase in zip(items, phrases, strict=True):
        if it.start > start:
            break
        found = phrase
    return found


def _mark_phrases(items: list[_Item]) -> None:
    """Set each item's phrase (`_phrases`), and whether that phrase says something unexplained
    (`_Item.talks`: `2274326 tamamlandı`, "… is completed")."""
    for it, phrase in zip(items, _phrases(items), strict=True):
        it.phrase = phrase
    talking = {it.phrase for it in items
               if it.kind == "unknown" and not it.explained and not it.invalid_id}
    for it in items:
        it.talks = it.phrase in talking


def _is_past_form(word: str) -> bool:
    """A past verb by its ending: Russian (`запустили`, `отменился`), Spanish and Portuguese
    plural (`cancelaram`, `aceleraron`). In a question it asks about a state."""
    if len(word) >= 6 and "\u0400" <= word[0] <= "\u04ff":
        return word.endswith(_PAST_PLURAL_RU)
    return len(word) >= 7 and word.isascii() and word.endswith(_PAST_PLURAL_ROMANCE)


_PAST_PLURAL_RU = ("али", "яли", "ели", "или", "ыли", "ули", "лся", "лась", "лось", "лись")
_PAST_PLURAL_ROMANCE = ("aram", "eram", "iram", "aron", "ieron", "eron")
# Words that also mean "give back": next to money (`MONEY_WORDS`) they ask for a refund.
_GIVE_BACK_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "верните", "вернуть", "wapas", "wapis", "vapas"))


def _is_polite_request(words: list[str], variants: set[str]) -> bool:
    """A request worded as a question (`can you …?`, `could you please …?`, `consegue …?`,
    `bisa …?`): `REQUEST_MARKERS`, or `can`/`could`/`would` before `you`."""
    return bool(variants & REQUEST_MARKERS) or any(
        a in ("can", "could", "would") and b in ("you", "u")
        for a, b in zip(words, words[1:], strict=False))


def _state_question(words: list[str], variants: set[str], items: list[_Item]) -> bool:
    """Whether a question asks about the state of an action (`refill done?`, `отменили?`,
    `… or not?`) rather than for it. A polite request (`can you …?`) that gives a negated
    state as its reason (`not started yet, can you speed up?`) is not such a question."""
    request = _is_polite_request(words, variants)
    for k, word in enumerate(words):
        if not (word in STATE_WORDS or _is_past_form(word)
                or any(v in STATE_WORDS for v in _arabic_variants(word)[1:])):
            continue
        if request and any(w in NEGATION_WORDS for w in words[max(0, k - 2):k]):
            continue  # `not started yet` as the reason of a request
        return True
    return any(it.state for it in items)


def _ends_with_state_tag(words: list[str], tags: frozenset[str] = STATE_TAGS) -> bool:
    """`… or not?`, `udah di refill belum min?`: the last word but filler is a state tag."""
    for word in reversed(words):
        if word in FILLER_WORDS:
            continue
        return word in tags
    return False


# "How much is in my account?" (`كم باقي في حسابي؟`, `hesabımda ne kadar var`, `berapa di akun
# saya`): a question of these words with no id asks for the balance.
HOW_MUCH_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "cuánto", "cuanto", "quanto", "сколько", "kaç", "berapa", "kitna", "kitne", "كم"))
HOW_MUCH_PAIRS: frozenset[tuple[str, str]] = frozenset({("how", "much"), ("ne", "kadar")})
ACCOUNT_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "account", "wallet", "cuenta", "conta", "carteira", "счету", "счёту", "счете", "счёте",
    "кошельке", "аккаунте", "hesap", "hesabım", "hesabımda", "hesapta", "hesabimda", "akun",
    "akunku", "dompet", "khate", "khata", "wallet", "حساب", "حسابي", "الحساب", "محفظتي",
    "المحفظة", "المحفظه", "محفظتي",
))


def _asks_money_left(tokens: list[_Token]) -> bool:
    """A sentence with no id that asks how much is in the customer's account or wallet
    (`HOW_MUCH_WORDS` and `ACCOUNT_WORDS`), and is not about paying."""
    if any(t.kind == "num" for t in tokens):
        return False
    words = [t.norm for t in tokens if t.kind == "word"]
    variants = {v for w in words for v in _arabic_variants(w)}
    how_much = bool(variants & HOW_MUCH_WORDS) or any(
        pair in HOW_MUCH_PAIRS for pair in zip(words, words[1:], strict=False))
    return how_much and bool(variants & ACCOUNT_WORDS) and not (
        variants & (TOPUP_WORDS | PAYMENT_WORDS))


# A modal in the past (`should have been`, `deveria ter`) regrets something, it asks no advice.
_PAST_MODAL_NEXT: frozenset[str] = frozenset(norm(w) for w in (
    "have", "ve", "been", "haber", "ter", "tido"))


def _modal_starts(tokens: list[_Token]) -> list[int]:
    """Where the sentence asks for advice or permission (`MODAL_WORDS`, `can I`, `MODAL_PAIRS`;
    not a modal in the past: `should have been`): the positions of those words."""
    words = [t.norm for t in tokens]
    starts = []
    for k, tok in enumerate(tokens):
        following = words[k + 1] if k + 1 < len(words) else ""
        if following in _PAST_MODAL_NEXT:
            continue
        if (any(v in MODAL_WORDS for v in _arabic_variants(tok.norm))
                or (tok.norm in MODAL_VERBS and following in FIRST_PERSON)
                or (tok.norm, following) in MODAL_PAIRS):
            starts.append(tok.start)
    return starts


def _is_correction(tokens: list[_Token]) -> bool:
    """A sentence that starts (after `no`, filler) with a correction word (`no wait, refill
    it`, `sorry, I mean speed`)."""
    for tok in tokens:
        if tok.kind != "word":
            return False
        if tok.norm in CORRECTION_STARTERS:
            return True
        if tok.norm not in FILLER_WORDS and tok.norm not in NEGATION_BEFORE_ONLY:
            return False
    return False


def _report_start(tokens: list[_Token], text: str) -> int | None:
    """Where a report of a past request starts in the sentence (`Refill requested: …`, `iptal
    talebim`: 0, the whole sentence), None when there is none; the label of a ticket form that
    starts a line (`Request: Refill`) is not one. When the customer is its subject (`…, I asked
    3 times already`, `I already requested`), it starts at that word: a request written before
    it stands (`6120354 refill i asked 3 times already`)."""
    for k, tok in enumerate(tokens):
        if tok.kind == "word" and any(v in REPORT_WORDS for v in _arabic_variants(tok.norm)):
            if k == 0 and text[tok.end:tok.end + 3].lstrip().startswith(":"):
                continue
            for j in range(k - 1, max(-1, k - 3), -1):
                if tokens[j].kind == "word" and tokens[j].norm in FIRST_PERSON_WORDS:
                    return tokens[j].start
            return 0
    return None


def _disarm(items: list[_Item], text: str = "", quoted: bool = False,
            tokens: list[_Token] | None = None, quote_keys: frozenset[str] = frozenset()
            ) -> _Sentence:
    """Apply the trust rule to one sentence: refunds (`верните средства`), negated actions and
    ids, acting actions in a why/how/when sentence, a question about a state (`refill done?`,
    `… or not?`), a condition (`if`, within its scope), a mistake or mention (`galti se cancel
    likha`), a quote of our reply or a past report, a status of an action (`refill status`)
    and a top-up (`recarga de saldo`, `пополнил баланс`) are not requests; two actions offered
    as alternatives, advice asked for (`should I cancel … or wait?`), or our question pasted
    back, make the sentence ambiguous (`_Sentence.ask_actions`). Also drops a details word
    that only introduces a standalone action (`check my balance`)."""
    tokens = _tokenise(text) if tokens is None else tokens
    word_tokens = [t for t in tokens if t.kind == "word"]
    words = [t.norm for t in word_tokens]
    variants = {v for w in words for v in _arabic_variants(w)}
    info = _Sentence(quoted=quoted)
    first = next((t.norm for t in tokens if t.kind == "num" or t.norm not in FILLER_WORDS), "")
    info.asks = ("?" in text or "؟" in text or bool(variants & QUESTION_PARTICLES)
                 or _ends_with_state_tag(words, QUESTION_TAGS) or first in AUX_QUESTION_STARTERS)
    phrases = _phrases(items)

    def acting() -> list[tuple[int, _Item]]:
        return [(p, it) for p, it in enumerate(items)
                if it.kind == "act" and it.action in ACTING_ACTIONS]

    def drop(it: _Item) -> None:
        it.kind, it.explained = "unknown", True

    for pos, it in acting():
        # `верните средства`, `amount wapas chahiye`: money back, not a refill
        if _fold_word(it.text) in _GIVE_BACK_WORDS and any(
                _fold_word(other.text) in MONEY_WORDS
                for other in items[max(0, pos - 2):pos + 3]):
            drop(it)
    for pos, it in enumerate(items):
        if it.kind == "neg":
            target = _negation_target(items, pos, info.asks)
            if target is not None and target.kind == "act" and target.action in ACTING_ACTIONS:
                drop(target)
            elif target is not None and target.kind == "id":
                target.negated = True
    negated_phrases = {phrases[pos] for pos, it in enumerate(items) if it.kind == "neg"}
    # money going back (`bakiyeme iade`, `refund to my balance`, `o saldo não voltou`)
    return_phrases = {phrases[pos] for pos, it in enumerate(items)
                      if _fold_word(it.text) in RETURN_WORDS or it.action == NOT_COMMAND}
    for it in items:
        if it.kind == "neg":
            it.kind = "filler"
    _mark_fine_ids(items)

    ors = [t for k, t in enumerate(tokens) if t.kind == "word" and t.norm in OR_WORDS
           and not (t.norm in _ARTICLE_OR and k + 1 < len(tokens) and tokens[k + 1].kind == "num")
           and not (k + 1 < len(tokens) and tokens[k + 1].norm in _NOTHING_AFTER_OR)]
    has_or = bool(ors) or sum(
        t.norm in QUESTION_PARTICLES for t in word_tokens) >= 2  # `iptal mi telafi mi?`
    waits = any(w.startswith(WAIT_STEMS) for v in words for w in _arabic_variants(v))
    # advice is asked about an action the modal comes before, or shares a phrase with (`…, should
    # i wait or cancel?`), not about one it follows (`cancel 2274209 wrong link, should …`)
    modal = any(m < it.start or _phrase_at(items, phrases, m) == phrases[pos]
                for m in _modal_starts(word_tokens) for pos, it in acting())
    request = bool(variants & REQUEST_MARKERS)
    tagged = info.asks and _ends_with_state_tag(words)
    # `bisa dibatalkan gak?`, `can you cancel it or not?`: asks whether it is possible
    advice = modal or (waits and has_or) or (request and tagged)
    state_words, state_items = words, items
    if advice:  # the reason given for asking (`it has been at 0 for days, should I …?`)
        asked = {phrases[pos] for pos, _ in acting()}
        state_words = [t.norm for t in word_tokens if _phrase_at(items, phrases, t.start) in asked]
        state_items = [it for it, p in zip(items, phrases, strict=True) if p in asked]

    why = any(it.kind == "unknown" and _fold_word(it.text) in QUESTION_WORDS for it in items) \
        or (info.asks and bool(set(words) & QUESTION_WORDS_IF_ASKED))
    report_from = _report_start(word_tokens, text)
    report = report_from == 0
    state = info.asks and (_state_question(state_words, variants, state_items) or (not advice and (
        tagged
        or (not request and not any(t.norm in OR_WORDS for t in word_tokens[:-1]) and any(
            _is_passive(it, text) for _, it in acting())))))
    if why or report or quoted or state:
        info.quoted = info.quoted or report
        for _, it in acting():
            drop(it)
    elif report_from is not None:  # `…, I asked 3 times already`: what follows is history
        for _, it in acting():
            if it.start >= report_from:
                drop(it)
    id_phrases = {p for it, p in zip(items, phrases, strict=True) if it.kind == "id"}
    for k, tok in enumerate(word_tokens):
        following = words[k + 1] if k + 1 < len(words) else ""
        same_phrase = k + 1 < len(word_tokens) and not _PAUSE_RE.search(
            text[tok.end:word_tokens[k + 1].start])
        if (tok.norm in CONDITION_WORDS and following not in POLITE_AFTER_CONDITION) or (
                tok.norm in CONDITION_IF_NEGATED and following in NEGATION_WORDS) or (
                tok.norm in CONDITION_SI and tok.text.lower() == "si" and same_phrase
                and following not in POLITE_AFTER_CONDITION) or (
                tok.norm == "se" and same_phrase and following in CONDITION_AFTER_SE) or (
                tok.norm.endswith(_TURKISH_CONDITIONAL_ENDINGS)):
            # a condition about an order of its own phrase reaches from that phrase on
            # (`isi ulang 8810283, kalau 8810284 biarin`), else the whole sentence
            phrase = _phrase_at(items, phrases, tok.start)
            own_id = phrase in id_phrases
            for pos, it in acting():
                if not own_id or phrases[pos] >= phrase:
                    drop(it)
        elif tok.norm in MENTION_WORDS:
            phrase = _phrase_at(items, phrases, tok.start)
            if phrase not in id_phrases:
                for pos, it in acting():
                    if phrases[pos] == phrase:
                        drop(it)
    for pos, it in acting():
        before, after = _neighbour(items, pos, -1), _neighbour(items, pos, 1)
        # `refill status 2274209`, `estado de la recarga`: a question about the refill
        if any(n is not None and n.kind == "act" and n.action == "details"
               for n in (before, after)):
            drop(it)
        # `recarga de saldo`, `isi ulang saldo`, `تعبئة رصيد`: topping up the balance
        elif it.action == "refill" and any(n is not None and n.kind == "act"
                                           and n.action == "balance" for n in (before, after)):
            it.kind = "unknown"
            for n in (before, after):
                if n is not None and n.kind == "act" and n.action == "balance":
                    n.kind = "unknown"
    paying = bool(variants & (TOPUP_WORDS | PAYMENT_WORDS))
    for pos, it in enumerate(items):
        # `пополнил баланс`, `I paid 5000 but balance not updated`: a sentence about paying
        # or topping up talks about the balance, it does not ask to see it; nor does a negated
        # phrase (`o saldo não voltou`, `balance not updated`) or one of money going back
        # (`iptal edip bakiyeme iade eder misiniz`)
        if it.kind == "act" and it.action == "balance" and (
                paying or phrases[pos] in negated_phrases or phrases[pos] in return_phrases):
            it.kind = "unknown"

    _manner_adverbs(items, phrases)
    remaining = acting()
    candidates = tuple(dict.fromkeys(it.action for _, it in remaining))
    if "ask_action" in quote_keys:  # our question pasted back: ask it again
        candidates = tuple(dict.fromkeys(it.action for it in items if it.kind == "unknown"
                                         and it.action in ACTING_ACTIONS)) or candidates
        if len(candidates) >= 2:
            info.ask_actions = candidates
    elif candidates:
        first, last = remaining[0][1].start, remaining[-1][1].start
        or_between = any(first < t.start < last for t in ors)
        if (len(candidates) >= 2 and (or_between or info.asks)) or advice:
            info.ask_actions = candidates
            for _, it in remaining:
                it.kind = "filler"

    for pos, it in enumerate(items):
        # `check my balance`: the details word only introduces the standalone action
        after = _neighbour(items, pos, 1)
        if (it.kind == "act" and it.action == "details" and after is not None
                and after.kind == "act" and after.action not in ORDER_ACTIONS):
            it.kind = "filler"
    return info


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
        if it.kind == "unknown" and it.text.isdigit() and not it.explained:
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
    asks: bool = False  # its sentence is a question
    context: str = ""  # ids of chatty text (the text): kept only if an action takes them
    quoted: bool = False  # its sentence quotes our reply or reports a past request


@dataclass
class _Standalone:
    seq: int
    command: Command


def _seq(*runs: list[_Item]) -> int:
    return min(it.seq for run in runs for it in run)


def _turns_around(segment: list[_Item], rest: list[_Item]) -> bool:
    """Whether a new phrase (`rest` starts it) turns the order of ids and actions around after a
    `segment` that names ids: it starts with an action that names ids after it (`2274209
    refill, cancel 2274210`; `2274209 stuck, cancel 2274210` cancels only 2274210), or with
    ids that its own action follows, after an action-first start (`refill 2274209, 2274210
    cancel`) or after ids of a phrase that says something of them (`2274326 tamamlandı,
    2274327 iptal edin`: the first order is done, only the second is cancelled)."""
    ids = [it for it in segment if it.kind == "id"]
    if not ids:
        return False
    phrase = [it for it in rest if it.phrase == rest[0].phrase]
    if rest[0].kind == "act":
        return any(it.kind == "id" for it in phrase)
    if not any(it.kind == "act" for it in phrase):
        return False
    return segment[0].kind == "act" or (
        ids[-1].talks and not any(it.kind == "act" for it in segment))


def _clauses_of_line(items: list[_Item], pure: bool) -> list[_Clause]:
    """The clauses of a sentence's ids and actions (`_Item.kind` "id" or "act"), in segments
    cut where a phrase turns their order around (`_turns_around`: `2274209 refill, cancel
    2274210` is a refill of one and a cancel of the other); each segment reads action-first or
    ids-first by itself. Only the first segment may take ids from a line before, only the last
    from a line after."""
    segments: list[list[_Item]] = [[]]
    for k, it in enumerate(items):
        if k and it.phrase != items[k - 1].phrase and _turns_around(segments[-1], items[k:]):
            segments.append([])
        segments[-1].append(it)
    clauses: list[_Clause] = []
    for k, segment in enumerate(segments):
        found = _clauses_of_segment(segment, pure)
        for clause in found:
            clause.open_back = clause.open_back and k == 0
            clause.open_fwd = clause.open_fwd and k == len(segments) - 1
        clauses.extend(found)
    return clauses


def _clauses_of_segment(items: list[_Item], pure: bool) -> list[_Clause]:
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


def _correct(earlier: list[_Clause], correction: list[_Clause]) -> None:
    """A correction asking for an acting action with no ids of its own (`no wait, refill it`)
    replaces the last earlier clause that asked for one with ids: it takes those ids, and the
    earlier action is dropped."""
    acting = [c for c in correction if not c.ids
              and any(a.action in ACTING_ACTIONS for a in c.acts)]
    if not acting:
        return
    for k in range(len(earlier) - 1, -1, -1):
        clause = earlier[k]
        if clause.ids and any(a.action in ACTING_ACTIONS for a in clause.acts):
            acting[0].ids = list(clause.ids)
            acting[0].seq = clause.seq
            del earlier[k]
            return


# `only` (`wait no, only 2290319`): a correction naming ids with no action keeps just those ids
# of the request before it.
ONLY_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "only", "just", "solo", "sólo", "só", "somente", "apenas", "только", "лишь", "sadece",
    "yalnız", "yalnızca", "aja", "saja", "cuma", "hanya", "sirf", "bas", "فقط",
))


def _restricts(tokens: list[_Token]) -> bool:
    """A sentence that starts with a correction word or `only` and says `only` (`wait no, only
    2290319, the other one is fine`, `only 2274209 pls`)."""
    words = [t.norm for t in tokens if t.kind == "word"]
    first = next((w for w in words if w not in FILLER_WORDS or w in ONLY_WORDS), "")
    return bool(set(words) & ONLY_WORDS) and (first in ONLY_WORDS or _is_correction(tokens))


def _restrict(earlier: list[_Clause], correction: list[_Clause]) -> list[str]:
    """A correction naming only ids (`wait no, only 2290319`) after a request for more ids
    (`refill 2290319 and 2290320`) keeps just those ids: returns the others (to be shown, not
    acted on), or [] when it restricts nothing."""
    if not correction or any(c.acts for c in correction):
        return []
    kept = {i for c in correction for i in c.ids}
    for clause in reversed(earlier):
        if clause.ids and any(a.action in ACTING_ACTIONS for a in clause.acts):
            if kept < set(clause.ids):
                return [i for i in clause.ids if i not in kept]
            return []
    return []


def _join_lines(clauses: list[_Clause], ids_first: bool) -> list[_Clause]:
    """Give id-only clauses to a neighbouring action (see the module docstring)."""
    merged: list[_Clause] = []
    for clause in clauses:  # consecutive id-only clauses form one group
        if merged and not clause.acts and not merged[-1].acts \
                and bool(clause.context) == bool(merged[-1].context):
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
        if clause.context:
            # ids of chatty text only go with an action that has no ids of its own and is
            # asked for, not asked about (`… only got 500. Is it refilled?` is not taken; a polite
            # request is asked for: `… only got 500. Can you refill?`)
            take_prev = take_prev and prev is not None and not prev.ids and not prev.asks
            take_next = take_next and nxt is not None and not nxt.ids and not nxt.asks
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
    meaning = index.phrases.get((norm(match.group(1)),))
    if meaning is None or meaning.action not in ACCOUNT_ACTIONS:
        return None
    argument = (match.group(2) or "").strip(_ARGUMENT_STRIP).lstrip("@").strip(_ARGUMENT_STRIP)
    if "/" in argument:
        return None  # `Link: instagram.com/p/Cx12ab` (a ticket form's field): no panel username
    return Command(meaning.action, argument=argument or None)


# Phone numbers: international with groups (`+62 812-3456-7890`), local with a leading 0 and
# groups (`0812-3456-7890`, `0532 123 45 67`), dashed groups (`8-912-345-67-89`).
_PHONE_RES = (
    re.compile(r"\+\d{1,4}(?:[\s().-]+\d{1,6}){2,}"),
    re.compile(r"(?<![\w+])0\d{1,5}(?:[ .-]\d{2,8}){1,4}(?!\d)"),
    re.compile(r"(?<![\w+])\d{1,5}(?:-\d{1,5}){2,}(?!\d)"),
    re.compile(r"\(\d{2,4}\)\s*\d{3,5}[\s.-]?\d{3,5}(?!\d)"),
    re.compile(r"(?<![\w+-])\d{4,5}-\d{4}(?![\d-])"),
)
_PHONE_MIN_DIGITS = 9
# Next to one of these words (two words before or after), digit groups of 9 to 13 digits are a
# phone number (`whatsapp 98765 43210`, `55 1234 5678 por whatsapp`, `тел 89123456789`): two
# groups or more, or one run of 10 digits or more.
PHONE_WORDS: frozenset[str] = frozenset(norm(w) for w in (
    "whatsapp", "whats", "watsap", "wa", "wpp", "zap", "zapzap", "tel", "telp", "telf", "phone",
    "mobile", "mob", "cell", "celular", "telefone", "telefono", "teléfono", "call", "hp",
    "телефон", "тел", "телефона", "вотсап", "ватсап", "numaram", "numaramdan", "واتس",
    "واتساب", "واتسب", "جوال", "جوالي", "هاتف", "موبايل",
))
_PHONE_MAX_DIGITS = 13
_DIGIT_GROUPS_RE = re.compile(r"(?<![\w+])\d{1,13}(?:[ .-]\d{1,13}){0,4}(?![\w])")
_WORD_RE = re.compile(r"[^\W\d_]+")


# `my number is 311 456 7890`: a word for "number" says phone for three groups or more.
_NUMBER_WORDS_PHONE: frozenset[str] = frozenset(norm(w) for w in (
    "number", "número", "numero", "nomor", "номер", "numara", "رقم", "رقمي"))


def _near_phone_word(line: str, start: int, end: int, groups: int = 0) -> bool:
    """Whether a phone word is among the two words before `start` or after `end` (a word for
    "number" counts for three digit groups or more)."""
    around = _WORD_RE.findall(line[:start])[-2:] + _WORD_RE.findall(line[end:])[:2]
    words = {_fold_word(word) for word in around}
    return bool(words & PHONE_WORDS) or (groups >= 3 and bool(words & _NUMBER_WORDS_PHONE))


_NUMBER_ABBREVIATION_RE = re.compile(r"(?<!\w)(no|nr|nro|num|núm|n)\.(?=\s*\d)", re.IGNORECASE)


def _scrub(line: str, notes: list[tuple[int, str]]) -> str:
    """Blank out links, e-mail addresses, mentions, phone numbers (ignored) and dates/times
    (unknown, noted with their position)."""
    for pattern in (_URL_RE, _EMAIL_RE, _MENTION_RE):
        line = pattern.sub(lambda m: " " * len(m.group(0)), line)
    # `order no. 2274312`: the dot of an abbreviation of "number" ends no sentence
    line = _NUMBER_ABBREVIATION_RE.sub(lambda m: m.group(1) + " ", line)

    def phone(m: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in m.group(0))
        return " " * len(m.group(0)) if digits >= _PHONE_MIN_DIGITS else m.group(0)

    for pattern in _PHONE_RES:
        line = pattern.sub(phone, line)

    def phone_by_word(m: re.Match[str]) -> str:
        text = m.group(0)
        digits = sum(ch.isdigit() for ch in text)
        groups = len(re.findall(r"\d+", text))
        if (_PHONE_MIN_DIGITS <= digits <= _PHONE_MAX_DIGITS and (groups >= 2 or digits >= 10)
                and _near_phone_word(line, m.start(), m.end(), groups)):
            return " " * len(text)
        return text

    if any(ch.isdigit() for ch in line):
        line = _DIGIT_GROUPS_RE.sub(phone_by_word, line)

    def note(m: re.Match[str]) -> str:
        notes.append((m.start(), m.group(0)))
        return " " * len(m.group(0))

    return _DATE_RE.sub(note, line)


_SENTENCE_ENDS = ".!?;。؟"


def _sentences(line: str, cuts: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Spans of the sentences of a line: they end at `.!?;` followed by a space, a symbol or the
    end of the line (`2274209.2274210` and `10.50` do not end one), where a correction starts
    after a comma (`_correction_cuts`), and at `cuts` (the end of a quotation)."""
    spans: list[tuple[int, int]] = []
    start, i, n = 0, 0, len(line)
    while i < n:
        if line[i] in _SENTENCE_ENDS:
            j = i
            while j < n and line[j] in _SENTENCE_ENDS:
                j += 1
            if j >= n or not line[j].isalnum():
                spans.append((start, j))
                start = j
            i = j
        else:
            i += 1
    if start < n:
        spans.append((start, n))
    cut = sorted([*_correction_cuts(line), *cuts])
    if cut:
        spans = [piece for a, b in spans for piece in _cut_span(a, b, cut)]
    return [(a, b) for a, b in spans if line[a:b].strip()]


_CORRECTION_PAUSES = ",-—–"


_CORRECTION_CUT_RE = re.compile(r"[,\-—–]\s*([^\W\d_]+)(?:[\s,]+([^\W\d_]+))?")


def _correction_cuts(line: str) -> list[int]:
    """Where a correction starts after a comma or a dash (`cancelar el 3320004, perdón, quise
    decir acelerar`, `2274209 cancel, no wait, refill`): it is read as a sentence of its own."""
    cuts = []
    for match in _CORRECTION_CUT_RE.finditer(line):
        first = _fold_word(match.group(1))
        second = _fold_word(match.group(2)) if match.group(2) else ""
        if first in CORRECTION_STARTERS or (
                first in NEGATION_BEFORE_ONLY and second in CORRECTION_STARTERS):
            cuts.append(match.start(1))
    return cuts


def _cut_span(a: int, b: int, cuts: list[int]) -> list[tuple[int, int]]:
    points = [a] + [c for c in cuts if a < c < b] + [b]
    return list(zip(points, points[1:], strict=False))


_DIGIT_RUN_RE = re.compile(r"\d+")


def _longest_id(lines: Iterable[str]) -> int:
    """The digits of the longest run that could be an order id (4 to 12 digits) in `lines`."""
    return max((len(run) for line in lines for run in _DIGIT_RUN_RE.findall(ascii_digits(line))
                if _is_valid_id(run)), default=0)


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", fold(text)).split())


_QUOTE_SPLIT_RE = re.compile(r"\{[^}]*\}|[\"“”«».:;؛]")


@lru_cache(maxsize=1)
def _quote_index() -> dict[tuple[str, ...], tuple[tuple[tuple[str, ...], str], ...]]:
    """Fragments of our own replies, in English (`app.domain.replies`) and in every shipped
    translation (`app.domain.reply_texts`): 3 words or more between placeholders, quotes and
    stops, without the examples of the help text (`2274209 refill`). Indexed by their first
    three words: fragment words → the reply key."""
    from app.domain.replies import DEFAULT_REPLIES, base_key  # pure, imports no parser
    from app.domain.reply_texts import REPLY_TEXTS

    texts = [(base_key(key), reply) for key, reply in DEFAULT_REPLIES.items()]
    texts += [(key, reply) for key, replies in REPLY_TEXTS.items() for reply in replies]
    index: dict[tuple[str, ...], set[tuple[tuple[str, ...], str]]] = {}
    for key, reply in texts:
        if key == "details_line":
            continue
        for piece in _QUOTE_SPLIT_RE.split(reply):
            words = tuple(_flat(piece).split())
            if len(words) >= 3 and not any(ch.isdigit() for w in words for ch in w):
                index.setdefault(words[:3], set()).add((words, key))
    return {head: tuple(sorted(found)) for head, found in index.items()}


_QUOTATION_RE = re.compile(r'["“”«»„]([^"“”«»„\n]{6,})["“”«»„]')


def _quote_spans(line: str) -> list[tuple[int, int, frozenset[str]]]:
    """Quotations of our replies between quotation marks (`"Refill requested for 2 orders: …"
    but only one got refilled, pls refill 6210010 again`): (start, end, reply keys). When the
    line quotes us only there, the text after a quotation is read as a sentence of its own,
    not as a quote; [] when our reply is quoted without quotation marks."""
    spans = []
    for match in _QUOTATION_RE.finditer(line):
        keys = _quoted_keys(match.group(1))
        if keys:
            spans.append((match.start(), match.end(), keys))
    if not spans or frozenset().union(*(k for _, _, k in spans)) != _quoted_keys(line):
        return []
    return spans


def _quoted_keys(line: str) -> frozenset[str]:
    """The keys of our replies a line quotes back (it holds one of their fragments)."""
    words = _flat(line).split()
    if len(words) < 3:
        return frozenset()
    index = _quote_index()
    keys = set()
    for k in range(len(words) - 2):
        for piece, key in index.get(tuple(words[k:k + 3]), ()):
            if tuple(words[k:k + len(piece)]) == piece:
                keys.add(key)
    return frozenset(keys)


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
    negated: set[str] = set()
    questions: list[tuple[int, list[str], tuple[str, ...]]] = []
    ids_first: bool | None = None

    scrubbed: list[tuple[str, str, list[tuple[int, str]]]] = []
    for raw_line in text.splitlines():
        notes: list[tuple[int, str]] = []
        scrubbed.append((raw_line, _scrub(raw_line, notes) if raw_line.strip() else "", notes))
    longest = _longest_id(line for _, line, _ in scrubbed)

    for raw_line, line, notes in scrubbed:
        if not raw_line.strip():
            continue
        if _START_RE.match(raw_line):
            standalone.append(_Standalone(next_seq(), Command("help")))
            continue
        account = _account_command(raw_line, index)
        if account is not None:
            standalone.append(_Standalone(next_seq(), account))
            continue

        quote_keys = _quoted_keys(raw_line)
        if "help" in quote_keys:  # our help text pasted back: its ids are our examples
            ignored.append(raw_line.strip())
            continue
        quotes = _quote_spans(raw_line) if quote_keys else []
        for start, end in _sentences(line, [q_end for _, q_end, _ in quotes]):
            raw_sentence = raw_line[start:end].strip()
            sentence = line[start:end]
            tokens = _tokenise(sentence)
            items = _read_line(sentence, index, tokens, longest)
            keys = quote_keys
            if quotes:  # only the sentences holding a quotation of our reply quote it
                keys = frozenset().union(*(k for q_start, q_end, k in quotes
                                           if q_start < end and start < q_end))
            info = _disarm(items, sentence, bool(keys), tokens, keys)
            _mark_phrases(items)
            _attach_force(items)
            _short_ids(items)
            line_unknown = [text for pos, text in notes if start <= pos < end]
            line_unknown.extend(it.text for it in items if it.kind == "unknown")
            weight = len(line_unknown) - sum(1 for it in items if it.explained)
            line_invalid = [it.text for it in items if it.kind == "unknown" and it.invalid_id]
            commandish = [it for it in items if it.kind in ("id", "act")]
            ids = [it for it in items if it.kind == "id"]

            if info.ask_actions:
                wanted = [it.text for it in ids if not it.negated]
                if wanted:
                    unknown.extend(line_unknown)
                    questions.append((next_seq(), wanted, info.ask_actions))
                    negated.update(it.text for it in ids if it.negated)
                    commandish = [it for it in commandish if it.kind == "act"]
                    if not commandish:
                        continue
                else:
                    ignored.append(raw_sentence)
                    continue
            if not commandish and _asks_money_left(tokens):
                standalone.append(_Standalone(next_seq(), Command("balance")))
                continue
            if not commandish:
                if line_invalid and len(line_invalid) == len(line_unknown):
                    unknown.extend(line_unknown)  # a lone mistyped id deserves an answer
                    invalid.extend(line_invalid)
                else:
                    ignored.append(raw_sentence)
                continue
            # conversation: more unexplained words than a command line carries (more room for
            # a sentence that names both ids and an order action, most for an acting one;
            # none for a quote)
            room = max(3, 2 * len(commandish))
            if not ids and not info.asks and any(
                    it.kind == "act" and it.action in ACTING_ACTIONS for it in items):
                # a request without ids after chatty text with them (`caiu tudo do 8340524!!! faz
                # a reposição agora ou vou pedir chargeback`); alone it asks for an order id
                room = max(ACTION_ONLY_ROOM, 2 * len(commandish))
            if ids and any(it.kind == "act" and it.action in ACTING_ACTIONS for it in items):
                room = max(CHATTY_ROOM, 6 * len(commandish))
            elif ids and any(it.action in ORDER_ACTIONS for it in items):
                room = max(12, 4 * len(commandish))
            if weight > room and not info.quoted:
                if len(ids) == len(commandish) and _restricts(tokens) and (left_out := _restrict(
                        clauses, [_Clause(0, [], [it.text for it in ids])])):
                    negated.update(left_out)  # `wait no, only 2290319, the other one is fine`
                    continue
                if len(ids) == len(commandish):
                    # chatty text around ids: they may go with an action of the next or
                    # previous sentence (`… stuck at 0 for 2 days. Please speed it up`)
                    negated.update(it.text for it in ids if it.negated)
                    clauses.append(_Clause(next_seq(), [], [it.text for it in ids], pure=False,
                                           context=raw_sentence))
                else:
                    ignored.append(raw_sentence)
                continue

            unknown.extend(line_unknown)
            invalid.extend(line_invalid)
            negated.update(it.text for it in ids if it.negated)
            pure = not any(it.kind == "unknown" and not it.invalid_id and not it.explained
                           for it in items)
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
            line_clauses = _clauses_of_line(ordered, pure)
            for clause in line_clauses:
                # a polite request is asked for, not asked about: it may take the ids of
                # chatty text before it (`… only got 500. Could you please refill it?`)
                clause.quoted = info.quoted
                clause.asks = info.asks and not _is_polite_request(
                    [t.norm for t in tokens if t.kind == "word"],
                    {v for t in tokens if t.kind == "word" for v in _arabic_variants(t.norm)})
            if _is_correction(tokens):
                _correct(clauses, line_clauses)
            if _restricts(tokens) and (left_out := _restrict(clauses, line_clauses)):
                negated.update(left_out)
                continue
            clauses.extend(line_clauses)

    joined = _join_lines(clauses, bool(ids_first))
    for clause in joined:
        # ids of chatty text no action took: the order's details, when they are named as
        # orders (an order word, or an id of six digits or more); else conversation
        if clause.context and (_names_orders(clause.context)
                               or any(len(i) >= LONG_ID_DIGITS for i in clause.ids)):
            clause.context = ""
    ignored.extend(c.context for c in joined if c.context)
    joined = [c for c in joined if not c.context]
    return _assemble(joined, standalone, unknown, invalid, ignored, max_ids, negated, questions)


_ORDER_WORDS_RE = re.compile(
    r"(?:#|№|\b(?:order|orders|id|pedido|pedidos|orden|заказ\w*|sipariş\w*|siparis\w*|"
    r"pesanan\w*|طلب\w*|الطلب\w*)\b)", re.IGNORECASE)


def _names_orders(text: str) -> bool:
    """Whether chatty text names its numbers as orders (`order`, `pedido`, `заказ`, `#`, …)."""
    return bool(_ORDER_WORDS_RE.search(text))


def _assemble(
    clauses: list[_Clause],
    standalone: list[_Standalone],
    unknown: list[str],
    invalid: list[str],
    ignored: list[str],
    max_ids: int,
    negated: set[str] = frozenset(),  # type: ignore[assignment]
    questions: list[tuple[int, list[str], tuple[str, ...]]] = (),  # type: ignore[assignment]
) -> ParseResult:
    # (action, force, argument) → [seq, ids]
    merged: dict[tuple[str, bool, str | None], list] = {}
    # an id of a quotation of our reply asked for again is not also only shown (`"Refill
    # requested: 6210009, 6210010" … pls refill 6210010 again`)
    acted = {i for clause in clauses if not clause.quoted
             and any(a.action in ACTING_ACTIONS for a in clause.acts) for i in clause.ids}
    for clause in clauses:
        acts = clause.acts or [_Item("act", "", "details")]
        if clause.quoted and not clause.acts:
            clause.ids = [i for i in clause.ids if i not in acted]
            if not clause.ids:
                continue
        if not clause.ids and not clause.pure:
            continue
        for act in acts:
            ids = clause.ids
            if act.action in ACTING_ACTIONS and negated:
                # `refill 1111, not 2222`: an excluded id is only shown
                ids = [i for i in clause.ids if i not in negated]
                shown = [i for i in clause.ids if i in negated]
                if shown:
                    # shown after the request they were left out of
                    slot = merged.setdefault(("details", False, None), [clause.seq + 0.5, []])
                    slot[1].extend(shown)
                if clause.ids and not ids:
                    continue
            key = (act.action, act.force, None)
            slot = merged.setdefault(key, [clause.seq, []])
            slot[0] = min(slot[0], clause.seq)
            slot[1].extend(ids)
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
    ambiguous: list[Ambiguity] = []
    for _, ids, actions in sorted(questions, key=lambda q: q[0]):
        room = max(0, max_ids) - len(distinct[:max(0, max_ids)])
        kept = tuple(dict.fromkeys(i for i in ids if i in allowed or i not in distinct))
        kept = tuple(i for i in kept if i in allowed) + tuple(
            i for i in kept if i not in allowed)[:room]
        if len(kept) < len(dict.fromkeys(ids)):
            too_many = True
        if kept:
            ambiguous.append(Ambiguity(kept, actions))
    return ParseResult(
        commands=[c for _, c in commands],
        unknown=list(dict.fromkeys(unknown)),
        invalid_ids=list(dict.fromkeys(invalid)),
        too_many_ids=too_many,
        ignored=ignored,
        ambiguous=ambiguous,
    )
