"""Contact import benchmark (issue 16): a 100,000-row CSV with a mapping and duplicates.

    .venv/bin/python bench/contacts_import.py              # 100,000 rows, duplicates "update"
    .venv/bin/python bench/contacts_import.py --rows 5000  # a quick run
    .venv/bin/python bench/contacts_import.py --mode skip

What it sets up, and removes again at the end: a fresh PostgreSQL database
`relaydesk_bench_contacts` (migrated with `flask db upgrade`) and a private `redis-server`
(bench/pipeline.py's Stack). In a child process with the app: one workspace on no plan (no
limit) holding `--existing` contacts (default 10 % of the rows), whose phones appear again in
the file; the file (`Full name;Phone;E-mail;Tags;Unsubscribed;City;Note`, semicolons, UTF-8):
every row a new contact but 10 % of the existing contacts' phones, 5 % repeating an earlier
row of the file (phone written another way), 1 % with a bad phone or email.

Measured, in the same run and the same process:
* baseline: the raw CSV parse alone (Python's csv module over the decoded file) → rows/s;
* the import: the product's own path (`contact_import.create` stores the file in Redis,
  `start` records the mapping, `run_import` — the RQ job's function — runs in this process):
  seconds, rows/s, and the peak resident memory of the process during the import minus
  before it (`resource.getrusage`; tracemalloc would slow the code it measures).

Ends with one JSON line {"rows", "mode", "baseline_parse_s", "baseline_rows_per_s",
"import_s", "import_rows_per_s", "created", "updated", "skipped", "failed", "rss_before_mb",
"rss_peak_mb", "rss_growth_mb", "target_s", "met"}. Exit status: 0 the import took less than
`--target` seconds (60), 1 it did not, 2 the run itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pipeline  # noqa: E402 - bench/ is on sys.path: the stack helpers

VENV_BIN = pipeline.VENV_BIN
pipeline.DB_NAME = os.environ.get("BENCH_CONTACTS_DB", "relaydesk_bench_contacts")
say = pipeline.say
HEADERS = ["Full name", "Phone", "E-mail", "Tags", "Unsubscribed", "City", "Note"]
MAPPING = ["name", "phone", "email", "tags", "opted_out", "custom:city", "ignore"]


def make_file(rows: int, existing: int, seed: int = 16) -> tuple[bytes, list[str]]:
    """The CSV and the phones of the contacts that exist before the import."""
    rng = random.Random(seed)
    old_phones = [f"7910{n:07d}" for n in range(existing)]
    lines = [";".join(HEADERS)]
    written: list[str] = []
    for n in range(rows):
        roll = rng.random()
        if roll < 0.10 and old_phones:
            phone = rng.choice(old_phones)
        elif roll < 0.15 and written:
            earlier = rng.choice(written)
            phone = f"+{earlier[0]} ({earlier[1:4]}) {earlier[4:7]}-{earlier[7:]}"
        else:
            phone = f"7920{n:07d}"
        written.append(phone if phone.isdigit() else "".join(c for c in phone if c.isdigit()))
        email = f"person{n}@example.com"
        if rng.random() < 0.01:
            phone = "call me"
        elif rng.random() < 0.01:
            email = "not-an-email"
        lines.append(";".join([f"Person {n}", phone, email, rng.choice(["", "lead", "vip, es"]),
                               rng.choice(["", "no", "yes"]), rng.choice(["Madrid", "Kazan"]),
                               "ignored text"]))
    return ("\n".join(lines) + "\n").encode(), old_phones


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def measure(spec_path: str) -> None:
    """In a child process with the app: seed, baseline, import; prints the JSON figures."""
    import csv
    import io

    from app import contact_import, create_app
    from app.extensions import db
    from app.models import LinkedUser
    from tests.factories import Factory

    spec = json.loads(Path(spec_path).read_text())
    app = create_app()
    with app.app_context(), app.test_request_context():
        make = Factory(app)
        workspace = make.workspace("bench", name="Bench contacts")
        data, old_phones = make_file(spec["rows"], spec["existing"])
        db.session.execute(LinkedUser.__table__.insert(), [
            {"workspace_id": workspace.id, "name": f"Old {n}", "phone": phone,
             "custom_fields": {}, "language": "en", "opted_out": False, "source": "manual"}
            for n, phone in enumerate(old_phones)])
        db.session.commit()

        started = time.perf_counter()
        parsed = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8-sig")),
                                           delimiter=";")) - 1
        baseline = time.perf_counter() - started

        before = rss_mb()
        started = time.perf_counter()
        kind, headers, _samples = contact_import.read_upload("bench.csv", data)
        token = contact_import.create(workspace.id, None, "bench.csv", kind, data, headers)
        contact_import.start(token, MAPPING, spec["mode"])
        counts = contact_import.run_import(token)
        elapsed = time.perf_counter() - started
        peak = rss_mb()
        info = contact_import.load(token, None)
        assert info["state"] == "done", info
        print(json.dumps({
            "rows": parsed, "mode": spec["mode"], "baseline_parse_s": round(baseline, 3),
            "baseline_rows_per_s": round(parsed / baseline),
            "import_s": round(elapsed, 2), "import_rows_per_s": round(parsed / elapsed),
            **{k: counts[k] for k in ("created", "updated", "skipped", "failed")},
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1),
            "rss_growth_mb": round(peak - before, 1)}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=None,
                        help="contacts before the import (default: 10 %% of the rows)")
    parser.add_argument("--mode", choices=("skip", "update", "create"), default="update")
    parser.add_argument("--target", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.measure)
        return 0
    stack = pipeline.Stack(keep=args.keep)
    try:
        stack.create_database()
        stack.create_redis(None)
        env = stack.app_env()
        say(f"database: {stack.database_kind}; redis: {stack.redis_kind}")
        stack.run_step("migrate", [str(VENV_BIN / "flask"), "--app", "run", "db", "upgrade"],
                       timeout=300)
        spec = stack.tmp / "spec.json"
        spec.write_text(json.dumps({"rows": args.rows, "mode": args.mode,
                                    "existing": args.existing if args.existing is not None
                                    else args.rows // 10}))
        done = subprocess.run([sys.executable, __file__, "--measure", str(spec)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=1200,
                              check=False)
        if done.returncode != 0:
            say(f"the measuring process failed:\n{done.stderr[-4000:]}")
            return 2
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001
        say(f"the run failed: {type(exc).__name__}: {exc}")
        return 2
    finally:
        stack.close()
    figures["target_s"] = args.target
    figures["met"] = figures["import_s"] < args.target
    say(json.dumps(figures))
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
