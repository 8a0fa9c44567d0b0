"""Reading the YAML text and pointing at lines in it.

The file is parsed once with PyYAML's safe loader into a node tree (which keeps the line of every
key and item) and the plain data built from that tree. A problem found at a field path such as
`("channels", 1, "api_token")` is placed on the line of that key; when the key is missing, on the
line of the nearest thing that is there (the channel entry itself).
"""
from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.workspace_file.errors import LocatedProblem, Path, Problem, WorkspaceFileInvalid


def parse(text: str, filename: str) -> tuple[object, Node | None]:
    """The data and the node tree of a YAML document.

    :raise WorkspaceFileInvalid: on a syntax error, or a key given twice in one mapping (PyYAML
        would silently keep the last one).
    """
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        raise WorkspaceFileInvalid([_syntax_problem(exc, filename)]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        problem = LocatedProblem(filename, line, (), f"YAML syntax error: {exc.reason} "
                                                     f"(character #x{exc.character:04x})")
        raise WorkspaceFileInvalid([problem]) from None
    finally:
        if loader is not None:
            loader.dispose()
    duplicates = [place(p, root, filename) for p in duplicate_keys(root)]
    if duplicates:
        raise WorkspaceFileInvalid(duplicates)
    return data, root


def _syntax_problem(exc: yaml.MarkedYAMLError, filename: str) -> LocatedProblem:
    # Only the problem and its context: PyYAML's full text quotes the offending line, which may
    # hold a secret.
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    words = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        started = exc.context_mark.line + 1 if exc.context_mark is not None else line
        words += f" ({exc.context}" + (f" started on line {started})" if started != line
                                        else ")")
    return LocatedProblem(filename, line, (), f"YAML syntax error: {words}")


def duplicate_keys(root: Node | None) -> list[Problem]:
    """A Problem for every key that appears a second time in the same mapping."""
    problems: list[Problem] = []
    seen_nodes: set[int] = set()

    def walk(node: Node, path: Path) -> None:
        if id(node) in seen_nodes:  # anchors and aliases share nodes
            return
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if key.value in first_line:
                    problems.append(Problem(
                        path + (key.value,),
                        f"Key given twice (first on line {first_line[key.value]}).",
                        line=key.start_mark.line + 1))
                else:
                    first_line[key.value] = key.start_mark.line + 1
                walk(value, path + (key.value,))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return problems


def line_of(root: Node | None, path: Path) -> int:
    """The line of the key (or list item) at `path`, or of the nearest existing parent."""
    if root is None:
        return 1
    node: Node = root
    line = root.start_mark.line + 1
    for part in path:
        if isinstance(node, MappingNode):
            match = None
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == str(part):
                    match = (key, value)  # the last one wins, as when loading
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def place(problem: Problem, root: Node | None, filename: str) -> LocatedProblem:
    line = problem.line if problem.line is not None else line_of(root, problem.path)
    message = problem.message
    if problem.see is not None:
        message = f"{message} (see line {line_of(root, problem.see)})"
    return LocatedProblem(filename, line, problem.path, message)


def place_all(problems: list[Problem], root: Node | None, filename: str) -> list[LocatedProblem]:
    located = [place(p, root, filename) for p in problems]
    return sorted(located, key=lambda p: p.line)
