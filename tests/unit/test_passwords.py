"""The password policy (app/auth/passwords.py): at least 10 characters, not a common password,
not the username. The paths that set passwords are tested in
tests/integration/test_password_policy_paths.py."""
from __future__ import annotations

import click
import pytest
from flask_babel.speaklater import LazyString

from app.auth.passwords import (MAX_LENGTH, MIN_LENGTH, PasswordPolicyError, check_password,
                                common_passwords, generate_password, password_problems)


def problems(password, username=None) -> list[str]:
    return [str(p) for p in password_problems(password, username)]


TOO_SHORT = "Use at least 10 characters."
TOO_COMMON = "This password is too common: choose one that others are unlikely to use."
HAS_USERNAME = "The password may not contain the username."


def test_the_common_list_is_a_real_one():
    common = common_passwords()
    assert len(common) >= 25_000
    assert {"password", "123456", "qwertyuiop", "1q2w3e4r5t", "letmein"} <= common


@pytest.mark.parametrize("password", ["", None])
def test_a_password_is_required(password):
    assert problems(password) == ["Enter a password."]


@pytest.mark.parametrize("password, expected", [
    ("1", [TOO_SHORT, TOO_COMMON]),                 # the finding: any password was accepted
    ("Xk3!vB9q", [TOO_SHORT]),
    ("Xk3!vB9q-w", []),                             # exactly MIN_LENGTH
    ("x" * 3 + "Yz9!" * 40, ["Use at most 128 characters."]),
    ("qwertyuiop", [TOO_COMMON]),                   # on the list as it is
    ("QwertyUIOP", [TOO_COMMON]),                   # any case
    ("1q2w3e4r5t", [TOO_COMMON]),
    ("Password2024!", [TOO_COMMON]),                # a common one with digits around it
    ("!!sunshine1234", [TOO_COMMON]),
    ("aaaaaaaaaaaa", [TOO_COMMON]),                 # fewer than four different characters
    ("1212121212", [TOO_COMMON]),
    ("Dragon-2024-Fire", []),                       # common words inside a longer one are fine
    ("correct horse battery staple", []),
])
def test_length_and_common_passwords(password, expected):
    assert problems(password, "someone") == expected


@pytest.mark.parametrize("password, username, refused", [
    ("acme-manager", "acme-manager", True),
    ("Acme-Manager-2024x", "acme-manager", True),   # contains it, any case
    ("my ROOT password 7", "root", True),
    ("Qz-1234567-Vk!", "al", False),                # a 1-2 character name only as the whole
    ("al", "al", True),
    ("Vastly-different-99", "root", False),
    ("Vastly-different-99", None, False),
])
def test_not_the_username(password, username, refused):
    assert (HAS_USERNAME in problems(password, username)) is refused


def test_problems_are_translatable_and_the_error_is_a_click_error():
    assert all(isinstance(p, LazyString) for p in password_problems("1", "x"))
    with pytest.raises(PasswordPolicyError) as caught:
        check_password("1", "x", subject="ADMIN_PASSWORD is refused")
    error = caught.value
    assert isinstance(error, click.ClickException)  # `flask …` prints it and exits 1
    assert error.exit_code == 1
    assert error.format_message() == f"ADMIN_PASSWORD is refused: {TOO_SHORT} {TOO_COMMON}"
    check_password("Vastly-different-99", "root")  # no error


def test_generated_passwords_pass():
    for username in ("admin", "demo-manager", "a"):
        generated = {generate_password(username) for _ in range(50)}
        assert len(generated) == 50
        assert all(MIN_LENGTH <= len(p) <= MAX_LENGTH for p in generated)
        assert not [p for p in generated if password_problems(p, username)]
