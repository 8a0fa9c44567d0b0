"""Every step the pipeline can write has a plain-language sentence (app/views/trace.py)."""
import re
from pathlib import Path

from app.domain.parser import STANDALONE_ACTIONS
from app.views.trace import SENTENCES

ROOT = Path(__file__).resolve().parents[2]
# `run.step("name", …)` in the pipeline, `step("name", …)` in app/domain/decide.py
STEP_CALL = re.compile(r"(?<![\w])(?:\w+\.)?step\(\s*\"(\w+)\"")


def test_every_step_written_anywhere_has_a_sentence():
    written = set()
    for path in (ROOT / "app").rglob("*.py"):
        written |= set(STEP_CALL.findall(path.read_text()))
    # `self.step(action, …)` for the standalone commands
    written |= set(STANDALONE_ACTIONS) | {"custom"}
    assert len(written) >= 20, written
    assert written - set(SENTENCES) == set(), "describe these steps in app/views/trace.py"
