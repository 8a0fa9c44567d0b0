"""The payment package's errors."""
from __future__ import annotations


class PaymentUnavailable(Exception):
    """A payment provider cannot be used for this request: it is not configured (no key), the
    price has no id at the provider, or the provider refused or did not answer.

    `message` is customer-safe (shown as is, in the reader's language); `detail` is the
    technical reason for the log (never a key, never a payment id)."""

    def __init__(self, message, detail: str = "") -> None:
        super().__init__(str(message))
        self.message = message
        self.detail = detail
