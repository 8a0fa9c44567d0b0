"""Subject rules of the panel ticket workflow: which action a ticket asks for.

Contract
--------
A rule has `subject_words` and/or `message_words`: plain words or phrases separated by commas
or new lines (never patterns: nothing a customer writes can make matching slow). A text
*contains* a word when the word appears in it after both are folded (`fold`: case, accents
and Arabic letter forms, the Turkish dotted/dotless i, runs of spaces and hyphens). A rule
matches a ticket when every part it has matches (subject words in the subject, message words in
the customer's messages); a rule with neither matches nothing.

`choose(rules, subject, text)` tries the workspace's enabled rules by position, then
`DEFAULT_RULES` (the usual Perfect Panel subjects in English and in every shipped language:
es, pt_BR, ru, tr, id, ar), and answers the first match, or None (the ticket is left to the
staff). The action `ignore` leaves a matching ticket to the staff: a workspace rule with it
placed before the defaults turns a default off.

Bounds (`words_problem`): at most MAX_WORDS words of at most MAX_WORD_CHARS characters each,
every word at least MIN_WORD_CHARS characters once folded; the text itself at most
MAX_WORDS_TEXT characters. Matching reads at most MAX_MATCH_CHARS of a text.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

MAX_WORDS = 40
MAX_WORD_CHARS = 80
MIN_WORD_CHARS = 3
MAX_WORDS_TEXT = 2000
MAX_MATCH_CHARS = 20_000

ACTIONS = ("refill", "speed", "cancel", "details", "ignore")

_SPACES = re.compile(r"[\s\-_‐-―]+")
_ARABIC_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه", "ـ": ""})
_SEPARATORS = re.compile(r"[,\n;]+")


def fold(text: str) -> str:
    """Text as rules compare it: lower case, no accents or other combining marks, the Turkish
    ı/İ as i, Arabic letter forms unified, runs of spaces, hyphens and underscores as one
    space, trimmed."""
    text = (text or "")[:MAX_MATCH_CHARS].replace("İ", "i").replace("ı", "i")
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_ARABIC_FORMS)
    return _SPACES.sub(" ", text).strip()


def split_words(text: str | None) -> list[str]:
    """The words of a rule field as written (trimmed, empty ones dropped, order kept)."""
    return [w.strip() for w in _SEPARATORS.split(text or "") if w.strip()]


def words_problem(text: str | None) -> str | None:
    """Why a rule field cannot be saved (English: callers translate the sentence they show),
    or None. Blank is not a problem here (a rule needs one of its two fields: `rule_problem`)."""
    if text is None or not str(text).strip():
        return None
    text = str(text)
    if len(text) > MAX_WORDS_TEXT:
        return "too_long"
    words = split_words(text)
    if len(words) > MAX_WORDS:
        return "too_many"
    for word in words:
        if len(word) > MAX_WORD_CHARS:
            return "word_too_long"
        if len(fold(word).replace(" ", "")) < MIN_WORD_CHARS:
            return "word_too_short"
    return None


@dataclass(frozen=True)
class Rule:
    """A rule as matching sees it (a workspace's row, or a default)."""

    name: str
    action: str
    subject_words: tuple[str, ...] = ()  # folded
    message_words: tuple[str, ...] = ()  # folded
    builtin: bool = False

    @classmethod
    def of(cls, name: str, action: str, subject: str | Iterable[str] | None = None,
           message: str | Iterable[str] | None = None, builtin: bool = False) -> Rule:
        def folded(words) -> tuple[str, ...]:
            if words is None:
                return ()
            items = split_words(words) if isinstance(words, str) else list(words)
            return tuple(dict.fromkeys(f for f in (fold(w) for w in items) if f))

        return cls(name, action, folded(subject), folded(message), builtin)

    def matches(self, subject: str, text: str) -> bool:
        """`subject` and `text` already folded."""
        if not self.subject_words and not self.message_words:
            return False
        if self.subject_words and not _contains_any(subject, self.subject_words):
            return False
        if self.message_words and not _contains_any(text, self.message_words):
            return False
        return True


def _contains_any(text: str, words: tuple[str, ...]) -> bool:
    padded = f" {text} "
    for word in words:
        # a short word (≤ 4 letters, e.g. "iade", "batal") must stand alone, so that it is not
        # found inside another word; longer ones may be a word's start or part ("отмен" in
        # "отмена", "ускор" in "ускорить")
        if len(word) <= 4:
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text):
                return True
        elif word in padded:
            return True
    return False


# The usual subjects of Perfect Panel tickets ("Order - Refill", "Speed up", "Cancel",
# "Refund", as the panel's own customer pages name them) in English and in every language
# Relaydesk ships, matched on the subject only: the order ids come from the messages.
DEFAULT_WORDS: dict[str, tuple[str, ...]] = {
    "refill": (
        "refill", "re-fill", "refil",
        "recarga", "reposición", "rellenar", "relleno",  # es
        "reposição", "reposicao", "repor",  # pt_BR
        "рефилл", "рефил", "восстановление", "восстановить",  # ru
        "telafi", "yeniden doldur", "dolum",  # tr
        "isi ulang", "pengisian ulang",  # id
        "إعادة تعبئة", "اعادة تعبئة", "تعويض",  # ar
    ),
    "speed": (
        "speed up", "speedup", "speed-up", "speed",
        "acelerar", "aceleración", "velocidad",  # es
        "aceleração", "velocidade",  # pt_BR
        "ускор", "скорость",  # ru
        "hızlandır", "hizlandir", "hız", "hiz",  # tr
        "percepat", "mempercepat", "kecepatan",  # id
        "تسريع", "سرعة",  # ar
    ),
    "cancel": (
        "cancel", "refund",
        "cancelar", "cancelación", "reembolso",  # es
        "cancelamento", "estorno",  # pt_BR
        "отмен", "возврат",  # ru
        "iptal", "iade",  # tr
        "batal", "pembatalan", "pengembalian dana", "refund dana",  # id
        "إلغاء", "الغاء", "استرداد", "استرجاع",  # ar
    ),
}

DEFAULT_RULES: tuple[Rule, ...] = tuple(
    Rule.of(f"default: {action}", action, subject=words, builtin=True)
    for action, words in DEFAULT_WORDS.items())


def choose(rules: Iterable[Rule], subject: str | None, text: str | None,
           with_defaults: bool = True) -> Rule | None:
    """The first rule (the workspace's, then the defaults) that matches, or None."""
    subject_folded, text_folded = fold(subject or ""), fold(text or "")
    for rule in (*rules, *(DEFAULT_RULES if with_defaults else ())):
        if rule.matches(subject_folded, text_folded):
            return rule
    return None


def might_match(rules: Iterable[Rule], subject: str | None) -> bool:
    """Whether a ticket with this subject could match a rule once its messages are read: some
    rule reads the messages alone, or some rule's subject words are in the subject. A ticket
    that cannot is not read at all (a panel call saved)."""
    subject_folded = fold(subject or "")
    for rule in (*rules, *DEFAULT_RULES):
        if not rule.subject_words and rule.message_words:
            return True
        if rule.subject_words and _contains_any(subject_folded, rule.subject_words):
            return True
    return False
