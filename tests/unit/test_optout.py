"""Opt-out keywords (app/domain/optout.py): the whole message, any shipped language."""
from __future__ import annotations

import pytest

from app.config import LANGUAGES
from app.domain.optout import START_WORDS, STOP_WORDS, opt_keyword


@pytest.mark.parametrize("text", ["stop", "STOP", " Stop! ", "parar", "СТОП", "dur.",
                                  "DURDUR", "berhenti", "توقف", "إيقاف", "unsubscribe"])
def test_stop_words(text):
    assert opt_keyword(text) == "stop"


@pytest.mark.parametrize("text", ["start", "START", "başla", "BAŞLA", "mulai", "старт",
                                  "ابدأ", "iniciar"])
def test_start_words(text):
    assert opt_keyword(text) == "start"


@pytest.mark.parametrize("text", ["", None, "stop refill 2274209", "please stop", "/start",
                                  "cancelar", "iptal", "2274209 stop", "stopp", "s t o p",
                                  "stop" * 20])
def test_anything_else_is_not_a_keyword(text):
    assert opt_keyword(text) is None


def test_every_shipped_language_has_both_lists():
    assert set(STOP_WORDS) == set(START_WORDS) == set(LANGUAGES)
