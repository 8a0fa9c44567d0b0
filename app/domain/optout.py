"""Opting out of broadcasts by chat: a message that is exactly a `stop` keyword (or `start`
to opt back in), in any shipped language. Pure: no database, no Flask.

`opt_keyword(text)` → "stop", "start" or None. The whole message must be the keyword: case,
surrounding spaces and a trailing full stop or exclamation mark do not matter; "stop the
refill of 2274209" is not one (the pipeline reads it as usual). Words that are order commands
in some language (`cancelar`, `iptal`, `إلغاء`: cancel) are deliberately not keywords.

The lists (docs/contracts.md "Runner contracts" repeats them):

========  =======================================  =====================================
language  stop                                     start
========  =======================================  =====================================
en        stop, unsubscribe                        start, subscribe
es        parar, baja                              alta, iniciar
pt_BR     parar, sair                              iniciar, voltar
ru        стоп, отписаться                         старт, подписаться
tr        dur, durdur                              başla
id        berhenti                                 mulai
ar        توقف, ايقاف (إيقاف)                      ابدأ (ابدا), بدء
========  =======================================  =====================================
"""
from __future__ import annotations

import unicodedata

STOP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("stop", "unsubscribe"),
    "es": ("parar", "baja"),
    "pt_BR": ("parar", "sair"),
    "ru": ("стоп", "отписаться"),
    "tr": ("dur", "durdur"),
    "id": ("berhenti",),
    "ar": ("توقف", "ايقاف", "إيقاف"),
}
START_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("start", "subscribe"),
    "es": ("alta", "iniciar"),
    "pt_BR": ("iniciar", "voltar"),
    "ru": ("старт", "подписаться"),
    "tr": ("başla", "basla"),
    "id": ("mulai",),
    "ar": ("ابدأ", "ابدا", "بدء"),
}
_TRAILING = ".!。！"
_KEYWORDS: dict[str, str] = {}
for _kind, _table in (("stop", STOP_WORDS), ("start", START_WORDS)):
    for _words in _table.values():
        for _word in _words:
            _KEYWORDS.setdefault(unicodedata.normalize("NFC", _word).casefold(), _kind)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "").strip()
    # the Turkish dotted capital İ casefolds to i + a combining dot: keep the plain letter
    text = text.replace("İ", "i").casefold().replace("\u0307", "")
    return text.rstrip(_TRAILING).strip()


def opt_keyword(text: str | None) -> str | None:
    """"stop", "start" or None (see the module docstring)."""
    if not text or len(text) > 40:
        return None
    return _KEYWORDS.get(_normal(text))
