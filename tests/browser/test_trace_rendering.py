"""The command trace as a person reads it (issue 11, "readable"): numbered plain-language steps,
technical detail folded in a <details> element, no code dumps, and in the Playground (which
stores nothing) no `claimed=True`. Checked on the Commands log's show page, with a stored row
that mixes today's steps and steps of an older shape, and in the Playground; no page may log a
JavaScript error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import CommandLog, InboundEvent
from app.models.base import utcnow
from tests.factories import password_for
from tests.browser.support import sign_in
from tests.integration.test_playground import demo_manager

pytestmark = pytest.mark.browser

CUSTOMER = "79001234567@c.us"  # demo_customer's chat in the demo workspace

# A stored trace as the pipeline writes it, plus what older versions wrote: a step this version
# does not know and a rule step with facts in another shape.
STORED_TRACE = [
    {"step": "parse", "ms": 0.4, "commands": "refill 2274211"},
    {"step": "identity", "ms": 1.2, "linked_user": "demo_customer", "language": "en"},
    {"step": "panel_fetch", "ms": 40.5, "engine": "demo", "calls": 1, "found": 1,
     "fetch_ms": 38.0},
    {"step": "rule", "ms": 41.0, "order": "2274211", "action": "refill", "status": "Pending",
     "service": "TikTok Views [No Refill]", "terms": "none", "verdict": "refill_not_covered",
     "detail": {"refill_kind": "none"}},
    {"step": "legacy_check", "ms": 41.2, "claimed": True, "note": "written by an old version"},
    {"step": "rule", "verdict": "refill_window_ended", "order": 7},
    {"step": "reply", "ms": 42.0, "language": "en", "outbound": 1},
    {"step": "done", "ms": 42.1, "outcome": "refused"},
]


class Problems:
    """JavaScript errors a page logs."""

    def __init__(self, page) -> None:
        self.found: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.found.append(f"uncaught error: {exc}"))

    def _console(self, message) -> None:
        url = (message.location or {}).get("url", "")
        # the browser's own favicon request is the frame's business, not a page error
        if message.type == "error" and not url.endswith("/favicon.ico"):
            self.found.append(f"console {message.type}: {message.text} ({url})")


@pytest.fixture
def demo(factory):
    workspace, channel = demo_manager(factory)
    event = InboundEvent(workspace_id=workspace.id, channel_id=channel.id, platform="greenapi",
                         kind="message", type="textMessage", dedupe_key="trace-test",
                         chat_id=CUSTOMER, sender=CUSTOMER, is_group=False,
                         text="2274211 refill", payload={}, received_at=utcnow(), attempts=1)
    db.session.add(event)
    db.session.flush()
    log = CommandLog(workspace_id=workspace.id, inbound_event_id=event.id,
                     channel_id=channel.id, chat_id=CUSTOMER, text="2274211 refill",
                     state="done", outcome="refused", trace=STORED_TRACE)
    db.session.add(log)
    db.session.commit()
    return channel, log.id


def steps_of(page, scope: str):
    return page.locator(f"{scope} ol.rd-trace > li")


def assert_readable(page, scope: str, count: int | None = None) -> list[str]:
    items = steps_of(page, scope)
    if count is not None:
        assert items.count() == count
    assert items.count() >= 3
    # numbered: an ordered list, shown with its numbers
    assert page.locator(f"{scope} ol.rd-trace").evaluate(
        "el => getComputedStyle(el).listStyleType") == "decimal"
    sentences = [t.strip() for t in page.locator(f"{scope} .rd-trace-text").all_inner_texts()]
    for text in sentences:
        assert text and not re.search(r"\w+=|\{'|\{\"|claimed", text), text
    # folded: every step's technical detail is closed and its content not shown
    details = page.locator(f"{scope} details.rd-trace-detail")
    assert details.count() == items.count()
    for k in range(details.count()):
        assert details.nth(k).get_attribute("open") is None
        assert not details.nth(k).locator("pre").is_visible()
    return sentences


def test_commands_show_page_reads_as_numbered_steps(new_page, demo, artifacts_dir):
    _channel, log_id = demo
    page = new_page()
    problems = Problems(page)
    sign_in(page, "demo-manager", password_for("demo-manager"))
    page.goto(f"/commandlogview/show/{log_id}")
    sentences = assert_readable(page, "", count=len(STORED_TRACE))

    assert sentences[0] == "Read the message: understood “refill 2274211”."
    assert "Decision: refused — The service of this order has no refill: 2274211" in \
        sentences[3]
    assert sentences[4] == "Step “legacy_check”."  # an old step still renders
    assert "The refill period of this order has ended: 7" in sentences[5]
    assert sentences[-1] == "Finished: refused, with the reason."
    body = page.locator("body").inner_text()
    assert "detail={" not in body and "refill_kind" not in body  # folded away

    # the detail is there for whoever opens it
    page.locator("details.rd-trace-detail summary").nth(3).click()
    assert page.locator("details.rd-trace-detail pre").nth(3).is_visible()
    assert "refill_kind" in page.locator("details.rd-trace-detail pre").nth(3).inner_text()
    page.screenshot(path=str(artifacts_dir / "trace-commands-show.png"), full_page=True)
    assert problems.found == []


def test_playground_preview_says_would_and_claims_nothing(new_page, demo, artifacts_dir):
    channel, _log_id = demo
    page = new_page()
    problems = Problems(page)
    sign_in(page, "demo-manager", password_for("demo-manager"))
    page.goto("/playground/")
    page.select_option("#playground-form select[name=channel_id]", str(channel.id))
    page.fill("#playground-form input[name=chat_id]", CUSTOMER)
    page.fill("#playground-form textarea[name=text]", "2274209 refill\n2274211 refill")
    page.locator("#playground-form button[type=submit]").click()
    page.wait_for_selector("#playground-result")

    sentences = assert_readable(page, "#playground-result")
    text = "\n".join(sentences)
    assert "the preview starts nothing" in text
    assert "Would send the request for 2274209" in text
    assert "Would reply to the chat" in text
    assert "The service of this order has no refill: 2274211" in text
    assert "claimed" not in page.locator("#playground-result").inner_text()
    # nothing in the preview's stored facts says it claimed anything either
    page.locator("#playground-result details.rd-trace-detail summary").first.click()
    assert "claimed" not in page.locator("#playground-result").inner_html().replace(
        "would_claim", "")
    assert page.locator("#playground-outcome").inner_text() == \
        "the request was passed on to the provider"
    page.screenshot(path=str(artifacts_dir / "trace-playground.png"), full_page=True)
    assert problems.found == []


@pytest.mark.parametrize(("code", "start"), [("ru", "Сообщение прочитано"),
                                             ("ar", "قُرئت الرسالة")])
def test_the_trace_speaks_the_reader_s_language(new_page, demo, artifacts_dir, code, start):
    _channel, log_id = demo
    page = new_page()
    problems = Problems(page)
    sign_in(page, "demo-manager", password_for("demo-manager"))
    page.goto(f"/lang/{code}")
    page.goto(f"/commandlogview/show/{log_id}")
    sentences = assert_readable(page, "", count=len(STORED_TRACE))
    assert sentences[0].startswith(start), sentences[0]
    assert "Technical detail" not in page.locator("ol.rd-trace").inner_text()
    page.screenshot(path=str(artifacts_dir / f"trace-commands-show-{code}.png"), full_page=True)
    assert problems.found == []
