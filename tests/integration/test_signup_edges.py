"""Sign-up with values at the edges of what the login table holds: refused beside the field,
never a 500."""
from __future__ import annotations

import pytest

from tests.integration.signup_support import field_errors, signup_data

pytestmark = pytest.mark.usefixtures("redis_conn")


def test_an_address_longer_than_a_login_name_is_refused_beside_the_field(app, client):
    email = "a" * 60 + "@" + ("b" * 60 + ".") * 2 + "example.org"  # 196 characters, valid
    assert 128 < len(email) <= 254
    response = client.post("/signup/", data=signup_data(email=email))
    html = response.get_data(as_text=True)
    assert response.status_code == 200, response.status_code
    assert field_errors(html, "email"), "no error beside the e-mail field"
    with app.app_context():
        assert app.appbuilder.sm.find_user(email=email) is None


def test_right_to_left_and_markup_names_are_kept_as_text(app, client):
    response = client.post("/signup/", data=signup_data(
        full_name="<script>alert(1)</script> \u202eأحمد", workspace_name="<b>متجر</b>",
        email="rtl@example.org"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<script>alert(1)" not in html
