"""The trace in the reader's language, old rows included, HTML-escaped (app/views/trace.py)."""
from __future__ import annotations

import re

from flask_babel import force_locale

from app.views.trace import sentence, trace_steps

RULE = {"step": "rule", "ms": 3.0, "order": "2274211", "action": "refill", "status": "Pending",
        "service": "TikTok <b>Views</b>", "terms": "none", "verdict": "refill_not_covered",
        "detail": {"refill_kind": "none"}}


def test_steps_in_english_and_russian(app):
    with app.test_request_context("/"):
        assert sentence(RULE) == ("Order 2274211 (refill): status “Pending”, service “TikTok "
                                  "<b>Views</b>”. Decision: refused — The service of this "
                                  "order has no refill: 2274211")
        with force_locale("ru"):
            text = sentence(RULE)
            assert text.startswith("Заказ 2274211 (докрутка)")
            assert "У услуги 1 заказа нет докрутки: 2274211" in text
            assert sentence({"step": "done", "outcome": "refused"}) == \
                "Готово: отказано, с причиной."


def test_preview_and_real_cooldowns_say_different_things(app):
    real = {"step": "cooldown", "order": "1", "action": "refill", "claimed": True,
            "seconds": 86400}
    with app.test_request_context("/"):
        assert "starts now" in sentence(real)
        assert "the preview starts nothing" in sentence(real, preview=True)
        assert "the preview starts nothing" in sentence(
            {"step": "cooldown", "order": "1", "action": "refill", "would_claim": True,
             "seconds": 60})
        held = sentence({"step": "cooldown", "order": "1", "action": "refill",
                         "claimed": False, "seconds_left": 7200})
        assert "asked again in 2h" in held


def test_the_list_is_numbered_escaped_and_folded(app):
    with app.test_request_context("/"):
        html = str(trace_steps([RULE, {"step": "from_an_old_version", "x": 1}, "garbage"]))
    assert html.startswith("<ol class='rd-trace'>") and html.count("<li") == 3
    assert "<b>Views</b>" not in html and "&lt;b&gt;Views&lt;/b&gt;" in html
    assert html.count("<details class='rd-trace-detail'>") == 3 and " open" not in html
    texts = re.findall(r"<span class='rd-trace-text'>(.*?)</span>", html)
    assert texts[1] == "Step “from_an_old_version”." and texts[2] == "Step “garbage”."
    assert not any("=" in t for t in texts)


def test_old_rows_of_any_shape_render(app):
    with app.test_request_context("/"):
        for steps in (None, [], {"not": "a list"}, [{"step": "rule"}], [{"ms": 1}],
                      [{"step": "rule", "detail": "text", "verdict": None}],
                      [{"step": "panel_fetch", "missing": None, "found": None}]):
            trace_steps(steps)  # never raises
