"""The message catalogues (translations/): complete, compilable, placeholder-safe, up to date.

English is the source language (the msgids), so only the other languages of
`app.config.LANGUAGES` ship a catalogue. `make i18n` extracts, updates and compiles them; these
tests fail when someone adds a UI string or a customer reply without running it and translating
the result.
"""
from __future__ import annotations

import gettext
import io
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app.config import LANGUAGES
from app.domain.parser import parse
from app.domain.replies import COUNTED_REPLIES, DEFAULT_REPLIES, STATUS_NAMES, base_key

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
SHIPPED = sorted(code for code in LANGUAGES if code != "en")

# `{order_ids}` (str.format, customer replies) and `%(name)s` (flask-babel / FAB).
BRACE = re.compile(r"\{([^{}]*)\}")
PERCENT = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])|%([diouxXeEfFgGcrsa%])")
# flask-babel's ngettext passes the count as `num`; a plural form for 0, 1 or 2 may say the
# number in words ("one event", Arabic dual) and leave it out, but nothing else.
COUNT_PLACEHOLDER = "num"


def _catalogue(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _po_path(code: str) -> Path:
    return TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"


def _messages(catalogue):
    return [message for message in catalogue if message.id]


def _placeholders(text: str) -> Counter:
    found: Counter = Counter()
    for match in BRACE.finditer(text):
        found["{" + match.group(1) + "}"] += 1
    for name, conversion, bare in PERCENT.findall(text):
        if bare == "%":
            continue  # a literal percent sign
        found[f"%({name}){conversion}" if name else f"%{bare}"] += 1
    return found


def _ids(catalogue) -> set:
    return {message.id if isinstance(message.id, str) else tuple(message.id)
            for message in _messages(catalogue)}


def _makefile_keywords() -> list[str]:
    """The `-k` keywords of the extract line of `make i18n`, so the check follows the Makefile."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if " extract " in line and "babel.cfg" in line:
            words = shlex.split(line)
            return [words[i + 1] for i, word in enumerate(words) if word == "-k"]
    raise AssertionError("no pybabel extract line in the Makefile")


def test_every_language_but_english_ships_a_catalogue():
    assert len(SHIPPED) >= 5
    for code in SHIPPED:
        assert _po_path(code).is_file(), f"missing catalogue for {code}: run `pybabel init`"
    catalogued = {p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")}
    assert catalogued == set(SHIPPED), "every catalogue must be a language of LANGUAGES"


@pytest.mark.parametrize("code", SHIPPED)
def test_catalogue_compiles(code):
    catalogue = _catalogue(_po_path(code))
    assert str(catalogue.locale).replace("-", "_") == code
    errors = [(message.id, [str(e) for e in errs]) for message, errs in catalogue.check()]
    assert not errors, errors
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    sample = next(m for m in _messages(catalogue) if isinstance(m.id, str))
    assert compiled.gettext(sample.id) == sample.string


@pytest.mark.parametrize("code", SHIPPED)
def test_no_untranslated_or_fuzzy_entries(code):
    catalogue = _catalogue(_po_path(code))
    problems = []
    for message in _messages(catalogue):
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        if message.pluralizable:
            forms = list(message.string)
            if len(forms) != catalogue.num_plurals or not all(f.strip() for f in forms):
                problems.append((f"needs {catalogue.num_plurals} plural forms", message.id))
        elif not (message.string or "").strip():
            problems.append(("untranslated", message.id))
    assert not problems, f"{code}: {len(problems)} problem(s), run `make i18n` and translate: " \
                         f"{problems[:20]}"


@pytest.mark.parametrize("code", SHIPPED)
def test_placeholders_match(code):
    catalogue = _catalogue(_po_path(code))
    plural_of = gettext.c2py(catalogue.plural_expr)
    mismatches = []
    for message in _messages(catalogue):
        if not message.pluralizable:
            if message.string and _placeholders(message.id) != _placeholders(message.string):
                mismatches.append((message.id, message.string))
            continue
        singular, plural = message.id
        allowed = _placeholders(singular) | _placeholders(plural)
        forms = list(message.string)
        for form in forms:
            extra = set(_placeholders(form)) - set(allowed)
            if extra:
                mismatches.append((plural, form, f"unknown {sorted(extra)}"))
        for n in range(0, 200):
            form = forms[plural_of(n)] if plural_of(n) < len(forms) else ""
            expected = set(_placeholders(singular if n == 1 else plural))
            missing = expected - set(_placeholders(form))
            if n in (0, 1, 2):
                # a form for none, one or two (Arabic's dual) may leave the number out
                missing = {p for p in missing
                           if f"({COUNT_PLACEHOLDER})" not in p and p != "{count}"}
            if missing:
                mismatches.append((plural, form, f"n={n} lacks {sorted(missing)}"))
                break
    assert not mismatches, f"{code}: {mismatches}"


@pytest.mark.parametrize("code", SHIPPED)
def test_catalogue_follows_the_template(code):
    """`pybabel update` ran after the last extraction: same msgids as messages.pot."""
    template_ids = _ids(_catalogue(TEMPLATE))
    catalogue_ids = _ids(_catalogue(_po_path(code)))
    assert template_ids - catalogue_ids == set(), f"{code}: run `make i18n`"
    assert catalogue_ids - template_ids == set(), f"{code}: stale entries, run `make i18n`"


def test_customer_replies_and_status_names_are_in_the_template():
    template_ids = _ids(_catalogue(TEMPLATE))
    counted = {key: pair for key, pair in COUNTED_REPLIES.items()}
    plain = {key: text for key, text in {**DEFAULT_REPLIES, **STATUS_NAMES}.items()
             if base_key(key) not in counted}
    missing = [key for key, text in plain.items() if text not in template_ids]
    # a counted reply is one plural entry: (singular, plural)
    missing += [key for key, pair in counted.items() if pair not in template_ids]
    assert not missing, f"not extracted (mark with N_ and run `make i18n`): {missing}"


def test_template_is_up_to_date_with_the_source():
    """A fresh extraction (same map and keywords as `make i18n`) finds exactly the .pot's
    msgids: a UI string added without running `make i18n` fails here."""
    with (ROOT / "babel" / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = dict(DEFAULT_KEYWORDS)  # pybabel keeps its defaults unless told otherwise
    for keyword in _makefile_keywords():  # `name` or `name:1,2` (a plural pair)
        name, _, spec = keyword.partition(":")
        keywords[name] = tuple(int(n) for n in spec.split(",")) if spec else None
    extracted = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        if isinstance(message, (tuple, list)):
            message = tuple(message)
            if message[0]:
                extracted.add(message)
        elif message:
            extracted.add(message)
    template_ids = _ids(_catalogue(TEMPLATE))
    assert extracted - template_ids == set(), "new strings: run `make i18n` and translate them"
    assert template_ids - extracted == set(), "strings gone from the source: run `make i18n`"


# --- customer replies name commands the parser understands ----------------------------------

QUOTED = re.compile(r"[\"“«]([^\"”»]+)[\"”»]")


def _reply(code: str, key: str) -> str:
    catalogue = _catalogue(_po_path(code))
    return catalogue[DEFAULT_REPLIES[key]].string


@pytest.mark.parametrize("code", SHIPPED)
def test_help_reply_examples_parse(code):
    """Every quoted example of the translated help text is a command the parser understands."""
    examples = QUOTED.findall(_reply(code, "help"))
    assert len(examples) >= 5, examples
    for example in examples:
        result = parse(example)
        assert result.commands and not result.unknown, (code, example, result)


@pytest.mark.parametrize("code", SHIPPED)
@pytest.mark.parametrize("key, argument, action", [
    ("not_linked", "someuser", "link"), ("link_sent", "123456", "verify"),
    ("fallback", "", "help"),
])
def test_quoted_command_words_parse(code, key, argument, action):
    words = QUOTED.findall(_reply(code, key))
    assert len(words) == 1, (code, key, words)
    result = parse(f"{words[0]} {argument}".strip())
    assert [c.action for c in result.commands] == [action], (code, key, words[0], result)


# --- screens label every column they show -------------------------------------------------------

def _model_views():
    import importlib
    import pkgutil

    import app.views as package
    from flask_appbuilder import ModelView

    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"app.views.{module_info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, ModelView)
                    and obj.__module__ == module.__name__ and hasattr(obj, "datamodel")):
                yield obj


def test_every_screen_column_has_a_translatable_label():
    """FAB makes an English label from a column name that has none ("Sender Name"), which no
    catalogue can translate: every column a screen shows, edits or searches needs one."""
    from flask_babel.speaklater import LazyString

    from app.views.base import admin_variant

    problems = []
    for view in _model_views():
        variants = [view, admin_variant(view)] if hasattr(view, "secret_columns") else [view]
        for cls in variants:
            labels = getattr(cls, "label_columns", None) or {}
            for attr in ("list_columns", "show_columns", "add_columns", "edit_columns",
                         "search_columns"):
                for column in getattr(cls, attr, None) or []:
                    label = labels.get(column)
                    if not isinstance(label, LazyString):
                        problems.append(f"{cls.__name__}.{column}")
    assert not problems, "add _l() labels (label_columns) for: " + ", ".join(sorted(set(problems)))
