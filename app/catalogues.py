"""Compiled message catalogues (.mo) are build products, not committed: the app compiles any
missing or stale one at start-up, so a deploy that forgot `make compile-catalogues` still
speaks every language. A read-only install only logs a warning."""
from __future__ import annotations

import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def ensure_compiled(directory: str | Path) -> int:
    """Compile every catalogue (`messages.po`, and `fab.po` for Flask-AppBuilder's strings) under
    `directory` whose .mo is missing or older; returns the number compiled."""
    compiled = 0
    for po_path in Path(directory).glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            compiled += 1
        except OSError:
            log.warning("could not compile %s (read-only install?)", po_path, exc_info=True)
    return compiled
