"""Text folding shared by the chat-command parser and the service-name reader.

Contract: `fold(text)` returns the form two strings are compared in, so that what a customer
types and what a table of aliases (or a service name) says meet half-way:

- Unicode NFKC (full-width letters and digits, ligatures) and `casefold` (so `ß` → `ss`);
- every Unicode decimal digit becomes its ASCII digit (Arabic-Indic `٢٢٧٤` → `2274`);
- diacritics on Latin letters are dropped (`hızlandır` → `hizlandir`, `reposição` → `reposicao`,
  Turkish dotted/dotless i both become `i`);
- Cyrillic `ё` → `е`; Arabic hamza forms of alef → `ا`, `ى` → `ي`, `ة` → `ه`, harakat and tatweel
  removed (`إلغاء` and `الغاء` fold alike);
- marks of other scripts (Devanagari vowel signs, Cyrillic `й`) are kept.

The result may be longer or shorter than the input; callers that need to point back at the
original text fold token by token. Pure, stdlib only, never raises for a `str`.
"""
from __future__ import annotations

import unicodedata

_CHAR_MAP = str.maketrans({
    "ı": "i",
    "ё": "е",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ة": "ه",
    "ـ": None,  # Arabic tatweel (letter stretching)
    "ł": "l",
    "ø": "o",
    "đ": "d",
    "’": "'",
    "ʼ": "'",
    "‘": "'",
})


def _is_latin(ch: str) -> bool:
    code = ord(ch)
    return (
        ("a" <= ch <= "z")
        or 0x00C0 <= code <= 0x024F
        or 0x1E00 <= code <= 0x1EFF
    )


def _is_arabic_mark(ch: str) -> bool:
    code = ord(ch)
    return 0x0610 <= code <= 0x061A or 0x064B <= code <= 0x065F or code == 0x0670 or (
        0x06D6 <= code <= 0x06ED
    )


def fold(text: str) -> str:
    """Return the comparison form of `text` (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_CHAR_MAP)
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", folded):
        category = unicodedata.category(ch)
        if category == "Mn":
            if (base and _is_latin(base)) or _is_arabic_mark(ch):
                continue
        elif category == "Nd":
            ch = str(unicodedata.decimal(ch, 0))
            base = ch
        else:
            base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def ascii_digits(text: str) -> str:
    """Return `text` with every Unicode decimal digit replaced by its ASCII digit."""
    return "".join(
        str(unicodedata.decimal(ch, 0)) if unicodedata.category(ch) == "Nd" else ch for ch in text
    )
