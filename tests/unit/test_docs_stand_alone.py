"""The project's docs stand alone: nothing in the repository points at design files outside it,
and every reference into `docs/` names a section that exists.

* No file tracked by git mentions the design documents the project started from (their names,
  the `CONVENTIONS` pitfall list, a `../shared` or `shared/docs` path). What the code relies on
  is written in `docs/contracts.md`, `docs/external-apis.md` and `docs/ARCHITECTURE.md`. The
  payload folders' SOURCES.md files name the collection their bodies were copied from
  (`shared/data/payloads/…`) and the upstream URLs: provenance of data kept in the repository,
  which these patterns do not match.
* `docs/<file>.md "Section"` names a heading of that file (its text, or the text before or
  inside a trailing parenthesis: "Contracts" for "Contracts", "FAB pitfalls" for "Flask-AppBuilder
  pitfalls we guard against (FAB pitfalls)"), or the bold label a paragraph starts with.
* `docs/external-apis.md N` (also `section N`, `§N`, `N-M`) names a numbered section of it.
* `FAB pitfall N` (also `FAB pitfalls 2 and 3`, `"FAB pitfalls" N`) names an item of the FAB
  pitfalls list in docs/ARCHITECTURE.md.

A failure lists every finding as `path:line: what`, so it can be fixed from the message alone.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Names of the design files outside the repository, and paths into the folder that holds them.
OUTSIDE = re.compile(r"\bDESIGN\b|EXTERNAL_APIS|\bCONVENTIONS\b|\.\./shared|shared/docs")

SECTION_REF = re.compile(r'\b(docs/[\w./-]+\.md)`?\s+\\?"([^"\\\n]+)\\?"')
EXTERNAL_REF = re.compile(
    r"\bdocs/external-apis\.md`?,?\s+(?:sections?\s+|§\s*)?"
    r"(\d+(?:\.\d+)?)(?:\s*(?:-|–|to|and)\s*(\d+(?:\.\d+)?))?")
PITFALL_REF = re.compile(r'\bFAB pitfalls?"?\s+(\d+(?:(?:\s*,\s*|\s+and\s+)\d+)*)')
NUMBERED_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# A paragraph or list item that starts with a bold label is a section too ("**Edited messages**").
RUN_IN_HEADING = re.compile(r"^(?:[-*]\s+)?\*\*([^*\n]+?)[.:]?\*\*", re.MULTILINE)
PITFALLS_HEADING = "FAB pitfalls"


def tracked_files() -> list[str]:
    """The files git tracks (the tree, skipping virtualenvs and caches, where git is missing)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
        return sorted(name for name in out.decode().split("\0") if name)
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "venv", "node_modules", "instance", "__pycache__"}
        found = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".pytest")]
            found += [(Path(folder) / f).relative_to(ROOT).as_posix() for f in files]
        return sorted(found)


def text_of(name: str) -> str | None:
    """A tracked file's text, or None for a binary file (or a symlink to a folder)."""
    path = ROOT / name
    if not path.is_file():
        return None
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def texts() -> dict[str, str]:
    found = {}
    for name in tracked_files():
        if name == THIS_FILE:
            continue
        text = text_of(name)
        if text is not None:
            found[name] = text
    return found


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def heading_names(markdown: str) -> set[str]:
    """Every name a heading answers to: its text, the text before a trailing parenthesis, and
    what that parenthesis holds (markdown backticks dropped); and the bold run-in labels."""
    names = set()
    for match in HEADING.finditer(markdown):
        heading = match.group(1).replace("`", "").strip()
        heading = re.sub(r"^\d+(?:\.\d+)*\.?\s+", "", heading)  # "1.2 Perfect Panel …"
        names.add(heading)
        inner = re.match(r"^(.*?)\s*\(([^()]*)\)$", heading)
        if inner:
            names.update({inner.group(1).strip(), inner.group(2).strip()})
    names.update(m.group(1).replace("`", "").strip() for m in RUN_IN_HEADING.finditer(markdown))
    return names


def section_numbers(markdown: str) -> set[str]:
    return {match.group(1) for match in NUMBERED_HEADING.finditer(markdown)}


def pitfall_numbers(architecture: str) -> set[str]:
    """The item numbers of the FAB pitfalls section of docs/ARCHITECTURE.md."""
    start = next((m for m in HEADING.finditer(architecture)
                  if PITFALLS_HEADING in m.group(1)), None)
    if start is None:
        return set()
    rest = architecture[start.end():]
    end = re.search(r"^#{1,2}\s", rest, re.MULTILINE)
    section = rest[:end.start()] if end else rest
    return set(re.findall(r"^(\d+)\.\s", section, re.MULTILINE))


def read_doc(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_the_section_readers_find_the_sections():
    """The other tests only mean something if these readers see the docs' sections."""
    contracts = heading_names(read_doc("docs/contracts.md"))
    assert {"Tenancy", "Persist first, then process", "Webhook endpoints", "Workspace file",
            "Command grammar", "Public API", "Contracts"} <= contracts
    assert {"1", "1.1", "1.2", "1.5", "2", "3", "4", "7"} <= section_numbers(
        read_doc("docs/external-apis.md"))
    architecture = read_doc("docs/ARCHITECTURE.md")
    assert PITFALLS_HEADING in heading_names(architecture)
    assert pitfall_numbers(architecture) == {str(n) for n in range(1, 14)}


def test_nothing_points_at_design_files_outside_the_repository():
    findings = []
    for name, text in texts().items():
        for match in OUTSIDE.finditer(text):
            line = text.splitlines()[line_of(text, match.start()) - 1].strip()
            findings.append(f"{name}:{line_of(text, match.start())}: {match.group(0)!r} in "
                            f"{line[:160]!r}")
    assert not findings, (
        "References to design files outside the repository (point at docs/contracts.md, "
        "docs/external-apis.md or the FAB pitfalls of docs/ARCHITECTURE.md instead):\n"
        + "\n".join(findings))


def test_references_into_docs_name_existing_sections():
    docs: dict[str, str] = {}

    def doc(name: str) -> str | None:
        if name not in docs:
            path = ROOT / name
            docs[name] = path.read_text(encoding="utf-8") if path.is_file() else None
        return docs[name]

    external = section_numbers(read_doc("docs/external-apis.md"))
    pitfalls = pitfall_numbers(read_doc("docs/ARCHITECTURE.md"))
    findings = []
    for name, text in texts().items():
        for match in SECTION_REF.finditer(text):
            target, section = match.group(1), match.group(2).strip()
            where = f"{name}:{line_of(text, match.start())}"
            markdown = doc(target)
            if markdown is None:
                findings.append(f"{where}: {target} does not exist")
            elif section not in heading_names(markdown):
                findings.append(f"{where}: {target} has no section {section!r}")
        for match in EXTERNAL_REF.finditer(text):
            for number in filter(None, match.groups()):
                if number not in external:
                    findings.append(f"{name}:{line_of(text, match.start())}: "
                                    f"docs/external-apis.md has no section {number}")
        for match in PITFALL_REF.finditer(text):
            for number in re.findall(r"\d+", match.group(1)):
                if number not in pitfalls:
                    findings.append(f"{name}:{line_of(text, match.start())}: docs/ARCHITECTURE.md "
                                    f"lists no FAB pitfall {number}")
    assert not findings, "References into docs/ that name no section:\n" + "\n".join(findings)
