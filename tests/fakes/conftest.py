"""Fixtures for the fakes' own tests (see fixtures.py). These tests need no database."""
from tests.fakes.fixtures import (  # noqa: F401
    fake_greenapi,
    fake_meta,
    fake_perfectpanel,
    fake_razorpay,
    fake_rentalpanel,
    fake_smmapi,
    fake_stripe,
    fake_telegram,
)
