"""The panel surge benchmark runs (a small variant): the real app, workers and fakes, the panel's
rate kept, every command answered, every customer told within 2 s."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_panel_surge_smoke_variant_meets_its_targets():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "panel_surge.py"), "--customers", "3",
         "--per-customer", "2", "--seconds", "2", "--time-limit", "300"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=360)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = {line.split("  ")[0].strip(): line for line in output.splitlines()}
    assert "12/12" in lines["commands answered"], output
    assert "PASS" in lines["panel calls, most in any 1 s window"], output
