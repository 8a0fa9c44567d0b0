"""A broadcast survives a worker killed mid-run (issue 14): the smoke variant of
bench/broadcast.py, run as a subprocess. Real processes: two RQ workers send 300 recipients
through a fake Green API that allows 50 messages a second (429 beyond); a first run goes
through untouched, then a second broadcast's workers are all killed with SIGKILL once a third
of its messages arrived, and two new workers finish it from the database state.

Asserted for both runs: no duplicate, every recipient has an outcome, and every recipient
received the message except, at most, those whose call was under way at the kill (recorded
failed, `interrupted`: never sent twice, never silently lost); a message the fake refused with
429 was sent again and arrived. The rate ratio and the count of 429s are the benchmark's to
report: "zero 429s" is an open target of issue 14 (pacing at 97 % leaves too little slack for
calls that leave late on a loaded machine; a CI run saw one 429 in 300 sends)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]


def test_worker_killed_mid_broadcast_no_duplicate_no_loss():
    server = make_url(BACKENDS.database_url).set(database="postgres")
    env = dict(os.environ, BENCH_POSTGRES_URL=server.render_as_string(hide_password=False),
               BENCH_BROADCAST_DB=f"relaydesk_test_broadcast_crash_{os.getpid()}")
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "broadcast.py"), "--smoke"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["run"] for r in lines] == ["plain", "worker_killed"], done.stdout + done.stderr
    for run in lines:
        assert run["duplicates"] == 0, run
        assert run["waiting"] == 0, run
        assert run["sent"] + run["failed"] == run["recipients"], run
        # only a message whose call was under way when the workers died (two workers, 16
        # calls each at most) is `interrupted`
        # (never sent again: it may have arrived); every other recipient received it once
        assert run["losses_unreported"] == 0, run
        assert run["failed"] == run["interrupted"] <= (32 if run["run"] == "worker_killed"
                                                         else 0), run
        assert run["losses"] <= run["interrupted"], run
