"""Problems found in a workspace file, and the error that carries them to the command line."""
from __future__ import annotations

from dataclasses import dataclass

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`("channels", 1, "kind")` → `channels[1].kind`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, at a field path (`()` is the whole file).

    `line` is set for problems found before there is a tree to walk (YAML syntax errors);
    otherwise `locate.place` works it out from the path. `see` names a second place worth
    reading (the first of two duplicates). Messages never quote secret values.
    """

    path: Path
    message: str
    line: int | None = None
    see: Path | None = None


@dataclass(frozen=True)
class LocatedProblem:
    filename: str
    line: int
    path: Path
    message: str

    def __str__(self) -> str:
        where = format_path(self.path)
        return f"{self.filename}:{self.line}: {where}: {self.message}" if where \
            else f"{self.filename}:{self.line}: {self.message}"


class WorkspaceFileInvalid(Exception):
    """The file was rejected whole; nothing was written."""

    def __init__(self, problems: list[LocatedProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
