"""Flask-AppBuilder's own strings in every shipped language (the `fab` domain).

FAB ships no Indonesian or Arabic catalogue and leaves 18-31 strings of its Spanish, Brazilian,
Russian and Turkish ones untranslated ("Add", "Edit", "Delete", "Are you sure you want to delete
this item?"...). translations/<lang>/LC_MESSAGES/fab.po carries every FAB string for every
shipped language; `make i18n-fab` refreshes translations/fab.pot from the installed FAB.
"""
from __future__ import annotations

import gettext
import io
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app.config import LANGUAGES, Config

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
FAB_PACKAGE = Path(flask_appbuilder.__file__).parent
SHIPPED = sorted(code for code in LANGUAGES if code != "en")
# Words a language writes like English (checked by a speaker, not guessed).
SAME_AS_ENGLISH = {
    ("id", "Email"), ("id", "Detail"),
}


def _read(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _ids(catalogue) -> set[str]:
    return {message.id for message in catalogue if message.id}


def test_template_lists_every_string_of_the_installed_fab():
    """After a FAB upgrade this fails until `make i18n-fab` has been run (and translated)."""
    with (ROOT / "babel" / "fab.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = dict(DEFAULT_KEYWORDS)
    keywords["lazy_gettext"] = None
    extracted = {message for _f, _l, message, _c, _x in extract_from_dir(
        str(FAB_PACKAGE), method_map, options_map, keywords=keywords) if message}
    assert extracted == _ids(_read(TRANSLATIONS / "fab.pot"))


@pytest.mark.parametrize("code", SHIPPED)
def test_every_fab_string_is_translated(code):
    template = _ids(_read(TRANSLATIONS / "fab.pot"))
    catalogue = _read(TRANSLATIONS / code / "LC_MESSAGES" / "fab.po")
    assert _ids(catalogue) == template
    for message in catalogue:
        if not message.id:
            continue
        assert message.string.strip(), (code, message.id)
        assert not message.fuzzy, (code, message.id)
        if (code, message.id) not in SAME_AS_ENGLISH:
            assert message.string != message.id, (code, message.id)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    compiled = gettext.GNUTranslations(io.BytesIO(buffer.getvalue()))
    assert compiled.gettext("Save") != "Save"


def test_domains_line_up_with_directories():
    """FAB prepends its directory to ours: three directories, three domains, ours last."""
    directories = Config.BABEL_TRANSLATION_DIRECTORIES.split(";")
    domains = Config.BABEL_DOMAIN.split(";")
    assert len(domains) == len(directories) + 1  # + FAB's own directory, read as "messages"
    assert domains[0] == "messages"
    assert domains[1:] == ["fab", "messages"]
    assert all(Path(d) == TRANSLATIONS for d in directories)
