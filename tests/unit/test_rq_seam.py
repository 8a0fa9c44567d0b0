"""One module of `app/` talks to RQ: `app/jobs/queues.py` (queue creation and every enqueue);
`app/jobs/worker.py`, the worker process, runs the workers. No other module imports `rq`
(`import rq…`, `from rq… import …`, `import_module("rq…")`, deferred imports inside functions
included) or reads the queues (`app.extensions["relaydesk_queues"]`): they call the functions
of app/jobs/queues.py."""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
ALLOWED = {APP / "jobs" / "queues.py", APP / "jobs" / "worker.py"}
QUEUES_KEY = "relaydesk_queues"


def _is_rq(module: str | None) -> bool:
    return module is not None and (module == "rq" or module.startswith("rq."))


def rq_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every import of rq and every mention of the queues' extension key."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _is_rq(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _is_rq(node.module):
                found.append((node.lineno, f"from {node.module} import …"))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str) and _is_rq(first.value):
                found.append((node.lineno, f"{name}({first.value!r})"))
        elif isinstance(node, ast.Constant) and node.value == QUEUES_KEY:
            found.append((node.lineno, repr(QUEUES_KEY)))
    return found


def test_the_check_sees_rq():
    seam = ast.parse((APP / "jobs" / "queues.py").read_text())
    assert any("rq" in what for _line, what in rq_uses(seam))
    assert any(QUEUES_KEY in what for _line, what in rq_uses(seam))
    sample = ast.parse("def f():\n    from rq.job import Job\n    import rq\n"
                       "    importlib.import_module('rq.utils')\n"
                       "    return app.extensions['relaydesk_queues']\n")
    assert [line for line, _what in rq_uses(sample)] == [2, 3, 4, 5]
    assert rq_uses(ast.parse("from app.jobs import queues\nimport rqlite\n")) == []


def test_only_the_queues_module_and_the_worker_talk_to_rq():
    report = []
    for path in sorted(APP.rglob("*.py")):
        if path in ALLOWED:
            continue
        for line, what in rq_uses(ast.parse(path.read_text(), str(path))):
            report.append(f"{path.relative_to(APP.parent)}:{line}: {what}")
    assert not report, ("use app/jobs/queues.py instead of RQ here:\n" + "\n".join(report))
