"""Amounts of money: stored as whole minor units of their currency, typed and read as money.

Decision: a stored amount (`plan_price.amount_cents`, `invoice.amount_cents`) counts the
currency's minor units, as Stripe and Razorpay do: cents for USD and EUR, paise for INR, whole
yen for JPY (no minor unit), fils for KWD (three decimals). The screens take and show money
("19.00"); the REST API and the workspace file take the whole number of minor units.

* `minor_digits(currency)`: how many decimals the currency has (ISO 4217 via babel; 2 for a
  code babel does not know).
* `parse_amount(text)`: the Decimal a person typed ("19", "19.00", "19,5"), or None when it is
  not an amount.
* `amount_problem(text, currency)`: why a typed amount is refused, or None.
* `to_minor(amount, currency)`, `from_minor(minor, currency)`.
* `money_text(minor, currency)`: "19.00 USD" with the reader's decimal mark ("19,00 USD" in
  Spanish).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal, get_currency_precision
from flask import has_request_context
from flask_babel import lazy_gettext as _l

#: the largest amount a price may have, in minor units (1,000,000.00 USD; app/validation.py
#: PRICE checks the stored column against it)
MAX_MINOR = 100_000_000

_AMOUNT = re.compile(r"^\d{1,12}(?:\.\d{1,6})?$")
_COMMA_DECIMALS = re.compile(r"^\d{1,12},\d{1,2}$")  # "1,000" is refused: ambiguous


def minor_digits(currency: str | None) -> int:
    """The number of decimals of `currency` (2 when it is unknown or not given)."""
    if not currency:
        return 2
    try:
        return int(get_currency_precision(str(currency)))
    except (ValueError, TypeError, LookupError):
        return 2


def parse_amount(text) -> Decimal | None:
    """The amount a person typed: digits with an optional decimal point (or a decimal comma
    followed by one or two digits), no sign, no thousands separators; None otherwise."""
    if isinstance(text, Decimal):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        return Decimal(text)
    if not isinstance(text, str):
        return None
    text = text.strip().replace(" ", "")
    if _COMMA_DECIMALS.match(text):
        text = text.replace(",", ".")
    if not _AMOUNT.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def amount_problem(text, currency: str | None = None):
    """Why `text` is not an amount of `currency` (lazy text for the person), or None."""
    if isinstance(text, str) and text.strip().startswith("-"):
        return _l("Enter an amount of at least 0.")
    amount = parse_amount(text)
    if amount is None:
        return _l("Enter an amount such as 19.00: digits and a decimal point, without "
                  "thousands separators.")
    digits = minor_digits(currency)
    if amount * (10 ** digits) > MAX_MINOR:
        return _l("Enter an amount of at most %(high)s.",
                  high=f"{Decimal(MAX_MINOR).scaleb(-digits):f}".split(".")[0])
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        if digits == 0:
            return _l("%(currency)s amounts have no decimals.", currency=currency)
        return _l("%(currency)s amounts have at most %(digits)s decimals.",
                  currency=currency or "", digits=digits)
    return None


def to_minor(amount, currency: str | None) -> int:
    """Whole minor units of `amount` (a Decimal or typed text) in `currency`."""
    value = parse_amount(amount)
    if value is None:
        raise ValueError(f"not an amount: {amount!r}")
    return int((value * (10 ** minor_digits(currency))).to_integral_value())


def from_minor(minor: int | None, currency: str | None) -> Decimal | None:
    """The amount `minor` whole minor units make, with the currency's decimals."""
    if minor is None:
        return None
    digits = minor_digits(currency)
    return (Decimal(int(minor)) / (10 ** digits)).quantize(Decimal(1).scaleb(-digits))


def _locale() -> str:
    if has_request_context():
        from flask_babel import get_locale

        return str(get_locale() or "en")
    return "en"


def money_text(minor: int | None, currency: str | None) -> str:
    """"19.00 USD" (the reader's decimal mark and grouping), "" for no amount."""
    amount = from_minor(minor, currency)
    if amount is None:
        return ""
    digits = minor_digits(currency)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    number = format_decimal(amount, format=pattern, locale=_locale())
    return f"{number} {currency}" if currency else number
