"""Every fake-service fixture in one pytest plugin.

Each fixture is function-scoped and yields a started server (fails the test if the fake itself
crashed). Tests outside tests/fakes/ can enable them with
`pytest_plugins = ["tests.fakes.fixtures"]` in the root conftest, or import the names they need.
"""
from tests.fakes.greenapi import fake_greenapi
from tests.fakes.meta import fake_meta
from tests.fakes.perfectpanel import fake_perfectpanel
from tests.fakes.razorpay import fake_razorpay
from tests.fakes.rentalpanel import fake_rentalpanel
from tests.fakes.smmapi import fake_smmapi
from tests.fakes.stripe import fake_stripe
from tests.fakes.telegram import fake_telegram

__all__ = ["fake_greenapi", "fake_meta", "fake_perfectpanel", "fake_razorpay", "fake_rentalpanel",
           "fake_smmapi", "fake_stripe", "fake_telegram"]
