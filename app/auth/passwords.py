"""The password policy: one function for every path that sets a password.

A password is refused when it is shorter than MIN_LENGTH or longer than MAX_LENGTH characters,
when it is a common password (zxcvbn's list of the 30,000 most used passwords, compared without
regard to case, also once digits and punctuation around it are taken away: `Password2024!`), when
it is made of fewer than four different characters (`aaaaaaaaaa`, `1212121212`), or when it is
or contains the username (case-insensitive; usernames of one or two characters are only refused
as the whole password).

Screens, the REST API, the workspace file, `flask init`, FAB's own commands and the invitations
all call `password_problems` or `check_password`; `generate_password` makes passwords that pass.
"""
from __future__ import annotations

import secrets
import string
from functools import lru_cache

import click
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_DISTINCT_CHARACTERS = 4
# A common word wrapped in digits or punctuation (`!!dragon2024`) is still that word.
_WRAPPING = string.digits + string.punctuation + string.whitespace
_MIN_CORE = 4


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """zxcvbn's frequency list of leaked passwords (30,000 entries, lower case)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    lowered = password.casefold()
    common = common_passwords()
    if lowered in common or len(set(lowered)) < MIN_DISTINCT_CHARACTERS:
        return True
    core = lowered.strip(_WRAPPING)
    return len(core) >= _MIN_CORE and core in common


def password_problems(password: str | None, username: str | None = None) -> list:
    """What is wrong with `password` for the login `username`; empty when it may be used.

    The problems are lazy translatable strings (str() gives them in the current language).
    """
    if not password:
        return [_l("Enter a password.")]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_l("Use at least %(count)d characters.", count=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_l("Use at most %(count)d characters.", count=MAX_LENGTH))
    if is_common(password):
        problems.append(_l("This password is too common: choose one that others are unlikely "
                           "to use."))
    name = (username or "").strip().casefold()
    lowered = password.casefold()
    if name and (lowered == name or (len(name) >= 3 and name in lowered)):
        problems.append(_l("The password may not contain the username."))
    return problems


class PasswordPolicyError(click.ClickException):
    """A password the policy refuses. A ClickException, so that any command that sets a password
    (ours or FAB's `fab create-user`, `create-admin`, `reset-password`) prints the problems and
    exits with status 1 instead of a traceback."""

    def __init__(self, problems: list, subject: str | None = None):
        self.problems = list(problems)
        text = " ".join(str(problem) for problem in self.problems)
        super().__init__(f"{subject}: {text}" if subject else text)


def check_password(password: str | None, username: str | None = None,
                   subject: str | None = None) -> None:
    """:raise PasswordPolicyError: if the policy refuses `password` for `username`."""
    problems = password_problems(password, username)
    if problems:
        raise PasswordPolicyError(problems, subject)


def generate_password(username: str | None = None) -> str:
    """A random password (16 URL-safe characters) that passes the policy for `username`."""
    while True:
        password = secrets.token_urlsafe(12)
        if not password_problems(password, username):
            return password


def fab_password_complexity(password: str) -> None:
    """FAB_PASSWORD_COMPLEXITY_VALIDATOR: the policy (without the username rule, which FAB's
    validator cannot know) for any FAB password form that Relaydesk does not replace.

    :raise PasswordComplexityValidationError: with the problems as its message.
    """
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    problems = password_problems(password)
    if problems:
        raise PasswordComplexityValidationError(" ".join(str(p) for p in problems))
