"""No import cycles in `app/`: a module never depends, directly or through others, on a module
that depends on it.

Every import statement counts, the ones inside functions too (a deferred import hides a cycle
from the interpreter, not from the reader who has to hold both modules in mind). The edges:

* `import a.b.c` and `from a.b.c import name` depend on `a.b.c`;
* `from a.b import c`, where `a.b.c` is a module, depends on `a.b.c` (the submodule), not on the
  package `a.b` — the package's `__init__` re-exporting its submodules is not a cycle.
* relative imports are resolved against the importing module's package.

A failure lists every cycle (its strongly connected modules) and the import lines that close it.
"""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], list[int]]]:
    files = {module_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    lines: dict[tuple[str, str], list[int]] = {}

    def depend(source: str, target: str, line: int) -> None:
        if target in files and target != source:
            graph[source].add(target)
            lines.setdefault((source, target), []).append(line)

    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    depend(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                submodules = [f"{origin}.{a.name}" for a in node.names
                              if f"{origin}.{a.name}" in files]
                for submodule in submodules:
                    depend(name, submodule, node.lineno)
                if len(submodules) < len(node.names):
                    depend(name, origin, node.lineno)
    return graph, lines


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_the_imports():
    graph, _lines = import_graph()
    assert "app.jobs.pipeline" in graph["app.jobs.events"] or \
        any("app.jobs" in target for target in graph["app.jobs.events"])
    assert "app.domain.parser" in graph["app.jobs.pipeline"]
    assert sum(len(targets) for targets in graph.values()) > 300


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_app_has_no_import_cycles():
    graph, lines = import_graph()
    report = []
    for component in cycles(graph):
        members = set(component)
        report.append(" ↔ ".join(component))
        for source in component:
            for target in sorted(graph[source] & members):
                where = ", ".join(map(str, lines[(source, target)]))
                report.append(f"    {source} → {target} (line {where})")
    assert not report, "import cycles in app/:\n" + "\n".join(report)
