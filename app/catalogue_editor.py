"""The translators' workspace: read and change the `messages.po` catalogues of the running app,
compile them and make every running process (web and worker) use the change without a restart.

Where the catalogues live: `TRANSLATIONS_DIR` (default: the repository's translations/
directory, `RELAYDESK_TRANSLATIONS_DIR` in the environment; Flask-Babel reads the same
directory). A save is read-modify-write under an exclusive file lock per language (two
translators saving at once never lose each other's edits), writes the new .po to a temporary
file in the same directory and renames it over the old one (a reader never sees half a file),
keeps the previous file as `messages.po.bak`, then compiles `messages.mo` the same way.

How other processes learn of it: the save bumps a counter in Redis (`CATALOGUE_VERSION_KEY`).
Every web request and every worker job calls `refresh_if_changed(app)`, which reads the counter
at most once every `CHECK_SECONDS` per process and, when it changed, empties Flask-Babel's
translation cache, so the next text asked for is read from the new .mo. With Redis not
answering the process keeps its texts and checks again later.
"""
from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from flask import Flask, current_app

log = logging.getLogger(__name__)

CATALOGUE_VERSION_KEY = "relaydesk:catalogue:version"
CHECK_SECONDS = 2.0
DOMAIN = "messages"
# a language code as Babel spells it: `pt_BR`, `es`, `zh_Hant_TW`, `sr_Latn`
_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,2}$")
# `{name}` (reply templates), `%(name)s` (flask_babel), and bare `%s`/`%d` (positional)
_BRACES = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PERCENT = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]")
_POSITIONAL = re.compile(r"%(?!\()[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]")
COUNT_NAMES = {"num", "count", "n"}  # a plural form may say "one" instead of the number


class CatalogueError(Exception):
    """A refused change: `status` (400, 404, 409) and a message for the person."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- where ------------------------------------------------------------------------------------

def translations_dir(app: Flask | None = None) -> Path:
    return Path((app or current_app).config["TRANSLATIONS_DIR"])


def source_template(app: Flask | None = None) -> Path:
    return translations_dir(app) / f"{DOMAIN}.pot"


def languages(app: Flask | None = None) -> list[str]:
    """The languages that have a catalogue, sorted by code."""
    root = translations_dir(app)
    return sorted(path.parent.parent.name
                  for path in root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _po_path(language: str) -> Path:
    if language not in languages():  # also refuses every path-like value
        raise CatalogueError(404, "unknown language")
    return translations_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def normalized_code(code: object) -> str:
    """A new language's code as Babel writes it (`pt-br` → `pt_BR`); CatalogueError 400 for
    anything that is not a language Babel knows (and so for every path)."""
    if not isinstance(code, str) or not _CODE.match(code.strip()):
        raise CatalogueError(400, "not a language code")
    try:
        locale = Locale.parse(code.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise CatalogueError(400, "not a language code") from None
    return str(locale)


# --- reading ----------------------------------------------------------------------------------

def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


_parsed: dict[str, tuple[tuple[int, int], Catalog]] = {}
_parsed_lock = threading.Lock()


def read_catalogue(language: str) -> Catalog:
    """The language's catalogue, parsed once per version of its file (a .po of 1,400 entries
    takes tens of milliseconds to read); read-only: a save reads the file itself."""
    path = _po_path(language)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = str(path)
    with _parsed_lock:
        known = _parsed.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    catalog = _read(path)
    with _parsed_lock:
        _parsed[key] = (stamp, catalog)
    return catalog


def _forms(message: Message) -> list[str]:
    string = message.string
    if isinstance(string, (tuple, list)):
        return [s or "" for s in string]
    return [string or ""]


def is_plural(message: Message) -> bool:
    return isinstance(message.id, (tuple, list))


def is_translated(message: Message) -> bool:
    return all(_forms(message))


def entry(message: Message) -> dict:
    """One entry of the JSON twin."""
    plural = is_plural(message)
    return {
        "id": message.id[0] if plural else message.id,
        "context": message.context,
        "plural": message.id[1] if plural else None,
        "translation": _forms(message) if plural else _forms(message)[0],
        "fuzzy": message.fuzzy,
        "locations": [f"{name}:{line}" if line else name for name, line in message.locations],
    }


def messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def matches(message: Message, *, untranslated: bool = False, fuzzy: bool = False,
            search: str | None = None) -> bool:
    if untranslated and is_translated(message):
        return False
    if fuzzy and not message.fuzzy:
        return False
    if search:
        needle = search.casefold()
        ids = message.id if is_plural(message) else (message.id,)
        haystack = [*ids, *_forms(message), message.context or ""]
        if not any(needle in text.casefold() for text in haystack):
            return False
    return True


@dataclass
class Progress:
    translated: int
    fuzzy: int
    total: int


def progress(catalog: Catalog) -> Progress:
    found = messages(catalog)
    return Progress(translated=sum(1 for m in found if is_translated(m) and not m.fuzzy),
                    fuzzy=sum(1 for m in found if m.fuzzy), total=len(found))


def plural_count(catalog: Catalog) -> int:
    return catalog.num_plurals


# --- placeholders -----------------------------------------------------------------------------

def placeholders(text: str) -> list[str]:
    """The placeholders of a text, sorted: `{name}`, `%(name)s` and positional `%s`."""
    found = [f"{{{name}}}" for name in _BRACES.findall(text)]
    found += [f"%({name})" for name in _PERCENT.findall(text)]
    found += ["%" + m.group(0)[-1] for m in _POSITIONAL.finditer(text.replace("%%", ""))]
    return sorted(found)


class _AnyValue(dict):
    def __missing__(self, key):
        return 0


def _percent_problem(message: Message, forms: list[str]) -> str | None:
    """A text flask_babel fills with `%` (the source has `%(name)s` or `%%`) must stay a valid
    %-format: a lone `%` would fail when the text is shown."""
    ids = message.id if is_plural(message) else (message.id,)
    if not any(_PERCENT.search(text) or "%%" in text for text in ids):
        return None
    for form in forms:
        try:
            form % _AnyValue()
        except (ValueError, TypeError, KeyError):
            from flask_babel import gettext as _

            return _("A %(sign)s sign in this text must be written %(double)s.", sign="%",
                     double="%%")
    return None


def placeholder_problem(message: Message, forms: list[str]) -> str | None:
    """Why these translation forms do not fit the source's placeholders (None: they do)."""
    problem = _percent_problem(message, [form for form in forms if form])
    if problem is not None:
        return problem
    if is_plural(message):
        singular, plural = message.id
        source = set(placeholders(singular)) | set(placeholders(plural))
        needed = {p for p in source
                  if p.strip("{}%()") not in COUNT_NAMES}
        for form in forms:
            if not form:
                continue
            used = set(placeholders(form))
            if used - source or needed - used:
                return _mismatch(sorted(source), sorted(used))
        return None
    form = forms[0]
    if not form:
        return None
    source, used = placeholders(message.id), placeholders(form)
    if set(source) != set(used) or (any(p.startswith("%") and "(" not in p for p in source)
                                    and source != used):
        return _mismatch(source, used)
    return None


def _mismatch(source: list[str], used: list[str]) -> str:
    from flask_babel import gettext as _

    return _("The translation must use the same placeholders as the original "
             "(%(source)s); it has %(used)s.",
             source=", ".join(dict.fromkeys(source)) or _("none"),
             used=", ".join(dict.fromkeys(used)) or _("none"))


# --- writing ----------------------------------------------------------------------------------

@contextmanager
def _locked(directory: Path):
    """An exclusive lock on one language's catalogue, across processes on this machine."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f".{DOMAIN}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_write(path: Path, write) -> None:
    handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.",
                                         delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(handle.name, path.stat().st_mode & 0o777)
        else:
            os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _store(path: Path, catalog: Catalog) -> None:
    """Back up the current .po, write the new one and its .mo (each atomically)."""
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    _atomic_write(path, lambda handle: write_po(handle, catalog, width=76))
    _atomic_write(path.with_suffix(".mo"), lambda handle: write_mo(handle, catalog))


def find(catalog: Catalog, msgid: str, context: str | None) -> Message | None:
    message = catalog.get(msgid, context=context or None)
    if message is None:
        return None
    return message


MAX_TEXT = 10_000  # characters of one translation form


def _forms_of(message: Message, translation: object, count: int) -> list[str]:
    forms = _shaped(message, translation, count)
    if any(len(form) > MAX_TEXT or "\x00" in form for form in forms):
        raise CatalogueError(400, f"a translation is at most {MAX_TEXT} characters of text")
    return forms


def _shaped(message: Message, translation: object, count: int) -> list[str]:
    if is_plural(message):
        if (not isinstance(translation, list) or len(translation) != count
                or not all(isinstance(t, str) for t in translation)):
            raise CatalogueError(400, f"translation must be a list of {count} texts")
        return list(translation)
    if not isinstance(translation, str):
        raise CatalogueError(400, "translation must be a text")
    return [translation]


def save_translation(language: str, msgid: object, context: object,
                     translation: object) -> tuple[dict, object]:
    """Change one entry, save, compile and tell every process; returns the saved entry and
    the translation it had before."""
    if not isinstance(msgid, str) or not msgid:
        raise CatalogueError(400, "id must be the original text")
    if context is not None and not isinstance(context, str):
        raise CatalogueError(400, "context must be a text")
    path = _po_path(language)
    with _locked(path.parent):
        catalog = _read(path)
        message = find(catalog, msgid, context)
        if message is None:
            raise CatalogueError(404, "no such entry in this catalogue")
        forms = _forms_of(message, translation, catalog.num_plurals)
        problem = placeholder_problem(message, forms)
        if problem is not None:
            raise CatalogueError(400, problem)
        before = entry(message)["translation"]
        message.string = tuple(forms) if is_plural(message) else forms[0]
        if message.fuzzy:
            message.flags.discard("fuzzy")
        _store(path, catalog)
    announce_change()
    return entry(message), before


def add_language(code: object) -> str:
    """A new catalogue from the template (every text untranslated); its code."""
    language = normalized_code(code)
    if language == "en":
        raise CatalogueError(400, "English is the source language")
    if language in languages():
        raise CatalogueError(409, "this language already has a catalogue")
    template = source_template()
    if not template.exists():
        raise CatalogueError(409, "the catalogue template (messages.pot) is missing")
    path = translations_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with _locked(path.parent):
        if path.exists():
            raise CatalogueError(409, "this language already has a catalogue")
        source = _read(template)
        catalog = Catalog(locale=Locale.parse(language), domain=DOMAIN,
                          project=source.project, version=source.version,
                          msgid_bugs_address=source.msgid_bugs_address,
                          copyright_holder=source.copyright_holder,
                          charset="utf-8", fuzzy=False)
        for message in source:
            if message.id:
                empty = ("",) * catalog.num_plurals if is_plural(message) else ""
                catalog.add(message.id, empty, locations=message.locations,
                            flags=message.flags - {"fuzzy"},
                            auto_comments=message.auto_comments, context=message.context)
        _store(path, catalog)
    announce_change()
    return language


# --- live reload across processes -------------------------------------------------------------

def announce_change(app: Flask | None = None) -> None:
    """Bump the version every process watches; this process forgets its texts at once."""
    app = app or current_app._get_current_object()
    forget_texts(app)
    try:
        app.extensions["relaydesk_redis"].incr(CATALOGUE_VERSION_KEY)
    except Exception:  # noqa: BLE001 - Redis down: other processes learn at the next save
        log.warning("could not announce the catalogue change (Redis)", exc_info=True)


def forget_texts(app: Flask) -> None:
    babel = app.extensions.get("babel")
    if babel is not None:
        babel.instance.domain_instance.cache.clear()


_watch_lock = threading.Lock()
_UNSEEN = "unseen"  # never a value Redis answers (bytes or None)


def refresh_if_changed(app: Flask, now: float | None = None) -> bool:
    """Forget the cached translations when another process saved a catalogue since this one
    last looked; looks at most once every CHECK_SECONDS. True when the texts were forgotten."""
    state = app.extensions.setdefault("relaydesk_catalogue_watch",
                                      {"checked": float("-inf"), "version": _UNSEEN})
    now = time.monotonic() if now is None else now
    if now - state["checked"] < CHECK_SECONDS:
        return False
    with _watch_lock:
        if now - state["checked"] < CHECK_SECONDS:
            return False
        state["checked"] = now
        try:
            version = app.extensions["relaydesk_redis"].get(CATALOGUE_VERSION_KEY)
        except Exception:  # noqa: BLE001 - Redis down: keep the texts, look again later
            return False
        if version == state["version"]:
            return False
        state["version"] = version  # the first look too: texts read before it may be older
        forget_texts(app)
        log.info("catalogues changed (version %s): translations reloaded", version)
        return True
