"""Catalogues are compiled at start-up when missing or stale."""
import shutil

from app.catalogues import ensure_compiled
from app.config import BASE_DIR


def test_missing_and_stale_catalogues_are_compiled(tmp_path):
    shutil.copytree(BASE_DIR / "translations" / "es", tmp_path / "es")
    mo = tmp_path / "es" / "LC_MESSAGES" / "messages.mo"
    mo.unlink(missing_ok=True)
    assert ensure_compiled(tmp_path) == 1
    assert mo.stat().st_size > 1000
    assert ensure_compiled(tmp_path) == 0  # up to date: nothing to do
    (tmp_path / "es" / "LC_MESSAGES" / "messages.po").touch()
    import os
    import time

    later = time.time() + 5
    os.utime(tmp_path / "es" / "LC_MESSAGES" / "messages.po", (later, later))
    assert ensure_compiled(tmp_path) == 1
